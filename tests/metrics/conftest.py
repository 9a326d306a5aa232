"""A small store built by hand for the metrics library; every figure in test_metrics.py is worked out from
the rows below (dates are local). Contact 5 was merged into 1 and must never be counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime

import duckdb
import pytest

from siyu.lake.store import Lake
from siyu.metrics.queries import day

WS = 1


def _contact(
    con: duckdb.DuckDBPyConnection, cid: int, created: date, source: str, merged_into: int | None = None
) -> None:
    con.execute(
        "INSERT INTO contacts (workspace_id, contact_id, merged_into_id, created_at, created_day, first_source, "
        "properties) VALUES (?, ?, ?, ?, ?, ?, '{}')",
        [WS, cid, merged_into, datetime.combine(created, datetime.min.time()), day(created), source],
    )


_PK = iter(range(1, 1000))


def _order(con: duckdb.DuckDBPyConnection, cid: int, at: datetime, fen: int) -> int:
    pk = next(_PK)
    con.execute(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, 'miniprogram', '[]')", [WS, pk, cid, fen, at, day(at.date())]
    )
    return pk


def _event(con: duckdb.DuckDBPyConnection, cid: int, name: str, at: datetime) -> None:
    con.execute(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, 'test', ?)",
        [WS, next(_PK), cid, name, at, day(at.date()), json.dumps({})],
    )


def build(con: duckdb.DuckDBPyConnection) -> None:
    _contact(con, 1, date(2026, 6, 1), "douyin")
    _contact(con, 2, date(2026, 6, 1), "mp")
    _contact(con, 3, date(2026, 6, 10), "douyin")
    _contact(con, 4, date(2026, 6, 28), "store")
    _contact(con, 5, date(2026, 5, 15), "mp", merged_into=1)
    _order(con, 1, datetime(2026, 6, 2, 9, 10), 10_000)
    _order(con, 1, datetime(2026, 6, 20, 12), 20_000)
    refunded = _order(con, 2, datetime(2026, 6, 5, 12), 30_000)
    con.execute(
        "INSERT INTO refunds VALUES (?, ?, ?, ?, ?, ?)",
        [WS, 900, refunded, 10_000, datetime(2026, 6, 7), day(date(2026, 6, 7))],
    )
    _order(con, 3, datetime(2026, 6, 11, 12), 5_000)
    _order(con, 2, datetime(2026, 7, 5, 12), 8_000)
    _event(con, 1, "message_opened", datetime(2026, 6, 3, 8))
    _event(con, 2, "message_opened", datetime(2026, 6, 15, 8))
    _event(con, 3, "message_opened", datetime(2026, 6, 11, 20))
    _event(con, 4, "message_opened", datetime(2026, 6, 29, 8))
    _event(con, 5, "message_opened", datetime(2026, 6, 29, 8))  # merged: not counted
    _event(con, 1, "page_view", datetime(2026, 6, 2, 9))
    _event(con, 1, "add_cart", datetime(2026, 6, 2, 9, 5))
    _event(con, 1, "order_paid", datetime(2026, 6, 2, 9, 10))
    _event(con, 2, "page_view", datetime(2026, 6, 4, 9))
    _event(con, 2, "add_cart", datetime(2026, 6, 20, 9))  # 16 days after its page view: outside a 7-day funnel
    _event(con, 3, "add_cart", datetime(2026, 6, 11, 9))  # never viewed a page: not in the funnel


@pytest.fixture(scope="module")
def store() -> Iterator[duckdb.DuckDBPyConnection]:
    lake = Lake(None)
    with lake.write() as con:
        build(con)
        yield con
