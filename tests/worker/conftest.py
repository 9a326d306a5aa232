"""Job handlers used by the worker tests. Their effect is an audit event, a real workspace-scoped row."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.worker.registry import JobInfo, PermanentJobError, task

calls: Counter[str] = Counter()


@task("test.effect")
def effect(session: Session, job: JobInfo) -> None:
    calls["test.effect"] += 1
    audit.record(session, None, "test.effect", "job", job.id, workspace_id=job.workspace_id, actor_label="worker")


@task("test.flaky")
def flaky(session: Session, job: JobInfo) -> None:
    """Fails until its ``succeed_on`` attempt; the effect of failed attempts must not persist."""
    audit.record(session, None, "test.flaky", "job", job.id, workspace_id=job.workspace_id, actor_label="worker")
    if job.attempt < int(job.payload["succeed_on"]):
        raise RuntimeError(f"transient failure on attempt {job.attempt}")


@task("test.permanent")
def permanent(session: Session, job: JobInfo) -> None:
    raise PermanentJobError("bad payload; retrying cannot help")
