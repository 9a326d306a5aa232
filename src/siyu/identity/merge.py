"""Merging two contacts and undoing it exactly.

A merge moves the merged contact's identities, events, orders, consent records and the tags the survivor
lacks to the survivor,
fills the survivor's empty fields and missing properties from the merged one, and marks the merged
contact ``merged_into_id``. The :class:`MergeRecord` keeps a journal of every moved row and every
field it filled; :func:`unmerge` replays it backwards. Events and orders that arrived *during* the merge
through one of the moved identities go back with them (they carry ``identity_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.errors import Conflict, InvalidInput, NotFound
from siyu.kit.time import utcnow
from siyu.models import ConsentRecord, Contact, ContactTag, Event, Identity, MergeRecord, SalesOrder

# Contact fields a merge may fill on the survivor when the survivor has none.
FILLABLE = ("nickname", "name", "gender", "birthday", "region", "first_source", "first_channel_code", "owner_staff_id")
_MOVED = (("identity", Identity), ("event", Event), ("order", SalesOrder), ("consent", ConsentRecord))


def live_contact(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    if contact.merged_into_id is not None:
        raise Conflict(
            f"contact {contact_id} was merged into {contact.merged_into_id}",
            extra={"merged_into_id": contact.merged_into_id},
        )
    return contact


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def merge(
    session: Session,
    survivor_id: int,
    merged_id: int,
    *,
    rule: str,
    evidence: dict[str, Any],
    actor_label: str,
) -> MergeRecord:
    if survivor_id == merged_id:
        raise InvalidInput.on("merged_id", "a contact cannot be merged into itself")
    survivor = live_contact(session, survivor_id)
    merged = live_contact(session, merged_id)
    journal: dict[str, Any] = {}
    for key, model in _MOVED:
        ids = list(session.scalars(select(model.id).where(model.contact_id == merged_id)))
        journal[key] = ids
        if ids:
            session.execute(update(model).where(model.contact_id == merged_id).values(contact_id=survivor_id))
    # Tags the survivor lacks move with the contact; those both hold stay where they are.
    held = set(session.scalars(select(ContactTag.tag_id).where(ContactTag.contact_id == survivor_id)))
    tag_ids = [
        t for t in session.scalars(select(ContactTag.tag_id).where(ContactTag.contact_id == merged_id)) if t not in held
    ]
    journal["tag"] = tag_ids
    if tag_ids:
        session.execute(
            update(ContactTag)
            .where(ContactTag.contact_id == merged_id, ContactTag.tag_id.in_(tag_ids))
            .values(contact_id=survivor_id)
        )
    filled: dict[str, Any] = {}
    for field in FILLABLE:
        if getattr(survivor, field) is None and getattr(merged, field) is not None:
            filled[field] = _jsonable(getattr(merged, field))
            setattr(survivor, field, getattr(merged, field))
    added_props = {k: v for k, v in merged.properties.items() if k not in survivor.properties}
    if added_props:
        survivor.properties = {**survivor.properties, **added_props}
    journal["filled"] = filled
    journal["properties_added"] = sorted(added_props)
    if merged.last_seen_at and (survivor.last_seen_at is None or merged.last_seen_at > survivor.last_seen_at):
        journal["last_seen_at"] = _jsonable(survivor.last_seen_at)
        survivor.last_seen_at = merged.last_seen_at
    merged.merged_into_id = survivor_id
    record = MergeRecord(
        survivor_id=survivor_id,
        merged_id=merged_id,
        rule=rule,
        evidence=evidence,
        actor_label=actor_label,
        journal=journal,
    )
    session.add(record)
    session.flush()
    return record


def unmerge(session: Session, record_id: int, *, actor_label: str) -> MergeRecord:
    record = session.get(MergeRecord, record_id)
    if record is None:
        raise NotFound(f"merge {record_id} not found")
    if record.undone_at is not None:
        raise Conflict(f"merge {record_id} was already undone")
    survivor = live_contact(session, record.survivor_id)
    merged = session.get(Contact, record.merged_id)
    assert merged is not None
    journal = record.journal
    s_id, m_id = record.survivor_id, record.merged_id
    for key, model in _MOVED:
        ids = journal.get(key) or []
        for chunk in _chunks(ids):
            session.execute(update(model).where(model.id.in_(chunk), model.contact_id == s_id).values(contact_id=m_id))
    for chunk in _chunks(journal.get("tag") or []):
        session.execute(
            update(ContactTag)
            .where(ContactTag.contact_id == s_id, ContactTag.tag_id.in_(chunk))
            .values(contact_id=m_id)
        )
    identity_ids = journal.get("identity") or []
    for model in (Event, SalesOrder):
        for chunk in _chunks(identity_ids):
            session.execute(
                update(model).where(model.contact_id == s_id, model.identity_id.in_(chunk)).values(contact_id=m_id)
            )
    for field, value in (journal.get("filled") or {}).items():
        if _jsonable(getattr(survivor, field)) == value:
            setattr(survivor, field, None)
    added = journal.get("properties_added") or []
    if added:
        # A property the merge copied from the merged contact goes back with it (that contact kept its copy).
        survivor.properties = {k: v for k, v in survivor.properties.items() if k not in added}
    if "last_seen_at" in journal:
        survivor.last_seen_at = _parse_time(journal["last_seen_at"])
    merged.merged_into_id = None
    record.undone_at = utcnow()
    record.undone_by = actor_label
    session.flush()
    return record


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _chunks(ids: list[int], size: int = 5000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def preview(session: Session, survivor_id: int, merged_id: int) -> dict[str, Any]:
    """What a merge would do, without doing it."""
    if survivor_id == merged_id:
        raise InvalidInput.on("merged_id", "a contact cannot be merged into itself")
    survivor = live_contact(session, survivor_id)
    merged = live_contact(session, merged_id)
    counts = {
        key: session.scalar(select(func.count()).select_from(model).where(model.contact_id == merged_id)) or 0
        for key, model in _MOVED
    }
    fills = {
        f: _jsonable(getattr(merged, f))
        for f in FILLABLE
        if getattr(survivor, f) is None and getattr(merged, f) is not None
    }
    conflicts = {
        f: {"kept": _jsonable(getattr(survivor, f)), "dropped": _jsonable(getattr(merged, f))}
        for f in FILLABLE
        if getattr(survivor, f) is not None
        and getattr(merged, f) is not None
        and getattr(survivor, f) != getattr(merged, f)
    }
    return {
        "survivor_id": survivor_id,
        "merged_id": merged_id,
        "moves": counts,
        "fills": fills,
        "properties_added": sorted(k for k in merged.properties if k not in survivor.properties),
        "conflicts": conflicts,
    }
