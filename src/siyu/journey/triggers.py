"""Event triggers: the events that let contacts into active journeys.

Each active journey with an ``event``, ``segment_entered`` or ``segment_left`` trigger (segment
membership changes are events too, written by the analytics refresh) keeps a watermark: the event ids it
has looked at. A pass reads the matching events above it and enters their contacts, keyed by the event
(``event:<id>``), so an event read twice enters once. On PostgreSQL ids are handed out before commit, so
the watermark stays below the events of the last few minutes, which are read again
(:data:`PG_OVERLAP`); on SQLite ids come in commit order.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import extract, func, select, update
from sqlalchemy.orm import Session

from siyu.filters.compiler import DefinitionProblem
from siyu.journey import audiences, engine
from siyu.journey import definition as jd
from siyu.kit.db import WORKSPACE_KEY
from siyu.lake.store import LakeBusy
from siyu.models import Contact, Event, Journey, JourneyRun, Workspace

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
        cursor = journey.trigger_watermark
        while True:  # page by page: a burst of events enters in one pass, not one page a tick
            rows = session.execute(
                select(Event.id, Event.contact_id, Event.properties, Event.received_at)
                .where(Event.name == name, Event.id > cursor)
                .order_by(Event.id)
                .limit(PAGE)
            ).all()
            if not rows:
                break
            report.events += len(rows)
            entries = [
                (contact_id, f"event:{event_id}")
                for event_id, contact_id, properties, _ in rows
                if _holds(trigger, properties or {})
            ]
            report.entered += engine.enter(session, journey.id, entries, now)
            cursor = newest = rows[-1][0]
            if postgres:  # a lower id may still commit under the newest ones: read them again next time
                horizon = now - PG_OVERLAP
                settled = [event_id for event_id, _, _, received_at in rows if received_at < horizon]
                newest = max(settled) if settled else journey.trigger_watermark
            journey.trigger_watermark = max(journey.trigger_watermark, newest)
            if len(rows) < PAGE:
                break
    session.flush()
    return report


def _holds(trigger: jd.EventTrigger | jd.SegmentTrigger, properties: dict[str, object]) -> bool:
    if isinstance(trigger, jd.SegmentTrigger):
        return properties.get("segment_id") == trigger.segment_id
    return all(audiences.matches(test, properties) for test in trigger.where)


def run_clock_triggers(session: Session, now: datetime, audience: audiences.Audience | None = None) -> TriggerReport:
    """Schedule and birthday triggers that came due since they last fired (in the caller's transaction).

    * ``schedule``: the latest cron occurrence (workspace time zone) since the last firing enters the
      audience (every contact when it has none; with one, the analytics store decides it). Occurrences
      missed while the worker was down fire once, not once each. Entry keys name the occurrence.
    * ``date_property`` (``birthday``): once a day, from ``at`` local time, the contacts whose birthday
      is ``offset_days`` away (29 February counts on the 28th in other years) enter, keyed by the date,
      so once a year."""
    from croniter import croniter

    report = TriggerReport()
    workspace = session.get(Workspace, int(session.info[WORKSPACE_KEY]))
    assert workspace is not None
    tz = ZoneInfo(workspace.timezone)
    cache: dict[tuple[int, int], jd.Journey] = {}
    for journey in session.scalars(select(Journey).where(Journey.status == "active").order_by(Journey.id)):
        trigger = engine.version_definition(session, journey.id, journey.published_version, cache).trigger
        last = journey.trigger_fired_at or now
        if isinstance(trigger, jd.ScheduleTrigger):
            occurrences = croniter(trigger.cron, last.astimezone(tz))
            due: datetime | None = None
            while (following := occurrences.get_next(datetime)) <= now:
                due = following
            if due is None:
                continue
            if trigger.audience is None:
                ids = list(session.scalars(select(Contact.id).where(Contact.merged_into_id.is_(None))))
            elif audience is not None:
                try:
                    ids = audience(trigger.audience)
                except (LakeBusy, DefinitionProblem):  # busy: the next tick fires it; broken: nobody
                    continue
            else:
                continue  # no analytics store to decide the audience: it fires at the next tick that has one
            key = due.astimezone(UTC).strftime("%Y%m%dT%H%M")
            report.entered += engine.enter(session, journey.id, [(c, f"schedule:{key}:{c}") for c in ids], now)
            journey.trigger_fired_at = due.astimezone(UTC)
        elif isinstance(trigger, jd.DateTrigger):
            local, at = now.astimezone(tz), jd.clock_time(trigger.at)
            if local.time() < at:
                continue  # not yet today
            fired = journey.trigger_fired_at.astimezone(tz) if journey.trigger_fired_at else None
            if fired is not None and fired.date() == local.date() and fired.time() >= at:
                continue  # it fired today (or was published after today's time: tomorrow, then)
            target = local.date() - timedelta(days=trigger.offset_days)
            days = [(target.month, target.day)]
            if (target.month, target.day) == (2, 28) and not calendar.isleap(target.year):
                days.append((2, 29))
            ids = []
            for month, day in days:
                ids += list(
                    session.scalars(
                        select(Contact.id).where(
                            Contact.merged_into_id.is_(None),
                            extract("month", Contact.birthday) == month,
                            extract("day", Contact.birthday) == day,
                        )
                    )
                )
            entries = [(c, f"date:{target.isoformat()}:{c}") for c in ids]
            report.entered += engine.enter(session, journey.id, entries, now)
            journey.trigger_fired_at = now
    session.flush()
    return report


def wake_waiting(session: Session, now: datetime) -> int:
    """Make due now the runs waiting at a ``wait_event`` node whose contact did that event since: the
    next step moves them on. Returns how many were woken."""
    woken = 0
    cache: dict[tuple[int, int], jd.Journey] = {}
    for journey_id in session.scalars(select(Journey.id).where(Journey.status == "active")):
        rows = session.execute(
            select(
                JourneyRun.id, JourneyRun.version, JourneyRun.contact_id, JourneyRun.node, JourneyRun.waiting_since
            ).where(
                JourneyRun.journey_id == journey_id,
                JourneyRun.status == "waiting",
                JourneyRun.waiting_since.is_not(None),
                JourneyRun.due_at > now,
            )
        ).all()
        groups: dict[tuple[int, str], list[engine.Run]] = defaultdict(list)
        for run_id, version, contact_id, at_node, since in rows:
            if at_node is not None and since is not None:
                run = engine.Run(run_id, journey_id, version, contact_id, at_node, 0, since, since)
                groups[(version, at_node)].append(run)
        for (version, node_id), waiting in groups.items():
            wait = engine.version_definition(session, journey_id, version, cache).nodes.get(node_id)
            if not isinstance(wait, jd.WaitEvent):
                continue
            happened = engine.did_event(session, wait.event, wait.where, waiting)
            if happened:
                session.execute(update(JourneyRun), [{"id": run_id, "due_at": now} for run_id in sorted(happened)])
                woken += len(happened)
    return woken
