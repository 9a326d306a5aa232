"""WeCom callbacks through siyu's real endpoint, sent signed and encrypted by the stand-in: the URL check,
a customer's add (contact, source, 渠道活码, relation, welcome code, event), repeats processed once, bad
signatures and wrong corps refused with nothing stored, deletions, customer groups and the tag library."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from siyu.channel import callbacks
from siyu.kit.db import transaction
from siyu.models import (
    CallbackReceipt,
    Contact,
    ContactTag,
    CustomerGroup,
    CustomerGroupMember,
    Event,
    StaffMember,
    StaffRelation,
    Tag,
)
from siyu.wechat.crypto import MsgCrypt
from tests.channel.wecom_fixture import Corp
from tests.wechat.standin_fixture import AES_KEY, CORPID, TOKEN

ADD = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
    "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>"
    "<State><![CDATA[store-sh-01]]></State><WelcomeCode><![CDATA[CODE]]></WelcomeCode></xml>"
)


def count(corp: Corp, model: type, *where: object) -> int:
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def post(corp: Corp, plaintext: str, nonce: str, crypt: MsgCrypt | None = None) -> httpx.Response:
    crypt = crypt or MsgCrypt(TOKEN, AES_KEY, CORPID)
    body, signature = crypt.envelope(plaintext, to_user=CORPID, agent_id="1000002", timestamp="1700000000", nonce=nonce)
    params = {"msg_signature": signature, "timestamp": "1700000000", "nonce": nonce}
    return httpx.post(f"{corp.siyu.url}/callbacks/wecom/brand", params=params, content=body.encode())


def test_the_url_check_answers_the_decrypted_echostr(corp: Corp) -> None:
    assert corp.state.verify_callback_url(CORPID) is True
    bad = httpx.get(
        f"{corp.siyu.url}/callbacks/wecom/brand",
        params={"msg_signature": "0" * 40, "timestamp": "1", "nonce": "2", "echostr": "abc"},
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "callback_rejected"
    assert bad.json()["errcode"] == -40001


def test_a_customer_adds_staff_through_a_channel_code(corp: Corp) -> None:
    external = corp.state.customer_adds(CORPID, "zhangsan", state_code="store-sh-01", name="小红")
    assert count(corp, CallbackReceipt) == 1
    assert corp.apply() == 1
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        contact = session.scalars(select(Contact)).one()
        assert contact.nickname == "小红"
        assert (contact.first_channel_code, contact.first_source) == ("store-sh-01", "store")
        staff = session.scalars(select(StaffMember).where(StaffMember.userid == "zhangsan")).one()
        assert contact.owner_staff_id == staff.id
        relation = session.scalars(select(StaffRelation)).one()
        assert (relation.external_userid, relation.status, relation.state) == (external, "active", "store-sh-01")
        assert relation.welcome_code == corp.state.welcome_code_for(CORPID, "zhangsan", external)
        assert relation.welcome_until is not None
        event = session.scalars(select(Event).where(Event.name == "contact_added")).one()
        assert event.contact_id == contact.id
        assert event.properties["state"] == "store-sh-01"
        assert event.properties["staff"] == "zhangsan"
    assert corp.apply() == 0  # nothing left to apply


def test_the_same_callback_three_times_is_processed_once(corp: Corp) -> None:
    external = corp.state.add_customer(CORPID, name="小明")
    corp.state.add_relation(CORPID, "zhangsan", external, state="store-sh-01")
    plaintext = ADD.format(corp=CORPID, external=external)
    for nonce in ("1", "2", "3"):  # each retry is encrypted afresh; its plaintext is the same
        answer = post(corp, plaintext, nonce)
        assert answer.status_code == 200
        assert answer.text == ""
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        receipt = session.scalars(select(CallbackReceipt)).one()
        assert receipt.repeats == 2
    corp.apply()
    corp.apply()
    assert count(corp, Event, Event.name == "contact_added") == 1
    assert count(corp, Contact) == 1


def test_bad_signature_wrong_corp_and_garbage_are_refused_and_nothing_is_stored(corp: Corp) -> None:
    plaintext = ADD.format(corp=CORPID, external="wmAAAA")
    crypt = MsgCrypt(TOKEN, AES_KEY, CORPID)
    body, _ = crypt.envelope(plaintext, to_user=CORPID, agent_id=None, timestamp="1", nonce="n")
    url = f"{corp.siyu.url}/callbacks/wecom/brand"
    forged = httpx.post(url, params={"msg_signature": "f" * 40, "timestamp": "1", "nonce": "n"}, content=body)
    assert forged.status_code == 400
    assert forged.json()["errcode"] == -40001
    other_corp = post(corp, plaintext, "x", MsgCrypt(TOKEN, AES_KEY, "wwsomebodyelse"))
    assert other_corp.status_code == 400
    assert other_corp.json()["errcode"] == -40005
    garbage = httpx.post(url, params={"msg_signature": "a", "timestamp": "1", "nonce": "n"}, content=b"<xml><a")
    assert garbage.status_code == 400
    assert garbage.json()["errcode"] == -40002
    unknown = httpx.post(
        f"{corp.siyu.url}/callbacks/wecom/nobody", params={"msg_signature": "a", "timestamp": "1", "nonce": "n"}
    )
    assert unknown.status_code == 404
    assert count(corp, CallbackReceipt) == 0


def test_deletions_end_the_relation_and_say_who_deleted(corp: Corp) -> None:
    first = corp.state.customer_adds(CORPID, "zhangsan", state_code="store-sh-01")
    second = corp.state.customer_adds(CORPID, "lisi")
    corp.apply()
    corp.state.customer_deletes_staff(CORPID, "zhangsan", first)
    corp.state.staff_deletes_customer(CORPID, "lisi", second)
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        statuses = dict(session.execute(select(StaffRelation.external_userid, StaffRelation.status)).all())
        assert statuses == {first: "customer_deleted", second: "staff_deleted"}
        deleted = session.scalars(select(Event).where(Event.name == "contact_deleted")).all()
        assert sorted(e.properties["by"] for e in deleted) == ["customer", "staff"]


def test_groups_are_kept_member_by_member(corp: Corp) -> None:
    customer = corp.state.customer_adds(CORPID, "zhangsan")
    newcomer = corp.state.add_customer(CORPID, name="新朋友")
    chat = corp.state.create_group(CORPID, "zhangsan", "会员福利群", members=[customer, "lisi"])
    corp.apply()
    corp.state.group_add_members(CORPID, chat, [newcomer])
    corp.apply()
    corp.state.group_remove_members(CORPID, chat, [customer])
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        group = session.scalars(select(CustomerGroup)).one()
        assert (group.name, group.owner_userid, group.status) == ("会员福利群", "zhangsan", "active")
        assert group.member_version == corp.state.group(corp.state.corp(CORPID), chat).member_version
        members = {m.member_id: (m.kind, m.left_at is None) for m in session.scalars(select(CustomerGroupMember))}
        assert members[customer] == ("customer", False)
        assert members[newcomer] == ("customer", True)
        assert members["lisi"] == ("staff", True)
        assert group.member_count == 3  # zhangsan (owner), lisi, the newcomer
        joined = session.scalars(select(Event).where(Event.name == "group_joined")).all()
        left = session.scalars(select(Event).where(Event.name == "group_left")).all()
        assert len(joined) == 2
        assert len(left) == 1
    corp.state.dismiss_group(CORPID, chat)
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        assert session.scalars(select(CustomerGroup)).one().status == "dismissed"


def test_tag_changes_read_the_library_again(corp: Corp) -> None:
    ids = corp.state.admin_adds_tag(CORPID, "肤质", ["油皮", "干皮"])
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        tags = {t.wecom_tag_id: t.name for t in session.scalars(select(Tag))}
    assert tags == {ids[0]: "油皮", ids[1]: "干皮"}
    corp.state.admin_deletes_tag(CORPID, ids[1])
    corp.apply()
    assert count(corp, Tag) == 1


def test_half_adds_edits_and_failed_transfers(corp: Corp) -> None:
    external = corp.state.customer_adds(CORPID, "zhangsan", state_code="store-sh-01", half=True)
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        assert session.scalars(select(StaffRelation)).one().status == "half"  # not accepted yet
        event = session.scalars(select(Event).where(Event.name == "contact_added")).one()
        assert event.properties["half"] is True
    tags = corp.state.admin_adds_tag(CORPID, "意向", ["高意向"])
    corp.apply()
    corp.state.staff_edits_customer(CORPID, "zhangsan", external, remark="老客户", add_tags=tags)
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        relation = session.scalars(select(StaffRelation)).one()
        assert relation.remark == "老客户"
        tag = session.scalars(select(Tag).where(Tag.name == "高意向")).one()
        holders = session.scalars(select(ContactTag).where(ContactTag.tag_id == tag.id)).all()
        assert [(h.contact_id, h.source) for h in holders] == [(relation.contact_id, "wecom")]
    corp.state.transfer_fails(CORPID, "lisi", external, reason="customer_refused")
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        failed = session.scalars(select(Event).where(Event.name == "wecom_transfer_failed")).one()
        assert failed.properties == {"staff": "lisi", "reason": "customer_refused"}


def test_a_receipt_that_cannot_be_applied_does_not_hold_up_the_rest(
    corp: Corp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A callback siyu fails on (a bug, a payload it does not expect) is kept with its error; the ones after
    it are applied, so welcome codes behind it do not run out while it is retried."""
    corp.state.customer_adds(CORPID, "zhangsan", name="第一位")
    corp.state.customer_adds(CORPID, "zhangsan", name="第二位")
    real = callbacks._contact_change
    calls = []

    def first_fails(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("UserID")
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(callbacks, "_contact_change", first_fails)
    assert corp.apply() == 2
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        receipts = session.scalars(select(CallbackReceipt).order_by(CallbackReceipt.id)).all()
        assert [r.processed_at is not None for r in receipts] == [True, True]
        assert receipts[0].error == "failed: KeyError: 'UserID'"
        assert receipts[1].error is None
        assert [c.nickname for c in session.scalars(select(Contact))] == ["第二位"]
