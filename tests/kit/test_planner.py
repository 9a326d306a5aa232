"""SQLite's planner statistics: with one workspace, ``workspace_id = ?`` selects every row, and the
planner must know it, or a delete of members by primary key searches the whole workspace index."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import refresh_planner_statistics, transaction
from siyu.models import Segment
from tests.factories import create_workspace


def plan(session: Session, sql: str, params: tuple[object, ...]) -> str:
    rows = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
    return " ".join(str(row[-1]) for row in rows)


def test_a_delete_of_members_by_primary_key_uses_the_primary_key(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as probe:
        if probe.get_bind().dialect.name != "sqlite":
            pytest.skip("PostgreSQL keeps its own statistics")
    ws = create_workspace(session_factory).id
    now = datetime(2026, 12, 1, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.000000")
    with transaction(session_factory, workspace_id=ws) as session:
        definition = {"version": 1, "root": {"op": "tag", "tag_id": 1}}
        segment = Segment(name="大客户", kind="dynamic", definition=definition, created_by="test")
        session.add(segment)
        session.flush()
        raw = session.connection().connection.driver_connection
        assert raw is not None
        raw.executemany(  # contacts and members straight from the driver: thousands in milliseconds
            "INSERT INTO contact (id, workspace_id, properties, created_at, updated_at) VALUES (?, ?, '{}', ?, ?)",
            [(cid, ws, now, now) for cid in range(1, 5001)],
        )
        raw.executemany(
            "INSERT INTO segment_member (segment_id, contact_id, since_refresh, entered_at, workspace_id) "
            "VALUES (?, ?, 1, ?, ?)",
            [(segment.id, cid, now, ws) for cid in range(1, 5001)],
        )
        segment_id = segment.id
    with transaction(session_factory, workspace_id=ws) as session:
        refresh_planner_statistics(session)
    ids = tuple(range(1, 2001))
    sql = (
        "DELETE FROM segment_member WHERE workspace_id = ? AND segment_id = ? "
        f"AND contact_id IN ({', '.join('?' * len(ids))})"
    )
    with transaction(session_factory, workspace_id=ws) as session:
        chosen = plan(session, sql, (ws, segment_id, *ids))
        stat = (
            session.connection()
            .exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_segment_member_workspace_id'")
            .scalar()
        )
    assert "ix_segment_member_workspace_id" not in chosen, chosen
    assert "segment_id=? AND contact_id=?" in chosen, chosen
    total, per_workspace = str(stat).split()
    assert per_workspace == total  # one workspace: every row shares its workspace_id
