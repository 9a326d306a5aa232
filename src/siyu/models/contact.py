from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import BigIntPK, JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class Contact(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """One customer, known across touchpoints through identities. A contact merged into another keeps
    its row with ``merged_into_id`` set, so the merge can be undone exactly."""

    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_ws_merged", "workspace_id", "merged_into_id"),
        Index("ix_contact_merged_into", "merged_into_id"),
        Index("ix_contact_owner_staff", "owner_staff_id"),
        # The analytics store copies contacts changed since its watermark.
        Index("ix_contact_ws_updated", "workspace_id", "updated_at"),
    )

    nickname: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    region: Mapped[str | None] = mapped_column(String(200), nullable=True)
    first_source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_channel_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    owner_staff_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("staff_member.id", ondelete="SET NULL"), nullable=True
    )
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("contact.id", ondelete="SET NULL"), nullable=True
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set on insert too (not only on change): the analytics store's watermark. Anything that changes a
    # contact's tags or moves its rows in a merge also touches it.
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=True)
