from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class Identity(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A typed, scoped key that names a contact: ``wx_openid@<appid>``, ``phone``, ``buyer_id@taobao``…
    A key belongs to exactly one contact in a workspace."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "scope", "value"),)

    contact_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), index=True, nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    scope: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    value: Mapped[str] = mapped_column(String(256), nullable=False)
