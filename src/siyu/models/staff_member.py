from __future__ import annotations

from sqlalchemy import Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class StaffMember(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A WeCom user (导购, 客服, 群主) who owns contacts. Not a console operator."""

    __tablename__ = "staff_member"
    __table_args__ = (UniqueConstraint("workspace_id", "userid"),)

    userid: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
