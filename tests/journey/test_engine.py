"""The journey engine on both databases: contacts step through published versions, every side effect
once (a replayed batch writes nothing twice), pause and resume, re-entry, goals, splits, conditions
and the dispatcher's governance with its ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.config import Settings
from siyu.dispatch import ledger
from siyu.dispatch.governance import parse_governance
from siyu.journey import audiences, engine, service, triggers
from siyu.kit.db import transaction
from siyu.lake.store import lake_for
from siyu.lake.sync import sync_workspace
from siyu.models import ConsentRecord, ContactTag, Delivery, Journey, JourneyRun, StaffTask, Tag, TagGroup
from tests.contact.factories import add_event, create_contact
from tests.factories import create_workspace

# 10:00 in Shanghai: outside quiet hours, a fresh local day.
T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


@dataclass
class World:
    factory: sessionmaker[Session]
    settings: Settings
    ws: int
    ctx: AuthContext
    contacts: list[int]
    tag: int

    def journey(self, nodes: dict[str, Any], start: str, **extra: Any) -> int:
        definition = {"version": 1, "trigger": {"type": "manual"}, "start": start, "nodes": nodes, **extra}
        with self.session() as session:
            journey = service.create(
                session, self.ctx, name=f"j{len(nodes)}-{start}-{id(nodes)}", definition=definition
            )
            assert journey.draft_problems is None, journey.draft_problems
            service.publish(session, self.ctx, journey.id)
            return journey.id

    def session(self) -> Any:
        return transaction(self.factory, workspace_id=self.ws)

    def enter(self, journey_id: int, at: datetime = T0, key: str = "manual") -> int:
        with self.session() as session:
            return engine.enter(session, journey_id, [(c, f"{key}:{c}") for c in self.contacts], at)

    def step(self, at: datetime, **kwargs: Any) -> engine.StepReport:
        with self.session() as session:
            return engine.step_due(session, at, **kwargs)

    def deliver(self, at: datetime) -> ledger.DeliveryReport:
        with self.session() as session:
            return ledger.deliver_due(session, at)

    def ledger(self) -> list[tuple[int, str, str, str | None]]:
        with self.session() as session:
            rows = session.execute(
                select(Delivery.contact_id, Delivery.dedup_key, Delivery.status, Delivery.rule).order_by(Delivery.id)
            )
            return [(c, k, s, r) for c, k, s, r in rows]

    def count(self, model: Any) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def world(session_factory: sessionmaker[Session], settings: Settings) -> World:
    ws = create_workspace(session_factory).id
    with transaction(session_factory, workspace_id=ws) as session:
        contacts = [create_contact(session, identities={"phone": f"1370000000{i}"}).id for i in range(3)]
        group = TagGroup(name="旅程")
        session.add(group)
        session.flush()
        tag = Tag(group_id=group.id, name="已欢迎")
        session.add(tag)
        session.flush()
        tag_id = tag.id
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="test")
    return World(session_factory, settings, ws, ctx, contacts, tag_id)


def welcome(world: World) -> dict[str, Any]:
    return {
        "hello": {
            "type": "send",
            "channel": "outbox",
            "priority": "transactional",
            "content": {"text": "欢迎"},
            "next": "greet",
        },
        "greet": {"type": "task", "title": "1小时内问候", "due_in": "1h", "next": "wait"},
        "wait": {"type": "wait", "duration": "24h", "next": "recommend"},
        "recommend": {
            "type": "send",
            "channel": "outbox",
            "promotional": True,
            "content": {"text": "推荐"},
            "next": "tag",
        },
        "tag": {"type": "tag", "add": [world.tag], "next": "done"},
        "done": {"type": "exit", "reason": "欢迎结束"},
    }


def test_the_welcome_sop_steps_every_contact_once(world: World) -> None:
    jid = world.journey(welcome(world), "hello")
    assert world.enter(jid) == 3
    first = world.step(T0)
    assert (first.runs, first.messages, first.tasks, first.ended) == (3, 3, 3, 0)
    assert first.by_node == {"hello": 3, "greet": 3, "wait": 3}
    assert world.deliver(T0).sent == 3
    assert world.step(T0 + timedelta(hours=23)).runs == 0  # still waiting
    later = world.step(T0 + timedelta(hours=24))
    assert (later.runs, later.messages, later.ended) == (3, 3, 3)
    world.deliver(T0 + timedelta(hours=24))
    rows = world.ledger()
    assert [s for _, _, s, _ in rows] == ["sent"] * 6
    assert len({k for _, k, _, _ in rows}) == 6
    with world.session() as session:
        runs = list(session.scalars(select(JourneyRun)))
        tagged = set(session.scalars(select(ContactTag.contact_id).where(ContactTag.tag_id == world.tag)))
        task = session.scalars(select(StaffTask)).first()
        assert task is not None
        assert task.due_at == T0 + timedelta(hours=1)
    assert {(r.status, r.exit_reason, r.steps) for r in runs} == {("exited", "欢迎结束", 6)}
    assert tagged == set(world.contacts)


def test_a_batch_replayed_after_a_crash_writes_nothing_twice(world: World) -> None:
    jid = world.journey(welcome(world), "hello")
    world.enter(jid)

    def killed_before_the_commit() -> None:
        with world.session() as session:
            engine.step_due(session, T0)
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        killed_before_the_commit()
    assert world.count(Delivery) == 0
    assert world.count(StaffTask) == 0
    world.step(T0)
    world.step(T0)  # nothing is due any more
    assert world.count(Delivery) == 3
    assert world.count(StaffTask) == 3
    with world.session() as session:  # the same message queued again is stored once
        again = [ledger.Message(world.contacts[0], world.ledger()[0][1], "journey", "outbox", {"text": "x"})]
        ledger.queue(session, again, parse_governance(None), "Asia/Shanghai", T0)
    assert world.count(Delivery) == 3
    assert world.enter(jid) == 0  # the same entry keys enter nobody


def test_pause_and_resume_resend_nothing(world: World) -> None:
    jid = world.journey(welcome(world), "hello")
    world.enter(jid)
    world.step(T0)
    with world.session() as session:
        service.change_status(session, world.ctx, jid, "pause")
    assert world.step(T0 + timedelta(days=2)).runs == 0
    with world.session() as session:
        service.change_status(session, world.ctx, jid, "resume")
    resumed = world.step(T0 + timedelta(days=2))
    assert resumed.by_node == {"recommend": 3, "tag": 3, "done": 3}
    assert world.count(Delivery) == 6


def test_re_entry_policies(world: World) -> None:
    nodes = {"hi": {"type": "send", "channel": "outbox", "priority": "service", "content": {"text": "hi"}}}
    never = world.journey(nodes, "hi")
    assert world.enter(never, key="a") == 3
    world.step(T0)
    assert world.enter(never, T0 + timedelta(days=400), key="b") == 0
    cooling = world.journey(dict(nodes), "hi", entry={"re_entry": "after_exit", "cooldown_days": 30})
    world.enter(cooling, key="a")
    assert world.enter(cooling, key="early") == 0  # still in it
    world.step(T0)
    assert world.enter(cooling, T0 + timedelta(days=10), key="b") == 0  # cooling down
    assert world.enter(cooling, T0 + timedelta(days=31), key="c") == 3


def test_caps_and_quiet_hours_are_recorded_in_the_ledger(world: World) -> None:
    promo = {"type": "send", "channel": "outbox", "promotional": True, "content": {"text": "促销"}}
    first = world.journey({"a": dict(promo)}, "a")
    second = world.journey({"b": dict(promo)}, "b")
    world.enter(first)
    world.enter(second)
    world.step(T0)
    rows = world.ledger()
    assert [(s, r) for _, _, s, r in rows] == [("queued", None)] * 3 + [("blocked", "daily_cap")] * 3
    assert world.deliver(T0).sent == 3
    with world.session() as session:
        reason = session.scalar(select(Delivery.reason).where(Delivery.status == "blocked"))
    assert reason is not None
    assert "1 marketing message per day" in reason
    night = world.journey({"n": dict(promo)}, "n")
    late = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    world.enter(night, late)
    world.step(late)
    with world.session() as session:
        deferred = list(session.scalars(select(Delivery).where(Delivery.source == f"journey:{night}")))
        # the consent withdrawal comes after the message was queued
        session.add(
            ConsentRecord(
                contact_id=world.contacts[0], purpose="marketing", granted=False, source="test", recorded_at=late
            )
        )
    assert {(d.status, d.not_before) for d in deferred} == {("queued", datetime(2026, 12, 4, 0, 0, tzinfo=UTC))}
    assert world.deliver(late + timedelta(minutes=20)).sent == 0  # deferred to the morning
    morning = world.deliver(datetime(2026, 12, 4, 0, 0, tzinfo=UTC))
    assert (morning.sent, morning.blocked) == (2, 1)
    with world.session() as session:
        opted = session.scalar(
            select(Delivery).where(Delivery.contact_id == world.contacts[0], Delivery.source == f"journey:{night}")
        )
        assert opted is not None
        assert (opted.status, opted.rule) == ("blocked", "opt_out")


def test_a_goal_ends_the_journey_and_nothing_more_is_sent(world: World) -> None:
    nodes = welcome(world)
    jid = world.journey(nodes, "hello", goal={"event": "order_paid", "within_days": 3})
    world.enter(jid)
    world.step(T0)
    with world.session() as session:
        from siyu.models import Contact

        buyer = session.get(Contact, world.contacts[1])
        assert buyer is not None
        add_event(session, buyer, "order_paid", T0 + timedelta(hours=2))
    later = world.step(T0 + timedelta(hours=24))
    assert later.messages == 2
    with world.session() as session:
        statuses = dict(session.execute(select(JourneyRun.contact_id, JourneyRun.status)).all())
    assert statuses[world.contacts[1]] == "converted"


def test_random_splits_are_stable_and_keep_a_holdout(world: World) -> None:
    with world.session() as session:
        world.contacts += [create_contact(session, identities={"phone": f"1360000{i:04d}"}).id for i in range(200)]
    say = {"type": "send", "channel": "outbox", "priority": "service", "content": {"text": "x"}}
    nodes = {
        "split": {
            "type": "random",
            "holdout": 20,
            "branches": [{"weight": 3, "next": "a"}, {"weight": 1, "next": "b"}],
        },
        "a": dict(say),
        "b": dict(say),
    }
    jid = world.journey(nodes, "split")
    world.enter(jid)
    report = world.step(T0)
    holdout = report.ended - report.by_node.get("a", 0) - report.by_node.get("b", 0)
    assert 20 <= holdout <= 62  # 20 % of 203, give or take
    assert report.by_node["a"] > 1.5 * report.by_node["b"]  # 3 : 1, on about 160 contacts
    assert engine._pick("1:7", "split", [3, 1]) == engine._pick("1:7", "split", [3, 1])


def test_conditions_are_decided_by_the_analytics_store(world: World) -> None:
    with world.session() as session:
        from siyu.tag import service as tagging

        tag = session.get(Tag, world.tag)
        assert tag is not None
        tagging.apply(session, tag, world.contacts[:1], source="manual")
    lake = lake_for(world.settings)
    sync_workspace(world.factory, lake, world.ws)
    say = {"type": "send", "channel": "outbox", "priority": "service", "content": {"text": "x"}}
    nodes = {
        "has_tag": {"type": "condition", "if": {"op": "tag", "tag_id": world.tag}, "then": "yes", "else": "no"},
        "yes": dict(say),
        "no": dict(say),
    }
    jid = world.journey(nodes, "has_tag")
    world.enter(jid)
    with world.session() as session:
        report = engine.step_due(session, T0, conditions=audiences.lake_conditions(session, lake))
    assert report.by_node == {"has_tag": 3, "yes": 1, "no": 2}


def test_events_after_publishing_trigger_entry_once_and_a_tick_sends(world: World) -> None:
    from siyu.journey import tasks
    from siyu.models import Contact

    with world.session() as session:
        early = session.get(Contact, world.contacts[0])
        assert early is not None
        add_event(session, early, "contact_added", T0)  # before the journey: it does not count
    hello = {"type": "send", "channel": "outbox", "priority": "transactional", "content": {"text": "欢迎"}}
    definition = {
        "version": 1,
        "trigger": {"type": "event", "event": "contact_added", "where": [{"key": "via", "cmp": "eq", "value": "qr"}]},
        "start": "hello",
        "nodes": {"hello": hello},
    }
    with world.session() as session:
        journey = service.create(session, world.ctx, name="扫码欢迎", definition=definition)
        service.publish(session, world.ctx, journey.id)
        jid = journey.id
    with world.session() as session:
        for cid, via in ((world.contacts[1], "qr"), (world.contacts[2], "search")):
            contact = session.get(Contact, cid)
            assert contact is not None
            add_event(session, contact, "contact_added", T0, properties={"via": via})
    first = tasks.tick(world.factory, None, world.ws)
    assert (first.entered, first.messages, first.sent) == (1, 1, 1)
    again = tasks.tick(world.factory, None, world.ws)
    assert (again.entered, again.messages, again.sent) == (0, 0, 0)
    with world.session() as session:
        runs = list(session.execute(select(JourneyRun.contact_id, JourneyRun.entry_key, JourneyRun.status)))
        service.change_status(session, world.ctx, jid, "pause")
    assert [(c, s) for c, _, s in runs] == [(world.contacts[1], "done")]
    assert runs[0][1].startswith("event:")
    with world.session() as session:  # while paused: nobody enters, then or on resuming
        contact = session.get(Contact, world.contacts[0])
        assert contact is not None
        add_event(session, contact, "contact_added", T0, properties={"via": "qr"})
    assert tasks.tick(world.factory, None, world.ws).entered == 0
    with world.session() as session:
        service.change_status(session, world.ctx, jid, "resume")
    assert tasks.tick(world.factory, None, world.ws).entered == 0
    assert world.ledger() == [(world.contacts[1], world.ledger()[0][1], "sent", None)]


def test_a_dry_run_reports_everything_and_leaves_nothing(world: World) -> None:
    from siyu.journey import dryrun
    from siyu.models import Journey, JourneyVersion

    promo = {"type": "send", "channel": "outbox", "promotional": True, "content": {"text": "促销"}}
    definition = {
        "version": 1,
        "trigger": {"type": "manual"},
        "start": "first",
        "nodes": {
            "first": {**promo, "next": "call"},
            "call": {"type": "task", "title": "回访", "due_in": "1h", "next": "later"},
            "later": {"type": "wait", "duration": "1h", "next": "second"},
            "second": {**promo, "next": "split"},
            "split": {"type": "random", "holdout": 0, "branches": [{"weight": 1, "next": "done"}]},
            "done": {"type": "exit"},
        },
    }
    with world.session() as session:
        jid = service.create(session, world.ctx, name="试跑", definition=definition).id
    with world.session() as session:
        report = dryrun.dry_run(session, jid, T0)
    assert report.as_dict() == {
        "pool": 3,
        "entered": 3,
        "nodes": {"first": 3, "call": 3, "later": 3, "second": 3, "split": 3, "done": 3},
        "messages": 3,
        "deferred": 0,
        "blocked": {"daily_cap": 3},  # the second promotion of the same day
        "tasks": 3,
        "ended": {"exited": 3},
        "notes": ["manual: every contact"],
    }
    assert world.count(Delivery) == 0
    assert world.count(JourneyRun) == 0
    assert world.count(StaffTask) == 0
    assert world.count(JourneyVersion) == 0
    with world.session() as session:
        journey = session.get(Journey, jid)
        assert journey is not None
        assert (journey.status, journey.published_version) == ("draft", 0)
        only = dryrun.dry_run(session, jid, T0 + timedelta(hours=13), contact_ids=world.contacts[:1])  # 23:00 local
    assert (only.pool, only.messages, only.deferred) == (1, 1, 1)
    assert only.blocked == {"daily_cap": 1}  # the deferred first one counts on the day it goes


def test_trigger_filters_keys_and_republishing(world: World) -> None:
    from siyu.journey import triggers
    from siyu.models import Contact

    hello = {"type": "send", "channel": "outbox", "priority": "service", "content": {"text": "谢谢"}}
    big_orders = {
        "version": 1,
        "trigger": {
            "type": "event",
            "event": "order_paid",
            "where": [{"key": "amount_fen", "cmp": "gte", "value": 19_900}],
        },
        "entry": {"re_entry": "after_exit", "cooldown_days": 0},
        "start": "hello",
        "nodes": {"hello": hello},
    }
    with world.session() as session:
        journey = service.create(session, world.ctx, name="大单感谢", definition=big_orders)
        service.publish(session, world.ctx, journey.id)
        jid = journey.id
    with world.session() as session:
        for cid, fen in zip(world.contacts, (25_000, 9_900, 19_900), strict=True):
            contact = session.get(Contact, cid)
            assert contact is not None
            add_event(session, contact, "order_paid", T0, properties={"amount_fen": fen})
    with world.session() as session:
        assert triggers.run_triggers(session, T0).entered == 2  # 250元 and 199元, not 99元
    world.step(T0)
    with world.session() as session:  # an old event read again next to a new one: the new one enters
        contact = session.get(Contact, world.contacts[0])
        assert contact is not None
        add_event(session, contact, "order_paid", T0, properties={"amount_fen": 30_000})
        journey_row = session.get(Journey, jid)
        assert journey_row is not None
        journey_row.trigger_watermark = 0
    with world.session() as session:
        assert triggers.run_triggers(session, T0).entered == 1
    # A new version with another trigger starts with the events that follow it, not the old ones.
    with world.session() as session:
        service.save_draft(session, world.ctx, jid, {**big_orders, "trigger": {"type": "event", "event": "page_view"}})
        contact = session.get(Contact, world.contacts[1])
        assert contact is not None
        add_event(session, contact, "page_view", T0 - timedelta(days=1))
    with world.session() as session:
        service.publish(session, world.ctx, jid)
    with world.session() as session:
        assert triggers.run_triggers(session, T0).entered == 0


def test_a_condition_naming_a_deleted_tag_holds_for_nobody(world: World) -> None:
    lake = lake_for(world.settings)
    say = {"type": "send", "channel": "outbox", "priority": "service", "content": {"text": "x"}}
    nodes = {
        "has_tag": {"type": "condition", "if": {"op": "tag", "tag_id": world.tag}, "then": "yes", "else": "no"},
        "yes": dict(say),
        "no": dict(say),
    }
    jid = world.journey(nodes, "has_tag")
    world.enter(jid)
    with world.session() as session:
        tag = session.get(Tag, world.tag)
        session.delete(tag)
    sync_workspace(world.factory, lake, world.ws)
    with world.session() as session:
        report = engine.step_due(session, T0, conditions=audiences.lake_conditions(session, lake))
    assert report.by_node == {"has_tag": 3, "no": 3}


def test_tasks_go_to_the_contacts_owner(world: World) -> None:
    from siyu.models import Contact, StaffMember

    with world.session() as session:
        staff = StaffMember(userid="zhangsan", name="张三")
        session.add(staff)
        session.flush()
        owned = session.get(Contact, world.contacts[0])
        assert owned is not None
        owned.owner_staff_id = staff.id
    jid = world.journey({"call": {"type": "task", "title": "回访"}}, "call")
    world.enter(jid)
    world.step(T0)
    with world.session() as session:
        assignees = dict(session.execute(select(StaffTask.contact_id, StaffTask.assignee)).all())
    assert assignees == {world.contacts[0]: "zhangsan", world.contacts[1]: None, world.contacts[2]: None}


def test_wait_event_moves_on_with_the_event_or_at_the_timeout(world: World) -> None:
    from siyu.journey import tasks
    from siyu.models import Contact

    say = {"type": "send", "channel": "outbox", "priority": "service", "content": {"text": "x"}}
    nodes = {
        "ask": {**say, "next": "wait"},
        "wait": {
            "type": "wait_event",
            "event": "link_clicked",
            "where": [{"key": "campaign", "cmp": "eq", "value": "spring"}],
            "timeout": "3d",
            "next": "thanks",
            "on_timeout": "remind",
        },
        "thanks": dict(say),
        "remind": dict(say),
    }
    jid = world.journey(nodes, "ask")
    world.enter(jid)
    assert world.step(T0).by_node == {"ask": 3, "wait": 3}
    with world.session() as session:
        for cid, campaign in ((world.contacts[0], "spring"), (world.contacts[1], "autumn")):
            contact = session.get(Contact, cid)
            assert contact is not None
            add_event(session, contact, "link_clicked", T0 + timedelta(hours=1), properties={"campaign": campaign})
    with world.session() as session:
        assert triggers.wake_waiting(session, T0 + timedelta(hours=2)) == 1  # the autumn click does not match
    assert world.step(T0 + timedelta(hours=2)).by_node == {"thanks": 1}
    assert world.step(T0 + timedelta(days=2)).runs == 0  # the others still wait
    late = world.step(T0 + timedelta(days=3))
    assert late.by_node == {"remind": 2}
    with world.session() as session:
        ends = dict(session.execute(select(JourneyRun.contact_id, JourneyRun.node)).all())
        waiting = session.scalar(select(func.count()).where(JourneyRun.waiting_since.is_not(None)))
    assert waiting == 0
    assert ends == {world.contacts[0]: None, world.contacts[1]: None, world.contacts[2]: None}
    assert tasks.tick(world.factory, None, world.ws).woken == 0


def test_schedules_fire_once_per_occurrence_in_local_time(world: World) -> None:
    from siyu.journey import triggers
    from siyu.models import Journey

    say = {"type": "send", "channel": "outbox", "priority": "service", "content": {"text": "早安"}}
    definition = {
        "version": 1,
        "trigger": {"type": "schedule", "cron": "0 10 * * *"},  # 10:00 in Shanghai = 02:00 UTC
        "entry": {"re_entry": "always"},
        "start": "hello",
        "nodes": {"hello": say},
    }
    with world.session() as session:
        journey = service.create(session, world.ctx, name="每日早安", definition=definition)
        assert journey.draft_problems is None, journey.draft_problems
        service.publish(session, world.ctx, journey.id)
        journey.trigger_fired_at = T0 - timedelta(hours=1)  # published at 09:00 local
        jid = journey.id

    def fire(at: datetime) -> int:
        with world.session() as session:
            return triggers.run_clock_triggers(session, at).entered

    assert fire(T0 - timedelta(minutes=1)) == 0
    assert fire(T0 + timedelta(minutes=5)) == 3
    assert fire(T0 + timedelta(minutes=10)) == 0
    assert fire(T0 + timedelta(days=3, minutes=1)) == 3  # two days missed: it fires once, for the latest
    with world.session() as session:
        fired = session.get(Journey, jid)
        assert fired is not None
        assert fired.trigger_fired_at == T0 + timedelta(days=3)


def test_birthdays_enter_once_a_year_offset_days_ahead(world: World) -> None:
    from datetime import date

    from siyu.journey import triggers
    from siyu.models import Contact

    with world.session() as session:
        for cid, born in zip(world.contacts, (date(1990, 12, 5), date(1992, 2, 29), None), strict=True):
            contact = session.get(Contact, cid)
            assert contact is not None
            contact.birthday = born
    say = {"type": "send", "channel": "outbox", "priority": "service", "content": {"text": "生日快乐"}}
    definition = {
        "version": 1,
        "trigger": {"type": "date_property", "property": "birthday", "offset_days": -3, "at": "10:00"},
        "entry": {"re_entry": "always"},
        "start": "hello",
        "nodes": {"hello": say},
    }
    with world.session() as session:
        journey = service.create(session, world.ctx, name="生日", definition=definition)
        service.publish(session, world.ctx, journey.id)
        journey.trigger_fired_at = T0 - timedelta(days=1)

    def fire(at: datetime) -> int:
        with world.session() as session:
            return triggers.run_clock_triggers(session, at).entered

    assert fire(T0 - timedelta(minutes=30)) == 0  # 09:30 on 2 December: not yet
    assert fire(T0 + timedelta(minutes=30)) == 1  # 3 days before the 5 December birthday
    assert fire(T0 + timedelta(hours=2)) == 0  # once a day
    feb = datetime(2027, 2, 25, 3, 0, tzinfo=UTC)  # 11:00 on 25 February 2027, not a leap year
    assert fire(feb) == 1  # the 29 February birthday counts on the 28th
    with world.session() as session:
        trigger = {"type": "date_property", "property": "anniversary", "offset_days": -3, "at": "10:00"}
        custom = {**definition, "trigger": trigger}
        problems = service.problems_of(session, custom)
    assert [p.field for p in problems] == ["definition.trigger.property"]
