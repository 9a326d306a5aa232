"""The ``siyu`` command line (Typer). Errors print one clear line and exit non-zero."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from siyu.cli import admin, dev, doctor, journeys, segments, server, transfer
from siyu.cli.common import CliError, State
from siyu.errors import SiyuError

app = typer.Typer(
    name="siyu",
    help="siyu (私域): self-hosted private-domain customer operations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data folder of the embedded default (overrides SIYU_DATA_DIR).")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Operational store URL (overrides SIYU_DATABASE_URL).")
    ] = None,
) -> None:
    ctx.obj = State(data_dir=data_dir, database_url=database_url)


server.register(app)
doctor.register(app)
transfer.register(app)
segments.register(app)
journeys.register(app)
app.add_typer(admin.user_app, name="user")
app.add_typer(admin.token_app, name="token")
app.add_typer(admin.workspace_app, name="workspace")
app.add_typer(dev.dev_app, name="dev")


def main() -> None:
    """Entry point. Usage errors are Typer's (exit 2); domain and configuration errors become one line."""
    try:
        app(prog_name="siyu")
    except CliError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except SiyuError as exc:
        where = f" ({', '.join(f'{p.field}: {p.reason}' for p in exc.errors)})" if exc.errors else ""
        typer.secho(f"error: {exc.detail}{where}", fg="red", err=True)
        sys.exit(1)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "value"
        typer.secho(f"error: {field}: {first['msg']}", fg="red", err=True)
        sys.exit(2)
    except OperationalError as exc:
        typer.secho(f"error: cannot use the database: {exc.orig}", fg="red", err=True)
        sys.exit(1)
