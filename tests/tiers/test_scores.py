"""The rule-based tiers on a store built by hand, with every score worked out on paper: the RFM tie rule,
seed 000's threshold tiers, lifecycle stages and their history, value and activity tiers, and the
explanation that quotes the figures in force."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest

from siyu.lake.derived import rebuild
from siyu.lake.store import Lake
from siyu.tiers import clv
from siyu.tiers.explain import explain_scores
from siyu.tiers.refresh import CLV_START, compute, replay_stages
from siyu.tiers.scores import day_number
from siyu.tiers.settings import TierSettings, parse_settings

AS_OF = datetime(2026, 6, 30, 20, 0)
WS = 1


def ago(days: int) -> datetime:
    return AS_OF - timedelta(days=days)


class Store:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.pk = 0

    def contact(self, cid: int, joined_days_ago: int) -> None:
        at = ago(joined_days_ago)
        self.con.execute(
            "INSERT INTO contacts (workspace_id, contact_id, created_at, created_day, properties) "
            "VALUES (?, ?, ?, ?, '{}')",
            [WS, cid, at, day_number(at)],
        )

    def order(self, cid: int, days_ago: int, fen: int) -> int:
        self.pk += 1
        at = ago(days_ago)
        self.con.execute(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, 'miniprogram', '[]')",
            [WS, self.pk, cid, fen, at, day_number(at)],
        )
        return self.pk

    def refund(self, order_pk: int, fen: int, days_ago: int) -> None:
        at = ago(days_ago)
        self.con.execute(
            "INSERT INTO refunds VALUES (?, ?, ?, ?, ?, ?)", [WS, order_pk, order_pk, fen, at, day_number(at)]
        )

    def event(self, cid: int, name: str, days_ago: int) -> None:
        self.pk += 1
        at = ago(days_ago)
        self.con.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, 'test', ?)",
            [WS, self.pk, cid, name, at, day_number(at), json.dumps({})],
        )


def build(store: Store) -> None:
    # Ten buyers for RFM. F and M are chosen with ties so the tie rule shows.
    for cid in range(1, 11):
        store.contact(cid, joined_days_ago=400)
    orders = {  # contact: [(days ago, fen), …]
        1: [(1, 100_000)] * 6,  # 6 orders in the last 30 days, 6,000元, very recent
        2: [(3, 50_000), (40, 50_000)],
        3: [(3, 50_000), (40, 50_000)],  # ties with 2 on every measure
        4: [(10, 20_000)],
        5: [(20, 20_000)],
        6: [(60, 20_000)],
        7: [(100, 10_000)],
        8: [(200, 10_000)],
        9: [(300, 5_000)],
        10: [(364, 5_000)],
    }
    for cid, items in orders.items():
        for days, fen in items:
            store.order(cid, days, fen)
    # Contact 1 interacts on 22 of the last 30 days (VIP needs 20); contact 2 on 5 (Active needs 4).
    for day in range(22):
        store.event(1, "group_message", day)
    for day in range(5):
        store.event(2, "message_opened", day * 5)
    store.event(3, "message_opened", 2)
    # Contact 11: joined 10 days ago, nothing else → new. 12: last touch 120 days ago → dormant.
    store.contact(11, joined_days_ago=10)
    store.contact(12, joined_days_ago=300)
    store.event(12, "page_view", 120)
    # 13 deleted the staff member after adding them → churned whatever else.
    store.contact(13, joined_days_ago=50)
    store.event(13, "contact_added", 50)
    store.event(13, "contact_deleted", 5)
    store.event(13, "login", 1)
    # 14: bought 90 days before the recent period, then twice as much recently → potential.
    store.contact(14, joined_days_ago=300)
    store.order(14, 150, 10_000)
    store.order(14, 30, 25_000)
    # 15: a refund takes its only order below the high-net line.
    store.contact(15, joined_days_ago=300)
    big = store.order(15, 100, 600_000)
    store.refund(big, 200_000, 95)


@pytest.fixture(scope="module")
def scored() -> Iterator[dict[int, dict[str, Any]]]:
    lake = Lake(None)
    with lake.write() as con:
        build(Store(con))
        rebuild(con, WS)  # the derived tables, as the sync keeps them
        report = compute(con, WS, AS_OF, TierSettings())
        assert report.contacts == 15
        cursor = con.execute("SELECT * FROM contact_scores")
        names = [d[0] for d in cursor.description or []]
        yield {row[1]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def test_rfm_scores_follow_the_tie_rule(scored: dict[int, dict[str, Any]]) -> None:
    # 12 buyers in the 365-day window: 1–10, 14 and 15. Score = 1 + floor(5 × worse / 12).
    # Recency (days since the last order): 1:1, 2:3, 3:3, 4:10, 5:20, 14:30, 6:60, 7:100, 15:100, 8:200, 9:300, 10:364.
    expected_r = {10: 1, 9: 1, 8: 1, 7: 2, 15: 2, 6: 3, 14: 3, 5: 3, 4: 4, 2: 4, 3: 4, 1: 5}
    assert {c: scored[c]["r_score"] for c in expected_r} == expected_r
    # Frequency: 1 has 6 orders; 2, 3 and 14 have 2 (8 buyers have fewer: 1 + floor(40 / 12) = 4); the
    # other 8 buyers have 1 and share the lowest score.
    expected_f = {1: 5, 2: 4, 3: 4, 14: 4, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 10: 1, 15: 1}
    assert {c: scored[c]["f_score"] for c in expected_f} == expected_f
    # Monetary (net): 1: 600k, 15: 400k, 2 and 3: 100k, 14: 35k, 4/5/6: 20k, 7/8: 10k, 9/10: 5k.
    expected_m = {1: 5, 15: 5, 2: 4, 3: 4, 14: 3, 4: 2, 5: 2, 6: 2, 7: 1, 8: 1, 9: 1, 10: 1}
    assert {c: scored[c]["m_score"] for c in expected_m} == expected_m
    assert scored[2]["recency_days"] == 3
    assert scored[2]["orders_in_window"] == 2
    # Contacts without an order in the window have no RFM scores.
    assert all(scored[c]["r_score"] is None and scored[c]["rfm_cell"] is None for c in (11, 12, 13))


def test_rfm_cells(scored: dict[int, dict[str, Any]]) -> None:
    cells = {c: scored[c]["rfm_cell"] for c in (1, 2, 4, 7, 15, 14, 10)}
    assert cells == {
        1: "重要价值",  # R5 F5 M5
        2: "重要价值",  # R4 F4 M4
        4: "一般发展",  # R4 F1 M2: recent, but one small order
        7: "一般挽留",  # R2 F1 M1
        15: "重要挽留",  # R2 F1 M5: spent a lot, long ago, once
        14: "重要价值",  # R3 F4 M3: every score at the "high" line (3)
        10: "一般挽留",  # R1 F1 M1
    }


def test_threshold_tiers(scored: dict[int, dict[str, Any]]) -> None:
    assert scored[1]["threshold_tier"] == "vip"  # 6 orders in 30 days, 6,000元, 22 active days
    # 2: one order in 30 days → not Active (needs 2) even though it spent 1,000元 and interacts weekly.
    assert scored[2]["threshold_tier"] == "inactive"
    assert {scored[c]["threshold_tier"] for c in range(3, 16)} == {"inactive"}


def test_lifecycle_stages(scored: dict[int, dict[str, Any]]) -> None:
    stages = {c: scored[c]["lifecycle_stage"] for c in scored}
    assert stages[11] == "new"
    assert stages[13] == "churned"  # deleted the staff member
    assert stages[12] == "dormant"  # 120 days since the last touch
    assert stages[10] == "churned"  # 364 days since the last order: past 180
    assert stages[8] == "churned"  # 200 days
    assert stages[7] == "dormant"  # 100 days
    assert stages[6] == "silent"  # 60 days
    assert stages[1] == "high_value"  # 6,000元 in 365 days, touched today
    assert stages[4] == "active"  # 10 days
    assert stages[15] == "dormant"  # its one order was 100 days ago (a refund is not a touch)


def test_value_and_activity_tiers(scored: dict[int, dict[str, Any]]) -> None:
    assert scored[1]["value_tier"] == "high_net"
    assert scored[15]["value_tier"] == "low"  # 6,000 − 2,000 refunded = 4,000元 < 5,000元
    assert scored[15]["spend_365d_fen"] == 400_000
    assert scored[14]["value_tier"] == "potential"  # 250元 recently vs 100元 before: ≥ 1.5 ×
    assert scored[4]["value_tier"] == "potential"  # first purchase in the recent period: growing from nothing
    assert scored[7]["value_tier"] == "low"
    assert scored[1]["activity_tier"] == "weekly_active"
    assert scored[2]["activity_tier"] == "weekly_active"  # opened a message today
    assert scored[12]["activity_tier"] == "lost"  # 120 days without an interaction
    assert scored[11]["activity_tier"] == "lost"  # never interacted


def test_lifecycle_changes_are_recorded() -> None:
    lake = Lake(None)
    with lake.write() as con:
        store = Store(con)
        store.contact(1, joined_days_ago=10)
        rebuild(con, WS)
        compute(con, WS, AS_OF, TierSettings())
        compute(con, WS, AS_OF, TierSettings())  # nothing changed: nothing recorded
        compute(con, WS, AS_OF + timedelta(days=40), TierSettings())  # no longer new, never touched since
        history = con.execute("SELECT from_stage, to_stage FROM lifecycle_history ORDER BY changed_at").fetchall()
    assert history == [(None, "new"), ("new", "silent")]


def test_past_stages_replayed_in_order_leave_the_history_refreshes_would_have() -> None:
    """Contact 1 joined 100 days ago and bought 50 days ago; contact 2 joined 20 days ago. Replayed as of
    70 and 40 days ago, then a full computation today: the history of monthly refreshes, and nothing from
    after a replayed date counts in it (contact 2 does not exist yet, the order has not happened)."""
    lake = Lake(None)
    with lake.write() as con:
        store = Store(con)
        store.contact(1, joined_days_ago=100)
        store.contact(2, joined_days_ago=20)
        store.order(1, days_ago=50, fen=10_000)
        rebuild(con, WS)
        assert replay_stages(con, WS, ago(70), TierSettings()) == 1
        assert con.execute("SELECT contact_id, lifecycle_stage FROM contact_scores").fetchall() == [(1, "silent")]
        assert replay_stages(con, WS, ago(40), TierSettings()) == 1  # bought 10 days before: active
        compute(con, WS, AS_OF, TierSettings())  # 50 days since the order: silent; contact 2 is new
        history = con.execute(
            "SELECT contact_id, from_stage, to_stage, changed_at FROM lifecycle_history ORDER BY changed_at, contact_id"
        ).fetchall()
    assert history == [
        (1, None, "silent", ago(70)),  # 30 days after joining, never touched
        (1, "silent", "active", ago(40)),
        (1, "active", "silent", AS_OF),
        (2, None, "new", AS_OF),
    ]


def test_settings_change_the_tiers() -> None:
    lake = Lake(None)
    settings = parse_settings(
        {
            "threshold": {
                "vip": {"min_orders_30d": 1, "min_total_fen": 0, "min_active_days_30d": 0},
                "active": {"min_orders_30d": 1, "min_total_fen": 0, "min_active_days_30d": 0},
            }
        }
    )
    with lake.write() as con:
        store = Store(con)
        store.contact(1, joined_days_ago=100)
        store.order(1, 5, 100)
        rebuild(con, WS)
        compute(con, WS, AS_OF, settings)
        assert con.execute("SELECT threshold_tier FROM contact_scores").fetchall() == [("vip",)]


def test_bad_settings_name_the_field() -> None:
    from siyu.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        parse_settings({"lifecycle": {"active_days": 100, "dormant_days": 90}, "rfm": {"window_days": 1}})
    fields = {p.field for p in caught.value.errors}
    assert "settings.rfm.window_days" in fields
    assert "settings.lifecycle" in fields
    with pytest.raises(InvalidInput):
        parse_settings({"engagement_events": ["Bad Name"]})
    with pytest.raises(InvalidInput):
        parse_settings({"threshold": {"vip": {"min_orders_30d": 1, "min_total_fen": 0, "min_active_days_30d": 0}}})


def test_explanations_quote_the_figures(scored: dict[int, dict[str, Any]]) -> None:
    row = dict(scored[2], days_since_touch=0, days_since_joined=400, days_since_active=0)
    text = explain_scores(row, TierSettings())
    assert text["rfm"]["result"] == "重要价值"
    assert "last order 3 days ago" in text["rfm"]["reasons"][0]
    assert "1 orders in 30 days (needs 2) ✗" in text["threshold"]["reasons"][3]
    assert text["threshold"]["result"] == "inactive"
    assert "no prediction" in text["clv"]["reasons"][0]
    assert (
        explain_scores(dict(scored[11], days_since_touch=10, days_since_joined=10), TierSettings())["rfm"]["result"]
        is None
    )


def eight_repeat_buyers(con: duckdb.DuckDBPyConnection) -> None:
    """Eight contacts with three orders each: enough repeat buyers to fit with ``min_repeat_buyers: 5``."""
    store = Store(con)
    for cid in range(1, 9):
        store.contact(cid, joined_days_ago=120)
        for days_ago in (100, 60 - cid, 20 + cid):
            store.order(cid, days_ago, 10_000 + 500 * cid)
    rebuild(con, WS)


def test_a_fit_that_does_not_converge_predicts_nothing_and_the_next_one_starts_where_it_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Data the models cannot identify fail the same way at every full refresh; starting from the last
    # attempt, the optimiser gets there again in a few steps. The attempt is never used to predict.
    starts: list[clv.BGNBDParams | None] = []
    found = clv.BGNBDParams(r=0.5, alpha=4.0, a=1e-8, b=3.0)

    def not_converging(*args: Any, initial: clv.BGNBDParams | None = None, **kwargs: Any) -> clv.BGNBDFit:
        starts.append(initial)
        return clv.BGNBDFit(found, -1.0, 8, 8, converged=False, iterations=3, message="a parameter ran to its bound")

    monkeypatch.setattr(clv, "fit_bgnbd", not_converging)
    settings = parse_settings({"clv": {"min_repeat_buyers": 5}})
    lake = Lake(None)
    with lake.write() as con:
        eight_repeat_buyers(con)
        first = compute(con, WS, AS_OF, settings)
        kept = dict(con.execute("SELECT model, params FROM model_params").fetchall())
        predicted = con.execute("SELECT count(clv_purchases) FROM contact_scores").fetchall()
        second = compute(con, WS, AS_OF, settings)
    assert not first.clv.fitted
    assert not second.clv.fitted
    assert "did not converge" in first.clv.reason
    assert "bound" in first.clv.reason
    assert set(kept) == {CLV_START}  # no converged fit to predict with
    assert json.loads(kept[CLV_START])["bgnbd"] == [0.5, 4.0, 1e-8, 3.0]
    assert predicted == [(0,)]
    assert starts == [None, found]


def test_a_fit_that_does_not_converge_predicts_with_the_last_one_that_did(monkeypatch: pytest.MonkeyPatch) -> None:
    # One night's failed fit must not empty every CLV segment: the last converged fit goes on predicting.
    good = clv.BGNBDParams(r=0.5, alpha=4.0, a=0.8, b=2.5)
    bad = clv.BGNBDParams(r=0.5, alpha=4.0, a=1e-8, b=3.0)
    gg = clv.GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    outcomes = iter([(good, True), (bad, False)])

    def fit(*args: Any, initial: clv.BGNBDParams | None = None, **kwargs: Any) -> clv.BGNBDFit:
        params, converged = next(outcomes)
        return clv.BGNBDFit(params, -1.0, 8, 8, converged=converged, iterations=3, message="stopped")

    def fit_gg(*args: Any, initial: clv.GammaGammaParams | None = None, **kwargs: Any) -> clv.GammaGammaFit:
        return clv.GammaGammaFit(gg, -1.0, 8, 8, converged=True, iterations=3, message="ok")

    monkeypatch.setattr(clv, "fit_bgnbd", fit)
    monkeypatch.setattr(clv, "fit_gamma_gamma", fit_gg)
    settings = parse_settings({"clv": {"min_repeat_buyers": 5}})
    lake = Lake(None)
    with lake.write() as con:
        eight_repeat_buyers(con)
        first = compute(con, WS, AS_OF, settings)
        before = con.execute("SELECT contact_id, clv_value_fen FROM contact_scores ORDER BY contact_id").fetchall()
        second = compute(con, WS, AS_OF, settings)
        after = con.execute("SELECT contact_id, clv_value_fen FROM contact_scores ORDER BY contact_id").fetchall()
        kept = {m: json.loads(v)["bgnbd"] for m, v in con.execute("SELECT model, params FROM model_params").fetchall()}
    assert first.clv.fitted
    assert not first.clv.reason
    assert second.clv.fitted
    assert "did not converge" in second.clv.reason
    assert "last fit that converged" in second.clv.reason
    assert second.clv.bgnbd == {"r": 0.5, "alpha": 4.0, "a": 0.8, "b": 2.5}
    assert all(value is not None and value > 0 for _, value in before)
    assert after == before
    assert kept == {"clv": [0.5, 4.0, 0.8, 2.5], CLV_START: [0.5, 4.0, 1e-8, 3.0]}
