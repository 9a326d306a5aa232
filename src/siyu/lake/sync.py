"""Keeping the analytics store current: copy what changed in the operational store since the last sync.

Watermarks, per workspace and source table, live in the store's ``sync_state`` and commit in the same
DuckDB transaction as the rows they describe, so a sync killed half-way leaves the store as it was and
the next one starts from the same place.

* ``event``, ``sales_order``, ``order_refund`` only grow: rows with an id above ``safe_id`` are copied.
  SQLite gives ids in commit order, so ``safe_id`` is simply the highest id copied. PostgreSQL hands out
  ids before commit, so a slow transaction can commit a lower id later: there ``safe_id`` stays at the
  highest id whose row is older than :data:`PG_OVERLAP`, rows above it are read again, and those already
  copied are skipped.
* ``contact`` rows change: rows whose ``updated_at`` is at or after the last one seen (minus the overlap)
  are copied again with their properties and tags. Whatever changes a contact's tags touches
  ``updated_at`` (``siyu.tag.service``).
* A merge or unmerge (``merge_record.updated_at``) moves events, orders, identities and tags between two
  contacts: both are copied again whole.
* Deleted contacts are found by count and removed with everything they had; deleted tags likewise.
* The derived tables (:mod:`siyu.lake.derived`) follow: ``order_days`` is rebuilt for the contacts whose
  orders changed, ``relation_events`` gets the new relation events, and both are rebuilt for merged,
  unmerged and deleted contacts and after a whole copy.

Times arrive in UTC and are stored as the workspace's local wall-clock time; when the workspace's time
zone changes, its copy is rebuilt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import WORKSPACE_KEY, read_only
from siyu.kit.time import utcnow
from siyu.lake.derived import (
    DERIVED,
    GROUP_MOVES,
    MESSAGE_EVENTS,
    RELATION_EVENTS,
    rebuild,
    rebuild_group_moves,
    rebuild_message_sends,
    rebuild_order_days,
)
from siyu.lake.rows import APPEND_ONLY, Reader, Source, Writer, parse_utc, sources_for, utc_text
from siyu.lake.store import Lake, first_row
from siyu.models import PropertyDefinition, Workspace

PG_OVERLAP = timedelta(minutes=5)  # longer than any ingestion transaction
SQLITE_OVERLAP = timedelta(seconds=2)  # updated_at comes from the clock, not the commit order
CLUSTER_AFTER = 100_000  # rows copied by a full sync above which the big tables are put in time order
Progress = Callable[[str, int], None]


@dataclass
class SyncStats:
    workspace_id: int
    full: bool = False
    copied: dict[str, int] = field(default_factory=dict)
    recopied_contacts: int = 0
    deleted_contacts: int = 0
    seconds: float = 0.0
    # Contacts whose copy changed (new events or orders, changed, merged): what an incremental refresh rescores.
    touched: set[int] = field(default_factory=set)
    # Of those, the ones with new events, by event name (see :meth:`touched_for`).
    by_event: dict[str, set[int]] = field(default_factory=dict)
    otherwise: set[int] = field(default_factory=set)  # touched by anything but new events

    def add(self, source: str, n: int) -> None:
        self.copied[source] = self.copied.get(source, 0) + n

    def touched_for(self, event_names: Collection[str] | None) -> set[int]:
        """The touched contacts whose changes a reader of ``event_names`` (None: of every event) can see:
        a contact whose only new events are ones nobody reads (the ``segment_entered`` events of the last
        refresh, when no segment tests them) scores and segments as before."""
        if event_names is None:
            return set(self.touched)
        found = set(self.otherwise)
        for name in event_names:
            found |= self.by_event.get(name, set())
        return found

    def touch(self, contact_ids: Iterable[int]) -> None:
        ids = set(contact_ids)
        self.touched |= ids
        self.otherwise |= ids


class _State:
    def __init__(self, lake: duckdb.DuckDBPyConnection, workspace_id: int) -> None:
        self.lake = lake
        self.workspace_id = workspace_id
        rows = lake.execute(
            "SELECT source, last_id, safe_id, last_time, timezone FROM sync_state WHERE workspace_id = ?",
            [workspace_id],
        ).fetchall()
        self.rows: dict[str, dict[str, Any]] = {
            r[0]: {"last_id": r[1], "safe_id": r[2], "last_time": r[3], "timezone": r[4]} for r in rows
        }

    def get(self, source: str, key: str) -> Any:
        return self.rows.get(source, {}).get(key)

    def put(self, source: str, **values: Any) -> None:
        self.rows.setdefault(source, {}).update(values)

    def save(self, timezone: str, now: datetime) -> None:
        self.lake.execute("DELETE FROM sync_state WHERE workspace_id = ?", [self.workspace_id])
        for source, v in self.rows.items():
            self.lake.execute(
                "INSERT INTO sync_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                [self.workspace_id, source, v.get("last_id"), v.get("safe_id"), v.get("last_time"), timezone, now],
            )


def sync_workspace(
    factory: sessionmaker[Session],
    lake: Lake,
    workspace_id: int,
    *,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncStats:
    """Bring the lake's copy of one workspace up to date (everything again when ``full``)."""
    with lake.write() as con:
        return sync_into(con, factory, workspace_id, full=full, progress=progress)


