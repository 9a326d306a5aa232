from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, WorkspaceScoped


class CallbackReceipt(IdMixin, WorkspaceScoped, Base):
    """A callback from WeCom or WeChat, decrypted and kept before it is answered: WeCom repeats a callback
    it got no answer to (three times in all), so ``dedup_key`` (the event's own identity) lets a repeat be
    answered without being processed twice. ``processed_at`` is set by the job that applies it."""

    __tablename__ = "callback_receipt"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedup_key"),
        Index("ix_callback_receipt_pending", "processed_at"),
    )

    dedup_key: Mapped[str] = mapped_column(String(200), nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    change_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    repeats: Mapped[int] = mapped_column(nullable=False, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
