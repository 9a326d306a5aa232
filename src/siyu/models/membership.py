from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class Membership(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """An operator's role in one workspace, and whether they may see unmasked personal data."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("workspace_id", "operator_id"),)

    operator_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("operator.id", ondelete="CASCADE"), index=True, nullable=False
    )
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    can_unmask_pii: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
