"""``siyu doctor``: checks configuration, database reachability, pending migrations and free disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from siyu.cli.common import CliError, settings_of
from siyu.kit.db import make_engine
from siyu.migrations import current_revision, head_revision

MIN_FREE_BYTES = 1024**3


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(ctx: typer.Context) -> None:
    """Check the configuration, the database, pending migrations and free disk; exit 1 on any problem."""
    console = Console()
    table = Table("check", "result", "detail")
    failures = 0

    def row(check: str, ok: bool, detail: str) -> None:
        nonlocal failures
        failures += 0 if ok else 1
        table.add_row(check, "[green]ok[/]" if ok else "[red]FAIL[/]", detail)

    try:
        settings = settings_of(ctx)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"configuration: {'.'.join(map(str, first['loc']))}: {first['msg']}", exit_code=2) from None
    row("configuration", True, f"store: {_redact(settings.sqlalchemy_url)}")
    if settings.secret_key == "change-me-in-production":  # noqa: S105 - detecting the default
        table.add_row("secret key", "[yellow]warn[/]", "SIYU_SECRET_KEY is the default; set a long random value")

    engine = make_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        row("database", True, "reachable")
        current, head = current_revision(engine), head_revision()
        row(
            "migrations",
            current == head,
            f"at {current}, newest {head}" + ("" if current == head else ": run `siyu migrate`"),
        )
    except Exception as exc:  # noqa: BLE001 - report any failure as one line
        row("database", False, f"unreachable: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()

    folder = settings.data_dir if settings.data_dir.exists() else Path.cwd()
    free = shutil.disk_usage(folder).free
    row("free disk", free >= MIN_FREE_BYTES, f"{free / 1024**3:.1f} GiB free at {folder.resolve()}")
    console.print(table)
    if failures:
        raise CliError(f"{failures} check(s) failed")


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
