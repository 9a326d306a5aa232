"""Each metric of the library against figures worked out by hand from conftest.py's rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pytest
from pydantic import TypeAdapter, ValidationError

from siyu.metrics.queries import MetricQuery
from siyu.metrics.runner import run_metric
from tests.metrics.conftest import WS

ENGAGEMENT = ("message_opened",)
QUERY: TypeAdapter[Any] = TypeAdapter(MetricQuery)


def run(con: duckdb.DuckDBPyConnection, raw: dict[str, Any], as_of: date = date(2026, 6, 30)) -> dict[str, Any]:
    query = QUERY.validate_python(raw)
    return run_metric(
        lambda q: [tuple(r) for r in con.execute(q.sql(dialect="duckdb")).fetchall()], query, WS, as_of, ENGAGEMENT
    )


JUNE = {"start": "2026-06-01", "end": "2026-06-30"}


def test_commerce(store: duckdb.DuckDBPyConnection) -> None:
    (june,) = run(store, {"kind": "commerce", "period": "month", **JUNE})["rows"]
    assert june == {
        "period": "2026-06",
        "gmv_fen": 65_000,  # 100 + 200 + 300 + 50 元
        "refunded_fen": 10_000,
        "net_fen": 55_000,
        "orders": 4,
        "buyers": 3,
        "contacts": 4,  # the pool at the end of June (the merged contact is not counted)
        "aov_fen": 16_250.0,
        "arpu_fen": 16_250.0,
        "arppu_fen": 21_666.67,
    }
    days = run(store, {"kind": "commerce", "period": "day", **JUNE})["rows"]
    assert [(d["period"], d["gmv_fen"], d["refunded_fen"]) for d in days] == [
        ("2026-06-02", 10_000, 0),
        ("2026-06-05", 30_000, 0),
        ("2026-06-07", 0, 10_000),
        ("2026-06-11", 5_000, 0),
        ("2026-06-20", 20_000, 0),
    ]
    assert [d["contacts"] for d in days] == [2, 2, 2, 3, 3]
    weeks = run(store, {"kind": "commerce", "period": "week", **JUNE})["rows"]
    assert [(w["period"], w["gmv_fen"]) for w in weeks] == [
        ("2026-06-01", 40_000),  # Monday 1 June to Sunday 7 June
        ("2026-06-08", 5_000),
        ("2026-06-15", 20_000),
    ]


def test_new_contacts_by_source(store: duckdb.DuckDBPyConnection) -> None:
    rows = run(store, {"kind": "new_contacts", **JUNE})["rows"]
    assert [(r["day"], r["key"], r["contacts"]) for r in rows] == [
        ("2026-06-01", "douyin", 1),
        ("2026-06-01", "mp", 1),
        ("2026-06-10", "douyin", 1),
        ("2026-06-28", "store", 1),
    ]


def test_active_rate(store: duckdb.DuckDBPyConnection) -> None:
    (june,) = run(store, {"kind": "active_rate", "period": "month", **JUNE})["rows"]
    assert (june["active"], june["contacts"], june["rate"]) == (4, 4, 1.0)
    weeks = run(store, {"kind": "active_rate", "period": "week", **JUNE})["rows"]
    # Week of 1 June: contact 1 (3 June) of the 2 who had joined; week of 8 June: 3 of 3; 15 June: 2;
    # 29 June: 4 (joined 28 June).
    assert [(w["period"], w["active"], w["contacts"]) for w in weeks] == [
        ("2026-06-01", 1, 2),
        ("2026-06-08", 1, 3),
        ("2026-06-15", 1, 3),
        ("2026-06-29", 1, 4),
    ]


def test_seven_day_retention(store: duckdb.DuckDBPyConnection) -> None:
    # Joined 1 June (contacts 1, 2) and 10 June (3); 28 June is too recent to have 7 days behind it.
    # Kept: 1 (opened on day 2) and 3 (day 1); 2 opened on day 14.
    assert run(store, {"kind": "retention_7d", **JUNE}) == {
        "kind": "retention_7d",
        "cohort": 3,
        "retained": 2,
        "rate": 0.666667,
    }


def test_thirty_day_repurchase(store: duckdb.DuckDBPyConnection) -> None:
    # First orders in June: 1 (2 June, again 20 June ✓), 2 (5 June, again 5 July = day 30 ✓), 3 (11 June ✗).
    out = run(store, {"kind": "repurchase_30d", **JUNE}, as_of=date(2026, 7, 31))
    assert (out["cohort"], out["repurchased"], out["rate"]) == (3, 2, 0.666667)
    # As of 30 June no first order is 30 days old yet.
    assert run(store, {"kind": "repurchase_30d", **JUNE})["cohort"] == 0


def test_monthly_cohort_retention(store: duckdb.DuckDBPyConnection) -> None:
    out = run(store, {"kind": "cohort_retention", "period": "month", "periods": 2, **JUNE}, as_of=date(2026, 7, 31))
    assert out["rows"] == [{"cohort": "2026-06", "size": 3, "counts": [3, 1, 0], "rates": [1.0, 0.333333, 0.0]}]
    activity = run(store, {"kind": "cohort_retention", "period": "month", "periods": 1, "basis": "activity", **JUNE})
    assert activity["rows"] == [{"cohort": "2026-06", "size": 4, "counts": [4, 0], "rates": [1.0, 0.0]}]


def test_funnel(store: duckdb.DuckDBPyConnection) -> None:
    out = run(store, {"kind": "funnel", "steps": ["page_view", "add_cart", "order_paid"], "within_days": 7, **JUNE})
    assert [(s["event"], s["contacts"], s["of_first"]) for s in out["steps"]] == [
        ("page_view", 2, 1.0),
        ("add_cart", 1, 0.5),
        ("order_paid", 1, 0.5),
    ]
    wider = run(store, {"kind": "funnel", "steps": ["page_view", "add_cart"], "within_days": 30, **JUNE})
    assert [s["contacts"] for s in wider["steps"]] == [2, 2]


def test_ltv_curve(store: duckdb.DuckDBPyConnection) -> None:
    out = run(store, {"kind": "ltv_curve", "days": [0, 30], **JUNE}, as_of=date(2026, 7, 31))
    # Day 0: 100 + (300 − 100 refunded) + 50 = 350元 over 3 buyers; by day 30 also 200 (contact 1) and 80 (2).
    assert out["points"] == [
        {"days": 0, "buyers": 3, "net_fen": 35_000, "ltv_fen": 11_666.67},
        {"days": 30, "buyers": 3, "net_fen": 63_000, "ltv_fen": 21_000.0},
    ]
    recent = run(store, {"kind": "ltv_curve", "days": [30], **JUNE}, as_of=date(2026, 7, 2))
    assert recent["points"] == [{"days": 30, "buyers": 1, "net_fen": 30_000, "ltv_fen": 30_000.0}]  # only contact 1


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"kind": "commerce", "start": "2026-06-30", "end": "2026-06-01"}, "end must not be before start"),
        ({"kind": "commerce", "start": "2020-01-01", "end": "2030-12-31"}, "at most"),
        ({"kind": "funnel", "steps": ["a"], **JUNE}, "at least 2"),
        ({"kind": "funnel", "steps": ["a", "Bad Name"], **JUNE}, "pattern"),
        ({"kind": "nope", **JUNE}, "kind"),
        ({"kind": "cohort_retention", "period": "day", **JUNE}, "period"),
    ],
)
def test_bad_queries_are_refused(raw: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        QUERY.validate_python(raw)
    assert where in str(caught.value)


def test_weekly_activity_cohorts(store: duckdb.DuckDBPyConnection) -> None:
    """A cohort's size is everybody who joined in its period, active in it or not (a share never tops 1)."""
    # Joined week of 1 June: contacts 1 (opened 3 June: k0) and 2 (15 June: k2); week of 8 June: 3 (11 June);
    # week of 22 June: 4 (joined Sunday 28 June, opened Monday 29 June: k1). The merged contact 5 is left out.
    out = run(store, {"kind": "cohort_retention", "period": "week", "periods": 2, "basis": "activity", **JUNE})
    assert out["rows"] == [
        {"cohort": "2026-06-01", "size": 2, "counts": [1, 0, 1], "rates": [0.5, 0.0, 0.5]},
        {"cohort": "2026-06-08", "size": 1, "counts": [1, 0, 0], "rates": [1.0, 0.0, 0.0]},
        {"cohort": "2026-06-22", "size": 1, "counts": [0, 1, 0], "rates": [0.0, 1.0, 0.0]},
    ]
    assert all(r <= 1 for row in out["rows"] for r in row["rates"])
