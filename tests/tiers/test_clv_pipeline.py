"""The CLV pipeline siyu runs, end to end on the CDNOW transactions inside the lifetimes wheel: orders in
the analytics store → per-buyer inputs in SQL (``clv_inputs_sql``, same-day orders are one purchase) →
BG/NBD and Gamma-Gamma fits. Reproduces Fader, Hardie & Lee (2005) and Fader & Hardie (2013) to the
published decimals. Days and fen in the store; converted to weeks and dollars to compare."""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from siyu.lake.derived import rebuild
from siyu.lake.store import Lake
from siyu.tiers import clv
from siyu.tiers.refresh import clv_inputs_sql
from siyu.tiers.scores import day_number

CALIBRATION_END = date(1997, 9, 30)  # the papers' 39-week calibration period ends here


def _cdnow_sample() -> pa.Table:
    """CDNOW_sample.txt: customer (new id 1..2357), date YYYYMMDD, CDs, dollars; one row per order line."""
    text = (importlib.resources.files("lifetimes") / "datasets" / "CDNOW_sample.txt").read_text()
    contacts, days, fen = [], [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        _, customer, stamp, _cds, dollars = line.split()
        contacts.append(int(customer))
        days.append(day_number(date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))))
        fen.append(round(float(dollars) * 100))
    n = len(contacts)
    return pa.table(
        {
            "order_pk": pa.array(range(1, n + 1), type=pa.int64()),
            "contact_id": pa.array(contacts, type=pa.int64()),
            "amount_fen": pa.array(fen, type=pa.int64()),
            "paid_day": pa.array(days, type=pa.int32()),
        }
    )


@pytest.fixture(scope="module")
def inputs() -> Iterator[dict[str, np.ndarray]]:
    lake = Lake(None)
    with lake.write() as con:
        con.register("cdnow", _cdnow_sample())
        con.execute(
            "INSERT INTO orders (workspace_id, order_pk, contact_id, amount_fen, paid_at, paid_day, sales_channel) "
            "SELECT 1, order_pk, contact_id, amount_fen, DATE '1970-01-01' + paid_day, paid_day, 'other' FROM cdnow"
        )
        con.execute(  # each customer joined on the day of their first purchase
            "INSERT INTO contacts (workspace_id, contact_id, created_at, created_day, properties) "
            "SELECT 1, contact_id, DATE '1970-01-01' + MIN(paid_day), MIN(paid_day), '{}' FROM cdnow "
            "GROUP BY contact_id"
        )
        rebuild(con, 1)
        yield con.execute(clv_inputs_sql(1, day_number(CALIBRATION_END))).fetchnumpy()


def test_summary_matches_the_papers(inputs: dict[str, np.ndarray]) -> None:
    x = inputs["x"]
    assert len(x) == 2357
    assert int(x.sum()) == 2457  # repeat transactions in the calibration period
    assert int((x > 0).sum()) == 946  # repeat buyers


def test_bgnbd_reproduces_fader_hardie_lee_2005(inputs: dict[str, np.ndarray]) -> None:
    weeks = 7.0
    compressed = clv.compress(inputs["x"], inputs["t_x"] / weeks, inputs["t"] / weeks)
    fit = clv.fit_bgnbd(compressed.x, compressed.t_x, compressed.T, compressed.weights)
    assert fit.converged
    p = fit.params
    assert (round(p.r, 3), round(p.alpha, 3), round(p.a, 3), round(p.b, 3)) == (0.243, 4.414, 0.793, 2.426)
    assert fit.log_likelihood == pytest.approx(-9582.429, abs=0.01)
    # In days (as siyu fits): only the rate parameter changes unit.
    in_days = clv.fit_bgnbd(compressed.x, compressed.t_x * weeks, compressed.T * weeks, compressed.weights)
    assert in_days.params.alpha / weeks == pytest.approx(p.alpha, rel=1e-4)
    assert in_days.params.r == pytest.approx(p.r, rel=1e-4)


def test_gamma_gamma_reproduces_fader_hardie_2013(inputs: dict[str, np.ndarray]) -> None:
    repeat = inputs["x"] > 0
    fit = clv.fit_gamma_gamma(inputs["x"][repeat], inputs["m"][repeat] / 100.0)  # fen → dollars
    assert fit.converged
    g = fit.params
    assert (round(g.p, 2), round(g.q, 2), round(g.gamma, 2)) == (6.25, 3.74, 15.44)
    assert fit.log_likelihood == pytest.approx(-4055.918, abs=0.01)
    in_fen = clv.fit_gamma_gamma(inputs["x"][repeat], inputs["m"][repeat])
    assert in_fen.params.gamma / 100 == pytest.approx(g.gamma, rel=1e-4)
    assert in_fen.params.p == pytest.approx(g.p, rel=1e-4)
