"""The metrics library on the CDNOW data; docs/metrics.md publishes these figures (this test keeps them
true). Totals are checked against the data set's known size: 23,570 customers, 69,659 purchase lines,
$2,500,315.63 in all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from pydantic import TypeAdapter

from siyu.lake.store import Lake
from siyu.metrics.queries import MetricQuery
from siyu.metrics.runner import run_metric
from tests.metrics.cdnow import AS_OF, WS, load

QUERY: TypeAdapter[Any] = TypeAdapter(MetricQuery)
PERIOD = {"start": "1997-01-01", "end": "1998-06-30"}
Q1 = {"start": "1997-01-01", "end": "1997-03-31"}


@pytest.fixture(scope="module")
def cdnow() -> Iterator[duckdb.DuckDBPyConnection]:
    lake = Lake(None)
    with lake.write() as con:
        assert load(con) == 69_659
        yield con


def run(con: duckdb.DuckDBPyConnection, raw: dict[str, Any]) -> dict[str, Any]:
    rows = lambda q: [tuple(r) for r in con.execute(q.sql(dialect="duckdb")).fetchall()]  # noqa: E731
    return run_metric(rows, QUERY.validate_python(raw), WS, AS_OF, ("order_paid",))


def test_commerce_by_month(cdnow: duckdb.DuckDBPyConnection) -> None:
    months = run(cdnow, {"kind": "commerce", "period": "month", **PERIOD})["rows"]
    assert len(months) == 18
    assert sum(m["gmv_fen"] for m in months) == 250_031_563  # $2,500,315.63
    assert sum(m["orders"] for m in months) == 69_659
    head = [(m["period"], m["gmv_fen"], m["orders"], m["buyers"], m["contacts"]) for m in months[:3]]
    assert head == PUBLISHED["first_months"]
    assert [(m["period"], m["aov_fen"], m["arpu_fen"]) for m in months[-1:]] == PUBLISHED["last_month"]


def test_repurchase_and_cohorts(cdnow: duckdb.DuckDBPyConnection) -> None:
    repurchase = run(cdnow, {"kind": "repurchase_30d", **Q1})
    assert repurchase["cohort"] == 23_570
    assert (repurchase["repurchased"], repurchase["rate"]) == PUBLISHED["repurchase_30d"]
    cohorts = run(cdnow, {"kind": "cohort_retention", "period": "month", "periods": 6, **Q1})["rows"]
    assert [c["size"] for c in cohorts] == [7_846, 8_476, 7_248]  # first purchases in Jan, Feb, Mar 1997
    assert [c["rates"] for c in cohorts] == PUBLISHED["cohort_rates"]


def test_ltv_curve(cdnow: duckdb.DuckDBPyConnection) -> None:
    points = run(cdnow, {"kind": "ltv_curve", "days": [0, 30, 90, 180, 365, 455], **Q1})["points"]
    assert [(p["days"], p["buyers"], p["ltv_fen"]) for p in points] == PUBLISHED["ltv"]


# The figures docs/metrics.md publishes.
PUBLISHED: dict[str, Any] = {
    "first_months": [
        ("1997-01", 29_906_017, 8_928, 7_846, 7_846),
        ("1997-02", 37_959_003, 11_272, 9_633, 16_322),
        ("1997-03", 39_315_527, 11_598, 9_524, 23_570),
    ],
    "last_month": [("1998-06", 3_725.37, 322.91)],
    "repurchase_30d": (4_115, 0.174586),
    "cohort_rates": [
        [1.0, 0.147464, 0.122865, 0.103237, 0.086541, 0.093806, 0.091767],
        [1.0, 0.15479, 0.115621, 0.092378, 0.099929, 0.092732, 0.073856],
        [1.0, 0.142384, 0.103753, 0.104305, 0.092991, 0.077815, 0.077401],
    ],
    "ltv": [
        (0, 23_570, 3_328.64),
        (30, 23_570, 4_228.47),
        (90, 23_570, 5_368.05),
        (180, 23_570, 6_692.55),
        (365, 23_570, 9_085.78),
        (455, 23_570, 10_119.64),
    ],
}
