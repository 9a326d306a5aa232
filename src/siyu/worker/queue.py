"""Enqueue, claim, finish and fail jobs. Works on SQLite (one writer) and PostgreSQL
(many workers, ``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import across_workspaces
from siyu.kit.time import utcnow
from siyu.models import Job

_wakers: list[Callable[[], None]] = []
_wakers_lock = threading.Lock()
ENQUEUED_FLAG = "siyu.jobs_enqueued"


def on_enqueue_committed(waker: Callable[[], None]) -> Callable[[], None]:
    """Call ``waker`` after any transaction that enqueued a job commits. Returns an unsubscribe."""
    with _wakers_lock:
        _wakers.append(waker)

    def unsubscribe() -> None:
        with _wakers_lock:
            if waker in _wakers:
                _wakers.remove(waker)

    return unsubscribe


def _after_commit(session: Session) -> None:
    if session.info.pop(ENQUEUED_FLAG, False):
        with _wakers_lock:
            wakers = list(_wakers)
        for wake in wakers:
            wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(ENQUEUED_FLAG, None)


def install_listeners(session_factory: sessionmaker[Session]) -> None:
    from sqlalchemy import event

    if not event.contains(session_factory, "after_commit", _after_commit):
        event.listen(session_factory, "after_commit", _after_commit)
        event.listen(session_factory, "after_soft_rollback", lambda s, _t: _after_rollback(s))


def enqueue(
    session: Session,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    workspace_id: int | None = None,
    run_at: datetime | None = None,
    dedup_key: str | None = None,
    max_attempts: int = 8,
) -> Job:
    """Record a job in the caller's transaction. It becomes visible to workers only when that
    transaction commits, and vanishes with it on rollback. With ``dedup_key`` a second enqueue of the
    same key returns the first job instead of adding one."""
    job = Job(
        workspace_id=workspace_id if workspace_id is not None else session.info.get("workspace_id"),
        name=name,
        payload=payload or {},
        dedup_key=dedup_key,
        status="queued",
        attempts=0,
        max_attempts=max_attempts,
        run_at=run_at or utcnow(),
    )
    if dedup_key is None:
        session.add(job)
        session.flush()
    else:
        existing = _by_dedup_key(session, dedup_key)
        if existing is not None:
            return existing
        try:
            with session.begin_nested():
                session.add(job)
                session.flush()
        except IntegrityError:
            existing = _by_dedup_key(session, dedup_key)
            if existing is None:
                raise
            return existing
    session.info[ENQUEUED_FLAG] = True
    return job


def _by_dedup_key(session: Session, key: str) -> Job | None:
    with across_workspaces(session):
        return session.scalar(select(Job).where(Job.dedup_key == key))


def claim(session: Session, worker_id: str, lease: timedelta, limit: int = 1) -> list[int]:
    """Take up to ``limit`` due jobs: queued ones whose time has come, and running ones whose
    worker's lease ran out (that worker died). Commit right after, so other workers see the claim."""
    now = utcnow()
    due = (
        select(Job.id)
        .where(
            or_(
                (Job.status == "queued") & (Job.run_at <= now),
                (Job.status == "running") & (Job.lease_until < now),
            )
        )
        .order_by(Job.run_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(due))
    if ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(ids))
            .values(status="running", locked_by=worker_id, lease_until=now + lease, attempts=Job.attempts + 1)
        )
    return ids


def lock_owned(session: Session, job_id: int, worker_id: str) -> Job | None:
    """Lock the job row for the run transaction; None if another worker has taken it over since."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or job.status != "running" or job.locked_by != worker_id:
        return None
    return job


def renew_lease(session: Session, job_id: int, worker_id: str, lease: timedelta) -> bool:
    """Extend a running job's lease; False when the job is no longer this worker's."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.locked_by == worker_id, Job.status == "running")
        .values(lease_until=utcnow() + lease)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_done(job: Job) -> None:
    job.status = "done"
    job.finished_at = utcnow()
    job.lease_until = None
    job.last_error = None


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential back-off with full jitter in the upper half: base·2^(attempt-1), capped."""
    delay = min(cap, base * float(2 ** max(0, attempt - 1)))
    return delay / 2 + random.random() * delay / 2  # noqa: S311 - jitter, not a secret


def mark_failed(
    session: Session, job_id: int, worker_id: str, error: str, *, permanent: bool, base: float, cap: float
) -> Job | None:
    job = lock_owned(session, job_id, worker_id)
    if job is None:
        return None
    job.last_error = error[-4000:]
    job.lease_until = None
    job.locked_by = None
    if permanent or job.attempts >= job.max_attempts:
        job.status = "dead"
        job.finished_at = utcnow()
    else:
        job.status = "queued"
        job.run_at = utcnow() + timedelta(seconds=backoff_delay(job.attempts, base, cap))
    return job


def retry_now(job: Job) -> None:
    """Put a dead job back in the queue (an operator's decision), with a fresh attempt budget."""
    job.status = "queued"
    job.attempts = 0
    job.run_at = utcnow()
    job.finished_at = None
    job.locked_by = None
    job.lease_until = None
