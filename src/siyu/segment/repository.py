"""All SQL of segments on the operational store (workspace-scoped by the session's guard)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from siyu.models import Contact, Segment, SegmentMember, SegmentRefresh, SegmentVersion


def segments(session: Session, *, include_archived: bool = False) -> list[Segment]:
    query = select(Segment).order_by(Segment.id)
    if not include_archived:
        query = query.where(Segment.archived.is_(False))
    return list(session.scalars(query))


def segment(session: Session, segment_id: int, *, lock: bool = False) -> Segment | None:
    query = select(Segment).where(Segment.id == segment_id)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def by_name(session: Session, name: str) -> Segment | None:
    return session.scalar(select(Segment).where(Segment.name == name))


def versions(session: Session, segment_id: int) -> list[SegmentVersion]:
    return list(
        session.scalars(
            select(SegmentVersion).where(SegmentVersion.segment_id == segment_id).order_by(SegmentVersion.version)
        )
    )


def refreshes(session: Session, segment_id: int, limit: int = 200) -> list[SegmentRefresh]:
    rows = session.scalars(
        select(SegmentRefresh)
        .where(SegmentRefresh.segment_id == segment_id)
        .order_by(SegmentRefresh.refresh_no.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def member_page(session: Session, segment_id: int, *, limit: int, offset: int) -> tuple[list[SegmentMember], int]:
    base = select(SegmentMember).where(SegmentMember.segment_id == segment_id)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(base.order_by(SegmentMember.contact_id).limit(limit).offset(offset))
    return list(rows), int(total)


def member_ids(session: Session, segment_id: int) -> list[int]:
    return list(session.scalars(select(SegmentMember.contact_id).where(SegmentMember.segment_id == segment_id)))


def is_member(session: Session, segment_id: int, contact_id: int) -> bool:
    found = session.scalar(
        select(SegmentMember.contact_id).where(
            SegmentMember.segment_id == segment_id, SegmentMember.contact_id == contact_id
        )
    )
    return found is not None


def segments_of_contact(session: Session, contact_id: int) -> list[tuple[Segment, SegmentMember]]:
    rows = session.execute(
        select(Segment, SegmentMember)
        .join(SegmentMember, SegmentMember.segment_id == Segment.id)
        .where(SegmentMember.contact_id == contact_id)
        .order_by(Segment.name)
    )
    return [(s, m) for s, m in rows]


def remove_members(session: Session, segment_id: int, contact_ids: Iterable[int]) -> None:
    ids = list(contact_ids)
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        session.execute(
            delete(SegmentMember).where(SegmentMember.segment_id == segment_id, SegmentMember.contact_id.in_(chunk))
        )


def live_contact_ids(session: Session, contact_ids: Iterable[int]) -> set[int]:
    """Of ``contact_ids``, those that still exist (a contact deleted since the last sync is skipped)."""
    ids = list(contact_ids)
    found: set[int] = set()
    for start in range(0, len(ids), 2000):
        found.update(session.scalars(select(Contact.id).where(Contact.id.in_(ids[start : start + 2000]))))
    return found


def mark_refreshed(session: Session, segment_id: int, refresh_no: int, size: int, at: datetime) -> None:
    session.execute(
        update(Segment).where(Segment.id == segment_id).values(refresh_no=refresh_no, size=size, refreshed_at=at)
    )
