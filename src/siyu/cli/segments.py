"""``siyu segments …``: refresh the analytics store and the segments, list and show segments, explain a
contact's membership, save a segment from a JSON or YAML file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.cli.common import CliError, open_store, settings_of, unit_of_work, workspace_by_slug
from siyu.lake.store import lake_for
from siyu.segment import repository, service
from siyu.segment.flows import MODES, refresh_workspace
from siyu.segment.schemas import SegmentIn, SegmentKind, SegmentPatch

segments_app = typer.Typer(help="Segments (用户分层) and the analytics refresh.", no_args_is_help=True)
console = Console()
Workspace = Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")]


def _cli_actor(workspace_id: int) -> AuthContext:
    return AuthContext(workspace_id=workspace_id, permissions=frozenset(Permission), label="cli")


@segments_app.command("refresh")
def refresh(
    ctx: typer.Context,
    workspace: Workspace,
    mode: Annotated[str, typer.Option(help="`full` rescores everyone as of now; `incremental` what changed.")] = "full",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Copy new data into the analytics store, rescore the tiers, apply auto-tags, recompute segments."""
    if mode not in MODES:
        raise CliError(f"--mode is one of {', '.join(MODES)}", exit_code=2)
    settings = settings_of(ctx)
    engine, factory = open_store(settings)
    try:
        ws = workspace_by_slug(factory, workspace)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
        ) as bar:
            task = bar.add_task("refreshing", total=None)

            def progress(phase: str, done: int, total: int) -> None:
                bar.update(task, description=phase, completed=done, total=total)

            report = refresh_workspace(factory, lake_for(settings), ws.id, mode=mode, progress=progress)
    finally:
        engine.dispose()
    data = report.as_dict()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
        return
    console.print(
        f"{mode} refresh of {workspace} as of {data['as_of']}: {data['seconds']} s "
        f"(copied {data['synced'] or 'nothing new'}, {data['contacts_scored']} contacts scored)"
    )
    table = Table("segment", "members", "entered", "left", "note")
    for s in report.segments:
        table.add_row(s.name, str(s.size), str(s.entered), str(s.left), s.skipped or "")
    console.print(table)
    for note in report.recovered:
        console.print(f"recovered: {note}")


@segments_app.command("list")
def list_segments(ctx: typer.Context, workspace: Workspace) -> None:
    """The workspace's segments with their size and last refresh."""
    engine, factory = open_store(settings_of(ctx))
    try:
        ws = workspace_by_slug(factory, workspace)
        with unit_of_work(factory, ws.id) as session:
            rows = repository.segments(session, include_archived=True)
            table = Table("id", "name", "kind", "members", "version", "refreshed", "note")
            for s in rows:
                note = "archived" if s.archived else (s.broken_reason or "")
                refreshed = s.refreshed_at.isoformat(timespec="seconds") if s.refreshed_at else "never"
                table.add_row(str(s.id), s.name, s.kind, str(s.size), str(s.version), refreshed, note)
    finally:
        engine.dispose()
    console.print(table)


@segments_app.command("show")
def show(ctx: typer.Context, workspace: Workspace, segment_id: Annotated[int, typer.Argument()]) -> None:
    """A segment's definition, versions and size over time (JSON)."""
    engine, factory = open_store(settings_of(ctx))
    try:
        ws = workspace_by_slug(factory, workspace)
        with unit_of_work(factory, ws.id) as session:
            s = service.get(session, segment_id)
            data: dict[str, Any] = {
                "id": s.id,
                "name": s.name,
                "kind": s.kind,
                "size": s.size,
                "version": s.version,
                "refresh_no": s.refresh_no,
                "broken_reason": s.broken_reason,
                "definition": s.definition,
                "history": [
                    {
                        "refresh_no": r.refresh_no,
                        "size": r.size,
                        "entered": r.entered,
                        "left": r.left,
                        "at": r.refreshed_at.isoformat(),
                    }
                    for r in repository.refreshes(session, s.id)
                ],
            }
    finally:
        engine.dispose()
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@segments_app.command("explain")
def explain(
    ctx: typer.Context,
    workspace: Workspace,
    segment_id: Annotated[int, typer.Argument()],
    contact: Annotated[int, typer.Option("--contact", help="Contact id.")],
) -> None:
    """Why a contact is or is not in a segment, node by node."""
    settings = settings_of(ctx)
    engine, factory = open_store(settings)
    try:
        ws = workspace_by_slug(factory, workspace)
        with unit_of_work(factory, ws.id) as session:
            why = service.explain(session, lake_for(settings), contact, segment_id=segment_id)
    finally:
        engine.dispose()
    verdict = "is" if why.member else "is not"
    console.print(f"contact {contact} {verdict} in segment {segment_id} (as of {why.as_of:%Y-%m-%d %H:%M})")
    for node in why.nodes:
        depth = node.path.count(".")
        mark = "[green]✓[/green]" if node.holds else "[red]✗[/red]"
        seen = "" if node.observed is None else f"  (has: {node.observed})"
        console.print(f"{'  ' * depth}{mark} {node.summary}{seen}")


@segments_app.command("save")
def save(
    ctx: typer.Context,
    workspace: Workspace,
    file: Annotated[Path, typer.Argument(help="JSON file: {name, kind?, description?, definition}.")],
) -> None:
    """Create a segment from a file, or save a new version of the segment with that name."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CliError(f"cannot read {file}: {exc}") from None
    if not isinstance(raw, dict) or "name" not in raw or "definition" not in raw:
        raise CliError(f"{file}: expected an object with name and definition")
    engine, factory = open_store(settings_of(ctx))
    try:
        ws = workspace_by_slug(factory, workspace)
        with unit_of_work(factory, ws.id) as session:
            existing = repository.by_name(session, str(raw["name"]))
            actor = _cli_actor(ws.id)
            if existing is None:
                data = SegmentIn(
                    name=str(raw["name"]),
                    description=raw.get("description"),
                    kind=SegmentKind(raw.get("kind", "dynamic")),
                    definition=raw["definition"],
                )
                segment = service.create_segment(session, actor, data)
                verb = "created"
            else:
                segment = service.update_segment(
                    session, actor, existing.id, SegmentPatch(definition=raw["definition"])
                )
                verb = "saved"
            message = f"segment {segment.id} ({segment.name}) {verb}, version {segment.version}"
    finally:
        engine.dispose()
    console.print(message + "; its members appear at the next refresh (`siyu segments refresh`)")


def register(app: typer.Typer) -> None:
    app.add_typer(segments_app, name="segments")
