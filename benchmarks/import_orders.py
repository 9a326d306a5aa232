"""CSV import of orders (rows per second) on the embedded default, against the floor: a bare
``executemany`` of the same order rows into the same table, measured in the same run.

Run: .venv/bin/python benchmarks/import_orders.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, report

from siyu import migrations
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.transfer.imports import run_import
from siyu.workspace import service
from siyu.workspace.schemas import WorkspaceCreate

CHANNELS = ["taobao", "douyin", "miniprogram", "store"]


def write_orders(path: Path, rows: int, buyers: int, prefix: str) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["order_id", "amount_fen", "paid_at", "sales_channel", "buyer_id@taobao", "items"])
        for i in range(rows):
            items = json.dumps([{"sku": f"SKU-{i % 97}", "category": "护肤", "qty": 1, "price_fen": 9900 + i % 500}])
            writer.writerow(
                [
                    f"{prefix}{i:09d}",
                    9900 + i % 500,
                    f"2026-{1 + i % 10:02d}-{1 + i % 28:02d} 20:{i % 60:02d}:00",
                    CHANNELS[i % 4],
                    f"b{(i * 7919) % buyers:07d}",
                    items,
                ]
            )


def floor(db: Path, rows: int) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    sample = conn.execute(
        "SELECT workspace_id, contact_id, identity_id, amount_fen, refunded_fen, currency, paid_at, sales_channel, "
        "items, created_at FROM sales_order ORDER BY id LIMIT ?",
        (rows,),
    ).fetchall()
    started = time.perf_counter()
    for start in range(0, len(sample), 5000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO sales_order (workspace_id, contact_id, identity_id, order_id, amount_fen, refunded_fen, "
            "currency, paid_at, sales_channel, items, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*r[:3], f"floor-{start + i}", *r[3:]) for i, r in enumerate(sample[start : start + 5000])],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(sample) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    buyers = max(1, args.rows // 4)
    with data_dir() as data:
        url = f"sqlite:///{data / 'siyu.db'}"
        migrations.upgrade(url)
        factory = make_sessionmaker(make_engine(url))
        with transaction(factory) as session:
            ws = service.create_workspace(session, WorkspaceCreate(slug="bench", name="bench"), actor_label="bench")
        # The buyers already exist (a store's customers are known before their order history arrives).
        warm = data / "warm.csv"
        write_orders(warm, buyers, buyers, "W")
        run_import(factory, ws.id, "orders", warm, state_dir=data / "state", actor_label="bench")
        path = data / "orders.csv"
        write_orders(path, args.rows, buyers, "R")
        path_rows = args.rows
        started = time.perf_counter()
        summary = run_import(
            factory, ws.id, "orders", path, state_dir=data / "state", actor_label="bench", chunk_size=10_000
        )
        elapsed = time.perf_counter() - started
        if summary.accepted != path_rows:
            raise SystemExit(f"import stored {summary.accepted} of {path_rows}: {summary.errors[:3]}")
        rate = path_rows / elapsed
        floor_rate = floor(data / "siyu.db", path_rows)
    report(
        "import_orders_csv",
        rate,
        "rows/s",
        ">= 100000",
        "bare executemany (same rows, same table)",
        rate / floor_rate,
        rate >= 100_000,
        floor_rows_per_s=round(floor_rate),
        rows=path_rows,
    )


if __name__ == "__main__":
    main()
