"""All SQL of tags on the operational store (workspace-scoped by the session's guard)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from siyu.models import Contact, ContactTag, Tag, TagGroup


def groups(session: Session) -> list[TagGroup]:
    return list(session.scalars(select(TagGroup).order_by(TagGroup.name)))


def group(session: Session, group_id: int) -> TagGroup | None:
    return session.get(TagGroup, group_id) if _visible(session, TagGroup, group_id) else None


def _visible(session: Session, model: type[TagGroup] | type[Tag], row_id: int) -> bool:
    return session.scalar(select(model.id).where(model.id == row_id)) is not None


def tags(session: Session, group_id: int | None = None) -> list[Tag]:
    query = select(Tag).order_by(Tag.group_id, Tag.name)
    if group_id is not None:
        query = query.where(Tag.group_id == group_id)
    return list(session.scalars(query))


def tag(session: Session, tag_id: int) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.id == tag_id))


def tag_ids(session: Session) -> set[int]:
    return set(session.scalars(select(Tag.id)))


def tag_counts(session: Session) -> dict[int, int]:
    rows = session.execute(select(ContactTag.tag_id, func.count()).group_by(ContactTag.tag_id))
    return {int(t): int(n) for t, n in rows}


def group_sizes(session: Session) -> dict[int, int]:
    rows = session.execute(select(Tag.group_id, func.count()).group_by(Tag.group_id))
    return {int(g): int(n) for g, n in rows}


def holders(session: Session, tag_id: int, contact_ids: Iterable[int]) -> dict[int, str]:
    """contact id → source, for the given contacts that hold the tag."""
    ids = list(contact_ids)
    found: dict[int, str] = {}
    for start in range(0, len(ids), 2000):
        rows = session.execute(
            select(ContactTag.contact_id, ContactTag.source).where(
                ContactTag.tag_id == tag_id, ContactTag.contact_id.in_(ids[start : start + 2000])
            )
        )
        found.update({int(c): s for c, s in rows})
    return found


def holders_of(session: Session, tag_ids: Iterable[int], contact_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(contact id, tag id) of the given contacts holding any of ``tag_ids``."""
    ids, tags_wanted = list(contact_ids), list(tag_ids)
    out: list[tuple[int, int]] = []
    if not tags_wanted:
        return out
    for start in range(0, len(ids), 2000):
        rows = session.execute(
            select(ContactTag.contact_id, ContactTag.tag_id).where(
                ContactTag.tag_id.in_(tags_wanted), ContactTag.contact_id.in_(ids[start : start + 2000])
            )
        )
        out.extend((int(c), int(t)) for c, t in rows)
    return out


def live_contacts(session: Session, contact_ids: Iterable[int]) -> set[int]:
    ids = list(contact_ids)
    found: set[int] = set()
    for start in range(0, len(ids), 2000):
        found.update(
            session.scalars(
                select(Contact.id).where(Contact.id.in_(ids[start : start + 2000]), Contact.merged_into_id.is_(None))
            )
        )
    return found


def remove(session: Session, tag_id: int, contact_ids: Iterable[int], *, source: str | None = None) -> None:
    ids = list(contact_ids)
    for start in range(0, len(ids), 2000):
        query = delete(ContactTag).where(
            ContactTag.tag_id == tag_id, ContactTag.contact_id.in_(ids[start : start + 2000])
        )
        if source is not None:
            query = query.where(ContactTag.source == source)
        session.execute(query)


def touch(session: Session, contact_ids: Iterable[int], now: datetime) -> None:
    """Move the contacts' ``updated_at``: the analytics store re-copies their tags at its next sync."""
    ids = list(contact_ids)
    for start in range(0, len(ids), 2000):
        session.execute(update(Contact).where(Contact.id.in_(ids[start : start + 2000])).values(updated_at=now))


def contact_tags(session: Session, contact_id: int) -> list[tuple[ContactTag, Tag, TagGroup]]:
    rows = session.execute(
        select(ContactTag, Tag, TagGroup)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(ContactTag.contact_id == contact_id)
        .order_by(TagGroup.name, Tag.name)
    )
    return [(ct, t, g) for ct, t, g in rows]
