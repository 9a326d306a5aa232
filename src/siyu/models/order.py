from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK, JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class SalesOrder(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A paid order. Money is integer fen. Items are kept with the order (sku, category, qty, price_fen)
    because every consumer reads them together; refunds are their own rows."""

    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("workspace_id", "order_id"),
        Index("ix_sales_order_contact_time", "contact_id", "paid_at"),
    )

    contact_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False)
    identity_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("identity.id", ondelete="SET NULL"), nullable=True
    )
    order_id: Mapped[str] = mapped_column(String(128), nullable=False)
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="CNY")
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    sales_channel: Mapped[str] = mapped_column(String(32), nullable=False)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)


class OrderRefund(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "order_refund"
    __table_args__ = (UniqueConstraint("workspace_id", "refund_id"),)

    order_pk: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("sales_order.id", ondelete="CASCADE"), index=True, nullable=False
    )
    refund_id: Mapped[str] = mapped_column(String(128), nullable=False)
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
