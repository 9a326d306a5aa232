from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class ChannelCode(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """渠道活码: the ``state`` a WeCom contact-way QR code carries, mapped to where the contact came from."""

    __tablename__ = "channel_code"
    __table_args__ = (UniqueConstraint("workspace_id", "state"),)

    state: Mapped[str] = mapped_column(String(128), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    campaign: Mapped[str | None] = mapped_column(String(200), nullable=True)
    owner_staff_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("staff_member.id", ondelete="SET NULL"), nullable=True, index=True
    )
