from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import BigIntPK, NullableJSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class TagGroup(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A family of tags (肤质, 宝宝月龄, 兴趣…). ``exclusive`` groups give a contact at most one of their
    tags: tagging a contact with one removes the others of the group."""

    __tablename__ = "tag_group"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    exclusive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    wecom_group_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Tag(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A label on contacts. ``rule`` (a segment filter tree) makes it an auto-tag: the analytics refresh
    adds it where the rule holds and, when ``remove_when_false``, takes it off where it stops holding.
    ``wecom_tag_id`` links it to a WeCom corp tag (its group's ``wecom_group_id`` to the tag group)."""

    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("workspace_id", "group_id", "name"),)

    group_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("tag_group.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    rule: Mapped[dict[str, Any] | None] = mapped_column(NullableJSONType, nullable=True)
    remove_when_false: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    wecom_tag_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Set when the rule names something that no longer exists (a deleted property or segment).
    broken_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class ContactTag(WorkspaceScoped, Base):
    """A tag on a contact, with where it came from (manual, import, api, rule, wecom)."""

    __tablename__ = "contact_tag"
    __table_args__ = (Index("ix_contact_tag_contact", "contact_id"),)

    tag_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
