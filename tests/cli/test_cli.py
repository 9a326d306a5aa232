"""The CLI as a user meets it: a real subprocess, real files, one-line errors and exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from siyu.cli.dev import DEMO_STATE
from siyu.cli.server import DEMO_EMAIL, DEMO_PASSWORD

REPO = Path(__file__).resolve().parents[2]


def siyu(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    full_env.update(COLUMNS="200", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "siyu.cli.entry", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=120,
    )


def test_init_then_doctor_passes_and_admin_commands_work(tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = siyu("doctor", data_dir=data)
    assert before.returncode == 1  # no database yet
    assert "FAIL" in before.stdout

    assert siyu("init", data_dir=data).returncode == 0
    assert (data / "siyu.db").exists()
    doctor = siyu("doctor", data_dir=data)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "migrations" in doctor.stdout

    assert siyu("workspace", "create", "--slug", "lanji", "--name", "澜肌", data_dir=data).returncode == 0
    created = siyu(
        "user",
        "create",
        "--email",
        "ops@lanji.local",
        "--workspace",
        "lanji",
        "--role",
        "analyst",
        "--password",
        "a-long-password",
        data_dir=data,
    )
    assert created.returncode == 0, created.stderr
    assert "analyst" in created.stdout
    token = siyu("token", "create", "--workspace", "lanji", "--name", "etl", "--scope", "ingest:write", data_dir=data)
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().splitlines()[-1].startswith("siyu_")


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["user", "create", "--email", "not-an-email", "--workspace", "w", "--password", "x" * 12], 2, "email"),
        (["user", "create", "--email", "a@b.cn", "--workspace", "nope", "--password", "x" * 12], 1, "no workspace"),
        (["token", "create", "--workspace", "w", "--name", "n", "--scope", "bogus"], 2, "unknown scope 'bogus'"),
        (["workspace", "create", "--slug", "Bad Slug!", "--name", "x"], 2, "slug"),
        (["serve", "--port", "not-a-number"], 2, "--port"),
        (["no-such-command"], 2, "No such command"),
    ],
)
def test_bad_input_is_one_clear_line_and_non_zero_exit(tmp_path: Path, args: list[str], code: int, needle: str) -> None:
    data = tmp_path / "data"
    assert siyu("init", data_dir=data).returncode == 0
    result = siyu(*args, data_dir=data)
    assert result.returncode == code, result.stdout + result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    result = siyu("workspace", "list", data_dir=tmp_path / "empty")
    assert result.returncode == 1
    assert "siyu migrate" in result.stderr


def test_bad_setting_is_reported_by_name(tmp_path: Path) -> None:
    result = siyu("doctor", data_dir=tmp_path, env={"SIYU_LOG_LEVEL": "LOUD"})
    assert result.returncode == 2
    assert "log_level" in result.stderr


def test_every_command_answers_help(tmp_path: Path) -> None:
    for args in (
        [],
        ["init"],
        ["migrate"],
        ["serve"],
        ["worker"],
        ["demo"],
        ["doctor"],
        ["user", "create"],
        ["token", "create"],
        ["workspace", "create"],
        ["workspace", "list"],
    ):
        result = siyu(*args, "--help", data_dir=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_demo_serves_the_console_and_prints_a_working_login(tmp_path: Path) -> None:
    """What `make demo` does, on a free port: build the demo, print the login, serve the console, and play
    the WeCom flow on the stand-in."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update(SIYU_PORT=str(port), SIYU_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli.entry", "demo", "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        printed = proc.stdout.readline()
        assert f"Open {base}" in printed
        assert f"{DEMO_EMAIL} / {DEMO_PASSWORD}" in printed
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.2)
        assert httpx.get(f"{base}/login").status_code == 200
        login = httpx.post(f"{base}/api/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        assert login.status_code == 200
        assert login.json()["role"] == "owner"
        assert httpx.get(f"{base}/docs").status_code == 200
        # the WeCom flow on the stand-in: a customer scans the demo 渠道活码 15 s after serving → callback →
        # a contact with its source → the welcome message inside WeCom's 20 s
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while not any("WeCom demo:" in line for line in lines):
            assert time.monotonic() < deadline, f"no WeCom demo line: {lines[-5:]}"
            time.sleep(0.5)
        played = next(line for line in lines if "WeCom demo:" in line)
        assert f"scanned the 渠道活码 {DEMO_STATE}; welcome message sent in" in played, played
        assert float(played.rsplit(" in ", 1)[1].split()[0]) <= 20
        found = httpx.get(f"{base}/api/v1/contacts", params={"channel_code": DEMO_STATE}, cookies=login.cookies).json()[
            "items"
        ]
        assert len(found) == 1
    finally:
        proc.terminate()
        proc.wait(15)
