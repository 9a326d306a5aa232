"""Journey jobs: ``journeys.tick`` runs one workspace's journeys (event triggers, runs waiting for an
event that happened, due steps, due messages), each batch in a transaction of its own;
``journeys.tick_all`` queues it for every workspace with an active journey, every minute
(``SIYU_JOURNEYS_TICK_CRON``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings
from siyu.dispatch import channels, ledger
from siyu.journey import audiences, engine, triggers
from siyu.kit.db import across_workspaces, transaction
from siyu.kit.time import utcnow
from siyu.lake.store import Lake, lake_for
from siyu.models import Journey
from siyu.worker.queue import enqueue
from siyu.worker.registry import JobInfo, LongJob, PermanentJobError, long_task, task
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


def install_schedules(session: Session, settings: Settings) -> None:
    ensure_schedule(session, "journeys.tick", settings.journeys_tick_cron, TICK_ALL_JOB, {})
