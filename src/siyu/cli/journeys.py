"""``siyu journeys …``: list, show, validate, save and publish journeys (JSON or YAML files), pause,
resume and archive them, and install the seeds' templates."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.cli.common import CliError, open_store, settings_of, unit_of_work, workspace_by_slug
from siyu.journey import audiences, dryrun, engine, service, tasks, templates
from siyu.journey import definition as jd
from siyu.kit.time import utcnow
from siyu.lake.store import lake_for

journeys_app = typer.Typer(help="Journeys and SOP automation (自动化 SOP).", no_args_is_help=True)
console = Console()
Workspace = Annotated[str, typer.Option("--workspace", "-w", help="Workspace slug.")]
T = TypeVar("T")


def _actor(workspace_id: int) -> AuthContext:
    return AuthContext(workspace_id=workspace_id, permissions=frozenset(Permission), label="cli")


@contextmanager
def _session(ctx: typer.Context, slug: str) -> Iterator[tuple[Session, AuthContext]]:
    engine, factory = open_store(settings_of(ctx))
    try:
        ws = workspace_by_slug(factory, slug)
        with unit_of_work(factory, ws.id) as session:
            yield session, _actor(ws.id)
    finally:
        engine.dispose()


def _run(ctx: typer.Context, slug: str, work: Callable[[Session, AuthContext], T]) -> T:
    with _session(ctx, slug) as (session, actor):
        return work(session, actor)


def _read(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{file} is not UTF-8 text") from None
    return jd.load_yaml(text, str(file))


def _print_problems(problems: list[dict[str, str]]) -> None:
    for p in problems:
        console.print(f"  [red]✗[/red] {p['field']}: {p['reason']}")


@journeys_app.command("list")
def list_journeys(ctx: typer.Context, workspace: Workspace) -> None:
    """The workspace's journeys with their status and published version."""

    def rows(session: Session, _: AuthContext) -> list[tuple[str, ...]]:
        return [
            (str(j.id), j.name, j.status, str(j.published_version), str(len(j.draft_problems or [])))
            for j in service.journeys(session, include_archived=True)
        ]

    table = Table("id", "name", "status", "version", "draft problems")
    for row in _run(ctx, workspace, rows):
        table.add_row(*row)
    console.print(table)


