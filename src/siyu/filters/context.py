"""What the compiler needs to know about a workspace, read from the operational store."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.filters.compiler import Context
from siyu.kit.time import utcnow
from siyu.models import PropertyDefinition, Segment, Tag, Workspace


def local_now(timezone: str, now: datetime | None = None) -> datetime:
    """The workspace's local wall-clock time, without a zone (as the analytics store keeps times)."""
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).replace(tzinfo=None, microsecond=0)


def load_context(
    session: Session, workspace_id: int, *, as_of: datetime | None = None, field_prefix: str = "definition"
) -> Context:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise ValueError(f"no workspace {workspace_id}")
    properties = dict(session.execute(select(PropertyDefinition.key, PropertyDefinition.type)).all())
    tags = set(session.scalars(select(Tag.id)))
    segments = set(session.scalars(select(Segment.id).where(Segment.archived.is_(False))))
    return Context(
        workspace_id=workspace_id,
        as_of=as_of or local_now(workspace.timezone),
        properties=properties,
        tags=tags,
        segments=segments,
        field_prefix=field_prefix,
    )
