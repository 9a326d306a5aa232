from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class StaffMember(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A WeCom user (导购, 客服, 群主) who owns contacts. Not a console operator."""

    __tablename__ = "staff_member"
    __table_args__ = (UniqueConstraint("workspace_id", "userid"),)

    userid: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class StaffRelation(IdMixin, WorkspaceScoped, Base):
    """One WeCom 好友 relation: a staff member and a customer (``external_userid``), as WeCom's
    ``follow_user`` has it. ``status``: ``active``, ``half`` (the customer added a 免验证 member who has not
    accepted yet), ``staff_deleted`` (the member deleted the customer), ``customer_deleted`` (the customer
    deleted the member: one-way, the APIs still work), ``transferred`` (moved to another member).
    ``state`` is the 渠道活码 it came through. A pending ``welcome_code`` lives here for its 20 seconds."""

    __tablename__ = "staff_relation"
    __table_args__ = (
        UniqueConstraint("workspace_id", "staff_id", "external_userid"),
        Index("ix_staff_relation_contact", "contact_id"),
        Index("ix_staff_relation_state", "workspace_id", "state"),
    )

    staff_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("staff_member.id", ondelete="CASCADE"), nullable=False)
    contact_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False)
    external_userid: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    state: Mapped[str | None] = mapped_column(String(128), nullable=True)
    add_way: Mapped[int | None] = mapped_column(nullable=True)
    remark: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    welcome_code: Mapped[str | None] = mapped_column(String(200), nullable=True)
    welcome_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
