from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import BigIntPK, JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class Job(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A unit of durable background work, written in the same transaction as the data it acts on.

    ``status``: queued → running → done | (queued again with back-off) | dead. A running job whose
    ``lease_until`` has passed belongs to no one and is taken over by the next worker.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_due", "status", "run_at"),)

    # System jobs (not tied to a brand) have no workspace.
    workspace_id: Mapped[int | None] = mapped_column(  # type: ignore[assignment]
        BigIntPK, ForeignKey("workspace.id", ondelete="CASCADE"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    dedup_key: Mapped[str | None] = mapped_column(String(256), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
