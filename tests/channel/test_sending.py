"""The WeCom channels against the stand-in: 1:1 群发 handed to staff and polled to delivered / failed, the
receive cap, a storm of 45009, 5xx and revoked tokens (nothing lost, nothing twice), a timed-out task found
again instead of sent twice, and the welcome message inside its window."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from siyu.channel import sending
from siyu.channel.settings import WeComSettings
from siyu.dispatch import calling, channels, ledger
from siyu.dispatch.governance import Priority, parse_governance
from siyu.kit.db import transaction
from siyu.models import Delivery, StaffRelation
from tests.channel.wecom_fixture import Corp
from tests.wechat.standin_fixture import CORPID


def customers(corp: Corp, n: int, staff: str = "zhangsan") -> list[int]:
    for _ in range(n):
        corp.state.customer_adds(CORPID, staff, state_code="store-sh-01")
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        return sorted(session.scalars(select(StaffRelation.contact_id)))


def queue(corp: Corp, contacts: list[int], channel: str = "wecom", tag: str = "m", text: str = "新品上市") -> None:
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        messages = [
            ledger.Message(c, f"{tag}:{c}", "test", channel, {"text": text}, Priority.transactional) for c in contacts
        ]
        ledger.queue(session, messages, parse_governance(None), "Asia/Shanghai", datetime.now(UTC))


def statuses(corp: Corp) -> dict[int, tuple[str, str | None]]:
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id))
        return {r.contact_id: (r.status, r.external_ref) for r in rows}


def test_group_send_is_handed_to_staff_and_polled_to_its_result(corp: Corp) -> None:
    contacts = customers(corp, 3)
    queue(corp, contacts)
    now = datetime.now(UTC)
    report = calling.deliver(corp.factory, corp.workspace_id, now, corp.channel())
    assert report.sent == 3
    found = statuses(corp)
    msgids = {ref for _, ref in found.values()}
    assert {s for s, _ in found.values()} == {"handed_to_staff"}
    assert len(msgids) == 1  # one task for one staff member and one content
    (msgid,) = msgids
    assert msgid is not None
    template = corp.state.corp(CORPID).templates[msgid]
    assert template.text == {"content": "新品上市"}
    # nothing arrives before the member confirms
    settings = _settings(corp)
    assert corp.channel().poll(corp.factory, corp.workspace_id, settings, now) == 0
    # one customer deletes the member before the member sends: WeCom reports status 2 for them
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        gone = session.scalars(select(StaffRelation).where(StaffRelation.contact_id == contacts[0])).one()
    corp.state.staff_deletes_customer(CORPID, "zhangsan", gone.external_userid)
    corp.state.members_confirm(msgid)
    later = now + timedelta(minutes=settings.poll_minutes + 1)
    assert corp.channel().poll(corp.factory, corp.workspace_id, settings, later) == 3
    after = statuses(corp)
    assert after[contacts[0]][0] == "failed"
    assert after[contacts[1]][0] == after[contacts[2]][0] == "delivered"


def _settings(corp: Corp) -> WeComSettings:
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        found = channels.settings_for(session, corp.workspace_id, "wecom")
    assert isinstance(found, WeComSettings)
    return found


def test_no_relation_and_the_receive_cap_fail_before_wecom_is_asked(corp: Corp) -> None:
    contacts = customers(corp, 2)
    capped = {**_plain(corp), "receive_cap": 1, "receive_period": "day"}
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        relation = session.scalars(select(StaffRelation).where(StaffRelation.contact_id == contacts[0])).one()
        relation.status = "customer_deleted"
        channels.set_channel(session, corp.workspace_id, "wecom", capped)
    queue(corp, contacts, tag="first")
    calling.deliver(corp.factory, corp.workspace_id, datetime.now(UTC), corp.channel())
    queue(corp, [contacts[1]], tag="second", text="第二条")
    calling.deliver(corp.factory, corp.workspace_id, datetime.now(UTC), corp.channel())
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        rows = {r.dedup_key: (r.status, r.reason) for r in session.scalars(select(Delivery))}
    assert rows[f"first:{contacts[0]}"][0] == "failed"
    assert "no active WeCom relation" in str(rows[f"first:{contacts[0]}"][1])
    assert rows[f"first:{contacts[1]}"][0] == "handed_to_staff"
    assert rows[f"second:{contacts[1]}"][0] == "failed"
    assert "receive cap" in str(rows[f"second:{contacts[1]}"][1])
    assert len(corp.state.corp(CORPID).templates) == 1


def _plain(corp: Corp) -> dict[str, object]:
    return _settings(corp).model_dump()


def test_a_storm_of_limits_errors_and_revoked_tokens_loses_nothing_and_sends_nothing_twice(corp: Corp) -> None:
    customers(corp, 4)
    corp.state.add_staff(CORPID, "wangwu", "王五")
    for _ in range(3):
        corp.state.customer_adds(CORPID, "wangwu")
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        contacts = sorted(session.scalars(select(StaffRelation.contact_id)))
    queue(corp, contacts)
    corp.state.inject("add_msg_template", errcode=45009, times=3)
    corp.state.inject("add_msg_template", http_status=502, times=2)
    corp.state.inject("add_msg_template", errcode=-1, times=2)
    start = datetime.now(UTC)
    # passes a minute apart, as the journeys tick runs them: ten minutes of storm, then recovery
    for minute in range(0, 16):
        if minute == 4:
            corp.state.expire_tokens(CORPID)  # WeCom revokes the token in the middle of the batch
        now = start + timedelta(minutes=minute, seconds=1)
        calling.deliver(corp.factory, corp.workspace_id, now, corp.channel())
        if all(s == "handed_to_staff" for s, _ in statuses(corp).values()):
            break
    final = statuses(corp)
    assert {s for s, _ in final.values()} == {"handed_to_staff"}, final
    templates = corp.state.corp(CORPID).templates.values()
    handed = [r.target for t in templates for task in t.tasks.values() for r in task.recipients]
    assert sorted(handed) == sorted(set(handed))  # nobody in two tasks
    assert len(handed) == len(contacts)


def test_a_task_whose_answer_was_lost_is_found_again_not_made_twice(corp: Corp) -> None:
    contacts = customers(corp, 2)
    queue(corp, contacts)
    corp.state.inject("add_msg_template", delay=1.5)
    slow = sending.WeComChannel(corp.client(timeout=0.5, sleep=lambda s: None))
    now = datetime.now(UTC)
    report = calling.deliver(corp.factory, corp.workspace_id, now, slow)
    assert report.unknown == 2
    assert {s for s, _ in statuses(corp).values()} == {"unknown"}
    time.sleep(1.2)  # the stand-in finishes making the task after the client gave up
    calling.deliver(corp.factory, corp.workspace_id, now + timedelta(minutes=1), corp.channel())
    final = statuses(corp)
    assert {s for s, _ in final.values()} == {"handed_to_staff"}
    assert len(corp.state.corp(CORPID).templates) == 1
    assert {ref for _, ref in final.values()} == set(corp.state.corp(CORPID).templates)


def test_a_lost_task_is_told_apart_from_another_with_the_same_sender_and_text(corp: Corp) -> None:
    """One broadcast, two tasks with one sender and one text: the second's answer is lost. Reconciling it
    finds it by its recipients — WeCom's API tasks carry no creator, and the first task's msgid is not its."""
    contacts = customers(corp, 4)
    now = datetime.now(UTC)
    queue(corp, contacts[:2], tag="first")
    calling.deliver(corp.factory, corp.workspace_id, now, corp.channel())
    queue(corp, contacts[2:], tag="second")
    corp.state.inject("add_msg_template", delay=1.5)
    slow = sending.WeComChannel(corp.client(timeout=0.5, sleep=lambda s: None))
    assert calling.deliver(corp.factory, corp.workspace_id, now, slow).unknown == 2
    time.sleep(1.2)  # the stand-in finishes making the task after the client gave up
    calling.deliver(corp.factory, corp.workspace_id, now + timedelta(minutes=1), corp.channel())
    templates = corp.state.corp(CORPID).templates
    assert len(templates) == 2  # never made a third time
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        externals = sending.external_ids(session, contacts)
    msgid_of = {
        target.target: msgid
        for msgid, t in templates.items()
        for task in t.tasks.values()
        for target in task.recipients
    }
    final = statuses(corp)
    for contact in contacts:
        status, ref = final[contact]
        assert status == "handed_to_staff"
        assert ref == msgid_of[externals[contact]]


def test_the_welcome_message_goes_once_inside_its_window(corp: Corp) -> None:
    contacts = customers(corp, 2)
    queue(corp, contacts, channel="wecom_welcome", text="欢迎！送你一张新人券")
    now = datetime.now(UTC)
    welcome = sending.WeComWelcome(corp.client(sleep=lambda s: None))
    assert calling.deliver(corp.factory, corp.workspace_id, now, welcome).sent == 2
    assert [m["text"]["content"] for m in corp.state.welcome_messages] == ["欢迎！送你一张新人券"] * 2
    # a second welcome to the same customer: the code was used, WeCom refuses it
    queue(corp, contacts[:1], channel="wecom_welcome", tag="again")
    calling.deliver(corp.factory, corp.workspace_id, now, welcome)
    # past the window: failed without asking WeCom
    corp.state.customer_adds(CORPID, "lisi")
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        late = session.scalars(select(StaffRelation).order_by(StaffRelation.id.desc())).first()
        assert late is not None
        late_contact = late.contact_id
    queue(corp, [late_contact], channel="wecom_welcome", tag="late")
    calling.deliver(corp.factory, corp.workspace_id, now + timedelta(seconds=25), welcome)
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        rows = {r.dedup_key: (r.status, r.reason) for r in session.scalars(select(Delivery))}
    assert rows[f"again:{contacts[0]}"][0] == "failed"
    assert rows[f"late:{late_contact}"][0] == "failed"
    assert "window" in str(rows[f"late:{late_contact}"][1])
    assert len(corp.state.welcome_messages) == 2
