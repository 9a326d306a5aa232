"""The audit log (审计日志): every change, export and unmasked read, filtered and paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response

from siyu.audit import service
from siyu.auth.permissions import Permission
from siyu.console.access import Page, PageAccess
from siyu.console.rendering import console_router, pager, render
from siyu.kit.inputs import NO_NUL, RowOffset

router = console_router()

AuditReader = Annotated[Page, Depends(PageAccess(Permission.audit_read, form=False))]

PAGE_SIZE = 50


@router.get("/audit")
def audit_log(
    request: Request,
    page: AuditReader,
    action: Annotated[str, Query(max_length=64), NO_NUL] = "",
    entity_type: Annotated[str, Query(max_length=64), NO_NUL] = "",
    entity_id: Annotated[str, Query(max_length=64), NO_NUL] = "",
    offset: Annotated[RowOffset, Query()] = 0,
) -> Response:
    filters = {"action": action.strip(), "entity_type": entity_type.strip(), "entity_id": entity_id.strip()}
    events, total = service.list_events(
        page.session,
        limit=PAGE_SIZE,
        offset=offset,
        action=filters["action"] or None,
        entity_type=filters["entity_type"] or None,
        entity_id=filters["entity_id"] or None,
    )
    # HTMX asks for the table alone when a filter changes; a plain request gets the whole page.
    template = "partials/audit_table.html" if request.headers.get("hx-request") else "audit.html"
    return render(
        page,
        template,
        events=events,
        filters=filters,
        pager=pager("/audit", filters, offset, total, PAGE_SIZE),
    )
