"""Computing the built-in tiers of a workspace in the analytics store: the rule-based scores
(:mod:`siyu.tiers.scores`), lifecycle transitions, and CLV (BG/NBD + Gamma-Gamma fitted on the
workspace's own orders, :mod:`siyu.tiers.clv`).

Runs inside the caller's DuckDB transaction: the scores of a workspace change all at once or not at all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from siyu.lake.store import first_row
from siyu.tiers import clv
from siyu.tiers.scores import SCORE_COLUMNS, day_number, scores_query
from siyu.tiers.settings import TierSettings


@dataclass
class ClvOutcome:
    """What the CLV fit found (or why it did not run)."""

    fitted: bool
    reason: str = ""
    customers: int = 0
    repeat_buyers: int = 0
    bgnbd: dict[str, float] = field(default_factory=dict)
    gamma_gamma: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class TierReport:
    contacts: int
    buyers: int
    transitions: int
    clv: ClvOutcome
    seconds: float


def compute(
    con: duckdb.DuckDBPyConnection,
    workspace_id: int,
    as_of: datetime,
    settings: TierSettings,
    *,
    only: Collection[int] | None = None,
) -> TierReport:
    """Replace the workspace's ``contact_scores`` (only those of ``only`` when given) as of ``as_of``."""
    started = time.perf_counter()
    ws = int(workspace_id)
    query = scores_query(ws, as_of, settings).sql(dialect="duckdb")
    scope = ""
    if only is not None:
        con.register("dirty_contacts", pa.table({"contact_id": pa.array(sorted(set(only)), type=pa.int64())}))
        scope = " WHERE contact_id IN (SELECT contact_id FROM dirty_contacts)"
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_scores AS SELECT * FROM ({query}){scope}")  # noqa: S608
    outcome = _clv(con, ws, as_of, settings)
    transitions = _transitions(con, ws, as_of, scoped=only is not None)
    columns = ", ".join(SCORE_COLUMNS)
    if only is None:
        con.execute("DELETE FROM contact_scores WHERE workspace_id = ?", [ws])
    else:
        con.execute(
            "DELETE FROM contact_scores WHERE workspace_id = ? AND contact_id IN (SELECT contact_id FROM new_scores)",
            [ws],
        )
    con.execute(
        f"INSERT INTO contact_scores ({columns}, clv_purchases, clv_p_alive, clv_value_fen) "  # noqa: S608
        f"SELECT {columns}, clv_purchases, clv_p_alive, clv_value_fen FROM new_scores"
    )
    counts = first_row(con.execute("SELECT count(*), count(r_score) FROM new_scores"))
    con.execute("DROP TABLE new_scores")
    if only is not None:
        con.unregister("dirty_contacts")
    assert counts is not None
    return TierReport(int(counts[0]), int(counts[1]), transitions, outcome, time.perf_counter() - started)


def _transitions(con: duckdb.DuckDBPyConnection, ws: int, as_of: datetime, *, scoped: bool) -> int:
    """Record every lifecycle stage change (and each contact's first stage) in ``lifecycle_history``."""
    row = first_row(
        con.execute(
            """
        INSERT INTO lifecycle_history
        SELECT ?, n.contact_id, o.lifecycle_stage, n.lifecycle_stage, ?
        FROM new_scores AS n
        LEFT JOIN contact_scores AS o ON o.workspace_id = ? AND o.contact_id = n.contact_id
        WHERE o.lifecycle_stage IS DISTINCT FROM n.lifecycle_stage
        """,
            [ws, as_of, ws],
        )
    )
    return int(row[0]) if row else 0


def clv_inputs_sql(ws: int, as_of_day: int) -> str:
    """Per buyer, in days: ``x`` repeat purchase days, ``t_x`` first to last purchase day, ``t`` first
    purchase day to the as-of day, and ``m`` the mean net value of the repeat purchase days (fen). Orders
    on the same day are one purchase (the convention of the CDNOW summaries)."""
    return f"""
        WITH refunded AS (
            SELECT order_pk, SUM(amount_fen) AS refunded_fen FROM refunds
            WHERE workspace_id = {ws} AND refunded_day <= {as_of_day} GROUP BY order_pk
        ), daily AS (
            SELECT o.contact_id, o.paid_day, SUM(o.amount_fen - COALESCE(r.refunded_fen, 0)) AS value_fen
            FROM orders AS o LEFT JOIN refunded AS r ON r.order_pk = o.order_pk
            WHERE o.workspace_id = {ws} AND o.paid_day <= {as_of_day}
            GROUP BY o.contact_id, o.paid_day
        ), firsts AS (
            SELECT contact_id, MIN(paid_day) AS first_day FROM daily GROUP BY contact_id
        )
        SELECT d.contact_id,
            COUNT(*) - 1 AS x,
            MAX(d.paid_day) - MIN(d.paid_day) AS t_x,
            {as_of_day} - MIN(d.paid_day) AS t,
            AVG(CASE WHEN d.paid_day > f.first_day THEN d.value_fen END) AS m
        FROM daily AS d JOIN firsts AS f ON f.contact_id = d.contact_id
        GROUP BY d.contact_id
    """  # noqa: S608 - integers only


