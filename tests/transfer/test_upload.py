"""Uploading a file for import: the run is recorded and queued in one transaction, the durable job
imports it in chunks with progress, and the error report can be downloaded."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission
from siyu.config import Settings
from siyu.kit.db import transaction
from siyu.models import Job, SalesOrder
from siyu.worker.runner import Worker
from tests.factories import create_token, create_workspace
from tests.transfer.test_import_export import order_rows, write_csv


def test_upload_is_imported_by_the_worker_with_progress_and_an_error_report(
    client: TestClient, settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ws = create_workspace(session_factory)
    headers = {"Authorization": f"Bearer {create_token(session_factory, ws.id, [Permission.ingest_write])}"}
    rows = order_rows(12)
    rows[3][1] = "oops"
    path = write_csv(tmp_path / "orders.csv", rows)
    with path.open("rb") as f:
        response = client.post(
            "/api/v1/imports", params={"kind": "orders"}, files={"file": ("订单.csv", f)}, headers=headers
        )
    assert response.status_code == 202, response.text
    run = response.json()
    assert (run["status"], run["filename"]) == ("queued", "订单.csv")
    with transaction(session_factory) as session:
        job = session.scalar(select(Job).where(Job.name == "transfer.import"))
        assert job is not None
        assert job.payload == {"import_run_id": run["id"]}

    assert Worker(settings, session_factory).drain() == 1
    done = client.get(f"/api/v1/imports/{run['id']}", headers=headers).json()
    assert (done["status"], done["total"], done["done"], done["accepted"], done["rejected"]) == ("done", 12, 12, 11, 1)
    report = client.get(f"/api/v1/imports/{run['id']}/errors", headers=headers)
    assert report.status_code == 200
    assert "5,amount_fen" in report.text
    with transaction(session_factory, workspace_id=ws.id) as session:
        assert len(session.scalars(select(SalesOrder.id)).all()) == 11
        job = session.scalar(select(Job).where(Job.name == "transfer.import"))
        assert job is not None
        assert job.status == "done"


def test_bad_uploads_are_refused(client: TestClient, session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    ws = create_workspace(session_factory)
    headers = {"Authorization": f"Bearer {create_token(session_factory, ws.id, [Permission.ingest_write])}"}
    wrong = client.post(
        "/api/v1/imports", params={"kind": "orders"}, files={"file": ("x.pdf", b"%PDF")}, headers=headers
    )
    assert (wrong.status_code, wrong.json()["errors"][0]["field"]) == (422, "file")
    empty = client.post("/api/v1/imports", params={"kind": "orders"}, files={"file": ("x.csv", b"")}, headers=headers)
    assert empty.status_code == 422
    kind = client.post("/api/v1/imports", params={"kind": "tags"}, files={"file": ("x.csv", b"a")}, headers=headers)
    assert (kind.status_code, kind.json()["errors"][0]["field"]) == (422, "kind")
    missing = client.get("/api/v1/imports/999/errors", headers=headers)
    assert missing.status_code == 404
