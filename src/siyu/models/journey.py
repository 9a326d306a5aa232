from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
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
    # Event triggers: events with ids up to here have been looked at (set to the newest id on publishing,
    # so that a journey starts with the events that come after it; see siyu.journey.triggers).
    trigger_watermark: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Schedule and date triggers: when the trigger last fired (set on publishing and resuming, so that a
    # journey fires at the next occurrence, not for the ones it missed).
    trigger_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class JourneyVersion(IdMixin, WorkspaceScoped, Base):
    """One published version of a journey's definition; never changed once written."""

    __tablename__ = "journey_version"
    __table_args__ = (UniqueConstraint("journey_id", "version"),)

    journey_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("journey.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    published_by: Mapped[str] = mapped_column(String(320), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class JourneyRun(IdMixin, WorkspaceScoped, Base):
    """One contact's way through one published version of a journey (durable per-contact state).

    ``entry_key`` names what let the contact in (the trigger's event, a manual entry …): with the
    journey it is unique, so a trigger seen twice enters once. ``node`` is where the contact is;
    ``status`` ``waiting`` with ``due_at`` says when the engine steps it next. Each executed step adds one
    to ``steps``, and every side effect's dedup key carries the run and the node, so a batch replayed after
    a crash writes nothing twice (the run's state commits with its side effects)."""

    __tablename__ = "journey_run"
    __table_args__ = (
        UniqueConstraint("journey_id", "entry_key"),
        Index("ix_journey_run_due", "status", "due_at"),
        Index("ix_journey_run_contact", "journey_id", "contact_id"),
    )

    journey_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("journey.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    contact_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False)
    entry_key: Mapped[str] = mapped_column(String(200), nullable=False)
    node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # waiting, done, exited, converted, holdout
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    steps: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # At a wait_event node: since when the run waits (events from then on move it on; due_at is the timeout).
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    exit_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Delivery(IdMixin, WorkspaceScoped, Base):
    """The delivery ledger: one row per contact × message, whatever sent it. ``dedup_key`` is
    deterministic (source × contact × step × version): writing the same message twice is refused by the
    store. States: ``queued`` → ``sending`` → ``sent`` / ``handed_to_staff`` → ``delivered``, or
    ``failed`` (``reason``), ``blocked`` (``rule``, ``reason``), ``unknown`` (the outcome was lost in a
    crash: reconciled through the channel, never sent blindly again). ``not_before`` holds a message
    deferred by quiet hours."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedup_key"),
        Index("ix_delivery_due", "status", "not_before"),
        Index("ix_delivery_contact", "contact_id", "created_at"),
        # external_ref alone (a lookup by reference is selective on it): an index led by channel tempts
        # SQLite's planner, without statistics, into walking all of a channel's rows for per-channel counts
        Index("ix_delivery_external_ref", "external_ref"),
        # the board's journeys and broadcasts chart: a range of days counted by source and state from the
        # index alone (the ledger of a large workspace is millions of rows)
        Index("ix_delivery_created", "workspace_id", "created_at", "source", "status"),
    )

    contact_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False)
    dedup_key: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str] = mapped_column(String(100), nullable=False)  # journey:7, broadcast:3, service
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    priority: Mapped[str] = mapped_column(String(16), nullable=False)
    promotional: Mapped[bool] = mapped_column(nullable=False, default=False)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    rule: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The channel's own name for the message once it has one (a WeCom 群发 msgid, an SMS message id):
    # what results are polled by and what an ``unknown`` row is reconciled with.
    external_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)


class StaffTask(IdMixin, WorkspaceScoped, Base):
    """A task for a staff member about a contact (a journey's ``task`` step, or made by hand): greet the
    new customer within the hour, call back a silent one. ``dedup_key`` keeps a replayed step from
    making it twice."""

    __tablename__ = "staff_task"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedup_key"),
        Index("ix_staff_task_open", "status", "due_at"),
    )

    contact_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), nullable=True
    )
    dedup_key: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    assignee: Mapped[str | None] = mapped_column(String(128), nullable=True)  # a staff userid
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")  # open, done
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
