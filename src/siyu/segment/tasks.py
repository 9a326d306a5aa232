"""Analytics refresh jobs: ``analytics.refresh`` refreshes one workspace (sync, tiers, auto-tags,
segments); ``analytics.refresh_all`` queues it for every workspace, on the two schedules (incremental
every few minutes, full daily; settings ``SIYU_ANALYTICS_REFRESH_CRON`` / ``SIYU_ANALYTICS_FULL_REFRESH_CRON``)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.kit.db import across_workspaces
from siyu.lake.jobs import REFRESH_JOB, request_refresh
from siyu.lake.store import lake_for
from siyu.models import Workspace
from siyu.segment.flows import MODES, refresh_workspace
from siyu.worker.registry import JobInfo, LongJob, PermanentJobError, long_task, task
from siyu.worker.scheduler import ensure_schedule

REFRESH_ALL_JOB = "analytics.refresh_all"
log = logging.getLogger("siyu.analytics")


@long_task(REFRESH_JOB, max_attempts=5)
def refresh(job: LongJob) -> None:
    """Refresh one workspace. Each step commits on its own; a rerun after a crash completes the refresh."""
    workspace_id = job.info.workspace_id
    if workspace_id is None:
        raise PermanentJobError("analytics.refresh needs a workspace")
    mode = str(job.info.payload.get("mode", "incremental"))
    if mode not in MODES:
        raise PermanentJobError(f"unknown refresh mode {mode!r}")
    segments = [int(s) for s in job.info.payload.get("segments", [])]

    def progress(phase: str, done: int, total: int) -> None:
        job.heartbeat()

    report = refresh_workspace(
        job.factory,
        lake_for(job.settings),
        workspace_id,
        mode=mode,
        segment_ids=segments,
        snapshot=bool(job.info.payload.get("snapshot")),
        progress=progress,
    )
    log.info("analytics refresh", extra={"report": report.as_dict()})


@task(REFRESH_ALL_JOB)
def refresh_all(session: Session, job: JobInfo) -> None:
    """Queue ``analytics.refresh`` for every workspace (once per due time: the key names it)."""
    mode = str(job.payload.get("mode", "incremental"))
    with across_workspaces(session):
        ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    for workspace_id in ids:
        request_refresh(session, workspace_id, mode=mode, dedup_key=f"{REFRESH_JOB}:{workspace_id}:{mode}:{job.id}")


def install_schedules(session: Session, settings: Settings) -> None:
    ensure_schedule(
        session,
        "analytics.refresh.incremental",
        settings.analytics_refresh_cron,
        REFRESH_ALL_JOB,
        {"mode": "incremental"},
    )
    ensure_schedule(
        session, "analytics.refresh.full", settings.analytics_full_refresh_cron, REFRESH_ALL_JOB, {"mode": "full"}
    )
