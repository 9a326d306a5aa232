"""Background jobs (后台任务): the queue by state, retrying dead jobs, and the schedules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response
from fastapi.responses import RedirectResponse

from siyu.auth.permissions import Permission
from siyu.console.access import Page, PageAccess
from siyu.console.i18n import N_
from siyu.console.labels import JOB_STATUSES
from siyu.console.rendering import console_router, pager, render
from siyu.kit.inputs import RowId, RowOffset
from siyu.worker import service

router = console_router()
P = Permission

JobsReader = Annotated[Page, Depends(PageAccess(P.jobs_read, form=False))]
JobsManager = Annotated[Page, Depends(PageAccess(P.jobs_manage, form=True))]

PAGE_SIZE = 50
NOTICES = {"retried": N_("The job is queued again.")}


@router.get("/jobs")
def jobs(
    page: JobsReader,
    status: Annotated[str, Query(max_length=16)] = "",
    offset: Annotated[RowOffset, Query()] = 0,
    notice: str | None = None,
) -> Response:
    chosen = status if status in JOB_STATUSES else ""
    rows, total = service.list_jobs(page.session, status=chosen or None, limit=PAGE_SIZE, offset=offset)
    return render(
        page,
        "jobs.html",
        jobs=rows,
        status=chosen,
        statuses=JOB_STATUSES,
        counts=service.counts_by_status(page.session),
        schedules=service.list_schedules(page.session),
        can_retry=page.can(P.jobs_manage),
        pager=pager("/jobs", {"status": chosen}, offset, total, PAGE_SIZE),
        notice=NOTICES.get(notice or ""),
    )


@router.post("/jobs/{job_id}/retry")
def retry_job(page: JobsManager, job_id: RowId) -> Response:
    service.retry(page.session, page.auth, job_id)
    return RedirectResponse("/jobs?status=queued&notice=retried", status_code=303)
