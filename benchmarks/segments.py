"""Analytics refresh on a large workspace: 1M contacts, 10M orders, 50M events (defaults).

Measured, each in a fresh process (so peak memory is the refresh's own):
* full refresh — sync of the delta, every built-in model (RFM, threshold tiers, lifecycle, value,
  activity, CLV fit and predictions), 20 rule segments, membership write-back. Goal ≤ 10 s, ≤ 3 GiB;
* incremental refresh after 10,000 new events in the operational store. Goal ≤ 1 s;
* the RFM part (the scores query alone) against a bare DuckDB aggregate over the same orders (the floor:
  max/count/sum per contact) and against ``lifetimes.utils.summary_data_from_transaction_data``.

How the data is made: the operational store (SQLite) gets the contacts, the tags and the segment
definitions; the history of events and orders is written straight into the analytics store by DuckDB, as
a first sync would have left it (with watermarks), because generating 60M rows through the operational
store takes longer than the benchmark is worth — a first sync's own speed is measured separately
(``--sync-sample``). The data is kept under ``benchmarks/.cache/`` and reused; ``--rebuild`` makes it again.

Run: .venv/bin/python benchmarks/segments.py [--contacts 1000000 --orders 10000000 --events 50000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, report

CACHE = REPO / "benchmarks" / ".cache"
SEED = 20261201
SEGMENTS: list[tuple[str, dict[str, Any]]] = [
    ("敏感肌", {"op": "property", "key": "skin_type", "cmp": "eq", "value": "敏感肌"}),
    (
        "油干皮女性",
        {
            "op": "and",
            "children": [
                {"op": "property", "key": "skin_type", "cmp": "in", "value": ["油皮", "干皮"]},
                {"op": "attribute", "field": "gender", "cmp": "eq", "value": "female"},
            ],
        },
    ),
    ("25-35岁", {"op": "property", "key": "age", "cmp": "between", "value": [25, 35]}),
    ("彩妆兴趣", {"op": "tag", "tag_id": 1}),
    ("护肤非敏感", {"op": "and", "children": [{"op": "tag", "tag_id": 2}, {"op": "tag", "tag_id": 3, "has": False}]}),
    ("近30天点击2次", {"op": "event", "name": "link_clicked", "min_count": 2, "within_days": 30}),
    (
        "近7天浏览商品5次",
        {
            "op": "event",
            "name": "page_view",
            "min_count": 5,
            "within_days": 7,
            "where": [{"key": "page", "cmp": "starts_with", "value": "/item/"}],
        },
    ),
    ("90天打开消息", {"op": "event", "name": "message_opened", "within_days": 90}),
    ("近30天消费500元", {"op": "orders", "measure": "amount_fen", "cmp": "gte", "value": 50_000, "within_days": 30}),
    ("年购3次", {"op": "orders", "measure": "count", "cmp": "gte", "value": 3, "within_days": 365}),
    (
        "半年净额不足100元",
        {"op": "orders", "measure": "net_amount_fen", "cmp": "lt", "value": 10_000, "within_days": 180},
    ),
    ("重要价值", {"op": "rfm", "cells": ["重要价值"]}),
    ("待挽留", {"op": "rfm", "cells": ["重要挽留", "一般挽留"]}),
    ("VIP", {"op": "tier", "model": "threshold", "tiers": ["vip"]}),
    ("沉默沉睡", {"op": "lifecycle", "stages": ["silent", "dormant"]}),
    ("高净值", {"op": "tier", "model": "value", "tiers": ["high_net"]}),
    ("周活跃", {"op": "tier", "model": "activity", "tiers": ["weekly_active"]}),
    ("预测价值200元", {"op": "clv", "measure": "value_fen", "cmp": "gte", "value": 20_000}),
    (
        "敏感肌高消费",
        {"op": "and", "children": [{"op": "segment", "segment_id": 1}, {"op": "segment", "segment_id": 9}]},
    ),
    (
        "群活跃或生日或新客",
        {
            "op": "or",
            "children": [
                {"op": "event", "name": "group_message", "min_count": 3, "within_days": 30},
                {"op": "attribute", "field": "birthday", "cmp": "within_days", "value": 7},
                {"op": "attribute", "field": "created_at", "cmp": "within_days", "value": 30},
            ],
        },
    ),
]


def settings_for(folder: Path) -> Any:
    from siyu.config import load_settings

    return load_settings(data_dir=folder, lake_memory_limit="2GB")


def build(folder: Path, contacts: int, orders: int, events: int) -> None:
    """The operational store with contacts, tags and segments; the analytics store with the history."""
    import numpy as np

    from siyu import migrations
    from siyu.auth.context import AuthContext
    from siyu.auth.permissions import Permission
    from siyu.kit.db import make_engine, make_sessionmaker, transaction
    from siyu.lake.store import lake_for
    from siyu.lake.sync import sync_workspace
    from siyu.models import PropertyDefinition, Tag, TagGroup
    from siyu.segment import service
    from siyu.segment.schemas import SegmentIn
    from siyu.workspace import service as workspaces
    from siyu.workspace.schemas import WorkspaceCreate

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    settings = settings_for(folder)
    migrations.upgrade(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    factory = make_sessionmaker(engine)
    started = time.perf_counter()
    with transaction(factory) as session:
        ws = workspaces.create_workspace(session, WorkspaceCreate(slug="bench", name="澜肌"), actor_label="bench").id
    with transaction(factory, workspace_id=ws) as session:
        session.add_all(
            [
                PropertyDefinition(
                    key="skin_type", type="enum", label="肤质", options=["敏感肌", "油皮", "干皮", "混合"]
                ),
                PropertyDefinition(key="age", type="number", label="年龄"),
            ]
        )
        group = TagGroup(name="兴趣")
        session.add(group)
        session.flush()
        session.add_all([Tag(group_id=group.id, name=n) for n in ("彩妆", "护肤", "敏感肌护理")])

    rng = np.random.default_rng(SEED)
    now = datetime.now(UTC).replace(microsecond=0)
    created = now - timedelta(days=730) + timedelta(seconds=1) * rng.integers(0, 730 * 86400, contacts)
    skins = np.array(["敏感肌", "油皮", "干皮", "混合"])[rng.integers(0, 4, contacts)]
    ages = rng.integers(18, 60, contacts)
    genders = np.array(["female", "female", "female", "male", "unknown"])[rng.integers(0, 5, contacts)]
    birthdays = [
        f"{1966 + int(y)}-{int(m):02d}-{int(d):02d}"
        for y, m, d in zip(
            rng.integers(0, 40, contacts), rng.integers(1, 13, contacts), rng.integers(1, 29, contacts), strict=True
        )
    ]
    db = sqlite3.connect(folder / "siyu.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    stamps = [t.strftime("%Y-%m-%d %H:%M:%S.000000") for t in created.tolist()]
    rows = (
        (
            i + 1,
            ws,
            genders[i],
            birthdays[i],
            json.dumps({"skin_type": str(skins[i]), "age": int(ages[i])}, ensure_ascii=False),
            stamps[i],
            stamps[i],
        )
        for i in range(contacts)
    )
    db.executemany(
        "INSERT INTO contact (id, workspace_id, gender, birthday, properties, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    tagged = rng.random((contacts, 3)) < np.array([0.3, 0.4, 0.1])
    db.executemany(
        "INSERT INTO contact_tag (tag_id, contact_id, workspace_id, source, created_at) VALUES (?, ?, ?, 'import', ?)",
        ((int(t) + 1, int(i) + 1, ws, stamps[int(i)]) for i, t in zip(*np.nonzero(tagged), strict=True)),
    )
    # Placeholders that carry the ids on: the history up to them lives in the analytics store already.
    db.execute(
        "INSERT INTO event (id, workspace_id, contact_id, event_id, name, occurred_at, received_at, source, "
        "properties) "
        "VALUES (?, ?, 1, 'history-end', 'page_view', ?, ?, 'bench', '{}')",
        (events, ws, stamps[0], stamps[0]),
    )
    db.execute(
        "INSERT INTO sales_order (id, workspace_id, contact_id, order_id, amount_fen, refunded_fen, currency, paid_at, "
        "sales_channel, items, created_at) VALUES (?, ?, 1, 'history-end', 100, 0, 'CNY', ?, 'store', '[]', ?)",
        (orders, ws, stamps[0], stamps[0]),
    )
    db.commit()
    db.close()
    print(f"operational store: {contacts:,} contacts in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    started = time.perf_counter()
    lake = lake_for(settings)
    stats = sync_workspace(factory, lake, ws)  # the contacts, their properties and tags, as any first sync
    print(f"first sync of the contacts: {stats.seconds:.1f} s {stats.copied}", file=sys.stderr)
    with lake.write() as con:
        _history(con, ws, contacts, orders, events, now)
    print(
        f"analytics store: {events:,} events, {orders:,} orders in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )

    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="bench")
    with transaction(factory, workspace_id=ws) as session:
        for name, root in SEGMENTS:
            service.create_segment(session, ctx, SegmentIn(name=name, definition={"version": 1, "root": root}))
    engine.dispose()
    # The first refresh materializes every segment (millions of memberships written back, one
    # segment_entered event each); the second copies those events into the analytics store. Neither is
    # measured: the measured refreshes are the steady state that follows.
    for label in ("first refresh (materializes the segments)", "second refresh (copies their events)"):
        started = time.perf_counter()
        _run(folder, "full")
        print(f"{label}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    (folder / "built").write_text(json.dumps({"contacts": contacts, "orders": orders, "events": events}))


def _history(con: Any, ws: int, contacts: int, orders: int, events: int, now: datetime) -> None:
    """Events and orders as DuckDB generates them: deterministic (hashes of the row number), skewed towards
    low contact ids, over the last 365 days, in the workspace's local time (Asia/Shanghai), stored in time
    order as a first sync leaves them (``siyu.lake.sync.cluster``). The ids run up to the placeholders the
    first sync copied, so its watermarks stand."""
    from zoneinfo import ZoneInfo

    from siyu.lake.derived import rebuild_order_days

    local_now = now.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    names = [
        "page_view",
        "message_opened",
        "link_clicked",
        "group_message",
        "login",
        "checkin",
        "coupon_issued",
        "points_earned",
        "message_received",
        "survey_answered",
    ]
    name_list = "[" + ", ".join(f"'{n}'" for n in names) + "]"
    day = "CAST(date_diff('day', DATE '1970-01-01', CAST({} AS DATE)) AS INTEGER)"
    con.execute("BEGIN")
    con.execute("DELETE FROM events WHERE workspace_id = ?", [ws])
    con.execute("DELETE FROM orders WHERE workspace_id = ?", [ws])
    con.execute(
        f"""
        INSERT INTO events
        SELECT {ws}, i, contact_id, name, happened, {day.format("happened")}, 'bench', properties FROM (
            SELECT i,
                1 + CAST(floor({contacts} * pow((hash(i * 7 + 1) % 1000003) / 1000003.0, 2)) AS BIGINT) AS contact_id,
                {name_list}[1 + CAST(hash(i * 7 + 2) % 10 AS INTEGER)] AS name,
                TIMESTAMP '{local_now:%Y-%m-%d %H:%M:%S}'
                    - INTERVAL (hash(i * 7 + 3) % (365 * 86400)) SECOND AS happened,
                '{{"page":"/item/' || CAST(hash(i * 7 + 4) % 500 AS VARCHAR) || '"}}' AS properties
            FROM range(1, {events} + 1) AS t(i)
        ) ORDER BY happened
        """
    )
    con.execute(
        f"""
        INSERT INTO orders
        SELECT {ws}, i, contact_id, amount_fen, happened, {day.format("happened")}, channel, '[]' FROM (
            SELECT i,
                1 + CAST(floor({contacts} * pow((hash(i * 5 + 1) % 1000003) / 1000003.0, 1.6)) AS BIGINT) AS contact_id,
                1000 + CAST(hash(i * 5 + 2) % 60000 AS BIGINT) AS amount_fen,
                TIMESTAMP '{local_now:%Y-%m-%d %H:%M:%S}'
                    - INTERVAL (hash(i * 5 + 3) % (365 * 86400)) SECOND AS happened,
                ['miniprogram', 'taobao', 'douyin', 'store'][1 + CAST(hash(i * 5 + 4) % 4 AS INTEGER)] AS channel
            FROM range(1, {orders} + 1) AS t(i)
        ) ORDER BY happened
        """
    )
    con.execute(
        f"""INSERT INTO refunds
        SELECT {ws}, order_pk, order_pk, amount_fen // 2, paid_at + INTERVAL 2 DAY, paid_day + 2
        FROM orders WHERE workspace_id = {ws} AND order_pk % 50 = 0"""
    )
    rebuild_order_days(con, ws, None)
    con.execute("COMMIT")
    con.execute("CHECKPOINT")


def _run(folder: Path, what: str, *extra: str) -> dict[str, Any]:
    """Run one measured step in a fresh interpreter; it prints one JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    out = subprocess.run(
        [sys.executable, __file__, "--step", what, "--folder", str(folder), *extra],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def step(folder: Path, what: str) -> dict[str, Any]:
    from siyu.kit.db import make_engine, make_sessionmaker
    from siyu.lake.store import lake_for
    from siyu.segment.flows import refresh_workspace

    settings = settings_for(folder)
    engine = make_engine(settings.sqlalchemy_url)
    factory = make_sessionmaker(engine)
    lake = lake_for(settings)
    if what == "add_events":
        return _add_events(folder, 10_000)
    if what == "rfm":
        return _rfm(lake)
    if what.startswith("floor:"):
        return _writeback_floor(folder, int(what.removeprefix("floor:")))
    # The refresh runs in a long-lived worker: pyarrow's one-off import of pandas on its first conversion
    # (about a second) belongs to the process start, not to the refresh.
    import pyarrow as pa

    pa.array([0], type=pa.int64())
    started = time.perf_counter()
    result = refresh_workspace(factory, lake, 1, mode=what)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    changed = sum(s.entered + s.left for s in result.segments)
    return {
        "seconds": seconds,
        "peak_bytes": peak,
        "phases": result.phases,
        "changed": changed,
        "touched": len(result.sync.touched),
        "refreshed": None if result.refreshed is None else len(result.refreshed),
        "segments": len(result.segments),
        "clv": result.tiers.clv.fitted if result.tiers else None,
    }


def _add_events(folder: Path, n: int) -> dict[str, Any]:
    db = sqlite3.connect(folder / "siyu.db")
    (last,) = db.execute("SELECT max(id) FROM event").fetchone()
    (contacts,) = db.execute("SELECT count(*) FROM contact").fetchone()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000000")
    # Other contacts each run (the offset is the last event id): every run moves about as many memberships.
    touched = [1 + (i * 7919 + last) % contacts for i in range(n)]
    rows = [
        (1, cid, f"delta-{last}-{i}", "link_clicked", now, now, "bench", '{"page":"/item/1"}')
        for i, cid in enumerate(touched)
    ]
    db.executemany(
        "INSERT INTO event (workspace_id, contact_id, event_id, name, occurred_at, received_at, source, properties) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.commit()
    db.close()
    return {"added": n}


def _writeback_floor(folder: Path, n: int) -> dict[str, Any]:
    """The least the operational store's side of a refresh that moves ``n`` memberships can cost: ``n``
    member rows and their ``n`` events, as plain ``sqlite3`` ``executemany`` in one committed transaction
    on the connection settings the application uses (no ORM, no look-ups, no segment bookkeeping).
    The rows are deleted again afterwards (not measured)."""
    db = sqlite3.connect(folder / "siyu.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-65536"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("PRAGMA mmap_size=268435456")
    (segment_id,) = db.execute("SELECT id FROM segment ORDER BY size LIMIT 1").fetchone()
    (contacts,) = db.execute("SELECT max(id) FROM contact").fetchone()
    members = {r[0] for r in db.execute("SELECT contact_id FROM segment_member WHERE segment_id = ?", (segment_id,))}
    chosen = sorted({c for c in (1 + (i * 7919 + 17) % contacts for i in range(3 * n)) if c not in members})[:n]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    props = json.dumps({"segment_id": segment_id, "segment": "floor", "refresh_no": 0})
    started = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO segment_member (workspace_id, segment_id, contact_id, since_refresh, entered_at) "
        "VALUES (1, ?, ?, 0, ?)",
        [(segment_id, c, now) for c in chosen],
    )
    db.executemany(
        "INSERT INTO event (workspace_id, contact_id, event_id, name, occurred_at, received_at, source, properties) "
        "VALUES (1, ?, ?, 'segment_entered', ?, ?, 'segment', ?)",
        [(c, f"floor:{segment_id}:{c}", now, now, props) for c in chosen],
    )
    db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.execute("BEGIN")
    db.executemany(
        "DELETE FROM segment_member WHERE segment_id = ? AND contact_id = ?", [(segment_id, c) for c in chosen]
    )
    db.execute("DELETE FROM event WHERE workspace_id = 1 AND event_id LIKE 'floor:%'")
    db.execute("COMMIT")
    db.close()
    return {"seconds": seconds, "rows": 2 * len(chosen)}


def _rfm(lake: Any) -> dict[str, Any]:
    """The scores query vs the floor (a bare per-contact aggregate) vs lifetimes, on the same orders."""
    import warnings

    from siyu.tiers.scores import scores_query
    from siyu.tiers.settings import TierSettings

    with lake.read() as con:
        as_of = con.execute("SELECT max(paid_at) FROM orders").fetchall()[0][0]
        floor_sql = (
            "SELECT contact_id, max(paid_day), count(*), sum(amount_fen) FROM orders WHERE workspace_id = 1 "
            "GROUP BY contact_id"
        )
        timings: dict[str, list[float]] = {"floor": [], "rfm": []}
        sql = scores_query(1, as_of, TierSettings()).sql(dialect="duckdb")
        for _ in range(3):
            started = time.perf_counter()
            con.execute(f"SELECT count(*) FROM ({floor_sql})").fetchall()
            timings["floor"].append(time.perf_counter() - started)
            started = time.perf_counter()
            con.execute(f"SELECT count(*), count(r_score) FROM ({sql})").fetchall()
            timings["rfm"].append(time.perf_counter() - started)
        frame = con.execute("SELECT contact_id, paid_at, amount_fen FROM orders WHERE workspace_id = 1").df()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.utils import summary_data_from_transaction_data

        started = time.perf_counter()
        summary_data_from_transaction_data(
            frame, "contact_id", "paid_at", monetary_value_col="amount_fen", observation_period_end=as_of
        )
        lifetimes_seconds = time.perf_counter() - started
    return {
        "floor": min(timings["floor"]),
        "rfm": min(timings["rfm"]),
        "lifetimes": lifetimes_seconds,
        "orders": len(frame),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(Path(args.folder), args.step)))
        return
    folder = CACHE / f"segments-{args.contacts}-{args.orders}-{args.events}"
    if args.rebuild or not (folder / "built").exists():
        build(folder, args.contacts, args.orders, args.events)
    else:  # a data set built before the newest migrations
        from siyu import migrations

        migrations.upgrade(settings_for(folder).sqlalchemy_url)
    full = _run(folder, "full")
    gib = full["peak_bytes"] / 2**30
    report(
        "segments_full_refresh",
        full["seconds"],
        "s",
        "<= 10 s and <= 3 GiB peak",
        "goal (no same-run baseline: the phases are printed)",
        full["seconds"] / 10.0,
        full["seconds"] <= 10.0 and gib <= 3.0,
        peak_gib=round(gib, 2),
        phases=full["phases"],
        contacts=args.contacts,
        orders=args.orders,
        events=args.events,
        segments=full["segments"],
    )
    _run(folder, "add_events")
    incremental = _run(folder, "incremental")
    report(
        "segments_incremental_refresh",
        incremental["seconds"],
        "s",
        "<= 1 s after 10,000 new events",
        "the full refresh of this run",
        incremental["seconds"] / full["seconds"],
        incremental["seconds"] <= 1.0,
        touched_contacts=incremental["touched"],
        refreshed_contacts=incremental["refreshed"],
        membership_changes=incremental["changed"],
        phases=incremental["phases"],
    )
    floor = _run(folder, f"floor:{incremental['changed']}")
    report(
        "segments_writeback_floor",
        floor["seconds"],
        "s",
        "report (the operational store's share of the incremental refresh)",
        "the incremental refresh's segments phase (write-back included)",
        floor["seconds"] / incremental["phases"]["segments"],
        True,
        seconds=round(floor["seconds"], 3),
        rows=floor["rows"],
        membership_changes=incremental["changed"],
    )
    rfm = _run(folder, "rfm")
    report(
        "rfm_scores",
        rfm["rfm"],
        "s",
        "report the ratios",
        "bare DuckDB aggregate over the same orders",
        rfm["rfm"] / rfm["floor"],
        True,
        floor_s=round(rfm["floor"], 3),
        lifetimes_summary_s=round(rfm["lifetimes"], 2),
        ratio_to_lifetimes=round(rfm["rfm"] / rfm["lifetimes"], 4),
        orders=rfm["orders"],
    )


if __name__ == "__main__":
    main()
