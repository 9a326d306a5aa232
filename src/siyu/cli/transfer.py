"""``siyu import`` and ``siyu export``: files in and out of a workspace's user pool, with progress bars."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from siyu.audit import service as audit
from siyu.cli.common import CliError, open_store, settings_of, unit_of_work, workspace_by_slug
from siyu.kit.db import read_only
from siyu.transfer import exports
from siyu.transfer.files import FileProblem
from siyu.transfer.imports import DEFAULT_CHUNK, run_import

console = Console(stderr=True)


class Kind(StrEnum):
    contacts = "contacts"
    events = "events"
    orders = "orders"


def register(app: typer.Typer) -> None:
    app.command("import")(import_file)
    app.command("export")(export_file)


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def import_file(
    ctx: typer.Context,
    kind: Annotated[Kind, typer.Argument(help="What the file holds: contacts, events or orders.")],
    file: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .xlsx file.", exists=True, dir_okay=False)],
    workspace: Annotated[str, typer.Option(help="Slug of the workspace to import into.")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv, jsonl or xlsx (default: from the file name).")
    ] = None,
    errors: Annotated[
        Path | None, typer.Option(help="Where to write the error report (default: FILE.errors.csv).")
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Records per transaction.", min=100, max=50_000)] = DEFAULT_CHUNK,
    emit_events: Annotated[
        bool, typer.Option(help="Orders only: also record order_paid/order_refunded events (starts journeys).")
    ] = False,
) -> None:
    """Import a file; rejected records go to an error report; a killed import resumes when run again."""
    settings = settings_of(ctx)
    _, factory = open_store(settings)
    ws = workspace_by_slug(factory, workspace)
    with _bar() as bar:
        task = bar.add_task(f"importing {kind.value}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            summary = run_import(
                factory,
                ws.id,
                kind.value,
                file,
                state_dir=settings.data_dir / "imports",
                actor_label=f"import:{file.name}",
                fmt=file_format,
                chunk_size=chunk_size,
                error_report=errors,
                emit_order_events=emit_events,
                progress=progress,
            )
        except FileProblem as exc:
            raise CliError(f"{file}: {exc}", exit_code=2) from None
    if summary.resumed_from_line:
        typer.echo(f"resumed from line {summary.resumed_from_line}")
    typer.echo(
        f"{summary.accepted} stored, {summary.duplicates} already there, {summary.rejected} rejected, "
        f"{summary.contacts_created} new contacts"
    )
    if summary.error_report is not None:
        typer.echo(f"error report: {summary.error_report}")
        raise typer.Exit(1)


def export_file(
    ctx: typer.Context,
    kind: Annotated[Kind, typer.Argument(help="What to export: contacts, events or orders.")],
    workspace: Annotated[str, typer.Option(help="Slug of the workspace to export from.")],
    out: Annotated[Path, typer.Option(help="File to write (.csv or .xlsx).", dir_okay=False)],
    unmask: Annotated[bool, typer.Option(help="Write phone numbers, e-mails and names in full (audited).")] = False,
) -> None:
    """Export contacts, events or orders; personal data is masked unless --unmask."""
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in exports.EXPORT_FORMATS:
        raise CliError("--out must end in .csv or .xlsx", exit_code=2)
    settings = settings_of(ctx)
    _, factory = open_store(settings)
    ws = workspace_by_slug(factory, workspace)
    with unit_of_work(factory, ws.id) as session, _bar() as bar:
        read_only(session)  # a long export must not hold SQLite's write lock
        task = bar.add_task(f"exporting {kind.value}", total=exports.count(session, kind.value))
        written = exports.export(
            session, kind.value, out, fmt=fmt, unmask=unmask, progress=lambda n: bar.update(task, completed=n)
        )
        bar.update(task, completed=written)
    with unit_of_work(factory, ws.id) as session:
        audit.record(
            session,
            None,
            "data.exported",
            kind.value,
            None,
            after={"rows": written, "unmasked": unmask, "file": out.name},
            workspace_id=ws.id,
            actor_label="cli",
        )
    typer.echo(f"{written} {kind.value} written to {out}")
