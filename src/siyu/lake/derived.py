"""Tables the analytics store derives from its raw copies, kept current by the sync so that a refresh does
not recompute them from millions of rows each time.

``order_days``: one row per contact and purchase day, with the number of orders and their gross amount.
The tiers read it instead of the orders (the orders of a day are one purchase for CLV, and everything per
contact sums these rows); refunds are applied at read time, because which refunds count depends on the
day the scores are computed as of. The sync rebuilds the rows of the contacts whose orders changed (new
orders, a merge or unmerge, a deleted contact); a whole copy rebuilds the workspace's.

``relation_events``: the events that start or end a contact's relation with the brand (``contact_added``,
``contact_deleted``), the same columns as ``events``. The lifecycle reads the last of each per contact
over all time, which would otherwise scan every event; the sync copies them with the new events and
rebuilds them for merged and unmerged contacts.

Rows written into the store by other means than the sync (tests, benchmarks) need :func:`rebuild`.
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb
import pyarrow as pa

RELATION_EVENTS = ("contact_added", "contact_deleted")
_RELATION_NAMES = ", ".join(f"'{name}'" for name in RELATION_EVENTS)

# derived table → the SELECT that makes its rows from the raw copies ({contacts}: only those in "derived_contacts")
_DERIVED = {
    "order_days": "SELECT workspace_id, contact_id, paid_day, count(*), sum(amount_fen) FROM orders "
    "WHERE workspace_id = ? {contacts} GROUP BY workspace_id, contact_id, paid_day",
    "relation_events": f"SELECT * FROM events WHERE workspace_id = ? AND name IN ({_RELATION_NAMES}) {{contacts}}",  # noqa: S608
}


DERIVED = tuple(_DERIVED)


def _rebuild(con: duckdb.DuckDBPyConnection, table: str, ws: int, contact_ids: Collection[int] | None) -> None:
    if contact_ids is not None and not contact_ids:
        return
    scope = ""
    if contact_ids is not None:
        ids = pa.table({"contact_id": pa.array(sorted(set(contact_ids)), type=pa.int64())})
        con.register("derived_contacts", ids)
        scope = "AND contact_id IN (SELECT contact_id FROM derived_contacts)"
    try:
        con.execute(f"DELETE FROM {table} WHERE workspace_id = ? {scope}", [ws])  # noqa: S608 - our names
        con.execute(f"INSERT INTO {table} {_DERIVED[table].format(contacts=scope)}", [ws])
    finally:
        if contact_ids is not None:
            con.unregister("derived_contacts")


def rebuild_order_days(con: duckdb.DuckDBPyConnection, workspace_id: int, contact_ids: Collection[int] | None) -> None:
    """Recompute ``order_days`` of ``contact_ids`` (``None``: of the whole workspace) from ``orders``,
    inside the caller's transaction."""
    _rebuild(con, "order_days", int(workspace_id), contact_ids)


def rebuild(con: duckdb.DuckDBPyConnection, workspace_id: int, contact_ids: Collection[int] | None = None) -> None:
    """Every derived table of ``contact_ids`` (``None``: of the whole workspace)."""
    for table in _DERIVED:
        _rebuild(con, table, int(workspace_id), contact_ids)
