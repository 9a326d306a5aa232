"""A real browser (Debian's Chromium through Playwright) signs in, looks at the dashboard in both
languages and leaves a screenshot in ``test-artifacts/``."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from siyu import migrations
from siyu.app import create_app
from siyu.auth.permissions import Role
from siyu.config import load_settings
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.models import Job
from tests.factories import create_member, create_workspace

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
JOBS = {"queued": 3, "running": 1, "done": 12, "dead": 2}
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_console(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A real uvicorn server on its own SQLite file; yields (base URL, e-mail, password)."""
    url = f"sqlite:///{tmp_path / 'siyu.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    workspace = create_workspace(factory, "glow", "光采美妆")
    owner = create_member(factory, workspace.id, Role.owner, "owner@glow.example", can_unmask_pii=True)
    create_member(factory, workspace.id, Role.analyst, "analyst@glow.example")
    with transaction(factory, workspace_id=workspace.id) as session:
        for status, count in JOBS.items():
            for _ in range(count):
                session.add(Job(name="segment.refresh", payload={}, status=status, max_attempts=8))
    engine.dispose()

    settings = load_settings(
        database_url=url, data_dir=tmp_path, secret_key="browser-test", run_worker_in_process=False
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, start_worker=False), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the console server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", owner.email, owner.password
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_sign_in_and_dashboard_in_a_real_browser(live_console: tuple[str, str, str]) -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    base, email, password = live_console
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "console-home.png"
    screenshot.unlink(missing_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 860}, locale="zh-CN")
            page.goto(f"{base}/members")
            expect(page).to_have_url(f"{base}/login?next=/members")
            expect(page.get_by_role("heading", name="登录私域")).to_be_visible()
            page.get_by_label("邮箱").fill(email)
            page.get_by_label("密码").fill(password)
            page.get_by_role("button", name="登录").click()

            expect(page).to_have_url(f"{base}/members")
            page.get_by_role("link", name="工作台").click()
            expect(page).to_have_url(f"{base}/")
            expect(page.locator(".workspace-name")).to_have_text("光采美妆")
            nav = page.get_by_role("navigation", name="主导航")
            expect(nav.get_by_role("link", name="成员与角色")).to_be_visible()
            expect(page.locator(".chart svg")).to_be_visible()  # ECharts drew the job chart

            page.get_by_role("link", name="English").click()
            nav = page.get_by_role("navigation", name="Main navigation")
            expect(nav.get_by_role("link", name="Members and roles")).to_be_visible()
            expect(page.locator(".chart svg")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "console-home-en.png"), full_page=True)
            page.get_by_role("link", name="简体中文").click()
            expect(page.get_by_role("navigation", name="主导航")).to_be_visible()
            expect(page.locator(".stat-done .stat-value")).to_have_text(str(JOBS["done"]))
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert screenshot.exists()
    assert screenshot.stat().st_size > 10_000
