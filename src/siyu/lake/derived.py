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

``message_sends``: one row per ``message_sent`` event, with its content id, type and channel read out of
the properties, and the first ``message_opened`` / ``link_clicked`` of the same content and the first
``message_received`` at or after it. The board's open, click and answer rates read it instead of joining
millions of sends with their reactions on every query; an open "within 7 days" is then the first open
at or after the send being within 7 days. The sync rebuilds the rows of contacts with new message events.

``group_moves``: the ``group_joined`` / ``group_left`` events with their group id and name read out of the
properties; who is in a group at a date is the last move of each contact and group up to then, which
would otherwise scan every event. Rebuilt for contacts with new group moves.

Rows written into the store by other means than the sync (tests, benchmarks) need :func:`rebuild`.
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb
import pyarrow as pa

RELATION_EVENTS = ("contact_added", "contact_deleted")
MESSAGE_EVENTS = ("message_sent", "message_opened", "link_clicked", "message_received")
GROUP_MOVES = ("group_joined", "group_left")
_RELATION_NAMES = ", ".join(f"'{name}'" for name in RELATION_EVENTS)

# derived table → the SELECT that makes its rows from the raw copies ({contacts}: only those in "derived_contacts")
_DERIVED = {
    "order_days": "SELECT workspace_id, contact_id, paid_day, count(*), sum(amount_fen) FROM orders "
    "WHERE workspace_id = ? {contacts} GROUP BY workspace_id, contact_id, paid_day",
    "relation_events": f"SELECT * FROM events WHERE workspace_id = ? AND name IN ({_RELATION_NAMES}) {{contacts}}",  # noqa: S608
    "message_sends": """
        WITH s AS (
            SELECT workspace_id, contact_id, event_pk, occurred_at, occurred_day,
                   json_extract_string(properties, '$.content_id') AS content_id,
                   json_extract_string(properties, '$.content_type') AS content_type,
                   json_extract_string(properties, '$.channel') AS channel
            FROM events WHERE workspace_id = ? AND name = 'message_sent' {contacts} {days}
        ), r AS (
            SELECT contact_id, name, occurred_at, json_extract_string(properties, '$.content_id') AS content_id
            FROM events WHERE workspace_id = ? AND name IN ('message_opened', 'link_clicked') {contacts} {after}
        ), a AS (
            SELECT contact_id, occurred_at FROM events
            WHERE workspace_id = ? AND name = 'message_received' {contacts} {after}
        ), o AS (
            SELECT s.event_pk, MIN(CASE WHEN r.name = 'message_opened' THEN r.occurred_at END) AS opened_at,
                   MIN(CASE WHEN r.name = 'link_clicked' THEN r.occurred_at END) AS clicked_at
            FROM s JOIN r ON r.contact_id = s.contact_id AND r.content_id = s.content_id
                         AND r.occurred_at >= s.occurred_at
            GROUP BY s.event_pk
        ), q AS (
            SELECT s.event_pk, MIN(a.occurred_at) AS answered_at
            FROM s JOIN a ON a.contact_id = s.contact_id AND a.occurred_at >= s.occurred_at GROUP BY s.event_pk
        )
        SELECT s.workspace_id, s.contact_id, s.event_pk, s.occurred_at, s.occurred_day, s.content_id,
               s.content_type, s.channel, o.opened_at, o.clicked_at, q.answered_at
        FROM s LEFT JOIN o ON o.event_pk = s.event_pk LEFT JOIN q ON q.event_pk = s.event_pk
        ORDER BY s.occurred_day""",
    "group_moves": """
        SELECT workspace_id, contact_id, event_pk, name, json_extract_string(properties, '$.group_id'),
               json_extract_string(properties, '$.group_name'), occurred_at, occurred_day
        FROM events WHERE workspace_id = ? AND name IN ('group_joined', 'group_left') {contacts}
        ORDER BY occurred_day""",
}


DERIVED = tuple(_DERIVED)


# A whole workspace's message_sends is made a slice of days at a time: the 6.1M sends of the 1M-contact
# demo with their reactions and answers do not fit the store's default 2 GB in one statement (out of
# memory), in slices of 30 days (≈ 2M sends each) they are made in 6 s. A slice is at most SEND_SLICE_DAYS
# days and about SENDS_PER_SLICE sends (at least one day). Slices written in day order keep the table in
# day order, as one statement would.
SEND_SLICE_DAYS = 30
SENDS_PER_SLICE = 2_000_000


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
        for days, after in _slices(con, table, ws, whole=contact_ids is None):
            select = _DERIVED[table].format(contacts=scope, days=days, after=after)
            con.execute(f"INSERT INTO {table} {select}", [ws] * select.count("?"))
    finally:
        if contact_ids is not None:
            con.unregister("derived_contacts")


def _slices(con: duckdb.DuckDBPyConnection, table: str, ws: int, *, whole: bool) -> list[tuple[str, str]]:
    """The day slices a rebuild runs in, as (condition on the sends, condition on what follows them): one
    slice without conditions but for a whole workspace's ``message_sends``."""
    if table != "message_sends" or not whole:
        return [("", "")]
    found = con.execute(
        "SELECT min(occurred_day), max(occurred_day), count(*) FROM events "
        "WHERE workspace_id = ? AND name = 'message_sent'",
        [ws],
    ).fetchone()
    if not found or found[0] is None:
        return [("", "")]
    first, last, sends = int(found[0]), int(found[1]), int(found[2])
    step = max(1, min(SEND_SLICE_DAYS, (last - first + 1) * SENDS_PER_SLICE // max(1, sends)))
    return [
        (f"AND occurred_day >= {lo} AND occurred_day < {lo + step}", f"AND occurred_day >= {lo}")
        for lo in range(first, last + 1, step)
    ]


def rebuild_order_days(con: duckdb.DuckDBPyConnection, workspace_id: int, contact_ids: Collection[int] | None) -> None:
    """Recompute ``order_days`` of ``contact_ids`` (``None``: of the whole workspace) from ``orders``,
    inside the caller's transaction."""
    _rebuild(con, "order_days", int(workspace_id), contact_ids)


def rebuild_message_sends(
    con: duckdb.DuckDBPyConnection, workspace_id: int, contact_ids: Collection[int] | None
) -> None:
    """Recompute ``message_sends`` of ``contact_ids`` (``None``: of the whole workspace) from ``events``."""
    _rebuild(con, "message_sends", int(workspace_id), contact_ids)


def rebuild_group_moves(con: duckdb.DuckDBPyConnection, workspace_id: int, contact_ids: Collection[int] | None) -> None:
    """Recompute ``group_moves`` of ``contact_ids`` (``None``: of the whole workspace) from ``events``."""
    _rebuild(con, "group_moves", int(workspace_id), contact_ids)


def rebuild(con: duckdb.DuckDBPyConnection, workspace_id: int, contact_ids: Collection[int] | None = None) -> None:
    """Every derived table of ``contact_ids`` (``None``: of the whole workspace)."""
    for table in _DERIVED:
        _rebuild(con, table, int(workspace_id), contact_ids)
