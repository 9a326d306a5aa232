"""File import and export through the CLI: formats, error reports, restart after SIGKILL, masking."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings
from siyu.kit.db import transaction
from siyu.models import Contact, Event, Identity, SalesOrder
from tests.factories import create_workspace

REPO = Path(__file__).resolve().parents[2]
HEADER = ["order_id", "amount_fen", "paid_at", "sales_channel", "buyer_id@taobao", "phone", "items"]


def siyu(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update(SIYU_DATABASE_URL=settings.sqlalchemy_url, SIYU_DATA_DIR=str(settings.data_dir), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "siyu.cli.entry", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )


def order_rows(n: int) -> list[list[str]]:
    rows = []
    for i in range(n):
        items = json.dumps([{"sku": f"SKU-{i % 9}", "category": "护肤", "qty": 1, "price_fen": 100 + i}])
        phone = f"137{i % 400:08d}" if i % 2 else ""
        rows.append(
            [
                f"TB{i:07d}",
                str(100 + i),
                f"2026-09-{1 + i % 28:02d} 12:00:00",
                "taobao",
                f"buyer{i % 700}",
                phone,
                items,
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def pool(factory: sessionmaker[Session], ws: int) -> dict[str, object]:
    """The workspace's data, without surrogate ids: comparable across runs."""
    with transaction(factory, workspace_id=ws) as session:
        keys_of: dict[int, frozenset[str]] = {}
        for contact_id, kind, scope, value in session.execute(
            select(Identity.contact_id, Identity.kind, Identity.scope, Identity.value)
        ):
            keys_of[contact_id] = keys_of.get(contact_id, frozenset()) | {f"{kind}@{scope}:{value}"}
        orders = {
            (o.order_id, o.amount_fen, o.paid_at.isoformat(), keys_of[o.contact_id], json.dumps(o.items))
            for o in session.scalars(select(SalesOrder))
        }
        live = session.scalars(select(Contact.id).where(Contact.merged_into_id.is_(None))).all()
        return {"orders": orders, "contacts": sorted(sorted(keys_of.get(c, frozenset())) for c in live)}


def test_csv_orders_import_with_an_error_report(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ws = create_workspace(session_factory)
    rows = order_rows(30)
    rows[4][1] = "12.5"  # not whole fen
    rows[9][3] = "street-market"
    rows[17][6] = "{not json"
    rows[22][4] = ""  # nobody named
    path = write_csv(tmp_path / "orders.csv", rows)
    result = siyu(settings, "import", "orders", str(path), "--workspace", ws.slug)
    assert result.returncode == 1, result.stderr  # some records were rejected
    assert "26 stored" in result.stdout
    with (tmp_path / "orders.csv.errors.csv").open(encoding="utf-8-sig") as f:
        report = list(csv.DictReader(f))
    assert [(r["line"], r["field"]) for r in report] == [
        ("6", "amount_fen"),
        ("11", "sales_channel"),
        ("19", "items"),
        ("24", "identities"),
    ]
    with transaction(session_factory, workspace_id=ws.id) as session:
        assert len(session.scalars(select(SalesOrder)).all()) == 26
        assert session.scalars(select(Event)).all() == []  # history imports start no journeys
    again = siyu(settings, "import", "orders", str(path), "--workspace", ws.slug)
    assert "0 stored, 26 already there" in again.stdout


def test_jsonl_and_xlsx_events_and_contacts(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ws = create_workspace(session_factory)
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps(
                {
                    "event_id": f"j{i}",
                    "name": "page_view",
                    "time": "2026-09-01T10:00:00+08:00",
                    "identities": {"wx_openid@mini": f"o{i}"},
                }
            )
            for i in range(5)
        )
        + "\n{broken\n"
    )
    result = siyu(settings, "import", "events", str(jsonl), "--workspace", ws.slug)
    assert "5 stored" in result.stdout
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phone", "nickname", "gender", "source"])
    sheet.append(["13600136000", "小雨", "female", "store"])
    sheet.append(["13600136001", "阿杰", "male", "store"])
    book.save(tmp_path / "contacts.xlsx")
    result = siyu(settings, "import", "contacts", str(tmp_path / "contacts.xlsx"), "--workspace", ws.slug)
    assert result.returncode == 0, result.stderr
    assert "2 stored" in result.stdout
    with transaction(session_factory, workspace_id=ws.id) as session:
        names = set(session.scalars(select(Contact.nickname).where(Contact.nickname.is_not(None))))
        assert names == {"小雨", "阿杰"}


