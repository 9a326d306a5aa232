"""The channel API over HTTP against the stand-in: WeCom settings (validated, secrets masked), its schema and
connection test, 渠道活码 made in WeCom and the customers they bring, staff and groups, the sync job."""

from __future__ import annotations

import httpx

from siyu.auth.permissions import Permission
from siyu.dispatch import channels
from siyu.kit.db import transaction
from siyu.models import Job
from tests.api.conftest import assert_problem, error_fields
from tests.channel.wecom_fixture import Corp
from tests.factories import create_token
from tests.wechat.standin_fixture import CORPID


def headers(corp: Corp, *scopes: Permission) -> dict[str, str]:
    token = create_token(corp.factory, corp.workspace_id, list(scopes or (Permission.channels_manage,)))
    return {"Authorization": f"Bearer {token}"}


def manager(corp: Corp) -> httpx.Client:
    scopes = headers(corp, Permission.channels_manage, Permission.workspace_read)
    return httpx.Client(base_url=corp.siyu.url, headers=scopes)


def test_settings_are_validated_masked_and_tested(corp: Corp) -> None:
    api = httpx.Client(
        base_url=corp.siyu.url, headers=headers(corp, Permission.channels_manage, Permission.workspace_read)
    )
    bad = api.put("/api/v1/channels/wecom", json={"corpid": "ww 1", "secret": "", "encoding_aes_key": "short"})
    body = assert_problem(bad, 422, "invalid_input")
    assert {"wecom.corpid", "wecom.secret", "wecom.encoding_aes_key"} <= set(error_fields(body))
    listed = api.get("/api/v1/channels").json()
    assert "wecom" in listed["available"]
    assert "wecom_welcome" in listed["available"]
    assert listed["wecom"]["secret_set"] is True
    assert listed["wecom"]["encoding_aes_key_set"] is True
    assert "secret" not in listed["wecom"]
    assert "standin-test-secret" not in str(listed)
    schema = api.get("/api/v1/channels/wecom/schema").json()
    assert schema["settings"]["properties"]["secret"]["writeOnly"] is True
    assert "status" in schema["capabilities"]
    tested = api.post("/api/v1/channels/wecom/test")
    assert tested.status_code == 200, tested.text
    assert "2 staff members" in tested.json()["detail"]
    # a wrong secret: WeCom refuses the token, the test says so
    assert api.put("/api/v1/channels/wecom", json={**_saved(corp), "secret": "wrong"}).status_code == 200
    failed = assert_problem(api.post("/api/v1/channels/wecom/test"), 502, "channel_unreachable")
    assert "40001" in failed["detail"]


def _saved(corp: Corp) -> dict[str, object]:
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        return dict(channels.settings_for(session, corp.workspace_id, "wecom").model_dump())


def test_a_channel_code_made_in_wecom_attributes_its_customers(corp: Corp) -> None:
    api = httpx.Client(
        base_url=corp.siyu.url, headers=headers(corp, Permission.channels_manage, Permission.workspace_read)
    )
    corp.state.customer_adds(CORPID, "zhangsan")  # siyu learns its staff from the first callbacks or a sync
    corp.apply()
    made = api.post(
        "/api/v1/wecom/contact-ways",
        json={
            "label": "直播间福利码",
            "source": "live",
            "campaign": "双12",
            "staff": ["zhangsan"],
            "state": "live-1212",
        },
    )
    assert made.status_code == 201, made.text
    code = made.json()
    assert code["config_id"] in corp.state.corp(CORPID).contact_ways
    assert code["qr_code"]
    assert corp.state.corp(CORPID).contact_ways[code["config_id"]]["state"] == "live-1212"
    for _ in range(2):
        corp.state.customer_adds(CORPID, "zhangsan", state_code="live-1212")
    corp.apply()
    listed = {c["state"]: c for c in api.get("/api/v1/wecom/contact-ways").json()}
    assert listed["live-1212"]["stats"]["adds"] == 2
    assert sum(listed["live-1212"]["stats"]["per_day"].values()) == 2
    staff = {s["userid"]: s for s in api.get("/api/v1/wecom/staff").json()}
    assert staff["zhangsan"]["customers"] == 3
    reader = httpx.Client(base_url=corp.siyu.url, headers=headers(corp, Permission.contacts_read))
    contacts = reader.get("/api/v1/contacts", params={"channel_code": "live-1212"})
    assert contacts.status_code == 200, contacts.text
    assert len(contacts.json()["items"]) == 2  # attributed to the code they scanned
    # bad input is refused with the field, nothing is made in WeCom
    before = len(corp.state.corp(CORPID).contact_ways)
    unknown = api.post("/api/v1/wecom/contact-ways", json={"label": "x", "source": "ad", "staff": ["nobody"]})
    assert error_fields(assert_problem(unknown, 422, "invalid_input")) == ["staff"]
    long_state = api.post(
        "/api/v1/wecom/contact-ways", json={"label": "x", "source": "ad", "staff": ["zhangsan"], "state": "x" * 31}
    )
    assert error_fields(assert_problem(long_state, 422, "invalid_input")) == ["state"]
    again = api.post(
        "/api/v1/wecom/contact-ways", json={"label": "x", "source": "ad", "staff": ["zhangsan"], "state": "live-1212"}
    )
    assert_problem(again, 409, "conflict")
    assert len(corp.state.corp(CORPID).contact_ways) == before
    # WeCom refusing to make one leaves no row behind
    corp.state.inject("add_contact_way", errcode=40058)
    refused = api.post("/api/v1/wecom/contact-ways", json={"label": "y", "source": "ad", "staff": ["zhangsan"]})
    assert_problem(refused, 502, "channel_unreachable")
    assert [c["state"] for c in api.get("/api/v1/wecom/contact-ways").json()] == ["store-sh-01", "live-1212"]
    # a 单人 code cannot become a 多人 one (WeCom fixes the type when the code is made)
    corp.state.customer_adds(CORPID, "lisi")
    corp.apply()
    widened = api.patch(f"/api/v1/wecom/contact-ways/{code['id']}", json={"staff": ["zhangsan", "lisi"]})
    assert error_fields(assert_problem(widened, 422, "invalid_input")) == ["staff"]
    renamed = api.patch(f"/api/v1/wecom/contact-ways/{code['id']}", json={"label": "直播间新人码"})
    assert renamed.status_code == 200, renamed.text
    assert corp.state.corp(CORPID).contact_ways[code["config_id"]]["remark"] == "直播间新人码"
    assert api.delete(f"/api/v1/wecom/contact-ways/{code['id']}").status_code == 204
    assert code["config_id"] not in corp.state.corp(CORPID).contact_ways


