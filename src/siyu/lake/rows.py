"""Reading rows of one workspace from the operational store (SQLite or PostgreSQL, in a read-only
snapshot, in pages of driver tuples) and writing them into the analytics store (times turned into the
workspace's local time and day numbers, custom properties exploded into typed rows). The sync
(:mod:`siyu.lake.sync`) decides which rows; this module moves them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy.orm import Session

from siyu.kit.db import WORKSPACE_KEY, CrossWorkspaceWrite
from siyu.lake.store import first_row

FETCH = 50_000


@dataclass
class Source:
    """How one operational table is read: its columns (SQL per dialect) and the lake table they feed."""

    table: str
    lake_table: str
    key: str  # the lake's copy of the id
    columns: Sequence[tuple[str, str]]  # (lake column, operational expression)
    times: Sequence[str] = ()  # lake columns that hold UTC times to turn into local ones
    contact_column: str | None = "contact_id"


def ts_text(dialect: str, column: str) -> str:
    """A UTC timestamp column as ISO text (SQLite already stores it so)."""
    if dialect == "sqlite":
        return column
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"


def json_text(dialect: str, column: str) -> str:
    return column if dialect == "sqlite" else f"{column}::text"


def sources_for(dialect: str) -> dict[str, Source]:
    def ts(column: str) -> str:
        return ts_text(dialect, column)

    def js(column: str) -> str:
        return json_text(dialect, column)

    return {
        "contact": Source(
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
        "event": Source(
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
        "sales_order": Source(
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
        "order_refund": Source(
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
        "contact_tag": Source(
            "contact_tag",
            "contact_tags",
            "tag_id",
            [("contact_id", "contact_id"), ("tag_id", "tag_id"), ("source", "source")],
        ),
    }


APPEND_ONLY = ("event", "sales_order", "order_refund")


class Reader:
    """Reads operational rows of one workspace in a read-only snapshot, in pages of driver tuples."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        scope = session.info.get(WORKSPACE_KEY)
        if scope is not None and scope != workspace_id:
            raise CrossWorkspaceWrite(f"analytics sync of workspace {workspace_id} in a session of {scope}")
        self.session = session
        self.workspace_id = workspace_id
        self.dialect = session.get_bind().dialect.name
        self.mark = "?" if self.dialect == "sqlite" else "%s"

    def rows(self, source: Source, where: str = "", params: Sequence[Any] = ()) -> Iterator[list[Any]]:
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
        self, source: Source, contact_ids: Iterable[int], column: str = "contact_id"
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


class Writer:
    """Writes pages of operational rows into the lake, turning UTC text times into local times."""

    def __init__(self, lake: duckdb.DuckDBPyConnection, workspace_id: int, timezone: str) -> None:
        self.lake = lake
        self.workspace_id = workspace_id
        self.timezone = timezone

    def insert(self, source: Source, page: list[Any]) -> int:
        """Insert one page; returns how many rows went in."""
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
        self.lake.register("batch", batch)
        try:
            row = first_row(self.lake.execute(sql))  # DuckDB answers an INSERT with its row count
            return int(row[0]) if row else 0
        finally:
            self.lake.unregister("batch")

    def keys_above(self, source: Source, above: int) -> set[int]:
        """The ids of ``source`` already in the lake above ``above`` (what a re-read overlap has copied)."""
        rows = self.lake.execute(
            f"SELECT {source.key} FROM {source.lake_table} WHERE workspace_id = ? AND {source.key} > ?",  # noqa: S608
            [self.workspace_id, int(above)],
        ).fetchall()
        return {int(r[0]) for r in rows}

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


def parse_utc(value: object) -> datetime | None:
    """A UTC time from the operational store (text on SQLite, aware datetime on PostgreSQL) as naive UTC."""
    if value is None:
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp


def utc_text(value: datetime) -> str:
    """Naive or aware UTC as the text both stores compare with their UTC columns."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
