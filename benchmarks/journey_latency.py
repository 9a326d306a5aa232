"""From a triggering event to its ledger row, on the embedded default under a steady 1,000 events/s.

``siyu serve`` runs with its default settings and its in-process worker (whose ``journeys.react`` loop
ticks a workspace when events arrive). A journey is triggered by ``joined_group`` and sends a welcome
through the outbox. The benchmark POSTs 50 events every 50 ms over HTTP (1,000 events/s; one in five is
a ``joined_group`` of a new contact, the rest ``page_view``) for ``--seconds``, and reads the ledger
every 10 ms from a read-only connection. An event's latency is from the moment its POST returned
(stored and committed) to the moment its ledger row was first seen.

Baseline: the same HTTP batches, the moment the *event row* itself is first seen by the same reader
(what the read loop alone adds). Goal (issue 5): p99 <= 1 s.

Run: .venv/bin/python benchmarks/journey_latency.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, report, server
from ingest import setup as ingest_store
from sqlalchemy import select

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.journey import service as journeys
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.models import Workspace

RATE = 1000
BATCH = 50
JOURNEY = {
    "version": 1,
    "trigger": {"type": "event", "event": "joined_group"},
    "entry": {"re_entry": "never"},
    "start": "hello",
    "nodes": {
        "hello": {
            "type": "send",
            "channel": "outbox",
            "priority": "transactional",
            "content": {"text": "欢迎入群"},
            "next": "done",
        },
        "done": {"type": "exit"},
    },
}


def setup(data: Path) -> str:
    """The ingest benchmark's store (a workspace and an ingest token), with the journey published."""
    secret = ingest_store(data)
    engine = make_engine(f"sqlite:///{data / 'siyu.db'}")
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        ws = session.scalars(select(Workspace.id)).one()
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="bench")
    with transaction(factory, workspace_id=ws) as session:
        journey = journeys.create(session, ctx, name="入群欢迎", definition=JOURNEY)
        journeys.publish(session, ctx, journey.id)
    engine.dispose()
    return secret


def body(n: int) -> tuple[bytes, list[str]]:
    events, triggering = [], []
    now = datetime.now(UTC).isoformat()
    for i in range(BATCH):
        k = n * BATCH + i
        joined = k % 5 == 0
        openid = f"o{k:08d}" if joined else f"o{(k // 5) * 5:08d}"
        events.append(
            {
                "event_id": f"e{k}",
                "name": "joined_group" if joined else "page_view",
                "time": now,
                "identities": {"wx_openid@wxbench": openid},
                "properties": {"page": f"/p/{k % 50}"},
            }
        )
        if joined:
            triggering.append(f"e{k}")
    return orjson.dumps(events), triggering


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with data_dir() as folder:
        token = setup(folder)
        with server(folder, {"SIYU_RUN_WORKER_IN_PROCESS": "true"}) as base:
            posted: dict[str, float] = {}  # event_id -> when its POST returned
            seen_event: dict[str, float] = {}
            seen_row: dict[int, float] = {}  # delivery contact -> first seen
            contact_of: dict[str, int] = {}
            stop = threading.Event()

            def read() -> None:
                con = sqlite3.connect(f"file:{folder / 'siyu.db'}?mode=ro", uri=True)
                last_event = last_row = 0
                while not stop.is_set():
                    at = time.perf_counter()
                    for i, event_id, contact in con.execute(
                        "SELECT id, event_id, contact_id FROM event WHERE id > ? AND name = 'joined_group'",
                        (last_event,),
                    ):
                        last_event = max(last_event, i)
                        seen_event.setdefault(event_id, at)
                        contact_of[event_id] = contact
                    for i, contact in con.execute("SELECT id, contact_id FROM delivery WHERE id > ?", (last_row,)):
                        last_row = max(last_row, i)
                        seen_row.setdefault(contact, at)
                    time.sleep(0.01)
                con.close()

            reader = threading.Thread(target=read)
            reader.start()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            batches = int(args.seconds * RATE / BATCH)
            started = time.perf_counter()
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                for n in range(batches):
                    payload, triggering = body(n)
                    response = http.post("/api/v1/events/batch", content=payload)
                    response.raise_for_status()
                    returned = time.perf_counter()
                    for event_id in triggering:
                        posted[event_id] = returned
                    pause = started + (n + 1) * BATCH / RATE - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
            sent_seconds = time.perf_counter() - started
            deadline = time.perf_counter() + 15
            while time.perf_counter() < deadline and len(seen_row) < len(posted):
                time.sleep(0.05)
            stop.set()
            reader.join()
    latencies = sorted(
        max(0.0, seen_row[contact_of[e]] - t) for e, t in posted.items() if contact_of.get(e) in seen_row
    )
    floor = sorted(max(0.0, seen_event[e] - t) for e, t in posted.items() if e in seen_event)
    missing = len(posted) - len(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("inf")
    floor_p99 = floor[int(0.99 * (len(floor) - 1))] if floor else float("nan")
    report(
        "journey_trigger_latency",
        p99 * 1000,
        "ms (p99, event to ledger row)",
        "<= 1000",
        "the same event row first seen by the same reader (p99)",
        p99 / floor_p99 if floor_p99 else float("nan"),
        p99 <= 1.0 and missing == 0,
        p50_ms=round(statistics.median(latencies) * 1000, 1) if latencies else None,
        max_ms=round(latencies[-1] * 1000, 1) if latencies else None,
        floor_p99_ms=round(floor_p99 * 1000, 1),
        events_per_s=round(batches * BATCH / sent_seconds),
        triggering_events=len(posted),
        ledger_rows_seen=len(latencies),
        missing=missing,
    )


if __name__ == "__main__":
    main()
