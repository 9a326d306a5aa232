"""Asking for an analytics refresh: the one job name and payload every caller (segment and tier changes,
the console, the schedules) queues; ``siyu.segment.tasks`` runs it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.worker import queue

REFRESH_JOB = "analytics.refresh"


def request_refresh(
    session: Session,
    workspace_id: int,
    *,
    mode: str = "incremental",
    segments: list[int] | None = None,
    snapshot: bool = False,
    dedup_key: str | None = None,
) -> None:
    """Queue an analytics refresh of the workspace (after this transaction commits)."""
    payload: dict[str, Any] = {"mode": mode}
    if segments:
        payload["segments"] = sorted(segments)
    if snapshot:
        payload["snapshot"] = True
    queue.enqueue(session, REFRESH_JOB, payload, workspace_id=workspace_id, dedup_key=dedup_key)
