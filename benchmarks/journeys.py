"""Journey step executions per second on the embedded default, against the floor: a bare
``executemany`` of the same ledger and task rows into the same tables, measured in the same run.

The journey is the welcome SOP's shape: a transactional welcome, a staff task, a wait, a promotional
recommendation (governed: the contact's ledger history and consent are read), an exit (five step
executions per contact). ``--contacts`` contacts enter; the batches due now are stepped, then
those due after the wait. Goal (issue 5): >= 20,000 step executions per second.

Run: .venv/bin/python benchmarks/journeys.py [--contacts 20000]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, report

from siyu import migrations
from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.journey import engine, service
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.workspace import service as workspaces
from siyu.workspace.schemas import WorkspaceCreate

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
WELCOME = {
    "version": 1,
    "trigger": {"type": "manual"},
    "start": "hello",
    "nodes": {
        "hello": {
            "type": "send",
            "channel": "outbox",
            "priority": "transactional",
            "content": {"text": "欢迎"},
            "next": "greet",
        },
        "greet": {"type": "task", "title": "1小时内问候", "due_in": "1h", "next": "wait"},
        "wait": {"type": "wait", "duration": "24h", "next": "recommend"},
        "recommend": {
            "type": "send",
            "channel": "outbox",
            "promotional": True,
            "content": {"text": "推荐"},
            "next": "done",
        },
        "done": {"type": "exit"},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=20_000)
    args = parser.parse_args()
    with data_dir() as folder:
        url = f"sqlite:///{folder / 'siyu.db'}"
        migrations.upgrade(url)
        db_engine = make_engine(url)
        factory = make_sessionmaker(db_engine)
        with transaction(factory) as session:
            created = workspaces.create_workspace(
                session, WorkspaceCreate(slug="bench", name="澜肌"), actor_label="bench"
            )
            ws = created.id
        raw = sqlite3.connect(folder / "siyu.db")
        stamp = "2026-12-01 00:00:00.000000"
        raw.executemany(
            "INSERT INTO contact (id, workspace_id, properties, created_at, updated_at) VALUES (?, ?, '{}', ?, ?)",
            ((i + 1, ws, stamp, stamp) for i in range(args.contacts)),
        )
        raw.commit()
        ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="bench")
        with transaction(factory, workspace_id=ws) as session:
            journey = service.create(session, ctx, name="欢迎", definition=WELCOME)
            service.publish(session, ctx, journey.id)
            jid = journey.id
        with transaction(factory, workspace_id=ws) as session:
            engine.enter(session, jid, [(c, f"bench:{c}") for c in range(1, args.contacts + 1)], T0)

        steps = 0
        started = time.perf_counter()
        for now in (T0, T0 + timedelta(hours=24)):
            while True:
                with transaction(factory, workspace_id=ws) as session:
                    step = engine.step_due(session, now, limit=5000)
                steps += step.steps
                if step.runs < 5000:
                    break
        seconds = time.perf_counter() - started

        # The floor: the same ledger and task rows, bare executemany in one transaction each batch.
        rows = raw.execute("SELECT contact_id, channel, priority, content, created_at FROM delivery").fetchall()
        tasks = raw.execute("SELECT contact_id, title, due_at, created_at FROM staff_task").fetchall()
        floor_started = time.perf_counter()
        raw.executemany(
            "INSERT INTO delivery (workspace_id, contact_id, dedup_key, source, channel, priority, promotional, "
            "content, status, attempts, created_at) VALUES (?, ?, ?, 'floor', ?, ?, 0, ?, 'queued', 0, ?)",
            ((ws, c, f"floor:{i}", ch, p, content, at) for i, (c, ch, p, content, at) in enumerate(rows)),
        )
        raw.executemany(
            "INSERT INTO staff_task (workspace_id, contact_id, dedup_key, source, title, status, due_at, created_at) "
            "VALUES (?, ?, ?, 'floor', ?, 'open', ?, ?)",
            ((ws, c, f"floor:{i}", title, due, at) for i, (c, title, due, at) in enumerate(tasks)),
        )
        raw.commit()
        floor_seconds = time.perf_counter() - floor_started
        raw.close()
        db_engine.dispose()
    rate = steps / seconds
    floor_rate = steps / floor_seconds
    report(
        "journey_steps",
        rate,
        "step executions/s",
        ">= 20000",
        "bare executemany of the same ledger and task rows",
        rate / floor_rate,
        rate >= 20_000,
        steps=steps,
        contacts=args.contacts,
        seconds=round(seconds, 2),
        floor_steps_per_s=round(floor_rate),
        ledger_rows=len(rows),
        tasks=len(tasks),
    )


if __name__ == "__main__":
    main()
