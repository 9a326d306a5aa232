"""Commands that set up the store and run the service: init, migrate, serve, worker, demo."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Role
from siyu.cli.common import open_store, settings_of, unit_of_work
from siyu.config import Settings, serving_processes
from siyu.demo.presets import Industry
from siyu.kit.logging import configure_logging
from siyu.migrations import upgrade
from siyu.models import Operator, Workspace
from siyu.workspace import service
from siyu.workspace.schemas import MemberCreate, WorkspaceCreate

if TYPE_CHECKING:
    from siyu.demo import DemoConfig, Summary
    from siyu.worker.runner import Worker

log = logging.getLogger("siyu.cli")

DEMO_SLUG = "demo"
DEMO_EMAIL = "demo@siyu.local"
DEMO_PASSWORD = "siyu-demo-2026"  # noqa: S105 - the published login of the local demo


def prepare_store(settings: Settings) -> None:
    """Create the data folder, apply migrations and install the built-in schedules."""
    from siyu.channel.tasks import install_schedules as install_channel_schedules
    from siyu.journey.tasks import install_schedules as install_journey_schedules
    from siyu.segment.tasks import install_schedules
    from siyu.worker import registry
    from siyu.worker.system_tasks import install_system_schedules

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.sqlalchemy_url)
    registry.load(settings.plugins)
    engine, factory = open_store(settings)
    with unit_of_work(factory) as session:
        install_system_schedules(session, settings.job_retention_days)
        install_schedules(session, settings)
        install_journey_schedules(session, settings)
        install_channel_schedules(session, settings)
    engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("migrate")(migrate)
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("demo")(demo)


def init(ctx: typer.Context) -> None:
    """Create the data folder and database, apply migrations, install built-in schedules."""
    settings = settings_of(ctx)
    prepare_store(settings)
    where = settings.data_dir.resolve() if settings.is_sqlite else "the configured database"
    typer.echo(f"siyu is ready in {where}. Next: `siyu workspace create` and `siyu user create`.")


def migrate(
    ctx: typer.Context,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations up to REVISION (default: the newest)."""
    settings = settings_of(ctx)
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.sqlalchemy_url, revision)
    typer.echo(f"database at {revision}")


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (default SIYU_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default SIYU_PORT).")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker", help="Run the in-process job worker (default SIYU_RUN_WORKER_IN_PROCESS)."
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes", min=1, max=64, help="HTTP processes (default SIYU_WEB_PROCESSES: one per core, at most 4)."
        ),
    ] = None,
) -> None:
    """Serve the API and console; applies pending migrations first. Runs SIYU_WEB_PROCESSES HTTP
    processes (default one per core, at most 4); the in-process job worker runs once, beside them."""
    import uvicorn

    from siyu.app import SERVING_SETTINGS_ENV, create_app, tune_runtime

    settings = settings_of(ctx)
    configure_logging(settings.log_level, settings.log_format.value)
    prepare_store(settings)
    settings = settings.model_copy(
        update={
            k: v
            for k, v in {
                "host": host,
                "port": port,
                "run_worker_in_process": worker,
                "web_processes": processes,
            }.items()
            if v is not None
        }
    )
    count = serving_processes(settings)
    typer.echo(
        f"siyu serving on http://{settings.host}:{settings.port}  (API docs at /docs; "
        f"{count} HTTP process{'es' if count > 1 else ''})"
    )
    options: dict[str, Any] = {"host": settings.host, "port": settings.port, "log_config": None, "access_log": False}
    if count == 1:
        app = create_app(settings)
        tune_runtime()
        uvicorn.run(app, **options)
        return
    os.environ[SERVING_SETTINGS_ENV] = settings.model_dump_json()
    runner = _start_worker_beside(settings) if settings.run_worker_in_process else None
    try:
        uvicorn.run("siyu.app:serving_app", factory=True, workers=count, **options)
    finally:
        if runner is not None:
            runner.stop()


