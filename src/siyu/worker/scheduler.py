"""Cron-like schedules kept in the database. Each due time is enqueued exactly once, whichever
worker sees it first (the job's ``dedup_key`` names the schedule and the due time)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.errors import InvalidInput
from siyu.kit.db import across_workspaces
from siyu.kit.time import utcnow
from siyu.models import Schedule
from siyu.worker import queue


def next_after(cron: str, tz: str, after: datetime) -> datetime:
    """The next time ``cron`` fires after ``after``, read in the schedule's time zone, returned in UTC."""
    zone = zoneinfo.ZoneInfo(tz)
    local = after.astimezone(zone)
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(zoneinfo.ZoneInfo("UTC"))


def validate_cron(cron: str, tz: str) -> None:
    if not croniter.is_valid(cron):
        raise InvalidInput.on("cron", f"not a cron expression: {cron!r}")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput.on("timezone", f"unknown time zone {tz!r}") from None


def ensure_schedule(
    session: Session,
    key: str,
    cron: str,
    job_name: str,
    payload: dict[str, Any] | None = None,
    *,
    timezone: str = "UTC",
    workspace_id: int | None = None,
) -> Schedule:
    """Create or update the schedule ``key``. Changing the rule recomputes the next run."""
    validate_cron(cron, timezone)
    with across_workspaces(session):
        found = session.scalar(select(Schedule).where(Schedule.key == key))
    now = utcnow()
    if found is None:
        found = Schedule(
            key=key,
            cron=cron,
            timezone=timezone,
            job_name=job_name,
            payload=payload or {},
            workspace_id=workspace_id,
            next_run_at=next_after(cron, timezone, now),
        )
        session.add(found)
    elif (found.cron, found.timezone, found.job_name, found.payload) != (cron, timezone, job_name, payload or {}):
        found.cron, found.timezone, found.job_name, found.payload = cron, timezone, job_name, payload or {}
        found.next_run_at = next_after(cron, timezone, now)
    session.flush()
    return found


def tick(session: Session, now: datetime | None = None, *, max_attempts: int = 8) -> int:
    """Enqueue every due schedule once and move it to its next time. Missed runs (the service was
    down) collapse into one catch-up run. Returns how many jobs were enqueued."""
    now = now or utcnow()
    due = session.scalars(
        select(Schedule)
        .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at)
        .with_for_update(skip_locked=True)
    ).all()
    for schedule in due:
        queue.enqueue(
            session,
            schedule.job_name,
            dict(schedule.payload, scheduled_for=schedule.next_run_at.isoformat()),
            workspace_id=schedule.workspace_id,
            dedup_key=f"schedule:{schedule.key}:{schedule.next_run_at.isoformat()}",
            max_attempts=max_attempts,
        )
        schedule.last_run_at = schedule.next_run_at
        schedule.next_run_at = next_after(schedule.cron, schedule.timezone, max(now, schedule.next_run_at))
    session.flush()
    return len(due)
