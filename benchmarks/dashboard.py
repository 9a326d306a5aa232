"""The board's API (``GET /api/v1/board``) on a large demo workspace, cold and warm, against the bare DuckDB
queries behind it.

The workspace is what ``siyu demo --contacts N`` builds (the demo generator into the embedded default,
then the example segments and a full analytics refresh), in a temporary folder under /tmp, removed
afterwards unless ``--keep DIR`` is given: then the folder is kept, and a later run with the same
``--keep DIR`` reuses it (building 1M contacts takes minutes).

The API is served in this process by uvicorn on loopback, as ``siyu serve`` serves it (one HTTP process,
no worker), and called with an API token that has ``analytics:read`` only, over one keep-alive connection.
The range is the board's default: the 30 days up to yesterday (workspace dates), given as ``start`` and
``end``. Measured, after one request that is not counted:

* cold: the metric cache (``siyu.metrics.cache.CACHE``) emptied before each request, nothing else
  changed. Goal: p95 <= 3 s;
* warm: the same request again (every figure from the cache). Goal: p95 <= 300 ms.

Baseline: the SQL of every metric query the board runs (captured from ``siyu.metrics.service`` during the
uncounted request), run as plain strings in sequence on a cursor of the same store (``Lake.read()``),
one sequence after each cold request. The slowest queries are printed as ``dashboard_queries`` lines.
With five samples the p95 is the slowest sample (``"samples"`` says how many there were).

Also printed, to show where the time goes: ``one_cold_request`` (one more cold request, split into the
queries' compilation, rendering and execution, the shaping of their rows, the number of ``Lake.read()``
and the rest: HTTP, auth, session, opening the store, cache copies); ``one_warm_request`` (its store
reads and queries run, none expected); ``store_open_close_ms`` (one ``Lake.read()`` with nothing else
holding the store: the file is opened, its schema version checked, and closed again); and for each of the
slowest queries its bare times and its times inside the app.

Run: .venv/bin/python benchmarks/dashboard.py [--contacts 1000000] [--cold 5] [--warm 50] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, free_port, report

COLD_GOAL_MS = 3000.0
WARM_GOAL_MS = 300.0
MARKER = "dashboard-built.json"


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile (with fewer than 20 samples: the largest)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# --- the workspace ------------------------------------------------------------------------------------------


def build(folder: Path, contacts: int, seed: int) -> dict[str, Any]:
    """``siyu demo --contacts N`` into ``folder`` (a fresh interpreter, as an operator would run it)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update(SIYU_DATA_DIR=str(folder), SIYU_LOG_LEVEL="WARNING")
    command = [sys.executable, "-m", "siyu.cli.entry", "demo", "--contacts", str(contacts), "--seed", str(seed)]
    print(f"building: SIYU_DATA_DIR={folder} {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    out = subprocess.run(command, env=env, cwd=REPO, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - started
    text = out.stdout + out.stderr
    print(text.strip(), file=sys.stderr, flush=True)
    if out.returncode != 0:
        raise SystemExit(f"building the workspace failed (exit status {out.returncode}); its output is above")
    generated = re.search(r"generated in ([\d.]+) s", text)
    refreshed = re.search(r"refreshed in ([\d.]+) s", text)
    rows = re.search(r"with ([\d,]+) events and ([\d,]+) orders", text)
    built = {
        "contacts": contacts,
        "seed": seed,
        "build_wall_s": round(wall, 1),
        "generate_s": float(generated.group(1)) if generated else None,
        "refresh_s": float(refreshed.group(1)) if refreshed else None,
        "events": int(rows.group(1).replace(",", "")) if rows else None,
        "orders": int(rows.group(2).replace(",", "")) if rows else None,
    }
    (folder / MARKER).write_text(json.dumps(built))
    return built


@contextmanager
def workspace_folder(keep: Path | None, contacts: int, seed: int) -> Iterator[tuple[Path, dict[str, Any]]]:
    if keep is not None:
        marker = keep / MARKER
        if marker.exists():
            built = json.loads(marker.read_text())
            if built.get("contacts") != contacts or built.get("seed") != seed:
                raise SystemExit(
                    f"{keep} holds {built.get('contacts'):,} contacts (seed {built.get('seed')}); "
                    "pass the same --contacts/--seed, or another --keep folder"
                )
            print(f"reusing {keep} ({contacts:,} contacts)", file=sys.stderr, flush=True)
            from siyu import migrations
            from siyu.config import load_settings

            migrations.upgrade(load_settings(data_dir=keep).sqlalchemy_url)  # built before the newest migrations
            built["reused"] = True
            yield keep, built
        else:
            yield keep, build(keep, contacts, seed)
        return
    folder = Path(tempfile.mkdtemp(prefix="siyu-bench-dashboard-", dir="/tmp"))
    try:
        yield folder, build(folder, contacts, seed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def api_token(settings: Any) -> tuple[str, int, str]:
    """A new token on the demo workspace with ``analytics:read`` only; its secret, workspace and timezone."""
    from sqlalchemy import select

    from siyu.auth.permissions import Permission
    from siyu.kit.db import make_engine, make_sessionmaker, transaction
    from siyu.models import Workspace
    from siyu.workspace import service
    from siyu.workspace.schemas import TokenCreate

    engine = make_engine(settings.sqlalchemy_url)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        ws = session.scalar(select(Workspace).where(Workspace.slug == "demo"))
        assert ws is not None, "no demo workspace"
        ws_id, zone = ws.id, ws.timezone
    with transaction(factory, workspace_id=ws_id) as session:
        _, secret = service.create_token(
            session,
            None,
            TokenCreate(name="bench-dashboard", scopes=[Permission.analytics_read]),
            workspace_id=ws_id,
            actor_label="bench",
        )
    engine.dispose()
    return secret, ws_id, zone


# --- the server ---------------------------------------------------------------------------------------------


@contextmanager
def serving(settings: Any) -> Iterator[tuple[str, Any]]:
    """The app as ``siyu serve`` runs it in one process (no worker), by uvicorn on loopback in a thread of
    this process, so that the benchmark can empty the metric cache between requests. Yields the base URL
    and the app."""
    import uvicorn

    from siyu.app import create_app, tune_runtime
    from siyu.kit.logging import configure_logging

    configure_logging("WARNING", settings.log_format.value)
    app = create_app(settings, start_worker=False)
    tune_runtime()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(30)


# --- capturing the board's queries --------------------------------------------------------------------------


@dataclass
class Captured:
    kind: str
    query: dict[str, Any]
    sql: str
    compile_ms: float = 0.0  # the query object to a sqlglot tree (``compile_metric``)
    render_ms: float = 0.0  # the tree to DuckDB SQL text
    execute_ms: float = 0.0  # DuckDB's execute and fetch, as the app runs it
    run_ms: float = 0.0  # ``run_metric`` as a whole: compile, render, execute, shape the rows
    bare_ms: list[float] = field(default_factory=list)


@dataclass
class Capture:
    queries: list[Captured] = field(default_factory=list)
    store_reads: int = 0  # ``Lake.read()`` entered


@contextmanager
def capturing() -> Iterator[Capture]:
    """Record each metric query that ``siyu.metrics.service`` computes (cache misses; it calls
    ``run_metric`` with a callable that runs a sqlglot tree on the store) and each ``Lake.read()``, while
    active. The wrapping costs one more rendering of each query, left out of its times."""
    import siyu.metrics.service as metrics
    from siyu.lake.store import Lake

    capture = Capture()
    original_run_metric, original_read = metrics.run_metric, Lake.read

    def run_metric(rows: Callable[[Any], Any], query: Any, *args: Any) -> dict[str, Any]:
        called = time.perf_counter()
        entry = Captured(str(query.kind), query.model_dump(mode="json"), "")

        def recording(tree: Any) -> Any:
            compiled = time.perf_counter()
            entry.sql = tree.sql(dialect="duckdb")
            rendered = time.perf_counter()
            result = rows(tree)  # renders again, then executes
            done = time.perf_counter()
            entry.compile_ms = (compiled - called) * 1e3
            entry.render_ms = (rendered - compiled) * 1e3
            entry.execute_ms = max(0.0, done - rendered - (rendered - compiled)) * 1e3
            return result

        out = original_run_metric(recording, query, *args)
        entry.run_ms = (time.perf_counter() - called) * 1e3 - entry.render_ms
        capture.queries.append(entry)
        return out

    def read(self: Any) -> Any:
        capture.store_reads += 1
        return original_read(self)

    metrics.run_metric = run_metric  # type: ignore[assignment]
    Lake.read = read  # type: ignore[method-assign]
    try:
        yield capture
    finally:
        metrics.run_metric = original_run_metric  # type: ignore[assignment]
        Lake.read = original_read  # type: ignore[method-assign]


def bare(lake: Any, queries: list[Captured]) -> tuple[float, float]:
    """Every captured SQL string in sequence on one cursor of the store: the queries' total in ms, and the
    whole with the store's opening and closing."""
    total = 0.0
    opened = time.perf_counter()
    with lake.read() as con:
        for entry in queries:
            started = time.perf_counter()
            con.execute(entry.sql).fetchall()
            ms = (time.perf_counter() - started) * 1e3
            entry.bare_ms.append(ms)
            total += ms
    return total, (time.perf_counter() - opened) * 1e3


def store_round_trip(lake: Any, times: int) -> float:
    """Median ms of one ``Lake.read()`` with nothing else using the store (it opens the file, checks the
    schema version, and closes the file again) and the generation look-up: what each store read of a
    request costs before any query."""
    from siyu.lake.store import generation

    samples = []
    for _ in range(times):
        started = time.perf_counter()
        with lake.read() as con:
            generation(con)
        samples.append((time.perf_counter() - started) * 1e3)
    return sorted(samples)[len(samples) // 2]


# --- main ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cold", type=int, default=5, help="cold samples (metric cache emptied before each)")
    parser.add_argument("--warm", type=int, default=50, help="warm samples")
    parser.add_argument("--days", type=int, default=30, help="the range: this many days up to yesterday")
    parser.add_argument("--keep", type=Path, help="build into (or reuse) this folder and keep it")
    parser.add_argument("--slowest", type=int, default=5, help="slowest queries to print")
    args = parser.parse_args()

    import httpx

    from siyu.config import load_settings
    from siyu.filters.context import local_now
    from siyu.metrics.cache import CACHE

    with workspace_folder(args.keep, args.contacts, args.seed) as (folder, built):
        settings = load_settings(data_dir=folder, log_level="WARNING")
        secret, _, zone = api_token(settings)
        end = local_now(zone).date() - timedelta(days=1)
        start = end - timedelta(days=args.days - 1)
        url = f"/api/v1/board?start={start.isoformat()}&end={end.isoformat()}"
        with (
            serving(settings) as (base, app),
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=300) as client,
        ):
            lake = app.state.lake

            def get() -> float:
                started = time.perf_counter()
                response = client.get(url)
                ms = (time.perf_counter() - started) * 1e3
                response.raise_for_status()
                assert len(response.json()["kpis"]) == 15, response.text[:500]
                return ms

            CACHE.clear()
            with capturing() as first:
                first_ms = get()  # opens the store, imports, first compilations: not counted
            queries = first.queries
            assert queries, "the board ran no metric query"
            bare(lake, queries)  # the same first time for the bare sequence, not counted
            for entry in queries:
                entry.bare_ms.clear()

            cold: list[float] = []
            bare_totals: list[float] = []
            bare_walls: list[float] = []
            for _ in range(args.cold):  # interleaved, so that both see the same state of the machine
                CACHE.clear()
                cold.append(get())
                total, wall = bare(lake, queries)
                bare_totals.append(total)
                bare_walls.append(wall)
            hits_before = CACHE.hits
            warm = [get() for _ in range(args.warm)]
            warm_hits = CACHE.hits - hits_before

            # Where the time goes: one more warm and one more cold request, not counted above.
            with capturing() as warm_split:
                warm_split_ms = get()
            CACHE.clear()
            with capturing() as split:
                split_ms = get()
            round_trip = store_round_trip(lake, 20)

    cold_p95, warm_p95, bare_p95 = p95(cold), p95(warm), p95(bare_totals)
    baseline = f"bare DuckDB: the board's {len(queries)} metric SQL strings in sequence on one cursor"
    cold_split = {
        "request_ms": round(split_ms, 1),
        "compile_ms": round(sum(e.compile_ms for e in split.queries), 1),
        "render_ms": round(sum(e.render_ms for e in split.queries), 1),
        "execute_ms": round(sum(e.execute_ms for e in split.queries), 1),
        "shape_ms": round(sum(e.run_ms - e.compile_ms - e.render_ms - e.execute_ms for e in split.queries), 1),
        "store_reads": split.store_reads,
    }
    cold_split["rest_ms"] = round(  # HTTP, auth, the session, store opening, cache copies, the response
        split_ms - sum(e.run_ms for e in split.queries), 1
    )
    common = {
        "contacts": args.contacts,
        "range": f"{start.isoformat()}..{end.isoformat()}",
        "queries": len(queries),
        "bare_p95_ms": round(bare_p95, 1),
        "bare_median_ms": round(median(bare_totals), 1),
        "store_open_close_ms": round(round_trip, 1),
    }
    report(
        "dashboard_cold",
        cold_p95,
        "ms",
        f"<= {COLD_GOAL_MS:.0f}",
        baseline + f" (p95 of {len(bare_totals)} runs, one after each cold request)",
        cold_p95 / bare_p95,
        cold_p95 <= COLD_GOAL_MS,
        samples=len(cold),
        p95_rule="max of the samples" if len(cold) < 20 else "nearest rank",
        cold_ms=[round(s, 1) for s in cold],
        bare_ms=[round(s, 1) for s in bare_totals],
        bare_with_open_ms=[round(s, 1) for s in bare_walls],
        first_request_ms=round(first_ms, 1),
        one_cold_request=cold_split,
        **common,
        **{k: v for k, v in built.items() if k != "contacts"},
    )
    report(
        "dashboard_warm",
        warm_p95,
        "ms",
        f"<= {WARM_GOAL_MS:.0f}",
        baseline + f" (p95 of {len(bare_totals)} runs)",
        warm_p95 / bare_p95,
        warm_p95 <= WARM_GOAL_MS,
        samples=len(warm),
        p95_rule="max of the samples" if len(warm) < 20 else "nearest rank",
        median_ms=round(median(warm), 1),
        max_ms=round(max(warm), 1),
        cache_hits_per_request=round(warm_hits / max(1, len(warm)), 1),
        one_warm_request={
            "request_ms": round(warm_split_ms, 1),
            "store_reads": warm_split.store_reads,
            "queries_run": len(warm_split.queries),
        },
        **common,
    )
    in_split = {(e.kind, json.dumps(e.query, sort_keys=True)): e for e in split.queries}
    ranked = sorted(queries, key=lambda e: -median(e.bare_ms))
    for rank, entry in enumerate(ranked[: args.slowest], start=1):
        seen = in_split.get((entry.kind, json.dumps(entry.query, sort_keys=True)))
        params = {k: v for k, v in entry.query.items() if v is not None and k != "kind"}
        report(
            "dashboard_queries",
            median(entry.bare_ms),
            "ms",
            f"report (slowest {rank} of {len(queries)}, median of the bare runs)",
            "the bare total (median of the runs)",
            median(entry.bare_ms) / max(1e-9, median(bare_totals)),
            True,
            rank=rank,
            kind=entry.kind,
            query=params,
            bare_ms=[round(s, 1) for s in entry.bare_ms],
            in_app=None
            if seen is None
            else {
                "run_ms": round(seen.run_ms, 1),
                "compile_ms": round(seen.compile_ms, 1),
                "render_ms": round(seen.render_ms, 1),
                "execute_ms": round(seen.execute_ms, 1),
            },
            sql_chars=len(entry.sql),
        )


def median(samples: list[float]) -> float:
    return float(statistics.median(samples))


if __name__ == "__main__":
    main()
