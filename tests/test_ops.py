"""Operations: probes, migrations matching the models, request ids and structured logs."""

from __future__ import annotations

import json
import logging

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
