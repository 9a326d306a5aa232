"""The workers' ``journeys.react`` loop on both databases: an event for an active journey reaches the
ledger without waiting for the minutely tick; with nothing new it writes nothing; 0 turns it off."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.config import Settings
from siyu.journey import service, tasks
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import Delivery, JourneyRun
from siyu.worker import registry
from tests.contact.factories import add_event, create_contact
from tests.factories import create_workspace

WELCOME: dict[str, Any] = {
    "version": 1,
    "trigger": {"type": "event", "event": "joined_group"},
    "start": "hello",
    "nodes": {
        "hello": {
            "type": "send",
            "channel": "outbox",
            "priority": "transactional",
            "content": {"text": "欢迎入群"},
            "next": "done",
        },
        "done": {"type": "exit"},
    },
}


def deliveries(factory: sessionmaker[Session], ws: int) -> int:
    with transaction(factory, workspace_id=ws) as session:
        return int(session.scalar(select(func.count()).select_from(Delivery)) or 0)


def test_an_event_reaches_the_ledger_between_ticks(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    assert registry.loops()["journeys.react"] is tasks.react  # every worker runs it
    ws = create_workspace(session_factory).id
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="test")
    with transaction(session_factory, workspace_id=ws) as session:
        contact = create_contact(session, identities={"phone": "13700000001"})
        journey = service.create(session, ctx, name="入群欢迎", definition=WELCOME)
        service.publish(session, ctx, journey.id)
        early = create_contact(session, identities={"phone": "13700000002"})
        add_event(session, early, "joined_group", utcnow())  # before the loop started: for the tick
    with transaction(session_factory) as session:
        assert tasks.pending(session, 2**62, utcnow()) == (set(), tasks.pending(session, 0, utcnow())[1])
        assert tasks.pending(session, 0, utcnow())[0] == {ws}
    stop = threading.Event()
    fast = settings.model_copy(update={"journeys_react_seconds": 0.05})
    loop = threading.Thread(target=tasks.react, args=(fast, session_factory, stop))
    loop.start()
    try:
        time.sleep(0.3)
        assert deliveries(session_factory, ws) == 0  # nothing new since it started
        with transaction(session_factory, workspace_id=ws) as session:
            add_event(session, session.merge(contact), "joined_group", utcnow())
        deadline = time.monotonic() + 20
        while deliveries(session_factory, ws) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive()
    # the new event ticked the workspace, and the tick took both events in (the earlier one too)
    assert deliveries(session_factory, ws) == 2
    with transaction(session_factory, workspace_id=ws) as session:
        assert session.scalar(select(func.count()).select_from(JourneyRun).where(JourneyRun.status == "exited")) == 2


def test_due_runs_are_pending_and_zero_turns_the_loop_off(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    ws = create_workspace(session_factory).id
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="test")
    waiting = {**WELCOME, "trigger": {"type": "manual"}, "start": "wait"}
    waiting["nodes"] = {**WELCOME["nodes"], "wait": {"type": "wait", "duration": "1h", "next": "hello"}}
    with transaction(session_factory, workspace_id=ws) as session:
        contact = create_contact(session, identities={"phone": "13700000003"})
        journey = service.create(session, ctx, name="稍后", definition=waiting)
        service.publish(session, ctx, journey.id)
    from siyu.journey import engine

    with transaction(session_factory, workspace_id=ws) as session:
        engine.enter(session, journey.id, [(contact.id, "manual:1")], utcnow())
        engine.step_due(session, utcnow())
    with transaction(session_factory) as session:
        assert tasks.pending(session, 2**62, utcnow())[0] == set()  # waiting, not due yet
        assert tasks.pending(session, 2**62, utcnow() + timedelta(hours=2))[0] == {ws}
    off = settings.model_copy(update={"journeys_react_seconds": 0})
    loop = threading.Thread(target=tasks.react, args=(off, session_factory, threading.Event()))
    loop.start()
    loop.join(10)
    assert not loop.is_alive()  # it returned without being stopped


def test_a_burst_larger_than_a_page_enters_in_one_pass(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.journey import triggers

    monkeypatch.setattr(triggers, "PAGE", 3)
    ws = create_workspace(session_factory).id
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="test")
    with transaction(session_factory, workspace_id=ws) as session:
        journey = service.create(session, ctx, name="入群欢迎", definition=WELCOME)
        service.publish(session, ctx, journey.id)
        for i in range(7):
            contact = create_contact(session, identities={"phone": f"1370000010{i}"})
            add_event(session, contact, "joined_group", utcnow())
    with transaction(session_factory, workspace_id=ws) as session:
        report = triggers.run_triggers(session, utcnow())
    assert (report.events, report.entered) == (7, 7)  # three pages, one pass


def test_two_workers_ticking_at_once_send_once_and_keep_the_daily_cap(
    session_factory: sessionmaker[Session],
) -> None:
    """Two journeys each send one marketing message to the same contacts; two workers tick the workspace at
    the same moment. Every run steps once, and the daily cap lets one message a contact through: the
    batches of a workspace run one at a time (PostgreSQL's advisory lock, SQLite's single writer)."""
    ws = create_workspace(session_factory).id
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="test")
    promo: dict[str, Any] = {
        "version": 1,
        "trigger": {"type": "manual"},
        "start": "hello",
        "nodes": {
            "hello": {"type": "send", "channel": "outbox", "content": {"text": "上新"}, "next": "done"},
            "done": {"type": "exit"},
        },
    }
    from siyu.journey import engine

    with transaction(session_factory, workspace_id=ws) as session:
        contacts = [create_contact(session, identities={"phone": f"138{i:08d}"}).id for i in range(100)]
        ids = []
        for name in ("上新A", "上新B"):
            journey = service.create(session, ctx, name=name, definition=promo)
            service.publish(session, ctx, journey.id)
            ids.append(journey.id)
    with transaction(session_factory, workspace_id=ws) as session:
        for c in contacts:  # a contact's two runs side by side: the two workers take one each
            for journey_id in ids:
                engine.enter(session, journey_id, [(c, f"manual:{c}")], utcnow())
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            start.wait(10)
            tasks.tick(session_factory, None, ws, batch=1)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not failures, failures
    with transaction(session_factory, workspace_id=ws) as session:
        rows = session.execute(select(Delivery.contact_id, Delivery.status, Delivery.rule)).all()
        runs = session.execute(select(JourneyRun.status, JourneyRun.steps)).all()
    assert len(rows) == 2 * len(contacts)  # one ledger row per run
    passed = [c for c, status, _ in rows if status != "blocked"]
    assert sorted(passed) == sorted(contacts)  # one message a contact, whichever journey came first
    assert {rule for _, status, rule in rows if status == "blocked"} == {"daily_cap"}
    assert {(status, steps) for status, steps in runs} == {("exited", 2)}
