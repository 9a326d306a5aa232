"""Computing the built-in tiers of a workspace in the analytics store: the rule-based scores
(:mod:`siyu.tiers.scores`), lifecycle transitions, and CLV (BG/NBD + Gamma-Gamma fitted on the
workspace's own orders, :mod:`siyu.tiers.clv`).

A full computation scores every live contact and fits the CLV models again. An incremental one
(``tables`` naming copies of a few contacts' rows, see :func:`siyu.lake.scope.scope_tables`) scores
those contacts only: their RFM scores are placed against the whole population as the store holds it
(the other contacts' values from the last computation, theirs new), and their CLV predictions use the
parameters of the last full fit.

Runs inside the caller's DuckDB transaction: the scores of a workspace change all at once or not at all.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from siyu.lake.store import first_row
from siyu.tiers import clv
from siyu.tiers.scores import CELLS, EPOCH, SCORE_COLUMNS, scores_sql
from siyu.tiers.settings import TierSettings

CLV_MODEL = "clv"  # the last fit that converged: what predictions use
CLV_START = "clv_start"  # the last attempt, converged or not: where the next fit starts


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
    tables: dict[str, str] | None = None,
) -> TierReport:
    """Replace the workspace's ``contact_scores`` as of ``as_of`` (with ``tables``: those of the contacts
    the tables hold)."""
    started = time.perf_counter()
    ws = int(workspace_id)
    incremental = tables is not None
    query = scores_sql(ws, as_of, settings, tables)
    con.execute(f"CREATE OR REPLACE TEMP TABLE base_scores AS {query}")
    if incremental:
        _place_rfm(con, ws, settings)
    outcome = _clv(con, ws, as_of, settings, tables)
    transitions = _transitions(con, ws, as_of)
    columns = ", ".join(SCORE_COLUMNS)
    if incremental:
        con.execute(
            "DELETE FROM contact_scores WHERE workspace_id = ? AND contact_id IN (SELECT contact_id FROM base_scores)",
            [ws],
        )
    else:
        con.execute("DELETE FROM contact_scores WHERE workspace_id = ?", [ws])
    # The CLV predictions joined on the way in: DuckDB updates a million rows from another table in tens
    # of seconds.
    con.execute(
        f"INSERT INTO contact_scores ({columns}, clv_purchases, clv_p_alive, clv_value_fen) "  # noqa: S608
        f"SELECT {', '.join('b.' + c for c in SCORE_COLUMNS)}, p.purchases, p.alive, p.value FROM base_scores AS b "
        "LEFT JOIN clv_predictions AS p ON p.contact_id = b.contact_id"
    )
    con.unregister("clv_predictions")
    counts = first_row(con.execute("SELECT count(*), count(r_score) FROM base_scores"))
    con.execute("DROP TABLE base_scores")
    assert counts is not None
    return TierReport(int(counts[0]), int(counts[1]), transitions, outcome, time.perf_counter() - started)


def _place_rfm(con: duckdb.DuckDBPyConnection, ws: int, settings: TierSettings) -> None:
    """R, F and M of the contacts in ``base_scores`` against everybody's values (the tie rule of
    :mod:`siyu.tiers.scores`: 1 + floor(5 × buyers with a strictly worse value / buyers))."""
    others = con.execute(
        "SELECT last_order_day, orders_in_window, net_fen_in_window FROM contact_scores "
        "WHERE workspace_id = ? AND r_score IS NOT NULL AND contact_id NOT IN (SELECT contact_id FROM base_scores)",
        [ws],
    ).fetchnumpy()
    mine = con.execute(
        "SELECT contact_id, last_order_day, orders_in_window, net_fen_in_window FROM base_scores "
        "WHERE orders_in_window > 0"
    ).fetchnumpy()
    con.execute("UPDATE base_scores SET r_score = NULL, f_score = NULL, m_score = NULL, rfm_cell = NULL")
    if not len(mine["contact_id"]):
        return
    n = len(others["last_order_day"]) + len(mine["contact_id"])
    scores: dict[str, Any] = {"contact_id": mine["contact_id"].astype(np.int64)}
    for metric, name in (("last_order_day", "r"), ("orders_in_window", "f"), ("net_fen_in_window", "m")):
        population = np.sort(np.concatenate([others[metric].astype(np.int64), mine[metric].astype(np.int64)]))
        worse = np.searchsorted(population, mine[metric].astype(np.int64), side="left")
        scores[name] = (1 + (5 * worse) // n).astype(np.int32)
    con.register("placed", pa.table(scores))
    high = int(settings.rfm.high_score)
    cases = " ".join(
        f"WHEN (p.r >= {high}) = {str(rh).upper()} AND (p.f >= {high}) = {str(fh).upper()} "
        f"AND (p.m >= {high}) = {str(mh).upper()} THEN '{cell}'"
        for (rh, fh, mh), cell in CELLS.items()
    )
    con.execute(
        f"UPDATE base_scores AS s SET r_score = p.r, f_score = p.f, m_score = p.m, rfm_cell = CASE {cases} END "  # noqa: S608
        "FROM placed AS p WHERE p.contact_id = s.contact_id"
    )
    con.unregister("placed")


def replay_stages(con: duckdb.DuckDBPyConnection, workspace_id: int, as_of: datetime, settings: TierSettings) -> int:
    """Score the workspace as it stood at ``as_of`` — only the contacts, orders and events there were by
    then — and record the lifecycle stage changes since the scores the store holds, at ``as_of``.

    A workspace whose past arrived all at once (the demo, an import of a year of orders) has no stage
    history: replaying a few past dates in order, oldest first, leaves the history that refreshes on those
    dates would have left. It replaces the workspace's ``contact_scores`` (without CLV, which the refresh
    that must follow the last replay fits again). Returns how many stage changes it recorded."""
    ws = int(workspace_id)
    con.execute(f"CREATE OR REPLACE TEMP TABLE base_scores AS {scores_sql(ws, as_of, settings)}")
    transitions = _transitions(con, ws, as_of)
    columns = ", ".join(SCORE_COLUMNS)
    con.execute("DELETE FROM contact_scores WHERE workspace_id = ?", [ws])
    con.execute(f"INSERT INTO contact_scores ({columns}) SELECT {columns} FROM base_scores")  # noqa: S608
    con.execute("DROP TABLE base_scores")
    return transitions


def _transitions(con: duckdb.DuckDBPyConnection, ws: int, as_of: datetime) -> int:
    """Record every lifecycle stage change (and each contact's first stage) in ``lifecycle_history``."""
    row = first_row(
        con.execute(
            """
            INSERT INTO lifecycle_history
            SELECT ?, n.contact_id, o.lifecycle_stage, n.lifecycle_stage, ?
            FROM base_scores AS n
            LEFT JOIN contact_scores AS o ON o.workspace_id = ? AND o.contact_id = n.contact_id
            WHERE o.lifecycle_stage IS DISTINCT FROM n.lifecycle_stage
            """,
            [ws, as_of, ws],
        )
    )
    return int(row[0]) if row else 0


def clv_inputs_sql(ws: int, as_of_day: int, tables: dict[str, str] | None = None) -> str:
    """Per buyer, in days: ``x`` repeat purchase days, ``t_x`` first to last purchase day, ``t`` first
    purchase day to the as-of day, and ``m`` the mean net value of the repeat purchase days (fen). Orders
    on the same day are one purchase (the convention of the CDNOW summaries). The columns come from the
    scores query, which computes them in the same pass as RFM."""
    as_of = datetime.combine(EPOCH + timedelta(days=as_of_day), datetime.min.time())
    scores = scores_sql(ws, as_of, TierSettings(), tables)
    return (
        f"SELECT contact_id, clv_x AS x, clv_t_x AS t_x, clv_t AS t, clv_m AS m FROM ({scores}) AS s "  # noqa: S608
        "WHERE clv_x IS NOT NULL"
    )


def _clv(
    con: duckdb.DuckDBPyConnection,
    ws: int,
    as_of: datetime,
    settings: TierSettings,
    tables: dict[str, str] | None,
) -> ClvOutcome:
    """Predictions (registered as ``clv_predictions``) for the buyers: a full computation fits BG/NBD
    (on the unique (x, t_x, T) rows with their counts) and Gamma-Gamma on every buyer and keeps the
    parameters (a fit that does not converge predicts with the last one that did); an incremental one
    reuses the kept parameters."""
    started = time.perf_counter()
    raw = con.execute(
        "SELECT contact_id, clv_x AS x, clv_t_x AS t_x, clv_t AS t, clv_m AS m FROM base_scores "
        "WHERE clv_x IS NOT NULL AND clv_t > 0"
    ).fetchnumpy()
    # DuckDB gives masked arrays where a column has NULLs (m, for buyers without a repeat purchase).
    inputs = {k: np.ma.filled(v.astype(np.float64), np.nan) if k == "m" else np.asarray(v) for k, v in raw.items()}
    outcome = ClvOutcome(False, customers=len(inputs["x"]))
    if tables is None:
        attempt = _fit(inputs, settings, outcome, _kept(con, ws, CLV_START))
        fitted = None
        if attempt is not None:
            pair, converged = attempt
            if _finite(pair):
                # Data the models cannot identify (nobody drops out, say) fail the same way at every full
                # refresh: starting from the last attempt, the next one gets there in a few steps.
                _keep(con, ws, as_of, *pair, model=CLV_START)
            if converged:
                _keep(con, ws, as_of, *pair)
                fitted = pair
        if fitted is None and attempt is not None:
            # One night's failed fit must not wipe every prediction (and empty every CLV segment):
            # the last fit that converged goes on predicting, as it does for the incremental refreshes.
            fitted = _kept(con, ws)
            if fitted is not None:
                outcome.reason += "; predictions use the last fit that converged"
    else:
        fitted = _kept(con, ws)
        if fitted is None:
            outcome.reason = "no fitted models yet: the next full refresh fits them"
    ids = inputs["contact_id"].astype(np.int64)
    purchases = alive = value = np.full(len(ids), np.nan)
    if fitted is not None and len(ids):
        bgnbd, gg = fitted
        x = inputs["x"].astype(np.float64)
        t_x = inputs["t_x"].astype(np.float64)
        age = inputs["t"].astype(np.float64)
        m = np.nan_to_num(inputs["m"].astype(np.float64), nan=0.0)
        horizon = float(settings.clv.horizon_days)
        purchases = clv.conditional_expected_purchases(bgnbd, horizon, x, t_x, age)
        alive = clv.probability_alive(bgnbd, x, t_x, age)
        # Gamma-Gamma's conditional mean; contacts without a repeat purchase get the population mean.
        conditional = (gg.p * (gg.gamma + x * m)) / (gg.p * x + gg.q - 1)
        value = purchases * np.where((x > 0) & (m > 0), conditional, gg.population_mean_value)
        outcome.fitted = True
        outcome.bgnbd = {"r": bgnbd.r, "alpha": bgnbd.alpha, "a": bgnbd.a, "b": bgnbd.b}
        outcome.gamma_gamma = {"p": gg.p, "q": gg.q, "gamma": gg.gamma}
    keep = ~np.isnan(purchases) if fitted is not None else np.zeros(len(ids), dtype=bool)
    con.register(
        "clv_predictions",
        pa.table(
            {
                "contact_id": pa.array(ids[keep], type=pa.int64()),
                "purchases": pa.array(np.asarray(purchases)[keep], type=pa.float64()),
                "alive": pa.array(np.asarray(alive)[keep], type=pa.float64()),
                "value": pa.array(np.asarray(value)[keep], type=pa.float64()),
            }
        ),
    )
    outcome.seconds = time.perf_counter() - started
    return outcome


def _fit(
    inputs: dict[str, Any],
    settings: TierSettings,
    outcome: ClvOutcome,
    previous: tuple[clv.BGNBDParams, clv.GammaGammaParams] | None,
) -> tuple[tuple[clv.BGNBDParams, clv.GammaGammaParams], bool] | None:
    """Fit both models from ``previous`` (a day's new orders move the parameters little, so the optimiser
    needs a few steps instead of dozens). Returns the parameters found and whether both fits converged
    (None: too little history to try)."""
    x = inputs["x"].astype(np.float64)
    repeat = (x > 0) & (np.nan_to_num(inputs["m"].astype(np.float64), nan=0.0) > 0)
    outcome.repeat_buyers = int(repeat.sum())
    if outcome.repeat_buyers < settings.clv.min_repeat_buyers:
        outcome.reason = (
            f"too little history: {outcome.repeat_buyers} repeat buyers, "
            f"{settings.clv.min_repeat_buyers} needed to fit the models"
        )
        return None
    compressed = clv.compress(x, inputs["t_x"].astype(np.float64), inputs["t"].astype(np.float64))
    start_bgnbd, start_gg = previous if previous is not None else (None, None)
    fit = clv.fit_bgnbd(compressed.x, compressed.t_x, compressed.T, compressed.weights, initial=start_bgnbd)
    gg = clv.fit_gamma_gamma(x[repeat], inputs["m"].astype(np.float64)[repeat], initial=start_gg)
    converged = fit.converged and gg.converged and gg.params.q > 1.0
    if not converged:
        outcome.reason = f"the fit did not converge ({fit.message}; {gg.message})"
    return (fit.params, gg.params), converged


def _finite(pair: tuple[clv.BGNBDParams, clv.GammaGammaParams]) -> bool:
    bgnbd, gg = pair
    values = (bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b, gg.p, gg.q, gg.gamma)
    return all(math.isfinite(v) and v > 0 for v in values)


def _keep(
    con: duckdb.DuckDBPyConnection,
    ws: int,
    as_of: datetime,
    bgnbd: clv.BGNBDParams,
    gg: clv.GammaGammaParams,
    *,
    model: str = CLV_MODEL,
) -> None:
    params = {"bgnbd": [bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b], "gamma_gamma": [gg.p, gg.q, gg.gamma]}
    con.execute("DELETE FROM model_params WHERE workspace_id = ? AND model = ?", [ws, model])
    con.execute("INSERT INTO model_params VALUES (?, ?, ?, ?)", [ws, model, json.dumps(params), as_of])


def _kept(
    con: duckdb.DuckDBPyConnection, ws: int, model: str = CLV_MODEL
) -> tuple[clv.BGNBDParams, clv.GammaGammaParams] | None:
    row = first_row(con.execute("SELECT params FROM model_params WHERE workspace_id = ? AND model = ?", [ws, model]))
    if row is None:
        return None
    params = json.loads(row[0])
    return clv.BGNBDParams(*params["bgnbd"]), clv.GammaGammaParams(*params["gamma_gamma"])
