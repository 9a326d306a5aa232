"""Materialized membership of segments and auto-tags: computed in the analytics store, written back to
the operational store, made current in the store last.

A refresh of one segment runs in three steps, each its own transaction:

1. the analytics store computes the new members and keeps the difference from the current ones (who
   enters, who leaves) in ``segment_changes`` as refresh ``n + 1``;
2. the operational store gets that difference — members in and out, one ``segment_entered`` /
   ``segment_left`` event each (their ``event_id`` names segment, refresh and contact, so they are stored
   once), ``segment.refresh_no = n + 1`` and the size — in one transaction: this is the commit point;
3. the analytics store applies the changes to its ``segment_members``: ``n + 1`` is current.

Killed between 1 and 2, the operational store still says ``n``: the next refresh starts again from ``n``.
Killed between 2 and 3, the operational store says ``n + 1`` while the store's current is ``n``: the next
refresh applies the waiting changes (:func:`recover`) before doing anything else. The previous
membership therefore stays intact until the new one has fully replaced it. Only differences move, so a
refresh that changes little costs little, however large the segments.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy.orm import Session

from siyu.filters.compiler import render
from siyu.kit.bulk import insert_batches, insert_rows
from siyu.lake.store import first_row
from siyu.models import Event, SegmentMember, SegmentRefresh
from siyu.models.event import EVENT_KEY, system_events
from siyu.segment import repository


@dataclass
class Change:
    segment_id: int
    refresh_no: int
    size: int
    entered: list[int]
    left: list[int]


def lake_state(con: duckdb.DuckDBPyConnection, ws: int, segment_id: int) -> tuple[int, int | None]:
    row = first_row(
        con.execute(
            "SELECT refresh_no, next_no FROM segment_state WHERE workspace_id = ? AND segment_id = ?", [ws, segment_id]
        )
    )
    return (0, None) if row is None else (int(row[0]), None if row[1] is None else int(row[1]))


def _set_state(con: duckdb.DuckDBPyConnection, ws: int, segment_id: int, refresh_no: int, next_no: int | None) -> None:
    con.execute("DELETE FROM segment_state WHERE workspace_id = ? AND segment_id = ?", [ws, segment_id])
    con.execute("INSERT INTO segment_state VALUES (?, ?, ?, ?)", [ws, segment_id, refresh_no, next_no])


def recover(con: duckdb.DuckDBPyConnection, session: Session, ws: int, segment_id: int, truth: int) -> str | None:
    """Bring the store's current membership of a segment to the operational store's ``truth`` (its
    ``refresh_no``). Returns what was done, or None when they agreed."""
    current, waiting = lake_state(con, ws, segment_id)
    if current == truth:
        return None
    con.execute("BEGIN")
    try:
        if waiting == truth:
            promote(con, ws, segment_id, truth)
            done = "applied the changes the last refresh had written back"
        else:
            # The store lost track (restored, rebuilt): copy the operational store's membership.
            ids = repository.member_ids(session, segment_id)
            con.execute("DELETE FROM segment_members WHERE workspace_id = ? AND segment_id = ?", [ws, segment_id])
            con.register("copied", pa.table({"contact_id": pa.array(ids, type=pa.int64())}))
            con.execute("INSERT INTO segment_members SELECT ?, ?, ?, contact_id FROM copied", [ws, segment_id, truth])
            con.unregister("copied")
            con.execute("DELETE FROM segment_members_next WHERE workspace_id = ? AND segment_id = ?", [ws, segment_id])
            _set_state(con, ws, segment_id, truth, None)
            done = "copied the membership from the operational store"
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return done


def open_next_view(con: duckdb.DuckDBPyConnection) -> None:
    """``refresh_members``: every segment's membership with the changes staged so far applied, which is
    what a segment that includes another must read during a refresh."""
    con.execute(
        """CREATE OR REPLACE TEMP VIEW refresh_members AS
        SELECT m.workspace_id, m.segment_id, m.contact_id FROM segment_members AS m
        WHERE NOT EXISTS (SELECT 1 FROM segment_changes AS c WHERE c.workspace_id = m.workspace_id
            AND c.segment_id = m.segment_id AND c.contact_id = m.contact_id AND NOT c.entered)
        UNION ALL
        SELECT workspace_id, segment_id, contact_id FROM segment_changes WHERE entered"""
    )


def stage_changes(
    con: duckdb.DuckDBPyConnection,
    ws: int,
    segment_id: int,
    query: Any,
    next_no: int,
    *,
    only: Collection[int] | None = None,
    members: str = "segment_members",
    size: int | None = None,
) -> Change:
    """Step 1 (inside the caller's transaction): the changes from the current membership into
    ``segment_changes``. With ``only``, the query was compiled for those contacts alone (see
    :func:`siyu.lake.scope.scope_tables`) and everybody else keeps their place; ``members`` then may
    name a copy of their memberships (:func:`scope_members`) and ``size`` give the current size
    (:func:`sizes`), which saves reading every membership once per segment."""
    current, _ = lake_state(con, ws, segment_id)
    sql = render(query, "duckdb")
    mine = f"SELECT contact_id FROM {members} WHERE workspace_id = {ws} AND segment_id = {segment_id}"  # noqa: S608
    if only is not None:
        con.register("only_contacts", pa.table({"contact_id": pa.array(sorted(set(only)), type=pa.int64())}))
        mine += " AND contact_id IN (SELECT contact_id FROM only_contacts)"
        sql = f"SELECT contact_id FROM ({sql}) AS q WHERE q.contact_id IN (SELECT contact_id FROM only_contacts)"  # noqa: S608
    try:
        con.execute("DELETE FROM segment_changes WHERE workspace_id = ? AND segment_id = ?", [ws, segment_id])
        # One full join finds both who enters (new only) and who leaves (current only).
        con.execute(
            f"""INSERT INTO segment_changes
            SELECT {ws}, {segment_id}, {next_no}, COALESCE(n.contact_id, c.contact_id), n.contact_id IS NOT NULL
            FROM ({sql}) AS n FULL OUTER JOIN ({mine}) AS c ON c.contact_id = n.contact_id
            WHERE n.contact_id IS NULL OR c.contact_id IS NULL"""  # noqa: S608 - compiled by us
        )
        changes = con.execute(
            "SELECT contact_id, entered FROM segment_changes WHERE workspace_id = ? AND segment_id = ? "
            "ORDER BY contact_id",
            [ws, segment_id],
        ).fetchall()
        if size is None:
            row = first_row(
                con.execute(
                    "SELECT count(*) FROM segment_members WHERE workspace_id = ? AND segment_id = ?", [ws, segment_id]
                )
            )
            size = int(row[0]) if row else 0
        _set_state(con, ws, segment_id, current, next_no)
    finally:
        if only is not None:
            con.unregister("only_contacts")
    entered = [int(c) for c, flag in changes if flag]
    left = [int(c) for c, flag in changes if not flag]
    return Change(segment_id, next_no, size + len(entered) - len(left), entered, left)


def sizes(con: duckdb.DuckDBPyConnection, ws: int) -> dict[int, int]:
    """Every segment's current size in the store (one read of the memberships)."""
    rows = con.execute(
        "SELECT segment_id, count(*) FROM segment_members WHERE workspace_id = ? GROUP BY segment_id", [ws]
    ).fetchall()
    return {int(segment_id): int(n) for segment_id, n in rows}


def scope_members(con: duckdb.DuckDBPyConnection, ws: int, contact_ids: Collection[int], name: str) -> None:
    """A temporary copy ``name`` of the current memberships of ``contact_ids``, in every segment."""
    con.register("scope_member_ids", pa.table({"contact_id": pa.array(sorted(set(contact_ids)), type=pa.int64())}))
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM segment_members "  # noqa: S608 - our name
            f"WHERE workspace_id = {int(ws)} AND contact_id IN (SELECT contact_id FROM scope_member_ids)"
        )
    finally:
        con.unregister("scope_member_ids")


