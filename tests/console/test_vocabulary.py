"""The console's words for the filter tree and the tiers keep up with the backend: every cell, tier,
stage, comparison and field has a label, every node type can be put in words, and every reason the tier
explanation gives is recognised (so that it is shown translated, not in English)."""

from __future__ import annotations

from typing import Any

from siyu.console import tier_reasons
from siyu.console import vocabulary as v
from siyu.console.i18n import translations
from siyu.filters.definition import (
    LIFECYCLE_STAGES,
    RFM_CELLS,
    TIERS,
    AttributeField,
    ClvMeasure,
    Cmp,
    OrderMeasure,
    SalesChannel,
    TierModel,
    parse,
    walk,
)
from siyu.tiers.explain import explain_scores
from siyu.tiers.settings import TierSettings


class ChinesePage:
    """Just enough of a console page to translate (``Page.gettext``) in zh_CN."""

    def gettext(self, message: str, **params: object) -> str:
        text = translations("zh_CN").gettext(message)
        return text % params if params else text


def test_every_code_has_a_label() -> None:
    assert tuple(v.RFM_CELL_LABELS) == RFM_CELLS
    assert {m.value for m in TierModel} == set(v.TIER_LABELS) == set(v.TIER_MODEL_LABELS)
    assert all(tuple(v.TIER_LABELS[m.value]) == TIERS[m] for m in TierModel)
    assert tuple(v.LIFECYCLE_LABELS) == LIFECYCLE_STAGES
    assert {c.value for c in Cmp} == set(v.CMP_LABELS)
    assert {f.value for f in AttributeField} == set(v.ATTRIBUTE_LABELS)
    assert {m.value for m in OrderMeasure} == set(v.ORDER_MEASURE_LABELS)
    assert {m.value for m in ClvMeasure} == set(v.CLV_MEASURE_LABELS)
    assert {c.value for c in SalesChannel} == set(v.SALES_CHANNEL_LABELS)
    assert set(v.KIND_CMPS) >= {"string", "enum", "list", "number", "bool", "date", "time"}


def test_every_node_type_is_put_in_words() -> None:
    root: dict[str, Any] = {
        "op": "or",
        "children": [
            {"op": "attribute", "field": "birthday", "cmp": "within_days", "value": 7},
            {"op": "attribute", "field": "gender", "cmp": "in", "value": ["female", "unknown"]},
            {"op": "property", "key": "skin_type", "cmp": "is_set"},
            {"op": "tag", "tag_id": 3, "has": False},
            {
                "op": "event",
                "name": "link_clicked",
                "min_count": 2,
                "max_count": 5,
                "within_days": 7,
                "where": [{"key": "page", "cmp": "contains", "value": "/p"}],
            },
            {
                "op": "orders",
                "measure": "net_amount_fen",
                "cmp": "between",
                "value": [10_000, 50_000],
                "sales_channels": ["taobao"],
            },
            {"op": "segment", "segment_id": 9},
            {"op": "not", "child": {"op": "rfm", "cells": ["重要价值"], "r": [5]}},
            {"op": "tier", "model": "value", "tiers": ["high_net"]},
            {"op": "lifecycle", "stages": ["dormant", "churned"]},
            {"op": "clv", "measure": "p_alive", "cmp": "lt", "value": 0.3},
        ],
    }
    catalogue = v.Catalogue(tags=[{"id": 3, "name": "口红", "group": "兴趣"}], segments=[{"id": 9, "name": "高消费"}])
    page = ChinesePage()
    words = [v.describe(page, node, catalogue) for _, node, _ in walk(parse({"version": 1, "root": root}).root)]  # type: ignore[arg-type]
    assert words[0] == "满足 11 个条件中的任一个"
    assert "生日 未来 7 天内" in words
    assert "没有标签 兴趣 / 口红" in words
    assert "属于分群 高消费" in words
    assert "净消费金额（扣除退款） 介于 ¥100.00 和 ¥500.00 之间 · 淘宝" in words
    assert "价值分层：高净值" in words
    assert "RFM：重要价值; R 5" in words


def _row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "r_score": 4, "f_score": 2, "m_score": 5, "rfm_cell": "重要发展", "recency_days": 3, "orders_in_window": 2,
        "net_fen_in_window": 120_000, "orders_30d": 1, "total_net_fen": 120_000, "active_days_30d": 3,
        "threshold_tier": "inactive", "days_since_touch": 3, "days_since_joined": 40, "relation_deleted": True,
        "lifecycle_stage": "active", "value_tier": "potential", "spend_365d_fen": 120_000, "spend_recent_fen": 100_000,
        "spend_before_fen": 20_000, "activity_tier": "silent", "active_days_7d": 0, "days_since_active": 12,
        "clv_purchases": 1.234, "clv_value_fen": 45_600, "clv_p_alive": 0.875,
    }  # fmt: skip
    row.update(overrides)
    return row


def test_every_tier_reason_is_translated() -> None:
    page = ChinesePage()
    rows = [_row(), _row(r_score=None, clv_purchases=None, relation_deleted=False, days_since_touch=None)]
    for row in rows:
        for model, entry in explain_scores(row, TierSettings()).items():
            for reason in entry["reasons"]:
                translated = tier_reasons.tier_reason(page, reason)  # type: ignore[arg-type]
                assert translated != reason, f"{model}: not recognised: {reason}"
                assert "None" not in translated
