"""The WeCom / WeChat stand-in over real HTTP on loopback: tokens, callbacks (and none for API writes), the welcome
window, 群发 statuses under a receive cap, customer groups, limits, injected faults, 公众号 / 小程序 rules, SMS."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from siyu.wechat.standin import StandIn
from tests.wechat import standin_fixture
from tests.wechat.standin_fixture import AES_KEY, CORPID, SECRET, TOKEN, CallbackReceiver, StandInFixture

standin = standin_fixture.standin  # the shared fixtures, also offered to other tests by the tests' conftest
callback_receiver = standin_fixture.callback_receiver

OA, MP = "wxtestofficial0001", "wxtestminiprog0001"


class WeCom:
    """Bare HTTP calls, so the tests see exactly what WeCom would answer."""

    def __init__(self, url: str, corpid: str = CORPID, secret: str = SECRET) -> None:
        self.http = httpx.Client(base_url=url, timeout=5)
        self.corpid, self.secret = corpid, secret
        self.token = str(self.gettoken()["access_token"])

    def gettoken(self, **params: str) -> dict[str, Any]:
        query = {"corpid": self.corpid, "corpsecret": self.secret} | params
        answer: dict[str, Any] = self.http.get("/cgi-bin/gettoken", params=query).json()
        return answer

    def get(self, path: str, **params: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(f"/cgi-bin/{path}", params={"access_token": self.token, **params}).json()
        return answer

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        params = {"access_token": self.token if token is None else token}
        answer: dict[str, Any] = self.http.post(f"/cgi-bin/{path}", params=params, json=body).json()
        return answer


@pytest.fixture
def wecom(standin: StandInFixture) -> Iterator[WeCom]:
    standin.state.add_corp(CORPID, SECRET, token=TOKEN, encoding_aes_key=AES_KEY)
    for userid, name in (("zhangsan", "张三"), ("lisi", "李四")):
        standin.state.add_staff(CORPID, userid, name)
    client = WeCom(standin.url)
    yield client
    client.http.close()


def customers(state: StandIn, userid: str, count: int) -> list[str]:
    found = []
    for n in range(count):
        external_userid = state.add_customer(CORPID, name=f"客户{n}")
        state.add_relation(CORPID, userid, external_userid, state="ch", createtime=1_700_000_000 + n)
        found.append(external_userid)
    return found


# --- tokens ------------------------------------------------------------------------------------------------


def test_token_is_reused_revoked_and_expires(standin: StandInFixture, wecom: WeCom) -> None:
    first = wecom.gettoken()
    assert first["errcode"] == 0
    assert first["errmsg"] == "ok"
    assert first["expires_in"] == 7200
    standin.state.advance(100)
    again = wecom.gettoken()
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] == 7100
    assert standin.state.token_calls == 3  # the fixture's, and these two
    assert wecom.gettoken(corpid="wwnosuchcorp")["errcode"] == 40013
    assert wecom.gettoken(corpsecret="wrong")["errcode"] == 40001
    assert wecom.http.get("/cgi-bin/gettoken", params={"corpid": CORPID}).json()["errcode"] == 41004
    assert wecom.get("externalcontact/get_follow_user_list")["follow_user"] == ["zhangsan", "lisi"]
    assert wecom.http.get("/cgi-bin/externalcontact/get_follow_user_list").json()["errcode"] == 41001

    standin.state.expire_tokens(CORPID)
    assert wecom.get("externalcontact/get_follow_user_list")["errcode"] == 40014
    fresh = wecom.gettoken()
    assert fresh["access_token"] != first["access_token"]
    wecom.token = fresh["access_token"]
    assert wecom.get("user/get", userid="lisi") | {"errcode": 0} == {
        "errcode": 0,
        "errmsg": "ok",
        "userid": "lisi",
        "name": "李四",
        "department": [1],
        "status": 1,
    }
    standin.state.advance(7200)
    assert wecom.get("user/get", userid="lisi")["errcode"] == 42001


# --- callbacks ---------------------------------------------------------------------------------------------


def test_customer_adds_sends_an_encrypted_callback(
    standin: StandInFixture, wecom: WeCom, callback_receiver: CallbackReceiver
) -> None:
    state = standin.state
    state.corps[CORPID].callback_url = callback_receiver.url
    assert state.verify_callback_url(CORPID)

    external_userid = state.customer_adds(CORPID, "zhangsan", state_code="spring-qr")
    (event,) = callback_receiver.events()
    code = state.welcome_code_for(CORPID, "zhangsan", external_userid)
    assert event == {
        "ToUserName": CORPID,
        "FromUserName": "sys",
        "CreateTime": str(int(standin.clock())),
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": "zhangsan",
        "ExternalUserID": external_userid,
        "State": "spring-qr",
        "WelcomeCode": code,
    }
    assert "<FromUserName><![CDATA[sys]]></FromUserName>" in callback_receiver.received[0]
    outer = callback_receiver.outer[0]
    assert outer["ToUserName"] == CORPID
    assert outer["AgentID"] == "1000002"
    assert external_userid.startswith("wm")
    assert len(external_userid) == 30
    follow = wecom.get("externalcontact/get", external_userid=external_userid)["follow_user"][0]
    assert (follow["add_way"], follow["state"], follow["oper_userid"]) == (1, "spring-qr", external_userid)

    state.customer_adds(CORPID, "lisi", external_userid=external_userid, half=True)
    state.customer_deletes_staff(CORPID, "zhangsan", external_userid)
    state.staff_deletes_customer(CORPID, "lisi", external_userid)
    state.transfer_fails(CORPID, "lisi", external_userid, reason="customer_limit_exceed")
    changes = [(e["ChangeType"], e["UserID"], e.get("FailReason")) for e in callback_receiver.events()[1:]]
    assert changes == [
        ("add_half_external_contact", "lisi", None),
        ("del_follow_user", "zhangsan", None),
        ("del_external_contact", "lisi", None),
        ("transfer_fail", "lisi", "customer_limit_exceed"),
    ]
    assert callback_receiver.rejected == 0


def test_a_callback_is_tried_three_times_at_most(
    standin: StandInFixture, wecom: WeCom, callback_receiver: CallbackReceiver
) -> None:
    state = standin.state
    state.corps[CORPID].callback_url = callback_receiver.url
    callback_receiver.script = [500, 503]
    state.customer_adds(CORPID, "zhangsan")
    assert [(e["attempt"], e["status"]) for e in state.callback_log] == [(1, 500), (2, 503), (3, 200)]
    assert len(callback_receiver.received) == 1

    callback_receiver.script = [500, 500, 500, 500]
    state.customer_adds(CORPID, "zhangsan")
    assert [e["status"] for e in state.callback_log[3:]] == [500, 500, 500]
    assert len(callback_receiver.received) == 1
    assert callback_receiver.script == [500]


def test_api_writes_send_no_callback_but_the_admin_console_does(
    standin: StandInFixture, wecom: WeCom, callback_receiver: CallbackReceiver
) -> None:
    state = standin.state
    state.corps[CORPID].callback_url = callback_receiver.url
    (external_userid,) = customers(state, "zhangsan", 1)
    group = wecom.post(
        "externalcontact/add_corp_tag", {"group_name": "等级", "tag": [{"name": "VIP"}, {"name": "普通"}]}
    )
    vip = group["tag_group"]["tag"][0]["id"]
    assert vip.startswith("et")
    body = {"userid": "zhangsan", "external_userid": external_userid}
    assert wecom.post("externalcontact/mark_tag", body | {"add_tag": [vip]})["errcode"] == 0
    assert wecom.post("externalcontact/remark", body | {"remark": "老客户", "description": "爱买茶"})["errcode"] == 0
    assert wecom.post("externalcontact/edit_corp_tag", {"id": vip, "name": "VIP客户"})["errcode"] == 0
    assert callback_receiver.received == []
    assert state.events == []

    follow = wecom.get("externalcontact/get", external_userid=external_userid)["follow_user"][0]
    assert (follow["remark"], follow["description"]) == ("老客户", "爱买茶")
    assert follow["tags"] == [{"group_name": "等级", "tag_name": "VIP客户", "tag_id": vip, "type": 1}]

    (gold,) = state.admin_adds_tag(CORPID, "等级", ["金卡"])
    state.admin_deletes_tag(CORPID, group["tag_group"]["group_id"])
    state.staff_edits_customer(CORPID, "zhangsan", external_userid, remark="改了")
    events = [(e["Event"], e.get("Id"), e.get("TagType"), e["ChangeType"]) for e in callback_receiver.events()]
    assert events == [
        ("change_external_tag", gold, "tag", "create"),
        ("change_external_tag", group["tag_group"]["group_id"], "tag_group", "delete"),
        ("change_external_contact", None, None, "edit_external_contact"),
    ]
    assert wecom.post("externalcontact/get_corp_tag_list", {})["tag_group"] == []


# --- customers, tags, 联系我 -----------------------------------------------------------------------------------


def test_customer_lists_paging_and_errors(standin: StandInFixture, wecom: WeCom) -> None:
    state = standin.state
    mine = customers(state, "zhangsan", 3)
    customers(state, "lisi", 2)
    assert wecom.get("externalcontact/list", userid="zhangsan")["external_userid"] == mine
    assert wecom.get("externalcontact/list", userid="nobody")["errcode"] == 60111
    assert wecom.get("externalcontact/get", external_userid="wmnosuch")["errcode"] == 40096

    seen, cursor = [], ""
    while True:
        page = wecom.post(
            "externalcontact/batch/get_by_user", {"userid_list": ["zhangsan", "lisi"], "cursor": cursor, "limit": 2}
        )
        seen += [
            (i["follow_info"]["userid"], i["external_contact"]["external_userid"])
            for i in page["external_contact_list"]
        ]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5
    assert seen[:3] == [("zhangsan", m) for m in mine]
    too_many = {"userid_list": [f"u{n}" for n in range(101)]}
    assert wecom.post("externalcontact/batch/get_by_user", too_many)["errcode"] == 40058
    assert wecom.post("externalcontact/batch/get_by_user", {"userid_list": ["lisi"], "limit": 101})["errcode"] == 40058
    assert (
        wecom.post("externalcontact/remark", {"userid": "lisi", "external_userid": mine[0], "remark": "x"})["errcode"]
        == 84061
    )
    assert (
        wecom.post("externalcontact/mark_tag", {"userid": "zhangsan", "external_userid": mine[0], "add_tag": ["etx"]})[
            "errcode"
        ]
        == 40068
    )
    assert wecom.post("externalcontact/del_corp_tag", {"tag_id": ["etnosuch"]})["errcode"] == 40068
    assert wecom.get("externalcontact/batch/get_by_user")["errcode"] == 40058  # a POST API


def test_contact_way_validation_and_round_trip(standin: StandInFixture, wecom: WeCom) -> None:
    way = {"type": 1, "scene": 2, "state": "shop-7", "user": ["zhangsan"], "remark": "门店7"}
    assert wecom.post("externalcontact/add_contact_way", way | {"user": ["zhangsan", "lisi"]})["errcode"] == 40058
    assert wecom.post("externalcontact/add_contact_way", way | {"state": "s" * 31})["errcode"] == 40058
    assert wecom.post("externalcontact/add_contact_way", way | {"remark": "r" * 31})["errcode"] == 40058
    assert wecom.post("externalcontact/add_contact_way", way | {"user": ["nobody"]})["errcode"] == 60111
    created = wecom.post("externalcontact/add_contact_way", way)
    assert created["errcode"] == 0
    assert len(created["config_id"]) == 32
    assert created["qr_code"]
    config_id = created["config_id"]
    assert "qr_code" not in wecom.post("externalcontact/add_contact_way", way | {"scene": 1})

    assert wecom.post("externalcontact/update_contact_way", {"config_id": config_id, "state": "shop-8"})["errcode"] == 0
    got = wecom.post("externalcontact/get_contact_way", {"config_id": config_id})["contact_way"]
    assert (got["state"], got["user"], got["skip_verify"], got["qr_code"]) == (
        "shop-8",
        ["zhangsan"],
        True,
        created["qr_code"],
    )
    listed = wecom.post("externalcontact/list_contact_way", {"limit": 1})
    assert len(listed["contact_way"]) == 1
    assert listed["next_cursor"]
    assert wecom.post("externalcontact/del_contact_way", {"config_id": config_id})["errcode"] == 0
    assert wecom.post("externalcontact/get_contact_way", {"config_id": config_id})["errcode"] == 40058


# --- welcome message ---------------------------------------------------------------------------------------


def test_welcome_code_window_and_single_use(standin: StandInFixture, wecom: WeCom) -> None:
    state = standin.state
    first = state.customer_adds(CORPID, "zhangsan")
    code = state.welcome_code_for(CORPID, "zhangsan", first)
    assert code
    standin.clock.advance(19)
    message = {"welcome_code": code, "text": {"content": "你好，欢迎！"}}
    too_many = {"attachments": [{"msgtype": "link", "link": {"title": "t", "url": "https://x"}}] * 10}
    assert wecom.post("externalcontact/send_welcome_msg", message | too_many)["errcode"] == 41064
    assert wecom.post("externalcontact/send_welcome_msg", message)["errcode"] == 0
    assert wecom.post("externalcontact/send_welcome_msg", message)["errcode"] == 41051
    assert state.welcome_messages[0]["external_userid"] == first
    assert state.welcome_messages[0]["text"] == {"content": "你好，欢迎！"}

    second = state.customer_adds(CORPID, "lisi")
    late = state.welcome_code_for(CORPID, "lisi", second)
    standin.clock.advance(21)
    assert (
        wecom.post("externalcontact/send_welcome_msg", {"welcome_code": late, "text": {"content": "hi"}})["errcode"]
        == 41050
    )
    assert (
        wecom.post("externalcontact/send_welcome_msg", {"welcome_code": "nosuch", "text": {"content": "hi"}})["errcode"]
        == 41050
    )
    third = state.customer_adds(CORPID, "lisi")
    busy = state.welcome_code_for(CORPID, "lisi", third)
    assert busy
    state.claim_welcome_code(busy)
    assert (
        wecom.post("externalcontact/send_welcome_msg", {"welcome_code": busy, "text": {"content": "hi"}})["errcode"]
        == 41096
    )
    assert len(state.welcome_messages) == 1


# --- 企业群发 ------------------------------------------------------------------------------------------------


def test_group_send_statuses_under_a_receive_cap(standin: StandInFixture, wecom: WeCom) -> None:
    state = standin.state
    state.receive_cap = (1, "day")
    reached, gone, capped = customers(state, "zhangsan", 3)
    earlier = wecom.post(
        "externalcontact/add_msg_template", {"external_userid": [capped], "text": {"content": "昨天的活动"}}
    )
    assert state.members_confirm(earlier["msgid"]) == {capped: 1}

    created = wecom.post(
        "externalcontact/add_msg_template",
        {"chat_type": "single", "external_userid": [reached, gone, capped, "wmnosuch"], "text": {"content": "上新"}},
    )
    assert created["errcode"] == 0
    assert created["fail_list"] == ["wmnosuch"]
    msgid = created["msgid"]
    before = wecom.post("externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "zhangsan"})
    assert {r["status"] for r in before["send_list"]} == {0}
    state.staff_deletes_customer(CORPID, "zhangsan", gone)

    assert state.members_confirm(msgid, userid="zhangsan") == {reached: 1, gone: 2, capped: 3}
    (task,) = wecom.post("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"]
    assert task == {"userid": "zhangsan", "status": 2, "send_time": int(standin.clock())}
    rows, cursor = [], ""
    while True:
        page = wecom.post(
            "externalcontact/get_groupmsg_send_result",
            {"msgid": msgid, "userid": "zhangsan", "limit": 1, "cursor": cursor},
        )
        rows += page["send_list"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [(r["external_userid"], r["status"]) for r in rows] == [(reached, 1), (gone, 2), (capped, 3)]
    assert "send_time" in rows[0]
    assert "send_time" not in rows[2]

    now = int(standin.clock())
    listed = wecom.post(
        "externalcontact/get_groupmsg_list_v2", {"chat_type": "single", "start_time": now - 60, "end_time": now}
    )
    assert [m["msgid"] for m in listed["group_msg_list"]] == [earlier["msgid"], msgid]
    assert wecom.post("externalcontact/remind_groupmsg_send", {"msgid": msgid})["errcode"] == 0
    assert wecom.post("externalcontact/cancel_groupmsg_send", {"msgid": msgid})["errcode"] == 0
    assert wecom.post("externalcontact/remind_groupmsg_send", {"msgid": msgid})["errcode"] == 41093


def test_a_task_without_sender_goes_to_the_member_who_added_last(standin: StandInFixture, wecom: WeCom) -> None:
    state = standin.state
    (shared,) = customers(state, "zhangsan", 1)
    state.add_relation(CORPID, "lisi", shared, createtime=1_800_000_000)
    created = wecom.post("externalcontact/add_msg_template", {"external_userid": [shared], "text": {"content": "hi"}})
    tasks = wecom.post("externalcontact/get_groupmsg_task", {"msgid": created["msgid"]})["task_list"]
    assert tasks == [{"userid": "lisi", "status": 0}]
    over = {"text": {"content": "x"}, "attachments": [{"msgtype": "image", "image": {"media_id": "m"}}] * 10}
    assert wecom.post("externalcontact/add_msg_template", over)["errcode"] == 41064
    assert (
        wecom.post("externalcontact/add_msg_template", {"chat_type": "group", "text": {"content": "x"}})["errcode"]
        == 40058
    )


# --- customer groups ---------------------------------------------------------------------------------------


def test_groups_and_member_versions_match_the_callbacks(
    standin: StandInFixture, wecom: WeCom, callback_receiver: CallbackReceiver
) -> None:
    state = standin.state
    state.corps[CORPID].callback_url = callback_receiver.url
    jack, rose = customers(state, "zhangsan", 2)
    chat_id = state.create_group(CORPID, "zhangsan", "VIP 群", members=[jack])
    group = wecom.post("externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1})["group_chat"]
    assert [(m["userid"], m["type"]) for m in group["member_list"]] == [("zhangsan", 1), (jack, 2)]
    assert group["member_list"][1]["invitor"] == {"userid": "zhangsan"}
    assert group["member_list"][1]["name"] == "客户0"
    before = group["member_version"]

    state.group_add_members(CORPID, chat_id, [rose, "lisi"], join_scene=3)
    created, added = callback_receiver.events()
    assert created == created | {"Event": "change_external_chat", "ChatId": chat_id, "ChangeType": "create"}
    assert added["UpdateDetail"] == "add_member"
    assert added["JoinScene"] == "3"
    assert added["MemChangeCnt"] == "2"
    assert added["MemChangeList"] == f"{rose},lisi"
    assert added["LastMemVer"] == before
    group = wecom.post("externalcontact/groupchat/get", {"chat_id": chat_id})["group_chat"]
    assert group["member_version"] == added["CurMemVer"] != before
    assert "name" not in group["member_list"][0]

    state.group_remove_members(CORPID, chat_id, [jack], quit_scene=1)
    removed = callback_receiver.events()[-1]
    assert (removed["UpdateDetail"], removed["QuitScene"], removed["LastMemVer"]) == (
        "del_member",
        "1",
        added["CurMemVer"],
    )

    other = state.create_group(CORPID, "lisi", "新人群")
    listing = wecom.post("externalcontact/groupchat/list", {"status_filter": 0, "limit": 1})
    assert listing["group_chat_list"] == [{"chat_id": chat_id, "status": 0}]
    assert listing["next_cursor"]
    owned = wecom.post("externalcontact/groupchat/list", {"owner_filter": {"userid_list": ["lisi"]}, "limit": 10})
    assert owned["group_chat_list"] == [{"chat_id": other, "status": 0}]
    assert wecom.post("externalcontact/groupchat/list", {"limit": 1001})["errcode"] == 40058

    state.dismiss_group(CORPID, other)
    assert callback_receiver.events()[-1]["ChangeType"] == "dismiss"
    assert wecom.post("externalcontact/groupchat/get", {"chat_id": other})["errcode"] == 40050
    for n in range(1000):
        state.add_staff(CORPID, f"u{n}", f"成员{n}")
    assert wecom.post("externalcontact/groupchat/list", {"limit": 10})["errcode"] == 81017


# --- limits and faults -------------------------------------------------------------------------------------


def test_rate_limit_blocks_until_the_minute_is_over(standin: StandInFixture, wecom: WeCom) -> None:
    standin.state.per_minute = 3
    standin.clock.now = (standin.clock.now // 60) * 60  # the start of a minute
    answers = [wecom.get("externalcontact/get_follow_user_list")["errcode"] for _ in range(4)]
    assert answers == [0, 0, 0, 45009]
    assert wecom.get("user/get", userid="lisi")["errcode"] == 0  # per API
    standin.clock.advance(30)
    assert wecom.get("externalcontact/get_follow_user_list")["errcode"] == 45009
    standin.clock.advance(30)
    assert wecom.get("externalcontact/get_follow_user_list")["errcode"] == 0


def test_list_endpoints_have_a_concurrency_cap(standin: StandInFixture, wecom: WeCom) -> None:
    standin.state.max_concurrent = 1
    standin.state.inject("externalcontact/list", delay=0.5)
    answers: list[int] = []
    slow = threading.Thread(target=lambda: answers.append(wecom.get("externalcontact/list", userid="lisi")["errcode"]))
    slow.start()
    while not standin.state._in_flight[CORPID]:
        threading.Event().wait(0.01)
    assert wecom.get("externalcontact/list", userid="zhangsan")["errcode"] == 45033
    slow.join()
    assert answers == [0]
    assert wecom.get("externalcontact/list", userid="zhangsan")["errcode"] == 0


def test_injected_errcode_http_status_and_delay(standin: StandInFixture, wecom: WeCom) -> None:
    state = standin.state
    state.inject("get_follow_user_list", errcode=-1, times=2)
    assert [wecom.get("externalcontact/get_follow_user_list")["errcode"] for _ in range(3)] == [-1, -1, 0]

    state.inject("/cgi-bin/user/get", http_status=502)
    answer = wecom.http.get("/cgi-bin/user/get", params={"access_token": wecom.token, "userid": "lisi"})
    assert answer.status_code == 502
    assert answer.text.startswith("<html>")
    assert wecom.get("user/get", userid="lisi")["errcode"] == 0

    state.inject("gettoken", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        wecom.http.get("/cgi-bin/gettoken", params={"corpid": CORPID, "corpsecret": SECRET}, timeout=0.1)
    assert wecom.gettoken()["errcode"] == 0


def test_control_api_drives_the_hooks(standin: StandInFixture, wecom: WeCom) -> None:
    http = wecom.http
    added = http.post("/_standin/customer_adds", json={"corpid": CORPID, "userid": "zhangsan", "state_code": "demo"})
    external_userid = added.json()["result"]
    assert wecom.get("externalcontact/list", userid="zhangsan")["external_userid"] == [external_userid]
    code = http.post(
        "/_standin/welcome_code_for", json={"corpid": CORPID, "userid": "zhangsan", "external_userid": external_userid}
    ).json()["result"]
    assert (
        wecom.post("externalcontact/send_welcome_msg", {"welcome_code": code, "text": {"content": "hi"}})["errcode"]
        == 0
    )
    assert http.post("/_standin/inject", json={"path_suffix": "user/get", "errcode": 45009}).json()["errcode"] == 0
    assert wecom.get("user/get", userid="lisi")["errcode"] == 45009
    assert http.post("/_standin/advance", json={"seconds": 7201}).json()["errcode"] == 0
    assert wecom.get("user/get", userid="lisi")["errcode"] == 42001
    assert http.post("/_standin/no_such_hook", json={}).status_code == 404
    assert http.post("/_standin/add_staff", json={"corpid": CORPID}).status_code == 400
    summary = http.get("/_standin/state").json()
    assert summary["corps"][CORPID]["relations"] == 1
    assert summary["welcome_messages"] == 1


# --- 公众号 / 小程序 -----------------------------------------------------------------------------------------


@pytest.fixture
def apps(standin: StandInFixture) -> Iterator[httpx.Client]:
    state = standin.state
    state.add_app(OA, "oa-secret", "official_account")
    state.add_app(MP, "mp-secret", "miniprogram")
    for appid in (OA, MP):
        state.add_user(appid, "openid-1")
    state.add_template(OA, "TPL_SHIPPED", ["keyword1", "keyword2"])
    state.add_template(MP, "TPL_EVENT", ["thing1", "time2"])
    with httpx.Client(base_url=standin.url, timeout=5) as http:
        yield http


def app_token(http: httpx.Client, appid: str, secret: str) -> str:
    body = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    return str(http.post("/cgi-bin/stable_token", json=body).json()["access_token"])


def test_app_tokens(standin: StandInFixture, apps: httpx.Client) -> None:
    body = {"grant_type": "client_credential", "appid": OA, "secret": "oa-secret"}
    stable = apps.post("/cgi-bin/stable_token", json=body).json()
    assert stable["expires_in"] == 7200
    assert apps.post("/cgi-bin/stable_token", json=body).json()["access_token"] == stable["access_token"]
    forced = apps.post("/cgi-bin/stable_token", json=body | {"force_refresh": True}).json()["access_token"]
    assert forced != stable["access_token"]
    assert apps.post("/cgi-bin/stable_token", json=body | {"secret": "bad"}).json()["errcode"] == 40125
    assert apps.post("/cgi-bin/stable_token", json=body | {"appid": "wxnosuch"}).json()["errcode"] == 40013
    classic = apps.get("/cgi-bin/token", params=body).json()
    assert classic["errcode"] == 0
    assert apps.get("/cgi-bin/token", params=body | {"secret": "x"}).json()["errcode"] == 40001
    newer = apps.get("/cgi-bin/token", params=body).json()["access_token"]
    assert newer != classic["access_token"]
    send = {"touser": "openid-1", "msgtype": "text", "text": {"content": "hi"}}
    # the classic token that was replaced still works for 5 minutes
    standin.clock.advance(299)
    assert (
        apps.post("/cgi-bin/message/custom/send", params={"access_token": classic["access_token"]}, json=send).json()[
            "errcode"
        ]
        == 45015
    )
    standin.clock.advance(2)
    assert (
        apps.post("/cgi-bin/message/custom/send", params={"access_token": classic["access_token"]}, json=send).json()[
            "errcode"
        ]
        == 42001
    )


def test_customer_service_window(standin: StandInFixture, apps: httpx.Client) -> None:
    standin.state.expires_in = 7 * 86400  # the test spans two days of the clock
    token = {"access_token": app_token(apps, OA, "oa-secret")}

    def send(openid: str = "openid-1") -> int:
        body = {"touser": openid, "msgtype": "text", "text": {"content": "您好"}}
        return int(apps.post("/cgi-bin/message/custom/send", params=token, json=body).json()["errcode"])

    assert send() == 45015
    assert send("openid-unknown") == 40003
    standin.state.user_messages(OA, "openid-1")
    assert [send() for _ in range(6)] == [0, 0, 0, 0, 0, 45015]
    standin.state.user_messages(OA, "openid-1")
    standin.clock.advance(47 * 3600)
    assert send() == 0
    standin.clock.advance(3600 + 1)
    assert send() == 45015
    standin.state.user_follows(OA, "openid-1")
    assert [send() for _ in range(4)] == [0, 0, 0, 45015]
    standin.state.user_follows(OA, "openid-1")
    standin.clock.advance(61)
    assert send() == 45015
    assert [m["kind"] for m in standin.state.sent] == ["custom"] * 9


def test_template_keywords_are_cut_and_client_msg_id_dedups(standin: StandInFixture, apps: httpx.Client) -> None:
    token = {"access_token": app_token(apps, OA, "oa-secret")}
    body = {
        "touser": "openid-1",
        "template_id": "TPL_SHIPPED",
        "client_msg_id": "order-42",
        "data": {"keyword1": {"value": "超长的商品名称" * 4}, "keyword2": {"value": "39.8元"}},
    }
    first = apps.post("/cgi-bin/message/template/send", params=token, json=body).json()
    again = apps.post("/cgi-bin/message/template/send", params=token, json=body).json()
    assert first["errcode"] == 0
    assert again["msgid"] == first["msgid"]
    (sent,) = standin.state.sent
    assert sent["data"]["keyword1"]["value"] == ("超长的商品名称" * 4)[:20]
    assert sent["template_id"] == "TPL_SHIPPED"
    other = body | {"client_msg_id": "order-43"}
    assert apps.post("/cgi-bin/message/template/send", params=token, json=other).json()["msgid"] != first["msgid"]
    unknown = body | {"template_id": "TPL_NOSUCH", "client_msg_id": "order-44"}
    assert apps.post("/cgi-bin/message/template/send", params=token, json=unknown).json()["errcode"] == 40037
    mp_token = {"access_token": app_token(apps, MP, "mp-secret")}
    assert apps.post("/cgi-bin/message/template/send", params=mp_token, json=body).json()["errcode"] == 48001


def test_subscribe_message_needs_one_acceptance_per_message(standin: StandInFixture, apps: httpx.Client) -> None:
    token = {"access_token": app_token(apps, MP, "mp-secret")}
    body = {"touser": "openid-1", "template_id": "TPL_EVENT", "data": {"thing1": {"value": "秋季新品发布会"}}}

    def send(payload: dict[str, Any]) -> int:
        return int(apps.post("/cgi-bin/message/subscribe/send", params=token, json=payload).json()["errcode"])

    assert send(body) == 43101
    standin.state.user_accepts_subscription(MP, "openid-1", "TPL_EVENT")
    assert send(body | {"data": {"thing1": {"value": "这" * 21}}}) == 47003
    assert send(body) == 0
    assert send(body) == 43101
    assert send(body | {"template_id": "TPL_NOSUCH"}) == 40037
    assert [(m["kind"], m["template_id"]) for m in standin.state.sent] == [("subscribe", "TPL_EVENT")]


# --- SMS ------------------------------------------------------------------------------------------------------


def test_sms_dedup_limits_and_status(standin: StandInFixture) -> None:
    state = standin.state
    auth = {"Authorization": f"Bearer {state.sms_api_key}"}
    message = {"phone": "13800138000", "text": "【siyu】您的订单已发货", "sign": "siyu", "client_id": "d-1"}
    with httpx.Client(base_url=standin.url, timeout=5) as http:
        assert http.post("/sms/send", json=message).status_code == 401
        bad = http.post("/sms/send", json=message | {"phone": "12345"}, headers=auth)
        assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_PHONE")
        first = http.post("/sms/send", json=message, headers=auth).json()
        again = http.post("/sms/send", json=message, headers=auth).json()
        assert first["code"] == "OK"
        assert again["message_id"] == first["message_id"]
        assert len(state.sms_sent) == 1
        status = http.get("/sms/status", params={"client_id": "d-1"}, headers=auth).json()
        assert status["status"] == "delivered"
        assert status["message_id"] == first["message_id"]
        state.sms_set_status(first["message_id"], "failed")
        assert (
            http.get("/sms/status", params={"message_id": first["message_id"]}, headers=auth).json()["status"]
            == "failed"
        )
        assert http.get("/sms/status", params={"client_id": "nosuch"}, headers=auth).json()["status"] == "unknown"

        codes = [
            http.post("/sms/send", json=message | {"client_id": f"d-{n}"}, headers=auth).status_code
            for n in range(2, 7)
        ]
        assert codes == [200, 200, 200, 200, 429]
        standin.clock.advance(61)
        assert http.post("/sms/send", json=message | {"client_id": "d-9"}, headers=auth).status_code == 200
