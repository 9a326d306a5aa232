"""Event triggers: the events that let contacts into active journeys.

Each active journey with an ``event``, ``segment_entered`` or ``segment_left`` trigger (segment
membership changes are events too, written by the analytics refresh) keeps a watermark: the event ids it
has looked at. A pass reads the matching events above it and enters their contacts, keyed by the event
(``event:<id>``), so an event read twice enters once. On PostgreSQL ids are handed out before commit, so
the watermark stays below the events of the last few minutes, which are read again
(:data:`PG_OVERLAP`); on SQLite ids come in commit order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.journey import definition as jd
from siyu.journey import engine
from siyu.models import Event, Journey

PG_OVERLAP = timedelta(minutes=5)
PAGE = 10_000


@dataclass
class TriggerReport:
    events: int = 0
    entered: int = 0


def _name_and_test(definition: jd.Journey) -> tuple[str, jd.EventTrigger | jd.SegmentTrigger] | None:
    trigger = definition.trigger
    if isinstance(trigger, jd.EventTrigger):
        return trigger.event, trigger
    if isinstance(trigger, jd.SegmentTrigger):
        return trigger.type, trigger
    return None


def start_watermark(session: Session) -> int:
    """Where a journey published now starts reading: after every event stored so far."""
    return int(session.scalar(select(func.max(Event.id))) or 0)


def run_triggers(session: Session, now: datetime) -> TriggerReport:
    """One pass over the workspace's active journeys with event triggers (in the caller's transaction)."""
    report = TriggerReport()
    postgres = session.get_bind().dialect.name == "postgresql"
    cache: dict[tuple[int, int], jd.Journey] = {}
    for journey in session.scalars(select(Journey).where(Journey.status == "active").order_by(Journey.id)):
        definition = engine.version_definition(session, journey.id, journey.published_version, cache)
        found = _name_and_test(definition)
        if found is None:
            continue
        name, trigger = found
        rows = session.execute(
            select(Event.id, Event.contact_id, Event.properties, Event.received_at)
            .where(Event.name == name, Event.id > journey.trigger_watermark)
            .order_by(Event.id)
            .limit(PAGE)
        ).all()
        if not rows:
            continue
        report.events += len(rows)
        entries = [
            (contact_id, f"event:{event_id}")
            for event_id, contact_id, properties, _ in rows
            if _holds(trigger, properties or {})
        ]
        report.entered += engine.enter(session, journey.id, entries, now)
        newest = rows[-1][0]
        if postgres:  # a full page too: a lower id may still commit under the newest ones
            horizon = now - PG_OVERLAP
            settled = [event_id for event_id, _, _, received_at in rows if received_at < horizon]
            newest = max(settled) if settled else journey.trigger_watermark
        journey.trigger_watermark = max(journey.trigger_watermark, newest)
    session.flush()
    return report


def _holds(trigger: jd.EventTrigger | jd.SegmentTrigger, properties: dict[str, object]) -> bool:
    if isinstance(trigger, jd.SegmentTrigger):
        return properties.get("segment_id") == trigger.segment_id
    return all(engine.matches(test, properties) for test in trigger.where)
