"""Event ingestion: validate each record, resolve its contact, store it once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.identity.keys import IdentityKey
from siyu.identity.resolver import Prefetched, Resolver
from siyu.ingestion.context import BatchContext
from siyu.ingestion.records import (
    EVENT_NAME,
    RecordProblem,
    check_properties,
    check_text,
    identity_keys,
    need_someone,
    rejection,
    stored_values,
    to_utc,
)
from siyu.ingestion.schemas import BatchResult, EventIn, Rejection
from siyu.kit.bulk import insert_rows, insert_tuples, sqlite_datetime
from siyu.kit.time import utcnow
from siyu.models import ChannelCode, Event


@dataclass
class ValidEvent:
    index: int
    record: EventIn
    keys: list[IdentityKey]
    event_id: str
    properties: dict[str, Any]
    properties_json: str  # encoded once, while checking
    occurred_at: datetime | None = None  # UTC, set once the workspace's time zone is known
    occurred_text: str = ""  # occurred_at as SQLite stores it (see _store)

    def at(self, utc: datetime) -> None:
        """Set the time (UTC, from :func:`to_utc`) and its SQLite text."""
        self.occurred_at = utc
        self.occurred_text = sqlite_datetime(utc)


def derived_event_id(name: str, keys: list[IdentityKey], contact_id: int | None, at: datetime, props: bytes) -> str:
    """Without a client event_id, the content names the event: sending it again stores nothing new."""
    basis = orjson.dumps([name, [list(k) for k in sorted(keys)], contact_id, at.isoformat()]) + props
    return "h:" + hashlib.blake2b(basis, digest_size=16).hexdigest()


def check(record: EventIn, index: int, now: datetime) -> ValidEvent:
    """Everything about a record that needs no database (run before the transaction begins)."""
    if not EVENT_NAME.match(record.name):
        raise RecordProblem("name", "snake_case, starting with a letter, at most 64 characters")
    check_text(record.source, "source", 64)
    if record.event_id is not None and (not 0 < len(record.event_id) <= 128 or "\x00" in record.event_id):
        raise RecordProblem("event_id", "1 to 128 characters, no NUL")
    keys = identity_keys(record.identities)
    need_someone(keys, record.contact_id)
    encoded = check_properties(record.properties)
    event_id = record.event_id or derived_event_id(record.name, keys, record.contact_id, record.time, encoded)
    # Times with an offset convert now; naive ones wait for the workspace's time zone.
    event = ValidEvent(index, record, keys, event_id, record.properties, encoded.decode())
    if record.time.tzinfo is not None:
        event.at(to_utc(record.time, UTC, "time", now=now))
    return event


@dataclass
class Prepared:
    valid: list[ValidEvent]
    rejected: list[Rejection]
    duplicates: int
    known: Prefetched | None = None  # identities read ahead of the write transaction (SQLite)


def prepare(records: list[EventIn | RecordProblem]) -> Prepared:
    """Check every record and drop repeats within the batch; no database work."""
    rejected: list[Rejection] = []
    valid: list[ValidEvent] = []
    seen_ids: set[str] = set()
    duplicates = 0
    now = utcnow()
    for index, record in enumerate(records):
        try:
            if isinstance(record, RecordProblem):
                raise record
            event = check(record, index, now)
        except RecordProblem as problem:
            rejected.append(rejection(index, problem))
            continue
        if event.event_id in seen_ids:
            duplicates += 1  # the same event twice in one batch
            continue
        seen_ids.add(event.event_id)
        valid.append(event)
    return Prepared(valid, rejected, duplicates)


def look_ahead(session: Session, ctx: BatchContext, prepared: Prepared) -> None:
    """On SQLite, read the batch's identities before the write transaction (from a read snapshot,
    without the writer lock); the resolver then only re-checks them inside it."""
    if session.get_bind().dialect.name == "sqlite":
        prepared.known = Prefetched.read(session, ctx.workspace_id, (k for e in prepared.valid for k in e.keys))


def ingest(session: Session, ctx: BatchContext, records: list[EventIn | RecordProblem] | Prepared) -> BatchResult:
    """Store the valid records of a batch (typed by :func:`siyu.ingestion.records.typed_records`)."""
    prepared = records if isinstance(records, Prepared) else prepare(records)
    rejected, duplicates = list(prepared.rejected), prepared.duplicates
    valid: list[ValidEvent] = []
    for event in prepared.valid:
        if event.occurred_at is None:
            try:
                event.at(to_utc(event.record.time, ctx.tz, "time", now=ctx.now))
            except RecordProblem as problem:
                rejected.append(rejection(event.index, problem))
                continue
        valid.append(event)

    # Events stored by an earlier request are duplicates, not errors. SQLite reports how many rows the
    # insert skipped; elsewhere they are looked up first.
    if session.get_bind().dialect.name != "sqlite":
        stored = stored_values(session, Event.event_id, [e.event_id for e in valid])
        duplicates += sum(1 for e in valid if e.event_id in stored)
        valid = [e for e in valid if e.event_id not in stored]

    ready, by_contact_id = ctx.check_named_contacts(valid, rejected)

    resolver = Resolver(session, ctx.workspace_id, ctx.rules, actor_label=ctx.actor_label, prefetched=prepared.known)
    keyed = [e for e in ready if e.keys]
    defaults = _first_touch(session, keyed)
    resolutions = resolver.resolve([e.keys for e in keyed], defaults=defaults, now=ctx.now)
    resolved: dict[int, tuple[int, int | None]] = {}
    conflicts = 0
    for event, res in zip(keyed, resolutions, strict=True):
        assert res is not None
        resolved[event.index] = (res.contact_id, res.identity_id)
        conflicts += bool(res.conflicts)
    owners = [resolved.get(e.index) or (by_contact_id[e.record.contact_id or 0], None) for e in ready]
    inserted = _store(session, ctx, ready, owners)
    if inserted is not None:
        duplicates += len(ready) - inserted
    rejected.sort(key=lambda r: r.index)
    return BatchResult(
        accepted=len(ready) if inserted is None else inserted,
        duplicates=duplicates,
        rejected=rejected,
        contacts_created=resolver.created,
        merges=resolver.merges,
        conflicts=conflicts,
    )


def _store(
    session: Session, ctx: BatchContext, events: list[ValidEvent], owners: list[tuple[int, int | None]]
) -> int | None:
    """INSERT the events, skipping event_ids already stored. On SQLite the values go to the driver as
    they are (times as text, properties as the JSON encoded while checking) and the batch's own
    constants are written into the statement: the write lock is held for the INSERT, not for
    converting values. Returns how many went in when the driver says (SQLite), else None."""
    conflict = ["workspace_id", "event_id"]
    if session.get_bind().dialect.name == "sqlite":
        rows = [
            (contact_id, identity_id, e.event_id, e.record.name, e.occurred_text, e.record.source, e.properties_json)
            for e, (contact_id, identity_id) in zip(events, owners, strict=True)
        ]
        return insert_tuples(
            session,
            Event,
            ctx.workspace_id,
            ("contact_id", "identity_id", "event_id", "name", "occurred_at", "source", "properties"),
            rows,
            constants={"received_at": sqlite_datetime(ctx.now)},
            skip_conflicts_on=conflict,
        )
    dicts = [
        {
            "workspace_id": ctx.workspace_id,
            "contact_id": contact_id,
            "identity_id": identity_id,
            "event_id": e.event_id,
            "name": e.record.name,
            "occurred_at": e.occurred_at,
            "received_at": ctx.now,
            "source": e.record.source,
            "properties": e.properties,
        }
        for e, (contact_id, identity_id) in zip(events, owners, strict=True)
    ]
    return insert_rows(session, Event, dicts, skip_conflicts_on=conflict)


def _first_touch(session: Session, events: list[ValidEvent]) -> list[dict[str, Any]]:
    """Attribution of contacts this batch creates: the source, and for ``contact_added`` the channel
    code (渠道活码 ``state``) with its source and owner staff."""
    states = {
        str(e.properties["state"])
        for e in events
        if e.record.name == "contact_added" and isinstance(e.properties.get("state"), str)
    }
    codes: dict[str, ChannelCode] = {}
    if states:
        codes = {c.state: c for c in session.scalars(select(ChannelCode).where(ChannelCode.state.in_(states)))}
    out = []
    for event in events:
        touch: dict[str, Any] = {"first_source": event.record.source, "last_seen_at": event.occurred_at}
        state = event.properties.get("state") if event.record.name == "contact_added" else None
        if isinstance(state, str):
            touch["first_channel_code"] = state
            code = codes.get(state)
            if code is not None:
                touch["first_source"] = code.source
                touch["owner_staff_id"] = code.owner_staff_id
        out.append(touch)
    return out
