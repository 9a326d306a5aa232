from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.kit.inputs import RowId, RowOffset
from siyu.kit.pagination import Page
from siyu.worker import service
from siyu.worker.schemas import JobOut, JobStatus, ScheduleOut

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/jobs", response_model=Page[JobOut], summary="Background jobs of the workspace, newest first")
def list_jobs(
    session: DbSession,
    _ctx: Annotated[AuthContext, Depends(require(Permission.jobs_read))],
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[RowOffset, Query()] = 0,
) -> Page[JobOut]:
    rows, total = service.list_jobs(session, status=status, limit=limit, offset=offset)
    return Page(items=[JobOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/jobs/{job_id}/retry", response_model=JobOut, summary="Put a dead job back in the queue")
def retry_job(
    job_id: RowId, session: DbSession, ctx: Annotated[AuthContext, Depends(require(Permission.jobs_manage))]
) -> JobOut:
    return JobOut.model_validate(service.retry(session, ctx, job_id))


@router.get("/schedules", response_model=list[ScheduleOut], summary="Scheduled jobs of the workspace")
def list_schedules(
    session: DbSession, _ctx: Annotated[AuthContext, Depends(require(Permission.jobs_read))]
) -> list[ScheduleOut]:
    return [ScheduleOut.model_validate(s) for s in service.list_schedules(session)]