def unstage(con: duckdb.DuckDBPyConnection, ws: int, segment_id: int) -> None:
    """Drop a segment's staged changes (nothing changed, or another refresh wrote first)."""
    current, _ = lake_state(con, ws, segment_id)
    con.execute("DELETE FROM segment_changes WHERE workspace_id = ? AND segment_id = ?", [ws, segment_id])
    _set_state(con, ws, segment_id, current, None)


def promote(con: duckdb.DuckDBPyConnection, ws: int, segment_id: int, refresh_no: int) -> None:
    """Step 3 (inside the caller's transaction): apply the waiting changes; ``refresh_no`` is current."""
    con.execute(
        "DELETE FROM segment_members WHERE workspace_id = ? AND segment_id = ? AND contact_id IN "
        "(SELECT contact_id FROM segment_changes WHERE workspace_id = ? AND segment_id = ? AND NOT entered)",
        [ws, segment_id, ws, segment_id],
    )
    con.execute(
        "INSERT INTO segment_members SELECT workspace_id, segment_id, refresh_no, contact_id "
        "FROM segment_changes WHERE workspace_id = ? AND segment_id = ? AND refresh_no = ? AND entered",
        [ws, segment_id, refresh_no],
    )
    con.execute("DELETE FROM segment_changes WHERE workspace_id = ? AND segment_id = ?", [ws, segment_id])
    _set_state(con, ws, segment_id, refresh_no, None)


