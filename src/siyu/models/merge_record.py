from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import BigIntPK, JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class MergeRecord(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """One contact merged into another: who or what merged them, by which rule, on what evidence, and a
    journal of every row that moved, so the merge can be undone exactly."""

    __tablename__ = "merge_record"
    # The analytics store re-copies the rows of contacts merged or unmerged since its watermark.
    __table_args__ = (Index("ix_merge_record_ws_updated", "workspace_id", "updated_at"),)

    survivor_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), index=True, nullable=False
    )
    merged_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), index=True, nullable=False
    )
    rule: Mapped[str] = mapped_column(String(64), nullable=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    actor_label: Mapped[str] = mapped_column(String(320), nullable=False)
    journal: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    undone_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=True)
