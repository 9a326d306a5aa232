from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK, NullableJSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class ChannelCode(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """渠道活码: the ``state`` a WeCom contact-way QR code carries, mapped to where the contact came from.
    ``config_id`` and ``qr_code`` are WeCom's once the code was made there (``add_contact_way``); ``staff``
    the userids it adds; ``deleted_at`` a code taken down (its contacts keep their attribution)."""

    __tablename__ = "channel_code"
    __table_args__ = (UniqueConstraint("workspace_id", "state"),)

    state: Mapped[str] = mapped_column(String(128), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    campaign: Mapped[str | None] = mapped_column(String(200), nullable=True)
    owner_staff_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("staff_member.id", ondelete="SET NULL"), nullable=True, index=True
    )
    config_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    qr_code: Mapped[str | None] = mapped_column(String(500), nullable=True)
    staff: Mapped[list[Any] | None] = mapped_column(NullableJSONType, nullable=True)
    skip_verify: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=true())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
