from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import BigIntPK, JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class CustomerGroup(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A WeCom 客户群 (``chat_id``). ``member_version`` is WeCom's: a change event whose ``LastMemVer`` equals
    it is applied member by member, any other is read again in full. ``status``: ``active``, ``dismissed``."""

    __tablename__ = "customer_group"
    __table_args__ = (UniqueConstraint("workspace_id", "chat_id"),)

    chat_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    owner_userid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    owner_staff_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("staff_member.id", ondelete="SET NULL"), nullable=True
    )
    notice: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    member_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    member_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_on_wecom: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CustomerGroupMember(IdMixin, WorkspaceScoped, Base):
    """Someone in a customer group: a staff member (``kind`` staff, ``member_id`` = userid) or a customer
    (``kind`` customer, ``member_id`` = external_userid, ``contact_id`` when known). A member who left keeps
    the row with ``left_at``, so the group's history (joins, leaves, lurkers) can be told."""

    __tablename__ = "customer_group_member"
    __table_args__ = (
        UniqueConstraint("group_id", "member_id"),
        Index("ix_customer_group_member_contact", "contact_id"),
    )

    group_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customer_group.id", ondelete="CASCADE"), nullable=False)
    member_id: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    contact_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("contact.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    join_scene: Mapped[int | None] = mapped_column(Integer, nullable=True)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class GroupMessage(IdMixin, WorkspaceScoped, Base):
    """A 客户群群发 (``add_msg_template`` with ``chat_type`` group): one staff member's message to the groups
    they own. ``results`` is WeCom's answer per group (``get_groupmsg_send_result``: 0 not sent yet, 1 sent),
    as last read at ``checked_at``."""

    __tablename__ = "group_message"
    __table_args__ = (UniqueConstraint("workspace_id", "msgid"),)

    msgid: Mapped[str] = mapped_column(String(128), nullable=False)
    sender: Mapped[str] = mapped_column(String(128), nullable=False)
    chat_ids: Mapped[list[Any]] = mapped_column(JSONType, nullable=False)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    refused: Mapped[list[Any]] = mapped_column(JSONType, nullable=False)
    results: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
