"""A worker process SIGKILLed in the middle of a job: after another worker takes the job over, its
effect has happened exactly once. On PostgreSQL two `siyu worker` processes share the queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings
from siyu.kit.db import transaction
from siyu.models import AuditEvent, Job
from siyu.worker import queue
from tests.factories import create_workspace
from tests.plugins.kill_probe import PROBE_JOB

REPO = Path(__file__).resolve().parents[2]
SIYU = [sys.executable, "-m", "siyu.cli.entry"]


def start_worker(settings: Settings, name: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        SIYU_DATABASE_URL=settings.sqlalchemy_url,
        SIYU_DATA_DIR=str(settings.data_dir),
        SIYU_PLUGINS='["tests.plugins.kill_probe"]',
        SIYU_JOB_LEASE_SECONDS="2",
        SIYU_WORKER_POLL_SECONDS="0.1",
        PYTHONPATH=str(REPO),
    )
    return subprocess.Popen([*SIYU, "worker", "--name", name], env=env, cwd=REPO)


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigkill_mid_job_then_takeover_has_the_effect_exactly_once(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ws = create_workspace(session_factory)
    markers = tmp_path / "markers"
    markers.mkdir()
    # Two workers share the queue on PostgreSQL; SQLite (one writer per file) runs one at a time.
    names = ["w1", "w2"] if not settings.is_sqlite else ["w1"]
    workers = {name: start_worker(settings, name) for name in names}
    try:
        with transaction(session_factory) as session:
            job_id = queue.enqueue(session, PROBE_JOB, {"marker_dir": str(markers)}, workspace_id=ws.id).id
        wait_for(lambda: any(markers.iterdir()), 30, "a worker to start the job")
        marker = next(markers.iterdir())
        victim_pid = int(marker.name.removeprefix("running-"))
        victim = next(name for name, p in workers.items() if p.pid == victim_pid)
        os.kill(victim_pid, signal.SIGKILL)
        assert workers[victim].wait(10) == -signal.SIGKILL
        if settings.is_sqlite:
            workers["w2"] = start_worker(settings, "w2")  # the restarted worker

        def done() -> bool:
            with transaction(session_factory) as s:
                job = s.get(Job, job_id)
                return job is not None and job.status == "done"

        wait_for(done, 60, "the job to be taken over and finished")
        with transaction(session_factory) as session:
            job = session.get(Job, job_id)
            assert job is not None
            assert job.attempts == 2
            assert job.locked_by != victim
            effects = session.scalars(select(AuditEvent).where(AuditEvent.action == "probe.effect")).all()
            assert len(effects) == 1, "the killed attempt's effect must have rolled back"
            assert effects[0].after == {"attempt": 2, "pid": workers[job.locked_by or ""].pid}
            assert session.scalar(select(func.count()).select_from(Job).where(Job.status != "done")) == 0
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert all(p.returncode in (0, -signal.SIGKILL) for p in workers.values())
