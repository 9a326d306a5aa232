"""Reading the queue for operators, and putting dead jobs back. Scoped sessions show a workspace
its own jobs only."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.errors import Conflict, NotFound
from siyu.models import Job, Schedule
from siyu.worker import queue


def list_jobs(session: Session, *, status: str | None, limit: int, offset: int) -> tuple[list[Job], int]:
    stmt = select(Job)
    if status:
        stmt = stmt.where(Job.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Job.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def counts_by_status(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())


def retry(session: Session, ctx: AuthContext, job_id: int) -> Job:
    job = session.scalar(select(Job).where(Job.id == job_id))
    if job is None:
        raise NotFound(f"job {job_id} not found")
    if job.status != "dead":
        raise Conflict(f"only dead jobs can be retried; this one is {job.status}")
    before = {"status": job.status, "attempts": job.attempts}
    queue.retry_now(job)
    session.flush()
    session.info[queue.ENQUEUED_FLAG] = True
    audit.record(session, ctx, "job.retried", "job", job.id, before=before, after={"status": job.status})
    return job


def list_schedules(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.key)))
