from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK, JSONType, UTCDateTime
from siyu.models.base import Base, IdMixin, WorkspaceScoped


class Event(IdMixin, WorkspaceScoped, Base):
    """Something a contact did or that happened to them. ``event_id`` (client-supplied, or derived from
    the content) makes ingestion idempotent. ``identity_id`` records which key named the contact, so an
    unmerge can send the event back to the right contact."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_id"),
        # contact_id leads (it is unique across workspaces): the timeline reads it, and deleting or
        # merging a contact finds its events through it.
        Index("ix_event_contact_time", "contact_id", "occurred_at"),
        Index("ix_event_name_time", "workspace_id", "name", "occurred_at"),
    )

    contact_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False)
    identity_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("identity.id", ondelete="SET NULL"), nullable=True
    )
    event_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)


EVENT_KEY = ["workspace_id", "event_id"]


def system_events(
    workspace_id: int,
    name: str,
    contact_ids: Iterable[int],
    event_id: Callable[[int], str],
    properties: dict[str, Any],
    at: datetime,
) -> list[dict[str, Any]]:
    """Rows (for ``insert_rows``) of an event siyu records itself, source ``siyu``, one per contact;
    ``event_id(contact_id)`` names each so that recording it twice keeps one."""
    return [
        {
            "workspace_id": workspace_id,
            "contact_id": cid,
            "identity_id": None,
            "event_id": event_id(cid),
            "name": name,
            "occurred_at": at,
            "received_at": at,
            "source": "siyu",
            "properties": properties,
        }
        for cid in contact_ids
    ]
