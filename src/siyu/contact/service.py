"""Contacts as operators see them: search, profile and timeline (manual merges are in ``merges``).

Personal data (names, phone numbers, e-mail addresses) is masked in every answer unless the caller asks
for it with ``unmask`` *and* holds ``pii:unmask``; each such read is written to the audit log as
``pii.viewed`` naming the contacts and fields shown (SPEC C0, C12). A merged contact is not listed, and
asking for it answers 409 ``contact_merged`` with ``merged_into_id``: the live contact it became.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.contact import repository
from siyu.contact.masking import is_personal, mask_identity, mask_name
from siyu.contact.repository import EVENT_RANK, ORDER_RANK, ContactQuery
from siyu.contact.schemas import (
    ConsentOut,
    ContactProfile,
    ContactSummary,
    IdentityOut,
    MergeOut,
    OrderTotals,
    StaffRef,
    TimelineEvent,
    TimelineItem,
    TimelineOrder,
    TimelinePage,
)
from siyu.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from siyu.identity.keys import PERSONAL, IdentityKeyError, IdentityKind, make_key
from siyu.kit.inputs import BIGINT_MAX
from siyu.kit.pagination import Page
from siyu.models import ConsentRecord, Contact, Identity, MergeRecord, Workspace

PROFILE_MERGES = 100
_PLAIN_KINDS = tuple(k.value for k in IdentityKind if k not in PERSONAL)
_MOVED_KINDS = ("identity", "event", "order", "consent")


class ContactMerged(Conflict):
    """The contact was merged into another; ``merged_into_id`` names the live one it became."""

    code = "contact_merged"
    title = "Contact merged"


@dataclass(frozen=True)
class ContactFilters:
    q: str | None = None
    source: str | None = None
    channel_code: str | None = None
    owner_staff: str | None = None  # staff userid
    identity_kind: IdentityKind | None = None
    created_from: date | None = None
    created_to: date | None = None  # inclusive


def _check_unmask(ctx: AuthContext, unmask: bool) -> None:
    if unmask and not ctx.can_unmask_pii:
        raise PermissionDenied("seeing unmasked personal data needs the pii:unmask permission")


def live_contact(session: Session, contact_id: int) -> Contact:
    found = repository.contact(session, contact_id)
    if found is None:
        raise NotFound(f"contact {contact_id} not found", extra={"contact_id": contact_id})
    if found.merged_into_id is not None:
        survivor = repository.survivor_of(session, contact_id) or found.merged_into_id
        raise ContactMerged(
            f"contact {contact_id} was merged into contact {survivor}",
            extra={"contact_id": contact_id, "merged_into_id": survivor},
        )
    return found


# --- shaping ----------------------------------------------------------------------------------


def _name(value: str | None, unmask: bool) -> str | None:
    return value if value is None or unmask else mask_name(value)


def summary(contact: Contact, kinds: list[str], *, unmask: bool = False) -> ContactSummary:
    return ContactSummary(
        id=contact.id,
        nickname=contact.nickname,
        name=_name(contact.name, unmask),
        gender=contact.gender,
        region=contact.region,
        first_source=contact.first_source,
        first_channel_code=contact.first_channel_code,
        owner_staff_id=contact.owner_staff_id,
        created_at=contact.created_at,
        last_seen_at=contact.last_seen_at,
        identity_kinds=kinds,
    )


def identity_out(identity: Identity, *, unmask: bool) -> IdentityOut:
    masked = is_personal(identity.kind) and not unmask
    return IdentityOut(
        id=identity.id,
        kind=identity.kind,
        scope=identity.scope,
        key=f"{identity.kind}@{identity.scope}" if identity.scope else identity.kind,
        value=mask_identity(identity.kind, identity.value) if masked else identity.value,
        masked=masked,
        created_at=identity.created_at,
    )


def merge_out(record: MergeRecord) -> MergeOut:
    return MergeOut(
        id=record.id,
        survivor_id=record.survivor_id,
        merged_id=record.merged_id,
        rule=record.rule,
        evidence=record.evidence,
        actor_label=record.actor_label,
        created_at=record.created_at,
        undone_at=record.undone_at,
        undone_by=record.undone_by,
        moved={kind: len(record.journal.get(kind) or []) for kind in _MOVED_KINDS},
    )


def current_consent(ledger: list[ConsentRecord]) -> list[ConsentRecord]:
    """The latest record per purpose and channel (``ledger`` is newest first)."""
    latest: dict[tuple[str, str | None], ConsentRecord] = {}
    for record in ledger:
        latest.setdefault((record.purpose, record.channel), record)
    return [latest[key] for key in sorted(latest, key=lambda k: (k[0], k[1] or ""))]


# --- search -----------------------------------------------------------------------------------


def _start_of_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz)


def contact_query(session: Session, ctx: AuthContext, filters: ContactFilters) -> ContactQuery:
    """The filters as SQL-ready terms: identity values normalized, dates as the workspace's days."""
    query = ContactQuery(
        source=filters.source or None,
        channel_code=filters.channel_code or None,
        identity_kind=filters.identity_kind.value if filters.identity_kind else None,
    )
    text = (filters.q or "").strip()
    if text:
        query.text = text
        for kind in (IdentityKind.phone, IdentityKind.email):
            # Not a phone number or e-mail address: the other matches still apply.
            with contextlib.suppress(IdentityKeyError):
                query.keys.append(make_key(kind.value, text))
        query.plain_value = text
        query.plain_kinds = _PLAIN_KINDS
    if filters.owner_staff:
        staff = repository.staff_by_userid(session, filters.owner_staff)
        query.owner_staff_id = staff.id if staff else None
        query.owner_unknown = staff is None
    if filters.created_from and filters.created_to and filters.created_to < filters.created_from:
        raise InvalidInput.on("created_to", "must not be before created_from")
    if filters.created_from or filters.created_to:
        workspace = session.get(Workspace, ctx.workspace_id)
        tz = ZoneInfo(workspace.timezone if workspace else "UTC")
        if filters.created_from:
            query.created_from = _start_of_day(filters.created_from, tz)
        if filters.created_to:
            query.created_before = _start_of_day(filters.created_to + timedelta(days=1), tz)
    return query


