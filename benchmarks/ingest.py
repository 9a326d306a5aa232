"""Events per second through the HTTP batch API on the embedded default (SQLite), 1,000-event
batches from several concurrent clients, against the floor: a bare ``executemany`` of the same rows
into the same table, measured in the same run.

The server is ``siyu serve`` with its default settings: one HTTP process per core (at most 4) over the
SQLite file.

Run: .venv/bin/python benchmarks/ingest.py [--clients 4] [--batches 300]
"""

from __future__ import annotations

import argparse
import http.client
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, report, server

from siyu.auth.permissions import Permission
from siyu.config import Settings, serving_processes
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.workspace import service
from siyu.workspace.schemas import TokenCreate, WorkspaceCreate

BATCH = 1000
POOL = 50_000  # contacts the events name
START = datetime(2026, 6, 1, tzinfo=UTC)
NAMES = ["page_view", "message_opened", "link_clicked", "group_message", "checkin"]


def batch_body(run: str, n: int) -> bytes:
    events = []
    for i in range(BATCH):
        k = n * BATCH + i
        events.append(
            {
                "event_id": f"{run}-{k}",
                "name": NAMES[k % len(NAMES)],
                "time": (START + timedelta(seconds=k)).isoformat(),
                "identities": {"wx_openid@wxdemoapp": f"o{(k * 7919) % POOL:07d}"},
                "source": "miniprogram",
                "properties": {"page": f"/item/{k % 300}", "channel": "miniprogram", "n": k},
            }
        )
    return orjson.dumps(events)


def setup(data: Path) -> str:
    from siyu import migrations

    url = f"sqlite:///{data / 'siyu.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        ws = service.create_workspace(session, WorkspaceCreate(slug="bench", name="bench"), actor_label="bench")
    with transaction(factory, workspace_id=ws.id) as session:
        _, secret = service.create_token(
            session,
            None,
            TokenCreate(name="bench", scopes=[Permission.ingest_write]),
            workspace_id=ws.id,
            actor_label="bench",
        )
    engine.dispose()
    return secret


def send_all(base: str, token: str, bodies: list[bytes], clients: int) -> float:
    """Post every body from ``clients`` threads over keep-alive connections (the standard library's
    client: the load generator shares the machine, so it should cost as little as possible)."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    errors: list[str] = []
    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                conn.request("POST", "/api/v1/events/batch", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.status != 200 or b'"rejected":[]' not in payload:
                    errors.append(payload[:300].decode())
                    return
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"ingestion failed: {errors[0]}")
    return elapsed


def floor(db: Path, rows: int) -> float:
    """The store's floor: the same rows, one executemany per 1,000, straight into the same table."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sample = conn.execute(
        "SELECT workspace_id, contact_id, identity_id, name, occurred_at, received_at, source, properties "
        "FROM event ORDER BY id LIMIT ?",
        (rows,),
    ).fetchall()
    started = time.perf_counter()
    for start in range(0, len(sample), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO event (workspace_id, contact_id, identity_id, event_id, name, occurred_at, received_at, "
            "source, properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*r[:3], f"floor-{start + i}", *r[3:]) for i, r in enumerate(sample[start : start + BATCH])],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(sample) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args()
    with data_dir() as data:
        token = setup(data)
        with server(data) as base:
            warm = [batch_body("warm", n) for n in range(POOL // BATCH)]  # creates the contacts
            send_all(base, token, warm, args.clients)
            bodies = [batch_body("run", n) for n in range(args.batches)]
            elapsed = send_all(base, token, bodies, args.clients)
        rate = args.batches * BATCH / elapsed
        floor_rate = floor(data / "siyu.db", args.batches * BATCH)
    ratio = rate / floor_rate
    report(
        "ingest_http",
        rate,
        "events/s",
        ">= 50000 and within 3x of the floor",
        "bare executemany (same rows, same table)",
        ratio,
        rate >= 50_000 and ratio >= 1 / 3,
        floor_events_per_s=round(floor_rate),
        clients=args.clients,
        batch=BATCH,
        http_processes=serving_processes(Settings.model_construct()),  # the defaults the server runs with
    )


if __name__ == "__main__":
    main()
