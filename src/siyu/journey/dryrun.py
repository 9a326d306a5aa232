"""The dry run: what a journey would do to the current pool, before it is launched, without sending.

It runs the real engine — the same entry rules, the same steps, the same governance decisions on each
contact's real ledger history — inside a savepoint that is rolled back at the end: nothing it writes
stays, and nothing reaches a channel (messages only leave the ledger in the tick's delivery step). Waits
are passed over by moving the clock to the next due time, so the report covers the whole journey.

The pool is who would enter now: the given contacts, or by trigger — ``manual``: every contact;
``segment_entered``: the segment's members; ``event``: the contacts who did the trigger event (matching
its filters) in the last :data:`EVENT_DAYS` days, as if they did it again. On SQLite the dry run holds
the store's write lock while it runs (seconds for tens of thousands of contacts).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.errors import InvalidInput
from siyu.journey import audiences, engine
from siyu.journey import definition as jd
from siyu.models import Contact, Delivery, Event, JourneyRun, JourneyVersion, SegmentMember, StaffTask

EVENT_DAYS = 30
MAX_ROUNDS = 1000


@dataclass
class DryRunReport:
    pool: int = 0
    entered: int = 0
    nodes: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    deferred: int = 0
    blocked: dict[str, int] = field(default_factory=dict)
    tasks: int = 0
    ended: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def pool(session: Session, definition: jd.Journey, now: datetime, limit: int) -> tuple[list[int], list[str]]:
    """The contacts who would enter now, and notes on how they were found."""
    trigger = definition.trigger
    live = select(Contact.id).where(Contact.merged_into_id.is_(None))
    if isinstance(trigger, jd.ManualTrigger):
        return list(session.scalars(live.order_by(Contact.id).limit(limit))), ["manual: every contact"]
    if isinstance(trigger, jd.SegmentTrigger):
        if trigger.type == "segment_left":
            return [], ["segment_left: who will leave is not known in advance; give contact_ids to try some"]
        members = select(SegmentMember.contact_id).where(SegmentMember.segment_id == trigger.segment_id)
        ids = list(session.scalars(members.order_by(SegmentMember.contact_id).limit(limit)))
        return ids, [f"segment_entered: the {len(ids)} current members of segment {trigger.segment_id}"]
    if isinstance(trigger, jd.EventTrigger):
        rows = session.execute(
            select(Event.contact_id, Event.properties)
            .where(Event.name == trigger.event, Event.occurred_at >= now - timedelta(days=EVENT_DAYS))
            .order_by(Event.id)
        )
        ids = list(
            dict.fromkeys(c for c, props in rows if all(audiences.matches(t, props or {}) for t in trigger.where))
        )
        return ids[:limit], [f"event: the contacts who did {trigger.event} in the last {EVENT_DAYS} days"]
    raise InvalidInput.on("definition.trigger", f"{trigger.type} triggers arrive with the next part of the engine")


def dry_run(
    session: Session,
    journey_id: int,
    now: datetime,
    *,
    contact_ids: list[int] | None = None,
    conditions: audiences.Condition | None = None,
    limit: int = 100_000,
) -> DryRunReport:
    """Simulate the journey's draft (as it would be published) on the pool; everything is rolled back."""
    from siyu.journey import service

    journey = service.get(session, journey_id)
    problems = service.problems_of(session, journey.draft)
    if problems:
        first = problems[0]
        raise InvalidInput(detail=f"the draft cannot run: {first.field}: {first.reason}", errors=problems)
    definition = jd.parse(journey.draft)
    report = DryRunReport()
    ids, report.notes = (
        (contact_ids[:limit], ["the given contacts"]) if contact_ids else pool(session, definition, now, limit)
    )
    report.pool = len(ids)
    source = f"journey:{journey_id}"
    savepoint = session.begin_nested()
    try:
        number = journey.published_version + 1
        session.add(
            JourneyVersion(
                journey_id=journey_id, version=number, definition=jd.dump(definition), published_by="dry run"
            )
        )
        journey.published_version, journey.status = number, "active"
        before = int(session.scalar(select(func.max(Delivery.id))) or 0)
        tasks_before = int(session.scalar(select(func.count()).select_from(StaffTask)) or 0)
        session.flush()
        report.entered = engine.enter(session, journey_id, [(c, f"dryrun:{c}") for c in ids], now)
        clock = now
        for _ in range(MAX_ROUNDS):
            while True:
                step = engine.step_due(session, clock, limit=5000, conditions=conditions, journey_id=journey_id)
                for node_id, n in step.by_node.items():
                    report.nodes[node_id] = report.nodes.get(node_id, 0) + n
                if step.runs < 5000:
                    break
            upcoming = session.scalar(
                select(func.min(JourneyRun.due_at)).where(
                    JourneyRun.journey_id == journey_id, JourneyRun.status == "waiting"
                )
            )
            if upcoming is None:
                break
            clock = max(clock, upcoming)
        rows = session.execute(
            select(Delivery.status, Delivery.rule, Delivery.not_before).where(
                Delivery.id > before, Delivery.source == source
            )
        ).all()
        blocked = Counter(rule or "blocked" for status, rule, _ in rows if status == "blocked")
        report.blocked = dict(sorted(blocked.items()))
        report.messages = sum(1 for status, _, _ in rows if status != "blocked")
        report.deferred = sum(1 for status, _, not_before in rows if status != "blocked" and not_before is not None)
        report.tasks = int(session.scalar(select(func.count()).select_from(StaffTask)) or 0) - tasks_before
        ended = session.execute(
            select(JourneyRun.status, func.count())
            .where(JourneyRun.journey_id == journey_id, JourneyRun.entry_key.like("dryrun:%"))
            .group_by(JourneyRun.status)
        ).all()
        report.ended = {status: int(n) for status, n in sorted(ended)}
    finally:
        savepoint.rollback()
    session.expire(journey)
    return report