def list_contacts(
    session: Session, ctx: AuthContext, filters: ContactFilters, *, limit: int, offset: int, unmask: bool = False
) -> Page[ContactSummary]:
    _check_unmask(ctx, unmask)
    rows, total = repository.search_contacts(session, contact_query(session, ctx, filters), limit=limit, offset=offset)
    kinds = repository.identity_kinds(session, (c.id for c in rows))
    if unmask:
        shown = [c.id for c in rows if c.name]
        if shown:
            audit.record(session, ctx, "pii.viewed", "contact", None, after={"contact_ids": shown, "fields": ["name"]})
    return Page(items=[summary(c, kinds[c.id], unmask=unmask) for c in rows], total=total, limit=limit, offset=offset)


# --- profile ----------------------------------------------------------------------------------


def profile(session: Session, ctx: AuthContext, contact_id: int, *, unmask: bool = False) -> ContactProfile:
    _check_unmask(ctx, unmask)
    contact = live_contact(session, contact_id)
    identities = repository.identities_of(session, contact.id)
    ledger = repository.consent_ledger(session, contact.id)
    merges, _total = repository.merges(session, contact_id=contact.id, rule=None, limit=PROFILE_MERGES, offset=0)
    staff = repository.staff_member(session, contact.owner_staff_id) if contact.owner_staff_id else None
    count, paid, refunded = repository.order_totals(session, contact.id)
    if unmask:
        fields = (["name"] if contact.name else []) + sorted(
            {f"identities.{i.kind}" for i in identities if is_personal(i.kind)}
        )
        if fields:
            audit.record(session, ctx, "pii.viewed", "contact", contact.id, after={"fields": fields})
    return ContactProfile(
        id=contact.id,
        nickname=contact.nickname,
        name=_name(contact.name, unmask),
        gender=contact.gender,
        birthday=contact.birthday,
        region=contact.region,
        first_source=contact.first_source,
        first_channel_code=contact.first_channel_code,
        owner_staff=StaffRef(id=staff.id, userid=staff.userid, name=staff.name) if staff else None,
        created_at=contact.created_at,
        updated_at=contact.updated_at,
        last_seen_at=contact.last_seen_at,
        masked=not unmask,
        identities=[identity_out(i, unmask=unmask) for i in identities],
        properties=dict(contact.properties or {}),
        consent=[ConsentOut.model_validate(r) for r in current_consent(ledger)],
        consent_ledger=[ConsentOut.model_validate(r) for r in ledger],
        merges=[merge_out(m) for m in merges],
        orders=OrderTotals(count=count, paid_fen=paid, refunded_fen=refunded),
        event_count=repository.event_count(session, contact.id),
    )


# --- timeline ---------------------------------------------------------------------------------

Cursor = tuple[datetime, int, int]


def encode_cursor(at: datetime, rank: int, row_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([at.isoformat(), rank, row_id])).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        at_text, rank, row_id = raw
        at = datetime.fromisoformat(at_text)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise InvalidInput.on("cursor", "not a cursor from a previous page") from None
    if (
        at.tzinfo is None
        or type(rank) is not int
        or rank not in (EVENT_RANK, ORDER_RANK)
        or type(row_id) is not int
        or not 0 <= row_id <= BIGINT_MAX  # a bigger number would be a database error, not a 422
    ):
        raise InvalidInput.on("cursor", "not a cursor from a previous page")
    return at, rank, row_id


def timeline(
    session: Session, contact_id: int, *, cursor: str | None = None, event: str | None = None, limit: int = 20
) -> TimelinePage:
    """Events and orders of a live contact, newest first, one page at a time (keyset paging: a page
    costs the same however deep it is, and items arriving meanwhile do not shift later pages)."""
    after = decode_cursor(cursor) if cursor else None
    contact = live_contact(session, contact_id)
    keyed: list[tuple[tuple[datetime, int, int], TimelineItem]] = []
    for e in repository.timeline_events(session, contact.id, name=event, cursor=after, limit=limit + 1):
        item = TimelineEvent(id=e.id, at=e.occurred_at, name=e.name, source=e.source, properties=e.properties)
        keyed.append(((e.occurred_at, EVENT_RANK, e.id), item))
    if not event:  # an event-name filter shows those events only
        for o in repository.timeline_orders(session, contact.id, cursor=after, limit=limit + 1):
            order = TimelineOrder(
                id=o.id,
                at=o.paid_at,
                order_id=o.order_id,
                amount_fen=o.amount_fen,
                refunded_fen=o.refunded_fen,
                currency=o.currency,
                sales_channel=o.sales_channel,
                items=o.items,
            )
            keyed.append(((o.paid_at, ORDER_RANK, o.id), order))
    keyed.sort(key=lambda pair: pair[0], reverse=True)
    page = keyed[:limit]
    next_cursor = encode_cursor(*page[-1][0]) if len(keyed) > limit else None
    return TimelinePage(items=[item for _key, item in page], next_cursor=next_cursor)
