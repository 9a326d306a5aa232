"""The analytics store beyond DuckDB: Parquet files (what DuckDB, Spark and ClickHouse all read) and a
runner that executes the compiled queries on Spark. A brand that outgrows one machine exports its
workspace (``siyu analytics export``) and runs the same segment, tier and metric definitions on a cluster;
the test suite runs them on Spark in local mode and compares the results with DuckDB's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from siyu.lake.schema import TABLES

EXPORTED = tuple(t for t in TABLES if t not in {"sync_state", "segment_changes", "segment_state", "model_params"})


def export_parquet(con: duckdb.DuckDBPyConnection, workspace_id: int, folder: Path) -> dict[str, int]:
    """One Parquet file per table with the workspace's rows; returns the row counts."""
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for table in EXPORTED:
        target = folder / f"{table}.parquet"
        quoted = str(target).replace("'", "''")
        con.execute(
            f"COPY (SELECT * FROM {table} WHERE workspace_id = {int(workspace_id)}) TO '{quoted}' (FORMAT parquet)"  # noqa: S608
        )
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{quoted}')").fetchall()  # noqa: S608
        counts[table] = int(rows[0][0])
    return counts


class SparkRunner:
    """Runs compiled queries (sqlglot trees) on a Spark session over exported Parquet files. The session
    must use UTC (``spark.sql.session.timeZone``): the store's times have no zone."""

    def __init__(self, spark: Any, folder: Path) -> None:
        self.spark = spark
        for table in EXPORTED:
            path = folder / f"{table}.parquet"
            if path.exists():
                spark.read.parquet(str(path)).createOrReplaceTempView(table)

    def sql(self, query: exp.Expr) -> str:
        return query.sql(dialect="spark")

    def rows(self, query: exp.Expr) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.spark.sql(self.sql(query)).collect()]


def local_spark(app_name: str = "siyu") -> Any:
    """A Spark session in local mode for tests and one-machine checks (pyspark is an optional dependency)."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