def _start_worker_beside(settings: Settings) -> Worker:
    """The job worker of the embedded default, in the process that supervises the HTTP processes."""
    from siyu.worker import registry
    from siyu.worker.runner import Worker, start_in_thread

    registry.load(settings.plugins)
    _, factory = open_store(settings)
    runner = Worker(settings, factory, name="in-process")
    start_in_thread(runner)
    return runner


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(help="Run the jobs that are due, then exit.")] = False,
    name: Annotated[str | None, typer.Option(help="Worker id shown in job rows (default host:pid:random).")] = None,
) -> None:
    """Run a job worker. Several may run against PostgreSQL; they share the queue safely."""
    from siyu.worker import registry
    from siyu.worker.runner import Worker

    settings = settings_of(ctx)
    configure_logging(settings.log_level, settings.log_format.value)
    registry.load(settings.plugins)
    _, factory = open_store(settings)
    runner = Worker(settings, factory, name=name)
    if once:
        ran = runner.drain()
        typer.echo(f"ran {ran} jobs")
        return

    def stop(_sig: int, _frame: FrameType | None) -> None:
        runner.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    runner.run_forever()


def demo(
    ctx: typer.Context,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the console afterwards.")] = False,
    contacts: Annotated[
        int,
        typer.Option(min=1000, max=10_000_000, help="Contacts to generate, from 1,000 to 10,000,000."),
    ] = 50_000,
    industry: Annotated[
        Industry,
        typer.Option(help="Industry preset: beauty (美妆), baby (母婴), coffee (咖啡) or education (教育)."),
    ] = Industry.beauty,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed, size, industry, months and day give the same data.")
    ] = 42,
    months: Annotated[
        int, typer.Option(min=1, max=36, help="Months of history (orders, messages, groups) up to today.")
    ] = 12,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the demo workspace's data and generate it again.")
    ] = False,
    wecom: Annotated[
        bool,
        typer.Option(
            "--wecom/--no-wecom",
            help="With --serve: wire the workspace to a WeCom stand-in and play a customer scanning a 渠道活码.",
        ),
    ] = True,
) -> None:
    """Build the demo workspace and its owner login; with --serve, serve the console.

    The workspace is filled once with a year of calibrated demo data (see docs/demo.md); later runs reuse
    it unless --reset is given."""
    from siyu.demo import DemoConfig, existing, generate, preset_of

    settings = settings_of(ctx)
    prepare_store(settings)
    engine, factory = open_store(settings)
    preset = preset_of(industry)
    with unit_of_work(factory) as session:
        ws = session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        if ws is None:
            ws = service.create_workspace(
                session, WorkspaceCreate(slug=DEMO_SLUG, name=preset.workspace_name), actor_label="demo"
            )
        ws_id = ws.id
    with unit_of_work(factory, ws_id) as session:
        if session.scalar(select(Operator).where(Operator.email == DEMO_EMAIL)) is None:
            service.add_member(
                session,
                None,
                MemberCreate(
                    email=DEMO_EMAIL,
                    display_name="Demo Owner",
                    role=Role.owner,
                    password=DEMO_PASSWORD,
                    can_unmask_pii=True,
                ),
                workspace_id=ws_id,
                actor_label="demo",
            )
    found, last = existing(factory, ws_id)
    if found and not reset:
        note = _reuse_note(found, last)
    else:
        config = DemoConfig(contacts=contacts, industry=industry, seed=seed, months=months)
        _rename_demo(factory, ws_id, preset.workspace_name)
        summary = _generate_with_progress(factory, ws_id, config, generate)
        rows = summary.rows
        note = (
            f"demo data: {contacts:,} contacts ({preset.label}, seed {seed}, {months} months) with "
            f"{rows.get('event', 0):,} events and {rows.get('sales_order', 0):,} orders, "
            f"generated in {summary.seconds:.1f} s"
        )
        note += "\n" + _demo_analytics(settings, factory, ws_id, preset)
    engine.dispose()
    url = f"http://{settings.host}:{settings.port}"
    banner = f"demo workspace ready. Open {url} and sign in as {DEMO_EMAIL} / {DEMO_PASSWORD}"
    typer.secho(banner, fg="green", bold=True)
    typer.echo(note)
    if serve_after:
        if wecom:
            from siyu.cli import dev

            engine, factory = open_store(settings)
            flow = dev.start_demo_wecom(factory, ws_id, DEMO_SLUG, url)
            typer.echo(
                f"WeCom stand-in on {flow.url}: in 15 s a customer scans the 渠道活码 {dev.DEMO_STATE} "
                "(see /wecom, /contacts, /journeys and /tasks)"
            )
            dev.play_later(factory, ws_id, flow, 15, typer.echo)
        serve(ctx)


