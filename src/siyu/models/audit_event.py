from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK, JSONType
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class AuditEvent(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """Who did what to which entity, when, with the state before and after. Append-only."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_ws_entity", "workspace_id", "entity_type", "entity_id"),)

    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    entity_type: Mapped[str] = mapped_column(String(64), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor_operator_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("operator.id", ondelete="SET NULL"), nullable=True
    )
    actor_token_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("api_token.id", ondelete="SET NULL"), nullable=True
    )
    actor_label: Mapped[str] = mapped_column(String(320), nullable=False)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
