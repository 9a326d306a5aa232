"""Contact upserts: find or create each record's contact by its identity keys, then set the fields it
carries. First-touch attribution (source, channel code) is only ever filled, never overwritten; custom
properties are checked against the workspace's catalogue; consent changes are appended to the ledger
(an entry that would not change the current state is not repeated, so re-sending is harmless)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.contact.properties import PropertyValueError, validate_property_value
from siyu.identity.keys import IdentityKey
from siyu.identity.resolver import Resolver
from siyu.ingestion.context import BatchContext
from siyu.ingestion.records import RecordProblem, check_text, identity_keys, need_someone, rejection, to_utc
from siyu.ingestion.schemas import BatchResult, ContactIn, Rejection
from siyu.models import ChannelCode, ConsentRecord, Contact, PropertyDefinition, StaffMember
from siyu.tag import service as tagging
from siyu.tag.service import split_name

_TEXT_FIELDS = {"nickname": 200, "name": 200, "region": 200}
CONSENT_PURPOSES = frozenset({"marketing", "analytics", "personalization", "service", "third_party_sharing"})


@dataclass
class ValidContact:
    index: int
    record: ContactIn
    keys: list[IdentityKey]
    properties: dict[str, Any]
    consent: list[tuple[str, str | None, bool, str, Any]]
    tags: list[str]


MAX_TAGS = 50


def validate(
    record: ContactIn, index: int, ctx: BatchContext, catalogue: dict[str, PropertyDefinition]
) -> ValidContact:
    for field, limit in _TEXT_FIELDS.items():
        check_text(getattr(record, field), field, limit)
    check_text(record.source, "source", 64)
    check_text(record.channel_code, "channel_code", 128)
    check_text(record.owner_staff, "owner_staff", 128)
    keys = identity_keys(record.identities)
    need_someone(keys, record.contact_id)
    properties: dict[str, Any] = {}
    for key, value in record.properties.items():
        definition = catalogue.get(key)
        if definition is None:
            raise RecordProblem(f"properties.{key}", "not in the property catalogue; declare it first")
        try:
            properties[key] = validate_property_value(definition, value)
        except PropertyValueError as exc:
            raise RecordProblem(f"properties.{key}", str(exc)) from None
    consent = []
    for i, entry in enumerate(record.consent):
        if entry.purpose not in CONSENT_PURPOSES:
            raise RecordProblem(f"consent.{i}.purpose", f"one of: {', '.join(sorted(CONSENT_PURPOSES))}")
        check_text(entry.channel, f"consent.{i}.channel", 32)
        check_text(entry.source, f"consent.{i}.source", 64)
        at = to_utc(entry.time, ctx.tz, f"consent.{i}.time", now=ctx.now) if entry.time else ctx.now
        consent.append((entry.purpose, entry.channel, entry.granted, entry.source or record.source or "api", at))
    tags = []
    if len(record.tags) > MAX_TAGS:
        raise RecordProblem("tags", f"at most {MAX_TAGS} tags")
    for i, name in enumerate(record.tags):
        group, tag = split_name(name)
        if not tag or not group:
            raise RecordProblem(f"tags.{i}", 'a tag name, or "group/tag"')
        check_text(group, f"tags.{i}", 100)
        check_text(tag, f"tags.{i}", 100)
        tags.append(f"{group}/{tag}")
    return ValidContact(index, record, keys, properties, consent, tags)


def ingest(session: Session, ctx: BatchContext, records: list[ContactIn | RecordProblem]) -> BatchResult:
    catalogue = {d.key: d for d in session.scalars(select(PropertyDefinition))}
    rejected: list[Rejection] = []
    valid: list[ValidContact] = []
    for index, record in enumerate(records):
        try:
            if isinstance(record, RecordProblem):
                raise record
            valid.append(validate(record, index, ctx, catalogue))
        except RecordProblem as problem:
            rejected.append(rejection(index, problem))

    staff = _by_key(session, StaffMember, StaffMember.userid, {v.record.owner_staff for v in valid})
    codes = _by_key(session, ChannelCode, ChannelCode.state, {v.record.channel_code for v in valid})
    for v in list(valid):
        if v.record.owner_staff is not None and v.record.owner_staff not in staff:
            rejected.append(Rejection(index=v.index, field="owner_staff", reason="no staff member with this userid"))
            valid.remove(v)

    direct = ctx.live_contacts({v.record.contact_id for v in valid if v.record.contact_id is not None})
    resolver = Resolver(session, ctx.workspace_id, ctx.rules, actor_label=ctx.actor_label)
    keyed = [v for v in valid if v.keys and v.record.contact_id is None]
    resolutions = resolver.resolve([v.keys for v in keyed], now=ctx.now)
    target: dict[int, int] = {v.index: res.contact_id for v, res in zip(keyed, resolutions, strict=True) if res}
    for v in valid:
        cid = v.record.contact_id
        if cid is not None:
            if cid in direct:
                target[v.index] = direct[cid]
            else:
                rejected.append(Rejection(index=v.index, field="contact_id", reason=f"no contact {cid} here"))
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(set(target.values()))))}
    current = _current_consent(session, set(target.values()))
    applied = 0
    for v in valid:
        if v.index not in target:
            continue
        contact = contacts[target[v.index]]
        _apply(contact, v, staff, codes)
        for purpose, channel, granted, source, at in v.consent:
            if current.get((contact.id, purpose, channel)) == granted:
                continue
            current[(contact.id, purpose, channel)] = granted
            session.add(
                ConsentRecord(
                    workspace_id=ctx.workspace_id,
                    contact_id=contact.id,
                    purpose=purpose,
                    channel=channel,
                    granted=granted,
                    source=source,
                    recorded_at=at,
                )
            )
        applied += 1
    session.flush()
    _tag(session, ctx, [(target[v.index], v.tags) for v in valid if v.index in target and v.tags])
    rejected.sort(key=lambda r: r.index)
    return BatchResult(
        accepted=applied,
        rejected=rejected,
        contacts_created=resolver.created,
        merges=resolver.merges,
        conflicts=sum(1 for r in resolutions if r is not None and r.conflicts),
    )


def _apply(contact: Contact, v: ValidContact, staff: dict[str, Any], codes: dict[str, Any]) -> None:
    record = v.record
    for field in ("nickname", "name", "gender", "birthday", "region"):
        value = getattr(record, field)
        if value is not None and getattr(contact, field) != value:
            setattr(contact, field, value)
    if record.owner_staff is not None:
        contact.owner_staff_id = staff[record.owner_staff].id
    if contact.first_source is None and record.source is not None:
        contact.first_source = record.source
    if contact.first_channel_code is None and record.channel_code is not None:
        contact.first_channel_code = record.channel_code
        code = codes.get(record.channel_code)
        if code is not None:
            contact.first_source = contact.first_source or code.source
            if contact.owner_staff_id is None:
                contact.owner_staff_id = code.owner_staff_id
    if v.properties:
        merged = {**contact.properties, **v.properties}
        contact.properties = {k: val for k, val in merged.items() if val is not None}


def _tag(session: Session, ctx: BatchContext, wanted: list[tuple[int, list[str]]]) -> None:
    """Add the records' tags (source ``import`` for file imports, ``api`` otherwise)."""
    if not wanted:
        return
    tags = tagging.ensure_tags(session, [n for _, names in wanted for n in names], actor_label=ctx.actor_label)
    by_tag: dict[str, list[int]] = {}
    for contact_id, names in wanted:
        for name in names:
            by_tag.setdefault(name, []).append(contact_id)
    source = "import" if ctx.actor_label.startswith("import") else "api"
    for name, contact_ids in by_tag.items():
        tagging.apply(session, tags[name], contact_ids, source=source, now=ctx.now)


def _by_key(session: Session, model: Any, column: Any, values: set[str | None]) -> dict[str, Any]:
    wanted = {v for v in values if v is not None}
    if not wanted:
        return {}
    return {getattr(row, column.key): row for row in session.scalars(select(model).where(column.in_(wanted)))}


def _current_consent(session: Session, contact_ids: set[int]) -> dict[tuple[int, str, str | None], bool]:
    state: dict[tuple[int, str, str | None], bool] = {}
    if not contact_ids:
        return state
    rows = session.execute(
        select(ConsentRecord.contact_id, ConsentRecord.purpose, ConsentRecord.channel, ConsentRecord.granted)
        .where(ConsentRecord.contact_id.in_(contact_ids))
        .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
    )
    for contact_id, purpose, channel, granted in rows:
        state[(contact_id, purpose, channel)] = granted
    return state