def test_groups_and_the_sync_job(corp: Corp) -> None:
    api = httpx.Client(
        base_url=corp.siyu.url, headers=headers(corp, Permission.channels_manage, Permission.workspace_read)
    )
    customer = corp.state.customer_adds(CORPID, "zhangsan")
    corp.state.create_group(CORPID, "zhangsan", "会员群", members=[customer])
    corp.apply()
    (group,) = api.get("/api/v1/wecom/groups").json()
    assert (group["name"], group["customers"], group["joined_7d"]) == ("会员群", 1, 2)
    started = api.post("/api/v1/wecom/sync", params={"full": "true"})
    assert started.status_code == 202
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        job = session.get(Job, started.json()["job_id"])
        assert job is not None
        assert (job.name, job.payload) == ("channel.wecom_sync", {"full": True})
    reader = httpx.Client(base_url=corp.siyu.url, headers=headers(corp, Permission.workspace_read))
    assert_problem(reader.post("/api/v1/wecom/sync"), 403, "permission_denied")


def test_a_group_message_to_the_senders_groups_and_its_results(corp: Corp) -> None:
    scopes = headers(corp, Permission.journeys_manage, Permission.workspace_read, Permission.channels_manage)
    api = httpx.Client(base_url=corp.siyu.url, headers=scopes)
    customer = corp.state.customer_adds(CORPID, "zhangsan")
    first = corp.state.create_group(CORPID, "zhangsan", "会员群", members=[customer])
    second = corp.state.create_group(CORPID, "zhangsan", "新品群", members=[customer])
    corp.apply()
    sent = api.post(
        "/api/v1/wecom/group-messages",
        json={"sender": "zhangsan", "content": {"text": "本周会员日，全场8折", "url": "https://brand.example/day"}},
    )
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert sorted(body["chat_ids"]) == sorted([first, second])
    template = corp.state.corp(CORPID).templates[body["msgid"]]
    assert template.chat_type == "group"
    assert template.attachments[0]["link"]["url"] == "https://brand.example/day"
    refresh = f"/api/v1/wecom/group-messages/{body['id']}/refresh"
    assert api.post(refresh).json()["sent"] == 0  # not confirmed yet
    corp.state.members_confirm(body["msgid"])
    calls = corp.state.calls["externalcontact/get_groupmsg_send_result"]
    assert calls > 0
    stored = api.get(f"/api/v1/wecom/group-messages/{body['id']}").json()
    assert stored["sent"] == 0  # reading shows what was last read, and asks WeCom nothing
    assert corp.state.calls["externalcontact/get_groupmsg_send_result"] == calls
    after = api.post(refresh).json()
    assert (after["sent"], after["pending"]) == (2, 0)
    assert api.get(f"/api/v1/wecom/group-messages/{body['id']}").json()["sent"] == 2
    nobody = api.post("/api/v1/wecom/group-messages", json={"sender": "lisi", "content": {"text": "hi"}})
    assert error_fields(assert_problem(nobody, 422, "invalid_input")) == ["sender"]
    empty = api.post("/api/v1/wecom/group-messages", json={"sender": "zhangsan", "content": {"text": ""}})
    assert "content.text" in error_fields(assert_problem(empty, 422, "invalid_input"))