def test_unreadable_files_are_one_clear_error(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ws = create_workspace(session_factory)
    bad = tmp_path / "orders.txt"
    bad.write_text("x")
    result = siyu(settings, "import", "orders", str(bad), "--workspace", ws.slug)
    assert result.returncode == 2
    assert "unknown file format" in result.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes("order_id,amount_fen\n\xe9\xe9,1\n".encode("latin-1"))
    result = siyu(settings, "import", "orders", str(latin), "--workspace", ws.slug)
    assert result.returncode == 2
    assert "UTF-8" in result.stderr


@pytest.mark.slow
def test_an_import_killed_half_way_and_run_again_equals_one_clean_run(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    killed = create_workspace(session_factory, "killed")
    clean = create_workspace(session_factory, "clean")
    path = write_csv(tmp_path / "orders.csv", order_rows(6000))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update(SIYU_DATABASE_URL=settings.sqlalchemy_url, SIYU_DATA_DIR=str(settings.data_dir))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "siyu.cli.entry",
            "import",
            "orders",
            str(path),
            "--workspace",
            "killed",
            "--chunk-size",
            "200",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoints = settings.data_dir / "imports"
    deadline = time.monotonic() + 120
    while not (checkpoints.exists() and any(checkpoints.iterdir())):
        assert proc.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # right after a chunk committed: the import is half-way
    proc.wait(10)
    with transaction(session_factory, workspace_id=killed.id) as session:
        part = len(session.scalars(select(SalesOrder.id)).all())
    assert 0 < part < 6000, "the kill should land half-way"
    resumed = siyu(settings, "import", "orders", str(path), "--workspace", "killed")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from line" in resumed.stdout
    assert siyu(settings, "import", "orders", str(path), "--workspace", "clean").returncode == 0
    assert pool(session_factory, killed.id) == pool(session_factory, clean.id)
    assert len(pool(session_factory, clean.id)["orders"]) == 6000  # type: ignore[arg-type]


def test_export_masks_personal_data_unless_asked(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ws = create_workspace(session_factory)
    write_csv(tmp_path / "orders.csv", order_rows(10))
    siyu(settings, "import", "orders", str(tmp_path / "orders.csv"), "--workspace", ws.slug)
    masked = tmp_path / "contacts.csv"
    assert siyu(settings, "export", "contacts", "--workspace", ws.slug, "--out", str(masked)).returncode == 0
    text = masked.read_text(encoding="utf-8-sig")
    assert "13700000001" not in text
    assert "137****0001" in text
    full = tmp_path / "contacts.xlsx"
    result = siyu(settings, "export", "contacts", "--workspace", ws.slug, "--out", str(full), "--unmask")
    assert result.returncode == 0, result.stderr
    sheet = load_workbook(full).active
    assert sheet is not None
    cells = [str(c.value) for row in sheet.iter_rows() for c in row]
    assert any("13700000001" in c for c in cells)
    orders = tmp_path / "orders-out.csv"
    assert (
        "10 orders written" in siyu(settings, "export", "orders", "--workspace", ws.slug, "--out", str(orders)).stdout
    )


def test_a_checkpoint_cut_short_by_a_kill_is_not_fatal(tmp_path: Path) -> None:
    from siyu.transfer.imports import read_checkpoint, write_checkpoint

    checkpoint = tmp_path / "orders.checkpoint"
    assert read_checkpoint(checkpoint) == 0  # none yet: from the top
    write_checkpoint(checkpoint, 1200)
    assert read_checkpoint(checkpoint) == 1200
    assert not (tmp_path / "orders.checkpoint.partial").exists()
    checkpoint.write_text("")  # what a kill in the middle of a plain write left behind
    assert read_checkpoint(checkpoint) == 0
    checkpoint.write_text('{"next_line": ')
    assert read_checkpoint(checkpoint) == 0
