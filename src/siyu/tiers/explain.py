"""Why a contact sits where it does in each built-in model, in words, from its ``contact_scores`` row and
the workspace's settings (the figures in force are quoted, so the explanation says what to change)."""

from __future__ import annotations

from typing import Any

from siyu.tiers.scores import CELLS
from siyu.tiers.settings import TierSettings


def _yuan(fen: int | float | None) -> str:
    return "—" if fen is None else f"{fen / 100:,.2f}元"


def explain_scores(row: dict[str, Any], settings: TierSettings) -> dict[str, Any]:
    """One entry per model: the result and the reasons (each reason says what was compared)."""
    r, t, lc, v, a = settings.rfm, settings.threshold, settings.lifecycle, settings.value, settings.activity
    out: dict[str, Any] = {}

    if row.get("r_score") is None:
        out["rfm"] = {
            "result": None,
            "reasons": [f"no order in the last {r.window_days} days: RFM scores only buyers in the window"],
        }
    else:
        high = r.high_score
        marks = {k: row[f"{k}_score"] >= high for k in ("r", "f", "m")}
        out["rfm"] = {
            "result": row["rfm_cell"],
            "scores": {"r": row["r_score"], "f": row["f_score"], "m": row["m_score"]},
            "reasons": [
                f"R {row['r_score']}: last order {row['recency_days']} days ago",
                f"F {row['f_score']}: {row['orders_in_window']} orders in the last {r.window_days} days",
                f"M {row['m_score']}: {_yuan(row['net_fen_in_window'])} net in the last {r.window_days} days",
                "a score of {h} or more counts as high: R {rh}, F {fh}, M {mh} → {cell}".format(
                    h=high,
                    rh="high" if marks["r"] else "low",
                    fh="high" if marks["f"] else "low",
                    mh="high" if marks["m"] else "low",
                    cell=CELLS[(marks["r"], marks["f"], marks["m"])],
                ),
                "scores: 1 + floor(5 × buyers with a worse value / buyers); equal values share a score",
            ],
        }

    def level(name: str, need: Any) -> list[str]:
        return [
            f"{name}: {row['orders_30d']} orders in 30 days (needs {need.min_orders_30d}) "
            f"{'✓' if row['orders_30d'] >= need.min_orders_30d else '✗'}",
            f"{name}: {_yuan(row['total_net_fen'])} spent in total (needs {_yuan(need.min_total_fen)}) "
            f"{'✓' if row['total_net_fen'] >= need.min_total_fen else '✗'}",
            f"{name}: interacted on {row['active_days_30d']} of the last 30 days (needs {need.min_active_days_30d}) "
            f"{'✓' if row['active_days_30d'] >= need.min_active_days_30d else '✗'}",
        ]

    out["threshold"] = {"result": row["threshold_tier"], "reasons": level("vip", t.vip) + level("active", t.active)}

    since = row.get("days_since_touch")
    joined = row.get("days_since_joined")
    stage = row["lifecycle_stage"]
    touched = "no interaction or order yet" if since is None else f"last interaction or order {since} days ago"
    reasons = [f"{touched}; joined {joined} days ago"]
    if row.get("relation_deleted"):
        reasons.append("the contact deleted the staff member (contact_deleted after the last contact_added)")
    reasons.append(
        f"stages: churned after {lc.churned_days} days, new within {lc.new_days} days of joining, high_value from "
        f"{_yuan(lc.high_value_fen)} in 365 days, active within {lc.active_days}, silent until {lc.dormant_days}, "
        "then dormant"
    )
    out["lifecycle"] = {"result": stage, "reasons": reasons}

    out["value"] = {
        "result": row["value_tier"],
        "reasons": [
            f"{_yuan(row['spend_365d_fen'])} in the last 365 days (high_net from {_yuan(v.high_net_fen)})",
            f"{_yuan(row['spend_recent_fen'])} in the last {v.potential_days} days vs "
            f"{_yuan(row['spend_before_fen'])} in the {v.potential_days} before (potential from ×{v.potential_growth})",
        ],
    }
    out["activity"] = {
        "result": row["activity_tier"],
        "reasons": [
            f"interacted on {row['active_days_7d']} of the last {a.weekly_days} days (weekly_active from 1)",
            (
                f"no interaction in the last {max(settings.lifecycle.churned_days, a.lost_days) + 1} days"
                if row.get("days_since_active") is None
                else f"last interaction {row['days_since_active']} days ago"
            )
            + f" (lost after {a.lost_days})",
        ],
    }
    if row.get("clv_purchases") is None:
        out["clv"] = {"result": None, "reasons": ["no prediction: no purchase yet, or too little history to fit"]}
    else:
        out["clv"] = {
            "result": round(float(row["clv_value_fen"])),
            "p_alive": round(float(row["clv_p_alive"]), 4),
            "purchases": round(float(row["clv_purchases"]), 3),
            "reasons": [
                f"expected {float(row['clv_purchases']):.2f} purchases in the next {settings.clv.horizon_days} days "
                f"(BG/NBD), P(still a customer) {float(row['clv_p_alive']):.1%}",
                f"× expected value per purchase (Gamma-Gamma) = {_yuan(float(row['clv_value_fen']))}",
            ],
        }
    return out
