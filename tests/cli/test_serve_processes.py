"""`siyu serve` with several HTTP processes over the embedded default: every process answers, writes
from all of them land once, and the job worker runs beside them in the supervising process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from siyu import migrations
from siyu.auth.permissions import Permission
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.models import Event
from tests.cli.test_cli import REPO, _free_port
from tests.factories import create_token, create_workspace
from tests.transfer.test_import_export import order_rows, write_csv


def _children(pid: int) -> list[int]:
    """The HTTP processes uvicorn started (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


@pytest.mark.slow
def test_several_processes_serve_and_the_worker_runs_beside_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'siyu.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    ws = create_workspace(factory)
    token = create_token(factory, ws.id, [Permission.ingest_write])
    headers = {"Authorization": f"Bearer {token}"}

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update(SIYU_DATA_DIR=str(data), SIYU_PORT=str(port), SIYU_WORKER_POLL_SECONDS="0.2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli.entry", "serve", "--processes", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        assert "2 HTTP processes" in proc.stdout.readline()
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2 or not _ready(base):
            assert proc.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "the processes never became ready"
            time.sleep(0.2)
        assert len(_children(proc.pid)) == 2

        # Eight clients at once, overlapping events: each event stored once, none lost.
        failures: list[str] = []

        def client(n: int) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                for b in range(5):
                    batch = [
                        {
                            "event_id": f"e{(n * 5 + b) * 50 + i - (i % 2) * 50}",  # half repeat another client's
                            "name": "page_view",
                            "time": "2026-10-01T10:00:00+08:00",
                            "identities": {"wx_openid@wxapp": f"o{i % 40}"},
                        }
                        for i in range(100)
                    ]
                    r = http.post("/api/v1/events/batch", json=batch)
                    if r.status_code != 200 or r.json()["rejected"]:
                        failures.append(r.text[:200])

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        sent = {f"e{(n * 5 + b) * 50 + i - (i % 2) * 50}" for n in range(8) for b in range(5) for i in range(100)}
        with transaction(factory, ws.id) as session:
            assert session.scalar(select(func.count()).select_from(Event)) == len(sent)
            assert set(session.scalars(select(Event.event_id))) == sent

        # A queued job is run by the worker beside the HTTP processes.
        path = write_csv(tmp_path / "orders.csv", order_rows(5))
        with path.open("rb") as f:
            run = httpx.post(
                f"{base}/api/v1/imports", params={"kind": "orders"}, files={"file": ("o.csv", f)}, headers=headers
            ).json()
        deadline = time.monotonic() + 60
        while (status := httpx.get(f"{base}/api/v1/imports/{run['id']}", headers=headers).json())["status"] != "done":
            assert status["status"] in ("queued", "running"), status
            assert time.monotonic() < deadline, "the worker never ran the import"
            time.sleep(0.2)
        assert status["accepted"] == 5
    finally:
        proc.terminate()
        proc.wait(30)
        engine.dispose()
    assert proc.returncode == 0


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz").status_code == 200
    except httpx.TransportError:
        return False