def segment_events(
    name: str, segment_id: int, segment_name: str, refresh_no: int, contact_ids: Iterable[int], ws: int, now: datetime
) -> list[dict[str, Any]]:
    verb = "entered" if name == "segment_entered" else "left"
    props = {"segment_id": segment_id, "segment": segment_name, "refresh_no": refresh_no}
    return system_events(
        ws, name, contact_ids, lambda cid: f"segment:{segment_id}:{refresh_no}:{cid}:{verb}", props, now
    )


def write_back(
    session: Session,
    ws: int,
    change: Change,
    *,
    expected_refresh_no: int,
    definition_version: int,
    segment_name: str,
    now: datetime,
    emit_events: bool = True,
) -> bool:
    """Step 2, in the caller's transaction (the commit point). False when another refresh got there first."""
    segment = repository.segment(session, change.segment_id, lock=True)
    if segment is None or segment.refresh_no != expected_refresh_no:
        return False
    live = repository.live_contact_ids(session, change.entered)  # a contact deleted since the sync is skipped
    entered = [c for c in change.entered if c in live]
    repository.remove_members(session, change.segment_id, change.left)
    if entered:
        insert_rows(
            session,
            SegmentMember,
            [
                {
                    "workspace_id": ws,
                    "segment_id": change.segment_id,
                    "contact_id": cid,
                    "since_refresh": change.refresh_no,
                    "entered_at": now,
                }
                for cid in entered
            ],
            skip_conflicts_on=["segment_id", "contact_id"],
        )
    if emit_events:
        rows = segment_events("segment_entered", change.segment_id, segment_name, change.refresh_no, entered, ws, now)
        left_live = repository.live_contact_ids(session, change.left)
        rows += segment_events(
            "segment_left",
            change.segment_id,
            segment_name,
            change.refresh_no,
            [c for c in change.left if c in left_live],
            ws,
            now,
        )
        insert_batches(session, Event, rows, skip_conflicts_on=EVENT_KEY)
    size = change.size - (len(change.entered) - len(entered))
    repository.mark_refreshed(session, change.segment_id, change.refresh_no, size, now)
    session.add(
        SegmentRefresh(
            segment_id=change.segment_id,
            refresh_no=change.refresh_no,
            definition_version=definition_version,
            size=size,
            entered=len(entered),
            left=len(change.left),
            refreshed_at=now,
        )
    )
    session.flush()
    return True
