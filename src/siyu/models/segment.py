from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import BigIntPK, JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class Segment(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A named filter over the user pool (用户分层). ``definition`` is the current version of the filter
    tree (every version is kept in :class:`SegmentVersion`). Dynamic segments are recomputed at each
    analytics refresh; static ones keep the members they had when they were last snapshotted.
    ``refresh_no`` numbers the membership versions; ``broken_reason`` flags a definition that names a
    deleted property, tag or segment (the segment keeps its last members and is not refreshed)."""

    __tablename__ = "segment"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="dynamic")
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    archived: Mapped[bool] = mapped_column(default=False, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    refresh_no: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    broken_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_by: Mapped[str] = mapped_column(String(320), nullable=False)


class SegmentVersion(IdMixin, WorkspaceScoped, Base):
    """One saved version of a segment's definition; never changed once written."""

    __tablename__ = "segment_version"
    __table_args__ = (UniqueConstraint("segment_id", "version"),)

    segment_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("segment.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_by: Mapped[str] = mapped_column(String(320), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class SegmentMember(WorkspaceScoped, Base):
    """A contact in a segment now (written back from the analytics store at each refresh)."""

    __tablename__ = "segment_member"
    __table_args__ = (Index("ix_segment_member_contact", "contact_id"),)

    segment_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("segment.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True)
    since_refresh: Mapped[int] = mapped_column(Integer, nullable=False)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SegmentRefresh(IdMixin, WorkspaceScoped, Base):
    """One membership version of a segment: its size and how many entered and left (size over time)."""

    __tablename__ = "segment_refresh"
    __table_args__ = (UniqueConstraint("segment_id", "refresh_no"),)

    segment_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("segment.id", ondelete="CASCADE"), nullable=False)
    refresh_no: Mapped[int] = mapped_column(Integer, nullable=False)
    definition_version: Mapped[int] = mapped_column(Integer, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    entered: Mapped[int] = mapped_column(Integer, nullable=False)
    left: Mapped[int] = mapped_column(Integer, nullable=False)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
