"""Copies of a few contacts' rows, for an incremental refresh: the tier and segment queries then read
thousands of rows instead of the workspace's millions (one scan of each big table makes the copies)."""

from __future__ import annotations

from collections.abc import Collection

import duckdb
import pyarrow as pa

# store table → (temporary copy, how its rows belong to a contact)
SCOPED = {
    "contacts": ("scope_contacts", "contact_id"),
    "events": ("scope_events", "contact_id"),
    "orders": ("scope_orders", "contact_id"),
    "order_days": ("scope_order_days", "contact_id"),
    "relation_events": ("scope_relation_events", "contact_id"),
    "contact_properties": ("scope_properties", "contact_id"),
    "refunds": ("scope_refunds", "order_pk"),
}


def scope_tables(
    con: duckdb.DuckDBPyConnection,
    workspace_id: int,
    contact_ids: Collection[int],
    *,
    events_from_day: int | None = None,
) -> dict[str, str]:
    """Create the copies for ``contact_ids``; returns the table mapping the compilers take. With
    ``events_from_day``, only events of that day (a day number) and later are copied: the events table
    is the biggest, its rows are in time order, and the queries that follow look back so far only."""
    con.register("scope_ids", pa.table({"contact_id": pa.array(sorted(set(contact_ids)), type=pa.int64())}))
    ws = int(workspace_id)
    try:
        for table, (copy, _) in SCOPED.items():
            if table == "refunds":
                continue
            since = (
                f" AND occurred_day >= {int(events_from_day)}"
                if table == "events" and events_from_day is not None
                else ""
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {copy} AS SELECT * FROM {table} "  # noqa: S608 - our names only
                f"WHERE workspace_id = {ws}{since} AND contact_id IN (SELECT contact_id FROM scope_ids)"
            )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE scope_refunds AS SELECT * FROM refunds WHERE workspace_id = {ws} "  # noqa: S608
            "AND order_pk IN (SELECT order_pk FROM scope_orders)"
        )
    finally:
        con.unregister("scope_ids")
    return {table: copy for table, (copy, _) in SCOPED.items()}


def drop_scope(con: duckdb.DuckDBPyConnection, tables: dict[str, str]) -> None:
    for copy in tables.values():
        con.execute(f"DROP TABLE IF EXISTS {copy}")
