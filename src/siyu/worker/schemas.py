from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

JobStatus = Literal["queued", "running", "done", "dead"]


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    status: str
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    run_at: datetime
    created_at: datetime
    finished_at: datetime | None
    last_error: str | None


class ScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    cron: str
    timezone: str
    job_name: str
    enabled: bool
    next_run_at: datetime
    last_run_at: datetime | None
