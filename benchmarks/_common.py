"""Shared helpers for benchmarks: a migrated throw-away store, a real server subprocess, JSON lines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as folder:
        yield Path(folder)


@contextmanager
def server(data: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """``siyu serve`` on a free port over ``data``; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update(
        SIYU_DATA_DIR=str(data), SIYU_PORT=str(port), SIYU_LOG_LEVEL="WARNING", SIYU_RUN_WORKER_IN_PROCESS="false"
    )
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli.entry", "serve"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


def report(
    benchmark: str, figure: float, unit: str, goal: str, baseline: str, ratio: float, meets: bool, **extra: object
) -> None:
    print(
        json.dumps(
            {
                "benchmark": benchmark,
                "figure": round(figure, 1),
                "unit": unit,
                "goal": goal,
                "baseline": baseline,
                "ratio_to_baseline": round(ratio, 3),
                "meets_goal": meets,
                **extra,
            },
            ensure_ascii=False,
        ),
        flush=True,
    )
