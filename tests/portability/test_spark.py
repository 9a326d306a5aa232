"""The same definitions on Spark (local mode) and DuckDB give identical results: every segment leaf of
the filter language on the hand-built store, and the tier scores and metrics on a generated workspace.
The store is exported to Parquet (``siyu.lake.portable``) and read by Spark; the queries are the ones the
compilers produce, rendered for Spark by sqlglot."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from siyu.filters.compiler import Context, compile_segment
from siyu.filters.definition import parse
from siyu.lake.derived import rebuild
from siyu.lake.portable import SparkRunner, export_parquet, local_spark
from siyu.lake.store import Lake
from siyu.tiers.refresh import compute
from siyu.tiers.scores import scores_query
from siyu.tiers.settings import TierSettings
from tests.filters.conftest import AS_OF, CATALOGUE, build
from tests.filters.test_semantics import CASES

pytestmark = pytest.mark.slow
GENERATED_WS = 7
GENERATED_AS_OF = datetime(2026, 6, 30, 12, 0)


def _java() -> bool:
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if not _java():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("CI=true but no Java runtime for Spark (install openjdk-17-jre-headless)")
        pytest.skip("no Java runtime for Spark")
    session = local_spark("siyu-tests")
    yield session
    session.stop()


def generate(con: duckdb.DuckDBPyConnection, ws: int, contacts: int = 3000) -> None:
    """A workspace of ``contacts`` with a year of orders, refunds and events, deterministic."""
    day = "CAST(date_diff('day', DATE '1970-01-01', CAST({} AS DATE)) AS INTEGER)"
    as_of = f"TIMESTAMP '{GENERATED_AS_OF:%Y-%m-%d %H:%M:%S}'"
    con.execute(
        f"""INSERT INTO contacts (workspace_id, contact_id, created_at, created_day, gender, properties)
        SELECT {ws}, i, {as_of} - INTERVAL (hash(i) % (500 * 86400)) SECOND AS created,
               {day.format(f"{as_of} - INTERVAL (hash(i) % (500 * 86400)) SECOND")},
               ['female', 'male'][1 + CAST(hash(i + 9) % 2 AS INTEGER)], '{{}}'
        FROM range(1, {contacts} + 1) AS t(i)"""
    )
    con.execute(
        f"""INSERT INTO orders
        SELECT {ws}, i, contact_id, amount, happened, {day.format("happened")}, 'miniprogram', '[]' FROM (
            SELECT i, 1 + CAST(floor({contacts} * pow((hash(i * 3) % 10007) / 10007.0, 2)) AS BIGINT) AS contact_id,
                   1000 + CAST(hash(i * 3 + 1) % 50000 AS BIGINT) AS amount,
                   {as_of} - INTERVAL (hash(i * 3 + 2) % (365 * 86400)) SECOND AS happened
            FROM range(1, 20 * {contacts} // 3 + 1) AS t(i))"""
    )
    con.execute(
        f"""INSERT INTO refunds SELECT {ws}, order_pk, order_pk, amount_fen // 3, paid_at, paid_day
        FROM orders WHERE workspace_id = {ws} AND order_pk % 17 = 0"""
    )
    names = "['page_view', 'message_opened', 'group_message', 'login', 'contact_added', 'contact_deleted']"
    con.execute(
        f"""INSERT INTO events
        SELECT {ws}, i, contact_id, name, happened, {day.format("happened")}, 'test', '{{}}' FROM (
            SELECT i, 1 + CAST(hash(i * 5) % {contacts} AS BIGINT) AS contact_id,
                   {names}[1 + CAST(hash(i * 5 + 1) % 6 AS INTEGER)] AS name,
                   {as_of} - INTERVAL (hash(i * 5 + 2) % (200 * 86400)) SECOND AS happened
            FROM range(1, 10 * {contacts} + 1) AS t(i))"""
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[duckdb.DuckDBPyConnection, Path]]:
    folder = tmp_path_factory.mktemp("parquet")
    lake = Lake(None)
    with lake.write() as con:
        build(con)
        generate(con, GENERATED_WS)
        for ws in (1, GENERATED_WS):
            rebuild(con, ws)  # the derived tables, as the sync keeps them
        compute(con, GENERATED_WS, GENERATED_AS_OF, TierSettings())
        export_parquet(con, 1, folder / "tiny")
        export_parquet(con, GENERATED_WS, folder / "generated")
        yield con, folder


def duck_rows(con: duckdb.DuckDBPyConnection, query: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in con.execute(query.sql(dialect="duckdb")).fetchall()]


@pytest.fixture(scope="module")
def tiny_spark(spark: Any, stores: tuple[duckdb.DuckDBPyConnection, Path]) -> SparkRunner:
    return SparkRunner(spark, stores[1] / "tiny")


@pytest.fixture(scope="module")
def generated_spark(spark: Any, stores: tuple[duckdb.DuckDBPyConnection, Path]) -> SparkRunner:
    return SparkRunner(spark, stores[1] / "generated")


def test_every_segment_leaf_gives_the_same_members(
    stores: tuple[duckdb.DuckDBPyConnection, Path], tiny_spark: SparkRunner
) -> None:
    con, _ = stores
    ctx = Context(workspace_id=1, as_of=AS_OF, properties=CATALOGUE, tags={7, 8}, segments={11})
    differing = []
    for name, root, expected in CASES:
        query = compile_segment(parse({"version": 1, "root": root}), ctx)
        on_duckdb = {r[0] for r in duck_rows(con, query)}
        on_spark = {r[0] for r in tiny_spark.rows(query)}
        assert on_duckdb == expected, name
        if on_spark != on_duckdb:
            differing.append((name, on_duckdb, on_spark))
    assert differing == []


def test_tier_scores_are_identical(
    stores: tuple[duckdb.DuckDBPyConnection, Path], generated_spark: SparkRunner
) -> None:
    con, _ = stores
    query = scores_query(GENERATED_WS, GENERATED_AS_OF, TierSettings())
    on_duckdb = sorted(duck_rows(con, query))
    on_spark = sorted(generated_spark.rows(query))
    assert len(on_duckdb) == 3000
    assert sum(1 for r in on_duckdb if r[21] is not None) > 1000  # many buyers have RFM cells
    assert on_spark == on_duckdb


def test_segments_over_computed_scores_agree(
    stores: tuple[duckdb.DuckDBPyConnection, Path], generated_spark: SparkRunner
) -> None:
    con, _ = stores
    ctx = Context(workspace_id=GENERATED_WS, as_of=GENERATED_AS_OF)
    for root in (
        {"op": "rfm", "cells": ["重要价值", "重要挽留"]},
        {"op": "lifecycle", "stages": ["churned", "dormant"]},
        {
            "op": "and",
            "children": [
                {"op": "tier", "model": "value", "tiers": ["potential"]},
                {"op": "orders", "measure": "net_amount_fen", "cmp": "gte", "value": 100_000, "within_days": 180},
            ],
        },
        {"op": "event", "name": "group_message", "min_count": 3, "within_days": 60},
    ):
        query = compile_segment(parse({"version": 1, "root": root}), ctx)
        assert sorted(generated_spark.rows(query)) == sorted(duck_rows(con, query)), root


METRICS: list[dict[str, Any]] = [
    {"kind": "commerce", "period": "month", "start": "2025-07-01", "end": "2026-06-30"},
    {"kind": "commerce", "period": "week", "start": "2026-04-01", "end": "2026-06-30"},
    {"kind": "commerce", "period": "day", "start": "2026-06-01", "end": "2026-06-30"},
    {"kind": "new_contacts", "start": "2026-01-01", "end": "2026-06-30"},
    {"kind": "active_rate", "period": "week", "start": "2026-03-01", "end": "2026-06-30"},
    {"kind": "retention_7d", "start": "2026-01-01", "end": "2026-06-30"},
    {"kind": "repurchase_30d", "start": "2025-07-01", "end": "2026-05-31"},
    {"kind": "cohort_retention", "period": "month", "periods": 6, "start": "2025-07-01", "end": "2026-06-30"},
    {
        "kind": "cohort_retention",
        "period": "week",
        "periods": 8,
        "basis": "activity",
        "start": "2026-01-01",
        "end": "2026-06-30",
    },
    {
        "kind": "funnel",
        "steps": ["page_view", "message_opened", "group_message"],
        "within_days": 14,
        "start": "2026-01-01",
        "end": "2026-06-30",
    },
    {"kind": "ltv_curve", "days": [0, 7, 30, 90, 180], "start": "2025-07-01", "end": "2026-03-31"},
    # the board's metrics, filtered too
    {"kind": "commerce", "period": "total", "source": "wecom", "start": "2026-04-01", "end": "2026-06-30"},
    {"kind": "retention_30d", "period": "week", "start": "2026-01-01", "end": "2026-05-31"},
    {"kind": "repurchase_30d", "period": "month", "start": "2025-07-01", "end": "2026-05-31"},
    {"kind": "follows", "start": "2026-04-01", "end": "2026-06-30"},
    {"kind": "messages", "by": "content", "start": "2026-04-01", "end": "2026-06-30"},
    {"kind": "messages", "by": "period", "period": "week", "start": "2026-04-01", "end": "2026-06-30"},
    {"kind": "groups", "start": "2026-04-01", "end": "2026-06-30"},
    {"kind": "groups", "by": "group", "start": "2026-04-01", "end": "2026-06-30"},
    {"kind": "visit_conversion", "start": "2026-04-01", "end": "2026-06-30"},
    {
        "kind": "funnel",
        "steps": ["joined", "any_interaction", "order_paid", "order_paid"],
        "within_days": 30,
        "start": "2026-01-01",
        "end": "2026-05-31",
    },
]


def test_metrics_are_identical(stores: tuple[duckdb.DuckDBPyConnection, Path], generated_spark: SparkRunner) -> None:
    from pydantic import TypeAdapter

    from siyu.metrics.queries import MetricQuery
    from siyu.metrics.runner import run_metric

    con, _ = stores
    adapter: TypeAdapter[Any] = TypeAdapter(MetricQuery)
    engagement = ("page_view", "message_opened", "group_message", "login")
    for raw in METRICS:
        query = adapter.validate_python(raw)
        on_duckdb = run_metric(lambda q: duck_rows(con, q), query, GENERATED_WS, GENERATED_AS_OF.date(), engagement)
        on_spark = run_metric(generated_spark.rows, query, GENERATED_WS, GENERATED_AS_OF.date(), engagement)
        assert on_spark == on_duckdb, raw["kind"]
        assert on_duckdb != {"kind": raw["kind"]}
