"""Built-in housekeeping jobs and their schedules."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from siyu.kit.db import refresh_planner_statistics
from siyu.kit.time import utcnow
from siyu.models import ConsoleSession, Job
from siyu.worker.registry import JobInfo, task
from siyu.worker.scheduler import ensure_schedule

PURGE_JOB = "system.purge"


@task(PURGE_JOB)
def purge(session: Session, job: JobInfo) -> None:
    """Delete finished jobs and ended or expired console sessions older than the retention period."""
    days = int(job.payload.get("retention_days", 14))
    cutoff = utcnow() - timedelta(days=days)
    session.execute(delete(Job).where(Job.status == "done", Job.finished_at < cutoff))
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < cutoff))
    refresh_planner_statistics(session)


def install_system_schedules(session: Session, retention_days: int) -> None:
    ensure_schedule(session, "system.purge.daily", "17 3 * * *", PURGE_JOB, {"retention_days": retention_days})