@journeys_app.command("show")
def show(
    ctx: typer.Context,
    workspace: Workspace,
    journey_id: Annotated[int, typer.Argument()],
    version: Annotated[int | None, typer.Option(help="A published version (default: the draft).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
) -> None:
    """A journey's draft (or a published version) as YAML, ready to edit and save again."""

    def read(session: Session, _: AuthContext) -> dict[str, Any]:
        journey = service.get(session, journey_id)
        return journey.draft if version is None else service.version(session, journey_id, version).definition

    raw = _run(ctx, workspace, read)
    typer.echo(json.dumps(raw, ensure_ascii=False, indent=2) if as_json else jd.to_yaml(raw))


@journeys_app.command("validate")
def validate(
    ctx: typer.Context, workspace: Workspace, file: Annotated[Path, typer.Argument(help="YAML or JSON file.")]
) -> None:
    """Check a journey file against the workspace without saving it (exit 1 when it has problems)."""
    raw = _read(file)
    problems = _run(ctx, workspace, lambda session, _: [p.as_dict() for p in service.problems_of(session, raw)])
    if problems:
        console.print(f"{file}: {len(problems)} problem(s)")
        _print_problems(problems)
        raise typer.Exit(1)
    console.print(f"{file}: valid")


@journeys_app.command("save")
def save(
    ctx: typer.Context,
    workspace: Workspace,
    file: Annotated[Path, typer.Argument(help="YAML or JSON file with the journey graph.")],
    name: Annotated[str, typer.Option(help="The journey's name: a new journey, or the draft of this one.")],
    publish: Annotated[bool, typer.Option(help="Publish the draft once saved.")] = False,
) -> None:
    """Save a file as a journey's draft (created when no journey has this name), and optionally publish it."""
    raw = _read(file)

    def work(session: Session, actor: AuthContext) -> tuple[str, bool]:
        existing = service.journey_named(session, name)
        journey = (
            service.create(session, actor, name=name, definition=raw)
            if existing is None
            else service.save_draft(session, actor, existing.id, raw)
        )
        said = f"journey {journey.id} ({journey.name}): draft saved"
        if journey.draft_problems:
            _print_problems(journey.draft_problems)
            return said + f" with {len(journey.draft_problems)} problem(s); fix them to publish", publish
        if publish:
            version = service.publish(session, actor, journey.id)
            return said + f", published as version {version.version}", False
        return said + "; publish it with `siyu journeys publish`", False

    message, failed = _run(ctx, workspace, work)  # the draft is kept even when it cannot be published
    console.print(message)
    if failed:
        raise typer.Exit(1)


@journeys_app.command("publish")
def publish(ctx: typer.Context, workspace: Workspace, journey_id: Annotated[int, typer.Argument()]) -> None:
    """Freeze the draft as the next version; new entrants follow it, contacts in flight keep theirs."""
    version = _run(ctx, workspace, lambda session, actor: service.publish(session, actor, journey_id).version)
    console.print(f"journey {journey_id}: version {version} published")


def _move(action: str) -> Callable[..., None]:
    def command(ctx: typer.Context, workspace: Workspace, journey_id: Annotated[int, typer.Argument()]) -> None:
        status = _run(
            ctx, workspace, lambda session, actor: service.change_status(session, actor, journey_id, action).status
        )
        console.print(f"journey {journey_id}: {status}")

    command.__doc__ = {
        "pause": "Pause a journey: nobody enters or steps until it is resumed (nothing is sent twice).",
        "resume": "Resume a paused journey.",
        "archive": "Archive a journey (its history stays).",
        "restore": "Bring an archived journey back, paused.",
    }[action]
    return command


for _action in ("pause", "resume", "archive", "restore"):
    journeys_app.command(_action)(_move(_action))


@journeys_app.command("enter")
def enter(
    ctx: typer.Context,
    workspace: Workspace,
    journey_id: Annotated[int, typer.Argument()],
    contact: Annotated[list[int], typer.Option("--contact", help="Contact id (repeat the option for more).")],
    key: Annotated[str, typer.Option(help="Names this entry: the same key enters a contact once.")] = "manual",
) -> None:
    """Enter contacts into an active journey (manual trigger, or on top of the journey's own)."""
    entries = [(c, f"manual:{key}:{c}") for c in contact]
    entered = _run(ctx, workspace, lambda session, _: engine.enter(session, journey_id, entries, utcnow()))
    console.print(f"journey {journey_id}: {entered} of {len(contact)} contact(s) entered")


@journeys_app.command("dry-run")
def dry_run(
    ctx: typer.Context,
    workspace: Workspace,
    journey_id: Annotated[int, typer.Argument()],
    contact: Annotated[list[int] | None, typer.Option("--contact", help="Try these contacts (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """What the journey's draft would do to the current pool, sending nothing."""
    settings = settings_of(ctx)

    def work(session: Session, _: AuthContext) -> dict[str, Any]:
        conditions = audiences.lake_conditions(session, lake_for(settings))
        return dryrun.dry_run(session, journey_id, utcnow(), contact_ids=contact, conditions=conditions).as_dict()

    report = _run(ctx, workspace, work)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    console.print(f"pool {report['pool']}, entered {report['entered']} ({'; '.join(report['notes'])})")
    table = Table("node", "contacts")
    for node_id, n in report["nodes"].items():
        table.add_row(node_id, str(n))
    console.print(table)
    blocked = ", ".join(f"{rule} {n}" for rule, n in report["blocked"].items()) or "none"
    console.print(
        f"messages {report['messages']} (deferred by quiet hours {report['deferred']}), blocked: {blocked}; "
        f"staff tasks {report['tasks']}; ended: {report['ended']}"
    )


@journeys_app.command("tick")
def tick(ctx: typer.Context, workspace: Workspace) -> None:
    """Run what is due now in the workspace's journeys: event triggers, steps, messages (the worker does
    this every minute)."""
    settings = settings_of(ctx)
    engine_, factory = open_store(settings)
    try:
        ws = workspace_by_slug(factory, workspace)
        report = tasks.tick(factory, lake_for(settings), ws.id)
    finally:
        engine_.dispose()
    console.print(
        f"{report.entered} entered, {report.steps} steps, {report.messages} messages queued "
        f"({report.blocked} blocked), {report.sent} sent"
    )


@journeys_app.command("templates")
def list_templates() -> None:
    """The seeds' journey templates (install one with `siyu journeys install KEY`)."""
    table = Table("key", "name", "description")
    for t in templates.all_templates():
        table.add_row(t.key, t.name, t.description)
    console.print(table)


@journeys_app.command("install")
def install(
    ctx: typer.Context,
    workspace: Workspace,
    key: Annotated[str, typer.Argument(help="Template key (see `siyu journeys templates`).")],
    name: Annotated[str | None, typer.Option(help="Name of the new journey (default: the template's).")] = None,
    channel: Annotated[
        str | None, typer.Option(help="Send its messages through this channel (default: the outbox).")
    ] = None,
) -> None:
    """Install a template as a draft journey, to read, adjust and publish."""

    def work(session: Session, actor: AuthContext) -> tuple[int, str, list[str], int]:
        journey, notices = service.install_template(session, actor, key, name=name, channel=channel)
        return journey.id, journey.name, notices, len(journey.draft_problems or [])

    journey_id, journey_name, notices, problems = _run(ctx, workspace, work)
    console.print(
        f"journey {journey_id} ({journey_name}) installed as a draft; publish it with "
        f"`siyu journeys publish {journey_id}`"
    )
    for notice in notices:
        console.print(f"  note: {notice}")
    if problems:
        console.print(f"  it has {problems} problem(s) in this workspace: `siyu journeys show {journey_id}`")


@journeys_app.command("ledger")
def ledger_rows(
    ctx: typer.Context,
    workspace: Workspace,
    status: Annotated[str | None, typer.Option(help="queued, sending, sent, failed, blocked, unknown …")] = None,
    rule: Annotated[str | None, typer.Option(help="The rule that blocked (opt_out, daily_cap …).")] = None,
    source: Annotated[str | None, typer.Option(help="journey:<id> or broadcast:<key>.")] = None,
    channel: Annotated[str | None, typer.Option(help="outbox, webhook, email …")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many rows.")] = 50,
) -> None:
    """The delivery ledger, newest first, with block reasons."""

    def read(session: Session, _: AuthContext) -> tuple[list[tuple[str, str, str, str, str, str, str]], int]:
        rows, total = service.deliveries(
            session, status=status, rule=rule, source=source, channel=channel, contact_id=None, limit=limit, offset=0
        )
        shown = [
            (str(d.id), str(d.contact_id), d.source, d.channel, d.status, d.rule or "", (d.reason or "")[:80])
            for d in rows
        ]
        return shown, total

    rows, total = _run(ctx, workspace, read)
    table = Table("id", "contact", "source", "channel", "status", "rule", "reason", title=f"{total} deliveries")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@journeys_app.command("tasks")
def task_list(
    ctx: typer.Context,
    workspace: Workspace,
    overdue: Annotated[bool, typer.Option(help="Only open tasks past their due time.")] = False,
    assignee: Annotated[str | None, typer.Option(help="A staff userid.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many rows.")] = 50,
) -> None:
    """Staff tasks, soonest due first."""
    now = utcnow()

    def read(session: Session, _: AuthContext) -> tuple[list[tuple[str, str, str, str, str, str, str]], int]:
        rows, total = service.tasks(
            session, status=None, overdue_at=now if overdue else None, assignee=assignee, limit=limit, offset=0
        )
        late = [t.status == "open" and t.due_at < now for t in rows]
        shown = [
            (
                str(t.id),
                t.title,
                t.assignee or "",
                str(t.contact_id or ""),
                t.status,
                f"{t.due_at:%Y-%m-%d %H:%M}Z",
                "!" * is_late,
            )
            for t, is_late in zip(rows, late, strict=True)
        ]
        return shown, total

    rows, total = _run(ctx, workspace, read)
    table = Table("id", "title", "assignee", "contact", "status", "due", "overdue", title=f"{total} tasks")
    for row in rows:
        table.add_row(*row)
    console.print(table)


broadcast_app = typer.Typer(help="Broadcasts to a segment, through the dispatcher (群发).", no_args_is_help=True)


def _broadcast(segment: int, channel: str, text: str, title: str | None, priority: str, promotional: bool) -> Any:
    from siyu.dispatch.broadcast import Broadcast
    from siyu.dispatch.governance import Priority

    try:
        level = Priority(priority)
    except ValueError:
        raise CliError(f"--priority: one of {', '.join(p.value for p in Priority)}") from None
    content = {"text": text, **({"title": title} if title else {})}
    return Broadcast(segment, channel, content, level, promotional)


def _print_outlook(outlook: Any) -> None:
    blocked = ", ".join(f"{rule} {n}" for rule, n in sorted(outlook.blocked.items())) or "none"
    console.print(
        f"audience {outlook.audience}: send now {outlook.send}, deferred by quiet hours {outlook.deferred}, "
        f"blocked: {blocked}" + (f"; without an e-mail address {outlook.no_address}" if outlook.no_address else "")
    )


Segment = Annotated[int, typer.Option("--segment", help="Segment id.")]
Channel = Annotated[str, typer.Option(help="outbox, webhook, email …")]
Text = Annotated[str, typer.Option(help="The message.")]
Title = Annotated[str | None, typer.Option(help="A title (the e-mail subject).")]
Level = Annotated[str, typer.Option(help="service, transactional or marketing.")]
Promotional = Annotated[bool, typer.Option(help="Counts towards the content mix.")]


@broadcast_app.command("forecast")
def forecast(
    ctx: typer.Context,
    workspace: Workspace,
    segment: Segment,
    text: Text,
    channel: Channel = "outbox",
    title: Title = None,
    priority: Level = "marketing",
    promotional: Promotional = False,
) -> None:
    """How a broadcast would fare now: reached, deferred, blocked by which rule. Sends nothing."""
    from siyu.dispatch import broadcast

    plan = _broadcast(segment, channel, text, title, priority, promotional)
    _print_outlook(_run(ctx, workspace, lambda session, a: broadcast.forecast(session, a.workspace_id, plan, utcnow())))


@broadcast_app.command("send")
def send(
    ctx: typer.Context,
    workspace: Workspace,
    segment: Segment,
    text: Text,
    key: Annotated[str, typer.Option(help="Names the broadcast: sending the same key again queues nobody twice.")],
    channel: Channel = "outbox",
    title: Title = None,
    priority: Level = "marketing",
    promotional: Promotional = False,
) -> None:
    """Queue a broadcast to every contact of the segment now (the worker sends it)."""
    from siyu.dispatch import broadcast

    plan = _broadcast(segment, channel, text, title, priority, promotional)
    outlook = _run(ctx, workspace, lambda session, a: broadcast.send(session, a.workspace_id, plan, key, utcnow()))
    console.print(f"broadcast {key}: {outlook.queued} ledger rows written")
    _print_outlook(outlook)


channels_app = typer.Typer(help="Outbound channels: which a workspace has, and their settings.", no_args_is_help=True)


@channels_app.command("show")
def show_channels(ctx: typer.Context, workspace: Workspace) -> None:
    """The channels that deliver, and the settings of those set up (secrets are never shown)."""
    from siyu.dispatch import channels
    from siyu.models import Workspace as WorkspaceRow

    def read(session: Session, actor: AuthContext) -> dict[str, Any]:
        row = session.get(WorkspaceRow, actor.workspace_id)
        assert row is not None
        return {"available": sorted(channels.configured(row)), **channels.shown_all(row)}

    typer.echo(json.dumps(_run(ctx, workspace, read), ensure_ascii=False, indent=2))


@channels_app.command("set")
def set_channel(
    ctx: typer.Context,
    workspace: Workspace,
    name: Annotated[str, typer.Argument(help="webhook or email.")],
    file: Annotated[Path, typer.Argument(help="The settings as JSON or YAML (see docs/journeys.md).")],
) -> None:
    """Set up a channel; a secret left out keeps the one saved before."""
    from siyu.dispatch import channels

    raw = _read(file)
    shown = _run(ctx, workspace, lambda session, actor: channels.set_channel(session, actor.workspace_id, name, raw))
    console.print(f"channel {name} set up")
    typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(journeys_app, name="journeys")
    app.add_typer(broadcast_app, name="broadcast")
    app.add_typer(channels_app, name="channels")
