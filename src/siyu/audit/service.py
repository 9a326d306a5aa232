"""Recording and reading audit events. ``record`` is the one entry point every domain uses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.auth.context import AuthContext
from siyu.kit.logging import request_id_var
from siyu.models import AuditEvent

# Never copied into before/after, whatever the caller passes.
_SECRET_FIELDS = frozenset({"password", "password_hash", "token", "token_digest", "secret", "session_digest"})


def _clean(state: dict[str, Any] | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {k: v for k, v in state.items() if k not in _SECRET_FIELDS}


def record(
    session: Session,
    actor: AuthContext | None,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    workspace_id: int | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction (so it commits or rolls back with the change).

    ``actor`` is None for the CLI and system jobs; then ``workspace_id`` and ``actor_label`` say where and who.
    """
    ws = actor.workspace_id if actor is not None else workspace_id
    if ws is None:
        raise ValueError("an audit event needs a workspace")
    event = AuditEvent(
        workspace_id=ws,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        actor_operator_id=actor.operator_id if actor else None,
        actor_token_id=actor.token_id if actor else None,
        actor_label=actor.label if actor else (actor_label or "system"),
        before=_clean(before),
        after=_clean(after),
        request_id=request_id_var.get(),
    )
    session.add(event)
    session.flush()
    return event


def list_events(
    session: Session,
    *,
    limit: int,
    offset: int,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
) -> tuple[list[AuditEvent], int]:
    stmt = select(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total
