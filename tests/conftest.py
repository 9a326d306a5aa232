"""Test fixtures: every database test runs on real SQLite and on a real PostgreSQL server.

PostgreSQL comes from ``SIYU_TEST_POSTGRES_URL`` (``make test`` starts a throw-away cluster and sets it).
With ``CI=true`` a missing PostgreSQL or Chromium fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from siyu import migrations
from siyu.app import create_app
from siyu.config import Settings, load_settings
from siyu.kit.db import make_engine, make_sessionmaker
from siyu.models import Base

# The WeCom / WeChat stand-in and a workspace wired to it, for the wechat and channel tests.
pytest_plugins = ["tests.wechat.standin_fixture", "tests.channel.wecom_fixture"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get("SIYU_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgresql"]
_backend_counts: dict[str, int] = {"sqlite": 0, "postgresql": 0}


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not POSTGRES_URL:
        raise pytest.UsageError("CI=true but SIYU_TEST_POSTGRES_URL is not set: PostgreSQL tests cannot run")


@dataclass
class Backend:
    name: str
    template: str  # SQLite: path of a migrated file to copy; PostgreSQL: URL of the migrated database

    def fresh_url(self, tmp_path: Path) -> str:
        if self.name == "sqlite":
            target = tmp_path / "siyu.db"
            shutil.copyfile(self.template, target)
            return f"sqlite:///{target}"
        _truncate_all(self.template)
        return self.template


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
        migrations.upgrade(f"sqlite:///{path}")
        yield Backend("sqlite", str(path))
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not available: set SIYU_TEST_POSTGRES_URL (make test does)")
    admin = make_url(POSTGRES_URL)
    name = f"siyu_test_{uuid.uuid4().hex[:10]}"
    admin_engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    try:
        yield Backend("postgresql", url)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.fixture
def db_url(backend: Backend, tmp_path: Path) -> str:
    _backend_counts[backend.name] += 1
    return backend.fresh_url(tmp_path)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key",
        run_worker_in_process=False,
        job_backoff_seconds=0.05,
        job_backoff_max_seconds=0.2,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.sqlalchemy_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings, start_worker=False)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_sep("=", "database backends")
    for name, count in _backend_counts.items():
        terminalreporter.write_line(f"{name}: {count} database tests ran")