def _clv(con: duckdb.DuckDBPyConnection, ws: int, as_of: datetime, settings: TierSettings) -> ClvOutcome:
    """Fit BG/NBD and Gamma-Gamma on every buyer of the workspace and write the predictions of the
    contacts in ``new_scores``. The fit runs on the unique (x, t_x, T) rows with their counts."""
    started = time.perf_counter()
    for column in ("clv_purchases", "clv_p_alive", "clv_value_fen"):
        con.execute(f"ALTER TABLE new_scores ADD COLUMN {column} DOUBLE")
    con.execute(f"CREATE OR REPLACE TEMP TABLE clv_inputs AS {clv_inputs_sql(ws, day_number(as_of))}")
    try:
        outcome = _fit_and_predict(con, settings)
    finally:
        con.execute("DROP TABLE IF EXISTS clv_inputs")
    outcome.seconds = time.perf_counter() - started
    return outcome


def _fit_and_predict(con: duckdb.DuckDBPyConnection, settings: TierSettings) -> ClvOutcome:
    compressed = con.execute(
        "SELECT x, t_x, t, count(*) AS n FROM clv_inputs WHERE t > 0 GROUP BY x, t_x, t"
    ).fetchnumpy()
    buyers = int(compressed["n"].sum()) if len(compressed["n"]) else 0
    repeaters = con.execute("SELECT x, m FROM clv_inputs WHERE x > 0 AND t > 0 AND m > 0").fetchnumpy()
    outcome = ClvOutcome(False, customers=buyers, repeat_buyers=len(repeaters["x"]))
    if outcome.repeat_buyers < settings.clv.min_repeat_buyers:
        outcome.reason = (
            f"too little history: {outcome.repeat_buyers} repeat buyers, "
            f"{settings.clv.min_repeat_buyers} needed to fit the models"
        )
        return outcome
    x = compressed["x"].astype(np.float64)
    t_x = compressed["t_x"].astype(np.float64)
    age = compressed["t"].astype(np.float64)
    fit = clv.fit_bgnbd(x, t_x, age, compressed["n"].astype(np.int64))
    gg = clv.fit_gamma_gamma(repeaters["x"].astype(np.float64), repeaters["m"].astype(np.float64))
    if not (fit.converged and gg.converged) or gg.params.q <= 1.0:
        outcome.reason = f"the fit did not converge ({fit.message}; {gg.message})"
        return outcome
    horizon = float(settings.clv.horizon_days)
    purchases = clv.conditional_expected_purchases(fit.params, horizon, x, t_x, age)
    alive = clv.probability_alive(fit.params, x, t_x, age)
    predictions = pa.table(
        {
            "x": pa.array(compressed["x"]),
            "t_x": pa.array(compressed["t_x"]),
            "t": pa.array(compressed["t"]),
            "purchases": pa.array(purchases),
            "alive": pa.array(alive),
        }
    )
    con.register("clv_predictions", predictions)
    population = gg.params.population_mean_value
    g = gg.params
    # E[Z | x, m] = (p (γ + x m)) / (p x + q − 1): the Gamma-Gamma conditional mean, in SQL so that it
    # runs per contact without a round trip; x = 0 gets the population mean.
    expected_value = (
        f"CASE WHEN i.x > 0 AND i.m > 0 THEN ({g.p!r} * ({g.gamma!r} + i.x * i.m)) / ({g.p!r} * i.x + {g.q!r} - 1) "
        f"ELSE {population!r} END"
    )
    con.execute(
        f"""
        UPDATE new_scores AS s SET
            clv_purchases = p.purchases,
            clv_p_alive = p.alive,
            clv_value_fen = p.purchases * ({expected_value})
        FROM clv_inputs AS i JOIN clv_predictions AS p ON p.x = i.x AND p.t_x = i.t_x AND p.t = i.t
        WHERE i.contact_id = s.contact_id
        """  # noqa: S608 - model parameters are floats we computed
    )
    con.unregister("clv_predictions")
    outcome.fitted = True
    outcome.bgnbd = {"r": fit.params.r, "alpha": fit.params.alpha, "a": fit.params.a, "b": fit.params.b}
    outcome.gamma_gamma = {"p": g.p, "q": g.q, "gamma": g.gamma}
    return outcome


def finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