def sync_into(
    con: duckdb.DuckDBPyConnection,
    factory: sessionmaker[Session],
    workspace_id: int,
    *,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncStats:
    """:func:`sync_workspace` on a connection the caller holds open for writing (a refresh that goes on
    with the same connection saves closing and opening the store again)."""
    started = time.perf_counter()
    stats = SyncStats(workspace_id)
    session = factory()
    session.info[WORKSPACE_KEY] = workspace_id
    try:
        read_only(session)
        workspace = session.get(Workspace, workspace_id)
        if workspace is None:
            raise ValueError(f"no workspace {workspace_id}")
        types = dict(session.execute(select(PropertyDefinition.key, PropertyDefinition.type)).all())
        reader = Reader(session, workspace_id)
        sources = sources_for(reader.dialect)
        overlap = SQLITE_OVERLAP if reader.dialect == "sqlite" else PG_OVERLAP
        now = utcnow()
        con.execute("BEGIN")
        try:
            state = _State(con, workspace_id)
            known_tz = {v.get("timezone") for v in state.rows.values()} if state.rows else set()
            full = full or not state.rows or known_tz != {workspace.timezone}
            stats.full = full
            writer = Writer(con, workspace_id, workspace.timezone)
            _sync(reader, writer, state, sources, types, overlap, now, full, stats, progress)
            if full and (stats.copied.get("event", 0) + stats.copied.get("sales_order", 0)) > CLUSTER_AFTER:
                cluster(con)
            state.save(workspace.timezone, now.replace(tzinfo=None))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        session.rollback()
        session.close()
    stats.seconds = time.perf_counter() - started
    return stats


RAW_TABLES = ("contacts", "contact_properties", "contact_tags", "events", "orders", "refunds")


def _sync(
    reader: Reader,
    writer: Writer,
    state: _State,
    sources: dict[str, Source],
    types: dict[str, str],
    overlap: timedelta,
    now: datetime,
    full: bool,
    stats: SyncStats,
    progress: Progress | None,
) -> None:
    ws = writer.workspace_id
    if full:
        for table in RAW_TABLES:
            writer.lake.execute(f"DELETE FROM {table} WHERE workspace_id = ?", [ws])  # noqa: S608
        state.rows.clear()

    # 1. Rows that only grow, before any re-copy below (which would otherwise be copied twice).
    ordered: set[int] = set()  # contacts whose orders changed: their order_days are rebuilt at the end
    relations = replace(sources["event"], lake_table="relation_events")
    for name in APPEND_ONLY:
        source = sources[name]
        safe_id = state.get(name, "safe_id") or 0
        last_id = state.get(name, "last_id") or 0
        newest_safe, newest = safe_id, last_id
        horizon = utc_text(now - overlap)
        # PostgreSQL reads rows above safe_id again: those copied already are left out before anything
        # counts them (they would otherwise touch their contacts on every sync for the overlap's length).
        copied = writer.keys_above(source, safe_id) if reader.dialect != "sqlite" and last_id > safe_id else set()
        for page in reader.rows(source, "id > ?", [safe_id]):
            ids = [row[0] for row in page]
            fresh = [row for row in page if row[0] not in copied] if copied else page
            stats.add(name, writer.insert(source, fresh))
            if name == "event" and not full:
                writer.insert(relations, [row for row in fresh if row[2] in RELATION_EVENTS])
            if not full:
                if name == "sales_order":
                    ordered.update(row[1] for row in fresh)
                if name == "event":
                    for row in fresh:
                        stats.by_event.setdefault(row[2], set()).add(row[1])
                    stats.touched.update(row[1] for row in fresh)
                elif source.contact_column is not None:
                    stats.touch(row[1] for row in fresh)
                elif fresh:
                    stats.touch(writer.contacts_of_orders(row[1] for row in fresh))
            newest = max(newest, *ids)
            if reader.dialect == "sqlite":
                newest_safe = newest
            else:
                old = [row[0] for row in page if row[-1] is not None and str(row[-1]) < horizon]
                if old:
                    newest_safe = max(newest_safe, *old)
            if progress:
                progress(name, stats.copied.get(name, 0))
        state.put(name, last_id=newest, safe_id=newest_safe)

    # 2. Contacts changed since the watermark: the row, its properties and its tags again.
    contact = sources["contact"]
    since = state.get("contact", "last_time")
    where, params = ("", []) if full or since is None else ("updated_at >= ?", [utc_text(since - overlap)])
    changed: list[int] = []
    latest = since
    for page in reader.rows(contact, where, params):
        ids = [row[0] for row in page]
        if not full:
            writer.delete_contacts(ids, ("contacts", "contact_properties", "contact_tags"))
        writer.insert(contact, page)
        changed.extend(ids)
        if not full:
            stats.touch(ids)
        stamps = [parse_utc(row[-1]) for row in page if row[-1] is not None]
        if stamps:
            newest_stamp = max(s for s in stamps if s is not None)
            latest = newest_stamp if latest is None else max(latest, newest_stamp)
        if progress:
            progress("contact", len(changed))
    stats.add("contact", len(changed))
    state.put("contact", last_time=latest)
    if full:
        writer.explode_properties(None, types)
        for page in reader.rows(sources["contact_tag"]):
            writer.insert(sources["contact_tag"], page)
    elif changed:
        writer.explode_properties(changed, types)
        for page in reader.for_contacts(sources["contact_tag"], changed):
            writer.insert(sources["contact_tag"], page)

    # 3. Merges and unmerges since the watermark: both contacts again, whole.
    merge_since = state.get("merge", "last_time")
    if full:
        merge_latest = reader.scalar("SELECT max(updated_at) FROM merge_record WHERE workspace_id = ?", [ws])
        state.put("merge", last_time=parse_utc(merge_latest))
    else:
        sql = f"SELECT survivor_id, merged_id, updated_at FROM merge_record WHERE workspace_id = {reader.mark}"  # noqa: S608
        merge_params: tuple[Any, ...] = (ws,)
        if merge_since is not None:
            sql += f" AND updated_at >= {reader.mark}"
            merge_params = (ws, utc_text(merge_since - overlap))
        moved: set[int] = set()
        merge_latest_dt = merge_since
        for survivor_id, merged_id, updated_at in reader.session.connection().exec_driver_sql(sql, merge_params):
            moved.update((survivor_id, merged_id))
            stamp = parse_utc(updated_at)
            if stamp is not None:
                merge_latest_dt = stamp if merge_latest_dt is None else max(merge_latest_dt, stamp)
        if moved:
            _recopy(reader, writer, sources, moved, types)
            rebuild(writer.lake, ws, moved)
            stats.recopied_contacts = len(moved)
            stats.touch(moved)
        state.put("merge", last_time=merge_latest_dt)

    # 4. Deleted contacts and deleted tags.
    stats.deleted_contacts = _drop_deleted(reader, writer)
    if full:
        rebuild(writer.lake, ws)
    else:
        rebuild_order_days(writer.lake, ws, ordered)
        messaged: set[int] = set()
        for name in MESSAGE_EVENTS:
            messaged |= stats.by_event.get(name, set())
        rebuild_message_sends(writer.lake, ws, messaged)
        moved_in_groups: set[int] = set()
        for name in GROUP_MOVES:
            moved_in_groups |= stats.by_event.get(name, set())
        rebuild_group_moves(writer.lake, ws, moved_in_groups)

    if state.get("contact", "last_time") is None:
        state.put("contact", last_time=None)


def _recopy(
    reader: Reader, writer: Writer, sources: dict[str, Source], contact_ids: set[int], types: dict[str, str]
) -> None:
    writer.delete_contacts(contact_ids, ("contacts", "contact_properties", "contact_tags", "events", "orders"))
    for page in reader.for_contacts(sources["contact"], contact_ids, column="id"):
        writer.insert(sources["contact"], page)
    writer.explode_properties(contact_ids, types)
    for name in ("contact_tag", "event", "sales_order"):
        for page in reader.for_contacts(sources[name], contact_ids):
            writer.insert(sources[name], page)


def _drop_deleted(reader: Reader, writer: Writer) -> int:
    ws = writer.workspace_id
    tag_ids = reader.column("SELECT id FROM tag WHERE workspace_id = ?", [ws])
    writer.lake.register("live_tags", pa.table({"tag_id": pa.array(tag_ids, type=pa.int64())}))
    try:
        writer.lake.execute(
            "DELETE FROM contact_tags WHERE workspace_id = ? AND tag_id NOT IN (SELECT tag_id FROM live_tags)", [ws]
        )
    finally:
        writer.lake.unregister("live_tags")
    operational = int(reader.scalar("SELECT count(*) FROM contact WHERE workspace_id = ?", [ws]) or 0)
    row = first_row(writer.lake.execute("SELECT count(*) FROM contacts WHERE workspace_id = ?", [ws]))
    copied = int(row[0]) if row else 0
    if copied <= operational:
        return 0
    live = reader.column("SELECT id FROM contact WHERE workspace_id = ?", [ws])
    writer.lake.register("live", pa.table({"contact_id": pa.array(live, type=pa.int64())}))
    try:
        gone = [
            r[0]
            for r in writer.lake.execute(
                "SELECT contact_id FROM contacts WHERE workspace_id = ? "
                "AND contact_id NOT IN (SELECT contact_id FROM live)",
                [ws],
            ).fetchall()
        ]
    finally:
        writer.lake.unregister("live")
    writer.delete_contacts(gone, ("contacts", "contact_properties", "contact_tags", "events", "orders", *DERIVED))
    return len(gone)


# Big append-only tables and the column their rows are kept in order of. Windows ("the last 30 days")
# then read only the row groups of those days: DuckDB skips the others by their min/max statistics.
CLUSTERED = {"events": "occurred_day", "orders": "paid_day"}


def cluster(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite the big tables in time order (after a full copy, whose rows come in id order). Later
    syncs append recent rows, which keeps them in order."""
    for table, column in CLUSTERED.items():
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table} ORDER BY workspace_id, {column}"  # noqa: S608
        )


def forget_workspace(lake: Lake, workspace_id: int) -> None:
    """Drop the store's copy of a workspace (its data was replaced wholesale, e.g. a regenerated demo):
    the next sync copies everything again, and segment memberships come back from the operational store."""
    from siyu.lake.schema import TABLES

    with lake.write() as con:
        con.execute("BEGIN")
        for table in TABLES:
            con.execute(f"DELETE FROM {table} WHERE workspace_id = ?", [workspace_id])  # noqa: S608
        con.execute("COMMIT")
