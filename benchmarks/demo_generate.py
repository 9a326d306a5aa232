"""Contacts per second that ``siyu demo`` generates, each with its year of history (identities, consent,
orders, refunds and ~12 events), into the embedded default (a SQLite file), against the floor: a bare
``executemany`` of the same number of plain contact rows into the same table, measured in the same run.

Goal: 1,000,000 contacts in under 10 minutes, i.e. at least 1,667 contacts/s.

Run: .venv/bin/python benchmarks/demo_generate.py [--contacts 200000] [--industry beauty] [--seed 42]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, report

from siyu import migrations
from siyu.demo import DemoConfig, Industry, generate
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.workspace import service
from siyu.workspace.schemas import WorkspaceCreate

GOAL = 1_000_000 / 600  # contacts per second
UNTIL = date(2026, 6, 1)  # a fixed window: the same rows on every run


def store(path: Path) -> str:
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    return url


def baseline(path: Path, count: int) -> float:
    """Seconds to executemany ``count`` bare contact rows (id, workspace, nickname, properties, created_at)."""
    url = store(path)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        ws = service.create_workspace(session, WorkspaceCreate(slug="floor", name="floor"), actor_label="bench")
        ws_id = ws.id
    engine.dispose()
    rows = [(i + 1, ws_id, f"nick{i}", "{}", "2026-01-01 00:00:00.000000") for i in range(count)]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for start in range(0, count, 50_000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO contact (id, workspace_id, nickname, properties, created_at) VALUES (?, ?, ?, ?, ?)",
            rows[start : start + 50_000],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--industry", choices=[i.value for i in Industry], default="beauty")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with data_dir() as folder:
        floor = baseline(folder / "floor.db", args.contacts)
        path = folder / "siyu.db"
        engine = make_engine(store(path))
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            ws = service.create_workspace(session, WorkspaceCreate(slug="demo", name="demo"), actor_label="bench")
        config = DemoConfig(contacts=args.contacts, industry=Industry(args.industry), seed=args.seed, until=UNTIL)
        started = time.perf_counter()
        summary = generate(factory, ws.id, config)
        seconds = time.perf_counter() - started
        engine.dispose()
        size = sum(p.stat().st_size for p in folder.glob("siyu.db*"))
    figure = args.contacts / seconds
    floor_rate = args.contacts / floor
    report(
        "demo_generate",
        figure,
        "contacts/s",
        f">= {GOAL:.0f} (1M contacts with their history in under 10 minutes)",
        "bare executemany of the contact rows",
        figure / floor_rate,
        figure >= GOAL,
        contacts=args.contacts,
        industry=args.industry,
        seconds=round(seconds, 1),
        baseline_rows_per_s=round(floor_rate),
        rows=summary.rows,
        events_per_contact=round(summary.rows.get("event", 0) / args.contacts, 2),
        database_mib=round(size / 2**20),
    )


if __name__ == "__main__":
    main()
