"""SQL of the contact domain. Sessions opened for a workspace add the workspace filter (``siyu.kit.db``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session

from siyu.identity.keys import IdentityKey
from siyu.models import (
    ChannelCode,
    ConsentRecord,
    Contact,
    Event,
    Identity,
    MergeRecord,
    PropertyDefinition,
    SalesOrder,
    StaffMember,
)

# --- contacts ---------------------------------------------------------------------------------


@dataclass
class ContactQuery:
    """A contact search, already normalized by the service."""

    text: str | None = None  # substring of nickname or name
    keys: list[IdentityKey] = field(default_factory=list)  # exact identity keys (kind and value)
    plain_value: str | None = None  # exact value of an identity of any non-personal kind
    plain_kinds: tuple[str, ...] = ()
    source: str | None = None
    channel_code: str | None = None
    owner_staff_id: int | None = None
    owner_unknown: bool = False  # an owner filter that names no staff member matches nobody
    identity_kind: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None


def _search(query: ContactQuery) -> Select[Contact]:
    stmt = select(Contact).where(Contact.merged_into_id.is_(None))
    matches: list[ColumnElement[bool]] = []
    if query.text:
        matches += [
            Contact.nickname.icontains(query.text, autoescape=True),
            Contact.name.icontains(query.text, autoescape=True),
        ]
    identity_matches = [and_(Identity.kind == k.kind, Identity.value == k.value) for k in query.keys]
    if query.plain_value is not None and query.plain_kinds:
        identity_matches.append(and_(Identity.kind.in_(query.plain_kinds), Identity.value == query.plain_value))
    if identity_matches:
        matches.append(Contact.id.in_(select(Identity.contact_id).where(or_(*identity_matches))))
    if query.text is not None or query.keys or query.plain_value is not None:
        stmt = stmt.where(or_(*matches) if matches else false())
    if query.source:
        stmt = stmt.where(Contact.first_source == query.source)
    if query.channel_code:
        stmt = stmt.where(Contact.first_channel_code == query.channel_code)
    if query.owner_unknown:
        stmt = stmt.where(false())
    elif query.owner_staff_id is not None:
        stmt = stmt.where(Contact.owner_staff_id == query.owner_staff_id)
    if query.identity_kind:
        stmt = stmt.where(exists().where(Identity.contact_id == Contact.id, Identity.kind == query.identity_kind))
    if query.created_from is not None:
        stmt = stmt.where(Contact.created_at >= query.created_from)
    if query.created_before is not None:
        stmt = stmt.where(Contact.created_at < query.created_before)
    return stmt


def search_contacts(session: Session, query: ContactQuery, *, limit: int, offset: int) -> tuple[list[Contact], int]:
    stmt = _search(query)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.order_by(Contact.created_at.desc(), Contact.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def contact(session: Session, contact_id: int) -> Contact | None:
    return session.get(Contact, contact_id)


def survivor_of(session: Session, contact_id: int) -> int | None:
    """The live contact a merged contact now is, following merges of merges; None for an unknown id."""
    seen: set[int] = set()
    current = contact_id
    while current not in seen:
        seen.add(current)
        row = session.execute(select(Contact.merged_into_id).where(Contact.id == current)).first()
        if row is None:
            return None
        if row[0] is None:
            return current
        current = row[0]
    return None


def identity_kinds(session: Session, contact_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(contact_ids)
    out: dict[int, list[str]] = {cid: [] for cid in ids}
    if not ids:
        return out
    rows = session.execute(
        select(Identity.contact_id, Identity.kind)
        .where(Identity.contact_id.in_(ids))
        .distinct()
        .order_by(Identity.contact_id, Identity.kind)
    )
    for contact_id, kind in rows:
        out[contact_id].append(kind)
    return out


def identities_of(session: Session, contact_id: int) -> list[Identity]:
    return list(
        session.scalars(select(Identity).where(Identity.contact_id == contact_id).order_by(Identity.kind, Identity.id))
    )


def consent_ledger(session: Session, contact_id: int) -> list[ConsentRecord]:
    """Every consent record of the contact, newest first (by when it was given, then by insertion)."""
    return list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.contact_id == contact_id)
            .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        )
    )


def order_totals(session: Session, contact_id: int) -> tuple[int, int, int]:
    row = session.execute(
        select(
            func.count(SalesOrder.id),
            func.coalesce(func.sum(SalesOrder.amount_fen), 0),
            func.coalesce(func.sum(SalesOrder.refunded_fen), 0),
        ).where(SalesOrder.contact_id == contact_id)
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def event_count(session: Session, contact_id: int) -> int:
    return session.scalar(select(func.count(Event.id)).where(Event.contact_id == contact_id)) or 0


def staff_member(session: Session, staff_id: int) -> StaffMember | None:
    return session.get(StaffMember, staff_id)


def staff_by_ids(session: Session, ids: Iterable[int]) -> dict[int, StaffMember]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {s.id: s for s in session.scalars(select(StaffMember).where(StaffMember.id.in_(wanted)))}


# --- timeline ---------------------------------------------------------------------------------

# The timeline's order is (time, kind rank, id), newest first; a cursor is the last item's triple.
EVENT_RANK = 0
ORDER_RANK = 1


def _before(time_col: Any, id_col: Any, rank: int, cursor: tuple[datetime, int, int] | None) -> list[Any]:
    """Conditions for rows of a table of ``rank`` that come after ``cursor`` in newest-first order."""
    if cursor is None:
        return []
    at, cursor_rank, cursor_id = cursor
    if rank < cursor_rank:
        return [time_col <= at]
    if rank > cursor_rank:
        return [time_col < at]
    return [or_(time_col < at, and_(time_col == at, id_col < cursor_id))]


def timeline_events(
    session: Session, contact_id: int, *, name: str | None, cursor: tuple[datetime, int, int] | None, limit: int
) -> list[Event]:
    stmt = select(Event).where(
        Event.contact_id == contact_id, *_before(Event.occurred_at, Event.id, EVENT_RANK, cursor)
    )
    if name:
        stmt = stmt.where(Event.name == name)
    return list(session.scalars(stmt.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)))


def timeline_orders(
    session: Session, contact_id: int, *, cursor: tuple[datetime, int, int] | None, limit: int
) -> list[SalesOrder]:
    stmt = select(SalesOrder).where(
        SalesOrder.contact_id == contact_id, *_before(SalesOrder.paid_at, SalesOrder.id, ORDER_RANK, cursor)
    )
    return list(session.scalars(stmt.order_by(SalesOrder.paid_at.desc(), SalesOrder.id.desc()).limit(limit)))


# --- merges -----------------------------------------------------------------------------------


def merges(
    session: Session, *, contact_id: int | None, rule: str | None, limit: int, offset: int
) -> tuple[list[MergeRecord], int]:
    stmt = select(MergeRecord)
    if contact_id is not None:
        stmt = stmt.where(or_(MergeRecord.survivor_id == contact_id, MergeRecord.merged_id == contact_id))
    if rule:
        stmt = stmt.where(MergeRecord.rule == rule)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(MergeRecord.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def merge_record(session: Session, record_id: int) -> MergeRecord | None:
    return session.get(MergeRecord, record_id)


# --- reference data ---------------------------------------------------------------------------


def property_definitions(session: Session) -> list[PropertyDefinition]:
    return list(session.scalars(select(PropertyDefinition).order_by(PropertyDefinition.key)))


def property_definition(session: Session, key: str) -> PropertyDefinition | None:
    return session.scalar(select(PropertyDefinition).where(PropertyDefinition.key == key))


def staff_members(session: Session) -> list[StaffMember]:
    return list(session.scalars(select(StaffMember).order_by(StaffMember.userid)))


def staff_by_userid(session: Session, userid: str) -> StaffMember | None:
    return session.scalar(select(StaffMember).where(StaffMember.userid == userid))


def channel_codes(session: Session) -> list[ChannelCode]:
    return list(session.scalars(select(ChannelCode).order_by(ChannelCode.state)))


def channel_code(session: Session, state: str) -> ChannelCode | None:
    return session.scalar(select(ChannelCode).where(ChannelCode.state == state))


def contacts_per_channel_code(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Contact.first_channel_code, func.count())
        .where(Contact.first_channel_code.is_not(None), Contact.merged_into_id.is_(None))
        .group_by(Contact.first_channel_code)
    )
    return {code: count for code, count in rows if code is not None}
