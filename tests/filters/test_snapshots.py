"""The SQL the compilers generate, for DuckDB and for Spark, compared with files under ``snapshots/``.
A change in generated SQL must be looked at: run with ``SIYU_UPDATE_SNAPSHOTS=1`` to rewrite the files,
then read the diff. Each snapshot also parses back (sqlglot) to the tree it came from in its own dialect,
which catches missing parentheses."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from siyu.filters.compiler import Context, compile_segment, render
from siyu.filters.definition import parse
from siyu.tiers.scores import scores_query
from siyu.tiers.settings import TierSettings

HERE = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("SIYU_UPDATE_SNAPSHOTS") == "1"
CTX = Context(
    workspace_id=3,
    as_of=datetime(2026, 6, 30, 12, 0),
    properties={"skin_type": "enum", "age": "number", "interests": "list", "vip": "bool"},
    tags={7},
    segments={11},
)

DEFINITIONS: dict[str, dict[str, Any]] = {
    "property_and_tag": {
        "op": "and",
        "children": [
            {"op": "property", "key": "skin_type", "cmp": "ne", "value": "油皮"},
            {"op": "tag", "tag_id": 7, "has": False},
        ],
    },
    "event_with_filters": {
        "op": "event",
        "name": "link_clicked",
        "min_count": 2,
        "max_count": 10,
        "within_days": 30,
        "where": [
            {"key": "page", "cmp": "starts_with", "value": "/item/"},
            {"key": "price", "cmp": "gte", "value": 99.5},
        ],
    },
    "orders_zero_passes": {
        "op": "orders",
        "measure": "net_amount_fen",
        "cmp": "lt",
        "value": 10_000,
        "within_days": 90,
    },
    "birthday_week": {"op": "attribute", "field": "birthday", "cmp": "within_days", "value": 7},
    "scores": {
        "op": "or",
        "children": [
            {"op": "rfm", "cells": ["重要价值", "重要保持"]},
            {"op": "not", "child": {"op": "lifecycle", "stages": ["churned"]}},
            {"op": "clv", "measure": "p_alive", "cmp": "between", "value": [0.2, 0.8]},
            {"op": "segment", "segment_id": 11},
        ],
    },
}


def check(name: str, sql: str) -> None:
    path = HERE / name
    if UPDATE:
        HERE.mkdir(exist_ok=True)
        path.write_text(sql + "\n", encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with SIYU_UPDATE_SNAPSHOTS=1 and review it"
    assert sql + "\n" == path.read_text(encoding="utf-8"), f"{name} changed; review and update the snapshot"


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_segment_sql(name: str, dialect: str) -> None:
    query = compile_segment(parse({"version": 1, "root": DEFINITIONS[name]}), CTX)
    sql = render(query, dialect, pretty=True)
    check(f"segment_{name}.{dialect}.sql", sql)
    assert sqlglot.parse_one(sql, read=dialect).sql(dialect) == render(query, dialect)


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_scores_sql(dialect: str) -> None:
    query = scores_query(3, datetime(2026, 6, 30, 12, 0), TierSettings())
    check(f"scores.{dialect}.sql", query.sql(dialect=dialect, pretty=True))


def test_compiling_is_pure_and_stable() -> None:
    definition = parse({"version": 1, "root": DEFINITIONS["scores"]})
    assert render(compile_segment(definition, CTX)) == render(compile_segment(definition, CTX))
