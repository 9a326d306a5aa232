"""The dashboard (工作台): the workspace at a glance, shaped by what the caller may see."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from siyu.audit import service as audit_service
from siyu.auth.permissions import Permission
from siyu.console.access import AnyMember, Page
from siyu.console.labels import JOB_STATUS_LABELS, JOB_STATUSES
from siyu.console.rendering import console_router, nav_for, render
from siyu.worker import service as worker_service
from siyu.workspace import service as workspace_service

router = console_router()
P = Permission

RECENT_EVENTS = 8
# ECharts colours per job state, matching the status badges in console.css.
JOB_STATUS_COLOURS = {"queued": "#3b82f6", "running": "#f59e0b", "done": "#10b981", "dead": "#ef4444"}


def job_chart(page: Page, counts: dict[str, int]) -> dict[str, Any]:
    """Data for the job chart, labelled in the page's language (console.js draws it)."""
    return {
        "type": "bar",
        "categories": [page.gettext(JOB_STATUS_LABELS[s]) for s in JOB_STATUSES],
        "values": [counts.get(s, 0) for s in JOB_STATUSES],
        "colors": [JOB_STATUS_COLOURS[s] for s in JOB_STATUSES],
    }


@router.get("/")
def home(page: AnyMember) -> Response:
    session = page.session
    members = workspace_service.list_members(session) if page.can(P.members_read) else None
    counts = worker_service.counts_by_status(session) if page.can(P.jobs_read) else None
    events = None
    if page.can(P.audit_read):
        events, _total = audit_service.list_events(session, limit=RECENT_EVENTS, offset=0)
    return render(
        page,
        "home.html",
        members_count=None if members is None else len(members),
        job_counts=counts,
        job_statuses=JOB_STATUSES,
        chart=None if counts is None else job_chart(page, counts),
        events=events,
        shortcuts=[item for item in nav_for(page) if item.path != "/"],
    )