def _demo_analytics(settings: Settings, factory: sessionmaker[Session], ws_id: int, preset: Any) -> str:
    """Example auto-tags and segments, and a first full analytics refresh, so every console page has data."""
    import time

    from siyu.auth.context import AuthContext
    from siyu.auth.permissions import Permission
    from siyu.lake.store import lake_for
    from siyu.lake.sync import forget_workspace
    from siyu.segment.examples import install_examples
    from siyu.segment.flows import refresh_workspace

    started = time.perf_counter()
    lake = lake_for(settings)
    forget_workspace(lake, ws_id)  # the data was generated again: copy it again
    actor = AuthContext(workspace_id=ws_id, permissions=frozenset(Permission), label="demo")
    with unit_of_work(factory, ws_id) as session:
        install_examples(session, actor, preset)
    replayed = _replay_stage_history(factory, lake, ws_id)
    report = refresh_workspace(factory, lake, ws_id, mode="full")
    members = ", ".join(f"{s.name} {s.size:,}" for s in report.segments)
    return (
        f"analytics: lifecycle stages replayed as of {' and '.join(map(str, DEMO_HISTORY_DAYS))} days ago "
        f"({replayed:,} stage changes), tiers, auto-tags and segments refreshed in "
        f"{time.perf_counter() - started:.1f} s ({members})"
    )


# The generated year arrives at once, so it has no lifecycle stage history (and the lifecycle flows
# would be empty): the stages as they stood these many days ago, oldest first, are replayed before the
# first refresh, as monthly refreshes would have recorded them.
DEMO_HISTORY_DAYS: Final = (60, 30)


def _replay_stage_history(factory: sessionmaker[Session], lake: Any, ws_id: int) -> int:
    from datetime import timedelta

    from siyu.filters.context import local_now
    from siyu.lake.sync import sync_into
    from siyu.tiers.refresh import replay_stages
    from siyu.tiers.settings import parse_settings

    with unit_of_work(factory, ws_id) as session:
        ws = session.get(Workspace, ws_id)
        assert ws is not None
        tier_settings, now = parse_settings(ws.tier_settings), local_now(ws.timezone)
    changes = 0
    with lake.write() as con:
        sync_into(con, factory, ws_id)
        for days in DEMO_HISTORY_DAYS:
            con.execute("BEGIN")
            changes += replay_stages(con, ws_id, now - timedelta(days=days), tier_settings)
            con.execute("COMMIT")
    return changes


def _reuse_note(found: int, last: dict[str, Any] | None) -> str:
    if last is None:
        return (
            f"demo data: the demo workspace has {found:,} contacts from an unfinished or older run; "
            "run `siyu demo --reset` to build it again"
        )
    return (
        f"demo data: reusing the demo workspace ({found:,} contacts, {last.get('industry')}, seed "
        f"{last.get('seed')}, generated up to {last.get('until')}); run `siyu demo --reset` to build it again"
    )


def _rename_demo(factory: sessionmaker[Session], ws_id: int, name: str) -> None:
    from siyu.audit import service as audit

    with unit_of_work(factory) as session:
        ws = session.get(Workspace, ws_id)
        if ws is not None and ws.name != name:
            before = ws.name
            ws.name = name
            audit.record(
                session,
                None,
                "workspace.updated",
                "workspace",
                ws_id,
                before={"name": before},
                after={"name": name},
                workspace_id=ws_id,
                actor_label="demo",
            )


def _generate_with_progress(
    factory: sessionmaker[Session], ws_id: int, config: DemoConfig, generate: Callable[..., Summary]
) -> Summary:
    """Generate with a Rich progress bar on the terminal (stderr; nothing when it is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("生成 demo 数据 · contacts", total=config.contacts)
        return generate(factory, ws_id, config, lambda done, _total: progress.update(task, completed=done))
