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

Times arrive in UTC and are stored as the workspace's local wall-clock time; when the workspace's time
zone changes, its copy is rebuilt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import WORKSPACE_KEY, CrossWorkspaceWrite, read_only
from siyu.kit.time import utcnow
from siyu.lake.store import Lake, first_row
from siyu.models import PropertyDefinition, Workspace

PG_OVERLAP = timedelta(minutes=5)  # longer than any ingestion transaction
SQLITE_OVERLAP = timedelta(seconds=2)  # updated_at comes from the clock, not the commit order
FETCH = 50_000
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

    def add(self, source: str, n: int) -> None:
        self.copied[source] = self.copied.get(source, 0) + n


@dataclass
class _Source:
    """How one operational table is read: its columns (SQL per dialect) and the lake table they feed."""

    table: str
    lake_table: str
    key: str  # the lake's copy of the id
    columns: Sequence[tuple[str, str]]  # (lake column, operational expression)
    times: Sequence[str] = ()  # lake columns that hold UTC times to turn into local ones
    contact_column: str | None = "contact_id"


def _ts(dialect: str, column: str) -> str:
    """A UTC timestamp column as ISO text (SQLite already stores it so)."""
    if dialect == "sqlite":
        return column
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"


def _json(dialect: str, column: str) -> str:
    return column if dialect == "sqlite" else f"{column}::text"


def _sources(dialect: str) -> dict[str, _Source]:
    def ts(column: str) -> str:
        return _ts(dialect, column)

    def js(column: str) -> str:
        return _json(dialect, column)

    return {
        "contact": _Source(
            "contact",
            "contacts",
            "contact_id",
            [
                ("contact_id", "id"),
                ("merged_into_id", "merged_into_id"),
                ("created_at", ts("created_at")),
                ("gender", "gender"),
                ("birthday", "CAST(birthday AS TEXT)"),
                ("region", "region"),
                ("first_source", "first_source"),
                ("first_channel_code", "first_channel_code"),
                ("owner_staff_id", "owner_staff_id"),
                ("properties", js("properties")),
                ("_changed", ts("updated_at")),
            ],
            times=("created_at",),
        ),
        "event": _Source(
            "event",
            "events",
            "event_pk",
            [
                ("event_pk", "id"),
                ("contact_id", "contact_id"),
                ("name", "name"),
                ("occurred_at", ts("occurred_at")),
                ("source", "source"),
                ("properties", js("properties")),
                ("_changed", ts("received_at")),
            ],
            times=("occurred_at",),
        ),
        "sales_order": _Source(
            "sales_order",
            "orders",
            "order_pk",
            [
                ("order_pk", "id"),
                ("contact_id", "contact_id"),
                ("amount_fen", "amount_fen"),
                ("paid_at", ts("paid_at")),
                ("sales_channel", "sales_channel"),
                ("items", js("items")),
                ("_changed", ts("created_at")),
            ],
            times=("paid_at",),
        ),
        "order_refund": _Source(
            "order_refund",
            "refunds",
            "refund_pk",
            [
                ("refund_pk", "id"),
                ("order_pk", "order_pk"),
                ("amount_fen", "amount_fen"),
                ("refunded_at", ts("refunded_at")),
                ("_changed", ts("created_at")),
            ],
            times=("refunded_at",),
            contact_column=None,
        ),
        "contact_tag": _Source(
            "contact_tag",
            "contact_tags",
            "tag_id",
            [("contact_id", "contact_id"), ("tag_id", "tag_id"), ("source", "source")],
        ),
    }


APPEND_ONLY = ("event", "sales_order", "order_refund")


