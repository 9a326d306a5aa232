from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import BigIntPK, JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class Journey(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """An automated journey (自动化 SOP). ``draft`` is the definition being edited (it may be incomplete:
    ``draft_problems`` says what is wrong); publishing freezes it as the next :class:`JourneyVersion`,
    which new entrants follow (contacts already in the journey stay on theirs). ``status``: ``draft``
    (never published), ``active``, ``paused`` (nobody enters or steps; resuming sends nothing twice),
    ``archived``."""

    __tablename__ = "journey"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    draft: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    draft_problems: Mapped[list[dict[str, str]] | None] = mapped_column(JSONType, nullable=True)
    published_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    template: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str] = mapped_column(String(320), nullable=False)


class JourneyVersion(IdMixin, WorkspaceScoped, Base):
    """One published version of a journey's definition; never changed once written."""

    __tablename__ = "journey_version"
    __table_args__ = (UniqueConstraint("journey_id", "version"),)

    journey_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("journey.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    published_by: Mapped[str] = mapped_column(String(320), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
