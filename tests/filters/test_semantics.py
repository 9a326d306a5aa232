"""Every leaf and combinator of the filter language against the hand-built store in conftest.py, with the
members worked out on paper. Contact 5 (merged into 1) and contact 6 (another workspace) match many
leaves by their data and must never appear."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from siyu.filters.compiler import BrokenReference, Context, DefinitionProblem, compile_segment, render
from siyu.filters.definition import parse


def members(con: duckdb.DuckDBPyConnection, ctx: Context, root: dict[str, Any]) -> set[int]:
    sql = render(compile_segment(parse({"version": 1, "root": root}), ctx), "duckdb")
    return {int(r[0]) for r in con.execute(sql).fetchall()}


P = "property"
CASES: list[tuple[str, dict[str, Any], set[int]]] = [
    ("enum eq", {"op": P, "key": "skin_type", "cmp": "eq", "value": "敏感肌"}, {1}),
    ("ne includes unset", {"op": P, "key": "skin_type", "cmp": "ne", "value": "敏感肌"}, {2, 3, 4}),
    ("in", {"op": P, "key": "skin_type", "cmp": "in", "value": ["油皮", "干皮"]}, {2}),
    ("not_in includes unset", {"op": P, "key": "skin_type", "cmp": "not_in", "value": ["油皮"]}, {1, 3, 4}),
    ("is_set", {"op": P, "key": "skin_type", "cmp": "is_set"}, {1, 2}),
    ("is_not_set", {"op": P, "key": "skin_type", "cmp": "is_not_set"}, {3, 4}),
    ("number gt", {"op": P, "key": "age", "cmp": "gt", "value": 30}, {1, 2}),
    ("number between is inclusive", {"op": P, "key": "age", "cmp": "between", "value": [25, 31]}, {1, 4}),
    ("list contains", {"op": P, "key": "interests", "cmp": "contains", "value": "skincare"}, {1, 4}),
    ("bool", {"op": P, "key": "vip", "cmp": "eq", "value": True}, {1}),
    ("date within_days", {"op": P, "key": "joined_on", "cmp": "within_days", "value": 30}, {1}),
    ("date before", {"op": P, "key": "joined_on", "cmp": "lt", "value": "2026-06-01"}, set()),
    ("attribute eq", {"op": "attribute", "field": "gender", "cmp": "eq", "value": "female"}, {1, 3}),
    ("attribute ne includes unset", {"op": "attribute", "field": "region", "cmp": "ne", "value": "上海"}, {2, 4}),
    ("attribute in", {"op": "attribute", "field": "gender", "cmp": "in", "value": ["male", "unknown"]}, {2, 4}),
    ("attribute is_not_set", {"op": "attribute", "field": "region", "cmp": "is_not_set"}, {4}),
    ("starts_with", {"op": "attribute", "field": "first_source", "cmp": "starts_with", "value": "d"}, {1}),
    ("contains text", {"op": "attribute", "field": "first_source", "cmp": "contains", "value": "o"}, {1, 3}),
    ("birthday in the next 7 days", {"op": "attribute", "field": "birthday", "cmp": "within_days", "value": 7}, {1}),
    # 30 June + 184 days is 31 December: the window crosses the month ends and reaches New Year's Eve.
    ("birthday window to 31 Dec", {"op": "attribute", "field": "birthday", "cmp": "within_days", "value": 185}, {1, 3}),
    ("joined in the last 30 days", {"op": "attribute", "field": "created_at", "cmp": "within_days", "value": 30}, {2}),
    ("joined over a year ago", {"op": "attribute", "field": "created_at", "cmp": "before_days", "value": 365}, {3}),
    ("joined before a date", {"op": "attribute", "field": "created_at", "cmp": "lt", "value": "2026-02-01"}, {1, 3}),
    ("tag", {"op": "tag", "tag_id": 7}, {1, 4}),
    ("no tag", {"op": "tag", "tag_id": 7, "has": False}, {2, 3}),
    ("event ≥ 2 in 30 days", {"op": "event", "name": "link_clicked", "min_count": 2, "within_days": 30}, {1}),
    (
        "event where page starts with /item/",
        {
            "op": "event",
            "name": "link_clicked",
            "within_days": 30,
            "where": [{"key": "page", "cmp": "starts_with", "value": "/item/"}],
        },
        {1, 2},
    ),
    (
        "event ≥ 2 where",
        {
            "op": "event",
            "name": "link_clicked",
            "min_count": 2,
            "within_days": 30,
            "where": [{"key": "page", "cmp": "starts_with", "value": "/item/"}],
        },
        {1},
    ),
    ("event ≥ 2 in 60 days", {"op": "event", "name": "link_clicked", "min_count": 2, "within_days": 60}, {1, 3}),
    (
        "event numeric property",
        {"op": "event", "name": "link_clicked", "where": [{"key": "n", "cmp": "gte", "value": 5}]},
        {2},
    ),
    ("event at most once", {"op": "event", "name": "link_clicked", "max_count": 1, "within_days": 30}, {2}),
    ("event all time", {"op": "event", "name": "message_opened"}, {1}),
    ("orders amount", {"op": "orders", "measure": "amount_fen", "cmp": "gte", "value": 50_000, "within_days": 30}, {2}),
    # Contact 1: 30,000 − 5,000 refunded + 25,000 = 50,000 net in 365 days.
    (
        "orders net",
        {"op": "orders", "measure": "net_amount_fen", "cmp": "gte", "value": 50_000, "within_days": 365},
        {1, 2},
    ),
    (
        "no orders in 365 days",
        {"op": "orders", "measure": "count", "cmp": "eq", "value": 0, "within_days": 365},
        {3, 4},
    ),
    ("never ordered", {"op": "orders", "measure": "count", "cmp": "lt", "value": 1}, {4}),
    (
        "spent under 200 yuan (zero passes)",
        {"op": "orders", "measure": "amount_fen", "cmp": "lt", "value": 20_000},
        {3, 4},
    ),
    ("average order", {"op": "orders", "measure": "average_fen", "cmp": "gte", "value": 40_000}, {2}),
    ("orders by channel", {"op": "orders", "cmp": "gt", "value": 0, "sales_channels": ["store"]}, set()),
    ("segment", {"op": "segment", "segment_id": 11}, {1, 3}),
    ("rfm cell", {"op": "rfm", "cells": ["重要价值", "重要发展"]}, {1, 2}),
    ("rfm score", {"op": "rfm", "m": [5]}, {2}),
    ("threshold tier", {"op": "tier", "model": "threshold", "tiers": ["vip"]}, {1}),
    ("activity tier", {"op": "tier", "model": "activity", "tiers": ["lost"]}, {3}),
    ("lifecycle", {"op": "lifecycle", "stages": ["new"]}, {2, 4}),
    ("clv", {"op": "clv", "measure": "value_fen", "cmp": "gte", "value": 100}, {1}),
    ("p_alive", {"op": "clv", "measure": "p_alive", "cmp": "gt", "value": 0.95}, {2}),
    (
        "and",
        {
            "op": "and",
            "children": [
                {"op": "tag", "tag_id": 7},
                {"op": "attribute", "field": "gender", "cmp": "eq", "value": "female"},
            ],
        },
        {1},
    ),
    (
        "or",
        {
            "op": "or",
            "children": [{"op": "tag", "tag_id": 8}, {"op": "attribute", "field": "region", "cmp": "is_not_set"}],
        },
        {2, 4},
    ),
    ("not", {"op": "not", "child": {"op": "tag", "tag_id": 7}}, {2, 3}),
    (
        "nested",
        {
            "op": "and",
            "children": [
                {"op": "or", "children": [{"op": "segment", "segment_id": 11}, {"op": "tag", "tag_id": 8}]},
                {"op": "not", "child": {"op": "lifecycle", "stages": ["dormant"]}},
            ],
        },
        {1, 2},
    ),
]


@pytest.mark.parametrize(("root", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_leaf_membership(
    tiny: duckdb.DuckDBPyConnection, ctx: Context, root: dict[str, Any], expected: set[int]
) -> None:
    assert members(tiny, ctx, root) == expected


def test_every_query_is_scoped_to_the_workspace(tiny: duckdb.DuckDBPyConnection, ctx: Context) -> None:
    other = Context(workspace_id=2, as_of=ctx.as_of, properties=ctx.properties, tags={7}, segments=set())
    assert members(tiny, other, {"op": "tag", "tag_id": 7}) == {6}
    assert members(tiny, other, {"op": "event", "name": "link_clicked", "min_count": 5}) == {6}
    assert members(tiny, other, {"op": "orders", "cmp": "gte", "value": 900_000}) == {6}


def test_as_of_moves_the_windows(tiny: duckdb.DuckDBPyConnection, ctx: Context) -> None:
    from datetime import timedelta

    later = Context(workspace_id=1, as_of=ctx.as_of + timedelta(days=29), properties=ctx.properties)
    leaf = {"op": "event", "name": "link_clicked", "min_count": 2, "within_days": 30}
    assert members(tiny, later, leaf) == set()  # contact 1's clicks are now 31, 34 and 49 days old…
    assert members(tiny, later, {**leaf, "within_days": 40}) == {1}  # …two of them inside 40 days


@pytest.mark.parametrize(
    ("root", "path", "error"),
    [
        ({"op": P, "key": "hair", "cmp": "eq", "value": "x"}, "definition.root.key", BrokenReference),
        ({"op": "tag", "tag_id": 99}, "definition.root.tag_id", BrokenReference),
        ({"op": "segment", "segment_id": 99}, "definition.root.segment_id", BrokenReference),
        ({"op": P, "key": "age", "cmp": "eq", "value": "old"}, "definition.root.value", DefinitionProblem),
        ({"op": P, "key": "skin_type", "cmp": "gt", "value": "a"}, "definition.root", DefinitionProblem),
        ({"op": P, "key": "joined_on", "cmp": "eq", "value": "June"}, "definition.root.value", DefinitionProblem),
        ({"op": P, "key": "age", "cmp": "within_days", "value": 3}, "definition.root", DefinitionProblem),
        (
            {"op": "attribute", "field": "birthday", "cmp": "before_days", "value": 3},
            "definition.root",
            DefinitionProblem,
        ),
        (
            {"op": "attribute", "field": "created_at", "cmp": "gt", "value": "2026-01-01T00:00+08:00"},
            "definition.root.value",
            DefinitionProblem,
        ),
        (
            {
                "op": "and",
                "children": [
                    {"op": "tag", "tag_id": 7},
                    {"op": "not", "child": {"op": P, "key": "gone", "cmp": "is_set"}},
                ],
            },
            "definition.root.children[1].child.key",
            BrokenReference,
        ),
        (
            {"op": "event", "name": "x", "where": [{"key": "n", "cmp": "gt", "value": "five"}]},
            "definition.root.where[0].value",
            DefinitionProblem,
        ),
    ],
)
def test_compile_problems_name_the_node(ctx: Context, root: dict[str, Any], path: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        compile_segment(parse({"version": 1, "root": root}), ctx)
    problem = caught.value
    assert isinstance(problem, DefinitionProblem)
    assert problem.errors[0].field == path, problem.errors
    assert problem.errors[0].reason
