"""Journey jobs: ``journeys.tick`` runs one workspace's journeys (event triggers, runs waiting for an
event that happened, due steps, due messages), each batch in a transaction of its own;
``journeys.tick_all`` queues it for every workspace with an active journey, every minute
(``SIYU_JOURNEYS_TICK_CRON``); and between the ticks every worker's ``journeys.react`` loop ticks at
once a workspace where a new event arrived or a step fell due."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings
from siyu.dispatch import channels, ledger
from siyu.journey import audiences, engine, triggers
from siyu.kit.db import across_workspaces, read_only, transaction
from siyu.kit.time import utcnow
from siyu.lake.store import Lake, lake_for
from siyu.models import Event, Journey, JourneyRun
from siyu.worker.queue import enqueue
from siyu.worker.registry import JobInfo, LongJob, PermanentJobError, long_task, loop, task
from siyu.worker.scheduler import ensure_schedule

TICK_JOB = "journeys.tick"
TICK_ALL_JOB = "journeys.tick_all"
log = logging.getLogger("siyu.journeys")


@dataclass
class TickReport:
    entered: int = 0
    woken: int = 0
    steps: int = 0
    messages: int = 0
    blocked: int = 0
    sent: int = 0


def tick(factory: sessionmaker[Session], lake: Lake | None, workspace_id: int, *, batch: int = 5000) -> TickReport:
    """Everything due in one workspace now. Each batch commits on its own; killed half-way, the next
    tick starts from the last commit and writes nothing twice (see :mod:`siyu.journey.engine`)."""
    report = TickReport()
    now = utcnow()
    with transaction(factory, workspace_id=workspace_id) as session:
        report.entered = triggers.run_triggers(session, now).entered
        audience = audiences.lake_audience(session, lake) if lake is not None else None
        report.entered += triggers.run_clock_triggers(session, now, audience).entered
        report.woken = triggers.wake_waiting(session, now)
    while True:
        with transaction(factory, workspace_id=workspace_id) as session:
            conditions = audiences.lake_conditions(session, lake) if lake is not None else None
            step = engine.step_due(session, now, limit=batch, conditions=conditions)
        report.steps += step.steps
        report.messages += step.messages
        report.blocked += step.blocked
        if step.runs < batch:
            break
    while True:
        with transaction(factory, workspace_id=workspace_id) as session:
            sent = ledger.deliver_due(session, now, limit=batch)
        report.sent += sent.sent
        if sent.sent + sent.blocked < batch:
            break
    report.sent += channels.deliver_all(factory, workspace_id, now).sent
    return report


@long_task(TICK_JOB, max_attempts=5)
def tick_job(job: LongJob) -> None:
    if job.info.workspace_id is None:
        raise PermanentJobError("journeys.tick needs a workspace")
    report = tick(job.factory, lake_for(job.settings), job.info.workspace_id)
    log.info("journeys tick", extra={"report": report.__dict__})


@task(TICK_ALL_JOB)
def tick_all(session: Session, job: JobInfo) -> None:
    """Queue ``journeys.tick`` for every workspace with an active journey (once per due time)."""
    with across_workspaces(session):
        ids = sorted(set(session.scalars(select(Journey.workspace_id).where(Journey.status == "active"))))
    for workspace_id in ids:
        enqueue(session, TICK_JOB, {}, workspace_id=workspace_id, dedup_key=f"{TICK_JOB}:{workspace_id}:{job.id}")


def pending(session: Session, after_event: int, now: datetime) -> tuple[set[int], int]:
    """The workspaces with an active journey and something to do now (events stored after
    ``after_event``, or runs due), and the newest event id. Reads only."""
    with across_workspaces(session):
        newest = int(session.scalar(select(func.max(Event.id))) or 0)
        active = set(session.scalars(select(Journey.workspace_id).where(Journey.status == "active").distinct()))
        if not active:
            return set(), newest
        busy = set(session.scalars(select(Event.workspace_id).where(Event.id > after_event).distinct()))
        busy |= set(
            session.scalars(
                select(JourneyRun.workspace_id)
                .where(JourneyRun.status == "waiting", JourneyRun.due_at <= now)
                .distinct()
            )
        )
    return active & busy, newest


@loop("journeys.react")
def react(settings: Settings, factory: sessionmaker[Session], stop: threading.Event) -> None:
    """Between the minutely ticks, tick at once the workspaces where an event arrived or a step fell
    due (every ``SIYU_JOURNEYS_REACT_SECONDS``): a triggering event reaches the ledger in about that
    long. The look costs two indexed reads and never takes SQLite's write lock."""
    interval = settings.journeys_react_seconds
    if interval <= 0:
        return
    lake = lake_for(settings)
    seen: int | None = None
    try:  # the newest event at start: what arrives from now on is news (the minutely tick has the rest)
        with transaction(factory) as session:
            read_only(session)
            seen = pending(session, 2**62, utcnow())[1]
    except Exception:
        log.exception("journeys react")
    while not stop.wait(interval):
        try:
            with transaction(factory) as session:
                read_only(session)
                busy, newest = pending(session, seen if seen is not None else 2**62, utcnow())
            seen = newest if seen is None else max(seen, newest)
            for workspace_id in sorted(busy):
                tick(factory, lake, workspace_id)
        except Exception:  # the database restarting, a lake refresh: the next look tries again
            log.exception("journeys react")


def install_schedules(session: Session, settings: Settings) -> None:
    ensure_schedule(session, "journeys.tick", settings.journeys_tick_cron, TICK_ALL_JOB, {})
