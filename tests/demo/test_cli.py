"""``siyu demo`` with the generator: options with help, the login line first, reuse without duplicates,
--reset to rebuild (in-process, on the embedded SQLite store)."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from siyu.board import service as board
from siyu.cli import app
from siyu.cli.server import DEMO_EMAIL, DEMO_PASSWORD
from siyu.config import load_settings
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.lake.store import lake_for
from siyu.models import Contact, Workspace
from siyu.tiers import service as tiers_service


def run(data: Path, *args: str) -> list[str]:
    result = CliRunner().invoke(app, ["--data-dir", str(data), "demo", *args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def counts(data: Path) -> tuple[int, str]:
    engine = make_engine(f"sqlite:///{data / 'siyu.db'}")
    try:
        with transaction(make_sessionmaker(engine)) as session:
            ws = session.scalar(select(Workspace).where(Workspace.slug == "demo"))
            assert ws is not None
            return session.scalar(select(func.count()).where(Contact.workspace_id == ws.id)) or 0, ws.name
    finally:
        engine.dispose()


def test_every_demo_option_has_help() -> None:
    command = typer.main.get_command(app).commands["demo"]  # type: ignore[attr-defined]
    options = {p.name: p for p in command.params if p.param_type_name == "option"}
    assert {"contacts", "industry", "seed", "months", "reset", "serve_after"} <= set(options)
    for param in options.values():
        assert (param.help or "").strip(), param.name
    assert options["contacts"].default == 50_000
    assert options["seed"].default == 42
    assert options["months"].default == 12


def test_demo_builds_once_reuses_then_resets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = run(data, "--contacts", "1000", "--industry", "coffee", "--months", "3")
    assert first[0].startswith("demo workspace ready. Open http://")
    assert f"{DEMO_EMAIL} / {DEMO_PASSWORD}" in first[0]
    assert "1,000 contacts" in first[1]
    assert counts(data) == (1000, "山隅咖啡 SHANYU COFFEE (demo)")
    again = run(data, "--contacts", "2000")
    assert "reusing the demo workspace (1,000 contacts, coffee" in again[1]
    assert counts(data)[0] == 1000
    rebuilt = run(data, "--reset", "--contacts", "1500", "--months", "2")
    assert "1,500 contacts" in rebuilt[1]
    assert counts(data) == (1500, "澜肌 LANJI 美妆 (demo)")


def test_after_the_demo_every_board_chart_and_kpi_has_figures(tmp_path: Path) -> None:
    """What `make demo` promises the board: every KPI a value, every chart rows with something in them
    (the journeys chart from the ledger's WeCom broadcasts), and lifecycle flows from the replayed stages."""
    data = tmp_path / "data"
    lines = run(data, "--contacts", "2000")
    assert "lifecycle stages replayed as of 60 and 30 days ago" in lines[2]
    lake = lake_for(load_settings(data_dir=data))
    engine = make_engine(f"sqlite:///{data / 'siyu.db'}")
    try:
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            ws = session.scalar(select(Workspace).where(Workspace.slug == "demo"))
            assert ws is not None
            ws_id = ws.id
        with transaction(factory, workspace_id=ws_id) as session:
            filters = board.BoardFilters()
            kpis = board.board(session, lake, filters)["kpis"]
            charts = board.charts(session, lake, board.CHARTS, filters, board.ChartOptions())
    finally:
        engine.dispose()
    assert [k["id"] for k in kpis if k["value"] is None] == []
    for name, chart in charts.items():
        numbers = [v for row in chart["rows"] for v in row if isinstance(v, int | float) and not isinstance(v, bool)]
        assert any(numbers), name
    assert any(row[0].startswith("broadcast:wecom-") for row in charts["journeys"]["rows"])
    flows = tiers_service.lifecycle_flows(lake, ws_id, 90)["flows"]
    assert sum(f["contacts"] for f in flows) > 100
    assert {"silent", "active"} <= {f["to"] for f in flows}
    assert sum(tiers_service.distribution(lake, ws_id)["threshold"].values()) == 2000
