from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from siyu.audit import service
from siyu.audit.schemas import AuditEventOut
from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.kit.inputs import NO_NUL, RowOffset
from siyu.kit.pagination import Page

router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])


@router.get("", response_model=Page[AuditEventOut], summary="List audit events, newest first")
def list_audit_events(
    session: DbSession,
    _ctx: Annotated[AuthContext, Depends(require(Permission.audit_read))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[RowOffset, Query()] = 0,
    action: Annotated[str | None, Query(max_length=64), NO_NUL] = None,
    entity_type: Annotated[str | None, Query(max_length=64), NO_NUL] = None,
    entity_id: Annotated[str | None, Query(max_length=64), NO_NUL] = None,
) -> Page[AuditEventOut]:
    rows, total = service.list_events(
        session, limit=limit, offset=offset, action=action, entity_type=entity_type, entity_id=entity_id
    )
    return Page(items=[AuditEventOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)