class _Reader:
    """Reads operational rows of one workspace in a read-only snapshot, in pages of driver tuples."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        scope = session.info.get(WORKSPACE_KEY)
        if scope is not None and scope != workspace_id:
            raise CrossWorkspaceWrite(f"analytics sync of workspace {workspace_id} in a session of {scope}")
        self.session = session
        self.workspace_id = workspace_id
        self.dialect = session.get_bind().dialect.name
        self.mark = "?" if self.dialect == "sqlite" else "%s"

    def rows(self, source: _Source, where: str = "", params: Sequence[Any] = ()) -> Iterator[list[Any]]:
        columns = ", ".join(expr for _, expr in source.columns)
        sql = f"SELECT {columns} FROM {source.table} WHERE workspace_id = {self.mark}"  # noqa: S608 - identifiers are ours
        if where:
            sql += f" AND ({where.replace('?', self.mark)})"
        connection = self.session.connection()
        if self.dialect == "sqlite":
            # Straight from the driver: plain tuples (SQLAlchemy's rows cost a third of the copy).
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, (self.workspace_id, *params))
                while page := cursor.fetchmany(FETCH):
                    yield page
            finally:
                cursor.close()
            return
        result = connection.execution_options(stream_results=True).exec_driver_sql(sql, (self.workspace_id, *params))
        for rows in result.partitions(FETCH):
            yield list(rows)

    def for_contacts(
        self, source: _Source, contact_ids: Iterable[int], column: str = "contact_id"
    ) -> Iterator[list[Any]]:
        ids = sorted(set(contact_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            yield from self.rows(source, f"{column} IN ({', '.join('?' * len(chunk))})", chunk)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        result = self.session.connection().exec_driver_sql(sql.replace("?", self.mark), tuple(params))
        return result.scalar()

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        result = self.session.connection().exec_driver_sql(sql.replace("?", self.mark), tuple(params))
        return [row[0] for row in result]


class _Writer:
    """Writes pages of operational rows into the lake, turning UTC text times into local times."""

    def __init__(self, lake: duckdb.DuckDBPyConnection, workspace_id: int, timezone: str) -> None:
        self.lake = lake
        self.workspace_id = workspace_id
        self.timezone = timezone

    def insert(self, source: _Source, page: list[Any], *, skip_existing_above: int | None = None) -> int:
        """Insert one page; with ``skip_existing_above``, rows already in the lake (ids above that) are
        skipped. Returns how many rows went in."""
        if not page:
            return 0
        names = [name for name, _ in source.columns]
        arrays = [pa.array(column) for column in zip(*page, strict=True)]
        batch = pa.Table.from_arrays(arrays, names=names)
        lake_columns = [n for n in names if not n.startswith("_")]
        select_list: list[str] = []
        extra: list[str] = []
        columns = list(lake_columns)
        for name in lake_columns:
            if name in source.times:
                zone = self.timezone.replace("'", "''")
                local = f"timezone('{zone}', CAST(b.{name} AS TIMESTAMP)::TIMESTAMPTZ)"
                select_list.append(local)
                day = name.removesuffix("_at") + "_day"
                columns.append(day)
                day_sql = f"CAST(date_diff('day', DATE '1970-01-01', CAST({local} AS DATE)) AS INTEGER)"
                extra.append(day_sql)
            elif name == "birthday":
                select_list.append(f"TRY_CAST(b.{name} AS DATE)")
            else:
                select_list.append(f"b.{name}")
        sql = (
            f"INSERT INTO {source.lake_table} (workspace_id, {', '.join(columns)}) "  # noqa: S608
            f"SELECT {self.workspace_id}, {', '.join(select_list + extra)} FROM batch AS b"
        )
        if skip_existing_above is not None:
            sql += (  # identifiers are ours, the id an int
                f" WHERE b.{source.key} NOT IN (SELECT {source.key} FROM {source.lake_table} "  # noqa: S608
                f"WHERE workspace_id = {self.workspace_id} AND {source.key} > {int(skip_existing_above)})"
            )
        self.lake.register("batch", batch)
        try:
            row = first_row(self.lake.execute(sql))  # DuckDB answers an INSERT with its row count
            return int(row[0]) if row else 0
        finally:
            self.lake.unregister("batch")

    def contacts_of_orders(self, order_pks: Iterable[int]) -> set[int]:
        ids = pa.table({"order_pk": pa.array(sorted(set(order_pks)), type=pa.int64())})
        self.lake.register("refunded_orders", ids)
        try:
            rows = self.lake.execute(
                "SELECT DISTINCT contact_id FROM orders WHERE workspace_id = ? "
                "AND order_pk IN (SELECT order_pk FROM refunded_orders)",
                [self.workspace_id],
            ).fetchall()
        finally:
            self.lake.unregister("refunded_orders")
        return {int(r[0]) for r in rows}

    def delete_contacts(self, contact_ids: Iterable[int], tables: Sequence[str]) -> None:
        ids = pa.table({"contact_id": pa.array(sorted(set(contact_ids)), type=pa.int64())})
        self.lake.register("gone", ids)
        try:
            for table in tables:
                self.lake.execute(
                    f"DELETE FROM {table} WHERE workspace_id = ? AND contact_id IN (SELECT contact_id FROM gone)",  # noqa: S608
                    [self.workspace_id],
                )
        finally:
            self.lake.unregister("gone")

    def explode_properties(self, contact_ids: Iterable[int] | None, types: dict[str, str]) -> None:
        """Custom properties as one typed row per value (list properties: one row per item)."""
        kinds = pa.table(
            {"key": pa.array(list(types), type=pa.string()), "type": pa.array(list(types.values()), type=pa.string())}
        )
        self.lake.register("kinds", kinds)
        scope = ""
        if contact_ids is not None:
            self.lake.register("changed", pa.table({"contact_id": pa.array(sorted(set(contact_ids)), type=pa.int64())}))
            scope = "AND c.contact_id IN (SELECT contact_id FROM changed)"
        try:
            self.lake.execute(
                f"""
                INSERT INTO contact_properties
                WITH kv AS (
                    SELECT c.contact_id, p.key, p.value AS raw, p.type AS json_type
                    FROM contacts AS c, json_each(c.properties) AS p
                    WHERE c.workspace_id = $ws AND c.properties IS NOT NULL AND c.properties <> '{{}}' {scope}
                ), items AS (
                    SELECT contact_id, key, raw, json_type FROM kv WHERE json_type <> 'ARRAY'
                    UNION ALL
                    SELECT kv.contact_id, kv.key, i.value, i.type FROM kv, json_each(kv.raw) AS i
                    WHERE kv.json_type = 'ARRAY'
                )
                SELECT $ws, i.contact_id, i.key,
                    CASE WHEN i.json_type IN ('VARCHAR', 'BOOLEAN', 'BIGINT', 'UBIGINT', 'DOUBLE')
                         THEN json_extract_string(i.raw, '$') END,
                    CASE WHEN i.json_type IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(i.raw AS DOUBLE) END,
                    CASE WHEN i.json_type = 'BOOLEAN' THEN CAST(i.raw AS BOOLEAN) END,
                    CASE WHEN k.type = 'date' THEN TRY_CAST(json_extract_string(i.raw, '$') AS DATE) END
                FROM items AS i LEFT JOIN kinds AS k ON k.key = i.key
                WHERE i.json_type <> 'NULL'
                """,  # noqa: S608 - only our own fragments are interpolated
                {"ws": self.workspace_id},
            )
        finally:
            self.lake.unregister("kinds")
            if contact_ids is not None:
                self.lake.unregister("changed")


def _parse_utc(value: object) -> datetime | None:
    """A UTC time from the operational store (text on SQLite, aware datetime on PostgreSQL) as naive UTC."""
    if value is None:
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


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
        reader = _Reader(session, workspace_id)
        sources = _sources(reader.dialect)
        overlap = SQLITE_OVERLAP if reader.dialect == "sqlite" else PG_OVERLAP
        now = utcnow()
        with lake.write() as con:
            con.execute("BEGIN")
            try:
                state = _State(con, workspace_id)
                known_tz = {v.get("timezone") for v in state.rows.values()} if state.rows else set()
                full = full or not state.rows or known_tz != {workspace.timezone}
                stats.full = full
                writer = _Writer(con, workspace_id, workspace.timezone)
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
    reader: _Reader,
    writer: _Writer,
    state: _State,
    sources: dict[str, _Source],
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
    for name in APPEND_ONLY:
        source = sources[name]
        safe_id = state.get(name, "safe_id") or 0
        last_id = state.get(name, "last_id") or 0
        newest_safe, newest = safe_id, last_id
        horizon = _text(now - overlap)
        skip = safe_id if reader.dialect != "sqlite" and last_id > safe_id else None
        for page in reader.rows(source, "id > ?", [safe_id]):
            stats.add(name, writer.insert(source, page, skip_existing_above=skip))
            ids = [row[0] for row in page]
            if not full:
                if source.contact_column is not None:
                    stats.touched.update(row[1] for row in page)
                else:
                    stats.touched.update(writer.contacts_of_orders(row[1] for row in page))
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
    where, params = ("", []) if full or since is None else ("updated_at >= ?", [_text(since - overlap)])
    changed: list[int] = []
    latest = since
    for page in reader.rows(contact, where, params):
        ids = [row[0] for row in page]
        if not full:
            writer.delete_contacts(ids, ("contacts", "contact_properties", "contact_tags"))
        writer.insert(contact, page)
        changed.extend(ids)
        if not full:
            stats.touched.update(ids)
        stamps = [_parse_utc(row[-1]) for row in page if row[-1] is not None]
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
        state.put("merge", last_time=_parse_utc(merge_latest))
    else:
        sql = f"SELECT survivor_id, merged_id, updated_at FROM merge_record WHERE workspace_id = {reader.mark}"  # noqa: S608
        merge_params: tuple[Any, ...] = (ws,)
        if merge_since is not None:
            sql += f" AND updated_at >= {reader.mark}"
            merge_params = (ws, _text(merge_since - overlap))
        moved: set[int] = set()
        merge_latest_dt = merge_since
        for survivor_id, merged_id, updated_at in reader.session.connection().exec_driver_sql(sql, merge_params):
            moved.update((survivor_id, merged_id))
            stamp = _parse_utc(updated_at)
            if stamp is not None:
                merge_latest_dt = stamp if merge_latest_dt is None else max(merge_latest_dt, stamp)
        if moved:
            _recopy(reader, writer, sources, moved, types)
            stats.recopied_contacts = len(moved)
            stats.touched.update(moved)
        state.put("merge", last_time=merge_latest_dt)

    # 4. Deleted contacts and deleted tags.
    stats.deleted_contacts = _drop_deleted(reader, writer)

    if state.get("contact", "last_time") is None:
        state.put("contact", last_time=None)


def _text(value: datetime) -> str:
    """Naive or aware UTC as the text both stores compare with their UTC columns."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _recopy(
    reader: _Reader, writer: _Writer, sources: dict[str, _Source], contact_ids: set[int], types: dict[str, str]
) -> None:
    writer.delete_contacts(contact_ids, ("contacts", "contact_properties", "contact_tags", "events", "orders"))
    for page in reader.for_contacts(sources["contact"], contact_ids, column="id"):
        writer.insert(sources["contact"], page)
    writer.explode_properties(contact_ids, types)
    for name in ("contact_tag", "event", "sales_order"):
        for page in reader.for_contacts(sources[name], contact_ids):
            writer.insert(sources[name], page)


def _drop_deleted(reader: _Reader, writer: _Writer) -> int:
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
    writer.delete_contacts(gone, ("contacts", "contact_properties", "contact_tags", "events", "orders"))
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


def sync_all(factory: sessionmaker[Session], lake: Lake, *, full: bool = False) -> list[SyncStats]:
    """Sync every workspace in turn."""
    with factory() as session:
        ids = list(session.scalars(select(Workspace.id).order_by(Workspace.id)))
    return [sync_workspace(factory, lake, ws, full=full) for ws in ids]
