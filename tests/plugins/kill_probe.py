"""A job used by the worker-kill test: its effect is an audit event; on its first attempt it announces
itself in a marker file and then hangs, so the test can SIGKILL the worker mid-job."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.worker.registry import JobInfo, task

PROBE_JOB = "probe.effect"


@task(PROBE_JOB)
def effect(session: Session, job: JobInfo) -> None:
    audit.record(
        session,
        None,
        "probe.effect",
        "job",
        job.id,
        after={"attempt": job.attempt, "pid": os.getpid()},
        workspace_id=job.workspace_id,
        actor_label=f"worker:{os.getpid()}",
    )
    session.flush()
    if job.attempt == 1:
        Path(job.payload["marker_dir"], f"running-{os.getpid()}").write_text(str(job.id))
        time.sleep(120)  # killed here
