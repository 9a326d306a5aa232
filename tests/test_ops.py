"""Operations: probes, migrations matching the models, request ids and structured logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from siyu.kit.logging import JsonFormatter, configure_logging
from siyu.migrations import current_revision, head_revision
from siyu.models import Base


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "schema": "ok"}


def test_readyz_reports_a_schema_behind(client: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "siyu migrate" in ready.json()["checks"]["schema"]
    finally:  # the PostgreSQL test database is shared by the session's tests
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})


def test_migrations_create_exactly_the_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/members" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_json_logs_carry_the_request_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="siyu.access"):
        client.get("/healthz", headers={"X-Request-ID": "req-json-1"})
    record = next(r for r in caplog.records if r.name == "siyu.access")
    record.request_id = "req-json-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-json-1"
    assert line["status"] == 200
    assert line["path"] == "/healthz"
    assert line["level"] == "INFO"


def test_configure_logging_json_writes_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        logging.getLogger("siyu.test").info("hello %s", "世界", extra={"job_id": 7})
        err = capsys.readouterr().err.strip().splitlines()[-1]
        payload = json.loads(err)
        assert payload["message"] == "hello 世界"
        assert payload["job_id"] == 7
        assert payload["request_id"] == "-"
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)


def test_upgrading_a_sqlite_store_keeps_its_rows(tmp_path: Path) -> None:
    # SQLite migrations copy a table to alter it and drop the old one; with foreign keys enforced, dropping
    # ``workspace`` used to delete, through ON DELETE CASCADE, every contact and event of the store.
    import sqlite3

    from siyu import migrations

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, "0004")
    db = sqlite3.connect(tmp_path / "old.db")
    db.execute(
        "INSERT INTO workspace (id, slug, name, timezone, locale, identity_rules, created_at) "
        "VALUES (1, 'lanji', '澜肌', 'Asia/Shanghai', 'zh_CN', '{}', '2026-01-01 00:00:00.000000')"
    )
    db.execute("INSERT INTO contact (id, workspace_id, properties, created_at) VALUES (7, 1, '{}', '2026-01-01')")
    db.execute(
        "INSERT INTO event (workspace_id, contact_id, event_id, name, occurred_at, received_at, source, properties) "
        "VALUES (1, 7, 'e-1', 'page_view', '2026-01-01', '2026-01-01', 'test', '{}')"
    )
    db.commit()
    db.close()
    migrations.upgrade(url)
    db = sqlite3.connect(tmp_path / "old.db")
    counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("workspace", "contact", "event")]
    fk = db.execute("PRAGMA foreign_key_check").fetchall()
    db.close()
    assert counts == [1, 1, 1]
    assert fk == []
