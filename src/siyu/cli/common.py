"""Shared CLI plumbing: settings from the environment plus global options, and unit-of-work helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings, load_settings
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.migrations import pending
from siyu.models import Workspace


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class State:
    data_dir: Path | None = None
    database_url: str | None = None

    def settings(self) -> Settings:
        overrides: dict[str, object] = {}
        if self.data_dir is not None:
            overrides["data_dir"] = self.data_dir
        if self.database_url is not None:
            overrides["database_url"] = self.database_url
        return load_settings(**overrides)


def settings_of(ctx: typer.Context) -> Settings:
    state = ctx.obj if isinstance(ctx.obj, State) else State()
    return state.settings()


def open_store(settings: Settings, *, require_current: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    if require_current and pending(engine):
        engine.dispose()
        raise CliError("the database schema is not current: run `siyu migrate` (or `siyu init`) first")
    return engine, make_sessionmaker(engine)


@contextmanager
def unit_of_work(factory: sessionmaker[Session], workspace_id: int | None = None) -> Iterator[Session]:
    with transaction(factory, workspace_id) as session:
        yield session


def workspace_by_slug(factory: sessionmaker[Session], slug: str) -> Workspace:
    with transaction(factory) as session:
        ws = session.scalar(select(Workspace).where(Workspace.slug == slug))
    if ws is None:
        raise CliError(f"no workspace with slug {slug!r} (see `siyu workspace list`)")
    return ws
