from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class ConsentRecord(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """An append-only consent ledger entry (PIPL): a purpose granted or withdrawn, when and from where.
    ``channel`` set means a per-channel opt-in/opt-out for that purpose (e.g. marketing by SMS)."""

    __tablename__ = "consent_record"
    __table_args__ = (Index("ix_consent_record_contact", "workspace_id", "contact_id", "purpose", "channel"),)

    contact_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), index=True, nullable=False
    )
    purpose: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    granted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
