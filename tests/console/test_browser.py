"""A real browser (Debian's Chromium through Playwright) signs in, looks at the dashboard in both
languages and leaves a screenshot in ``test-artifacts/``."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from siyu import migrations
from siyu.app import create_app
from siyu.auth.permissions import Role
from siyu.config import Settings, load_settings
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.lake.store import lake_for
from siyu.models import Job
from siyu.segment import flows
from tests.contact.factories import create_contact
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
GENDERS = ("female", "female", "female", "male", "male")
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
        for n, gender in enumerate(GENDERS):
            create_contact(session, gender=gender, identities={"phone": f"1390000{n:04d}"})

    settings = load_settings(
        database_url=url, data_dir=tmp_path, secret_key="browser-test", run_worker_in_process=False
    )
    # The analytics refresh the worker would run, so that the segment builder has something to count.
    flows.refresh_workspace(factory, lake_for(settings), workspace.id, mode="full")
    engine.dispose()
    with serve(settings) as base:
        yield base, owner.email, owner.password


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The app on a real uvicorn server in a thread, on a free port; yields its base URL."""
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
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _need_chromium() -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def test_sign_in_and_dashboard_in_a_real_browser(live_console: tuple[str, str, str]) -> None:
    _need_chromium()
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


def test_the_segment_builder_counts_as_conditions_change(live_console: tuple[str, str, str]) -> None:
    _need_chromium()
    from playwright.sync_api import expect, sync_playwright

    base, email, password = live_console
    ARTIFACTS.mkdir(exist_ok=True)
    females, everyone = GENDERS.count("female"), len(GENDERS)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/segments/new")
            page.get_by_label("邮箱").fill(email)
            page.get_by_label("密码").fill(password)
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(f"{base}/segments/new")
            live = page.locator("#live-count")
            expect(live).to_contain_text("添加一个条件")

            builder = page.locator("#builder")
            builder.get_by_role("button", name="+ 添加条件").last.click()  # gender equals female, by default
            expect(live.locator(".preview")).to_have_attribute("data-count", str(females))
            expect(live).to_contain_text(f"预估 {females} / {everyone} 人")

            first = builder.locator(".builder-row").first
            first.get_by_label("值").select_option("male")
            expect(live.locator(".preview")).to_have_attribute("data-count", str(everyone - females))

            builder.get_by_role("button", name="+ 添加条件").last.click()  # … and female: nobody
            expect(live.locator(".preview")).to_have_attribute("data-count", "0")
            builder.get_by_role("button", name="满足任一 (或)").first.click()  # … or female: everyone
            expect(live.locator(".preview")).to_have_attribute("data-count", str(everyone))
            first.locator(".not-toggle input").check()  # not male, or female: the women
            expect(live.locator(".preview")).to_have_attribute("data-count", str(females))

            page.locator("details.json-editor summary").click()
            source = page.locator("#definition-json")
            assert '"op": "not"' in source.input_value()
            # The JSON drives the editor too: a typo in an event name is shown on its row.
            source.fill(
                '{"version": 1, "root": {"op": "and", "children": ['
                '{"op": "attribute", "field": "gender", "cmp": "eq", "value": "female"},'
                '{"op": "event", "name": "Bad Name"}]}}'
            )
            expect(builder.locator(".builder-row")).to_have_count(2)
            expect(builder.locator(".builder-row.has-error")).to_have_count(1)
            expect(live).to_contain_text("root.children[1].name")
            builder.locator(".builder-row.has-error").get_by_role("button", name="移除").click()
            expect(live.locator(".preview")).to_have_attribute("data-count", str(females))
            page.screenshot(path=str(ARTIFACTS / "console-segment-builder.png"), full_page=True)

            page.get_by_label("名称").fill("女性用户")
            page.get_by_role("button", name="保存分群").click()
            expect(page.get_by_role("heading", name="女性用户")).to_be_visible()
            expect(page.locator(".alert-success")).to_contain_text("分群已保存")
            assert errors == []
        finally:
            browser.close()


def test_a_journey_installed_published_and_its_graph_counting_live(
    live_console: tuple[str, str, str], tmp_path: Path
) -> None:
    _need_chromium()
    from playwright.sync_api import expect, sync_playwright
    from sqlalchemy import select

    from siyu.journey import engine as journeys
    from siyu.kit.time import utcnow
    from siyu.models import Contact, Journey

    base, email, password = live_console
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            page.goto(f"{base}/login?next=/journeys")
            page.get_by_label("邮箱").fill(email)
            page.get_by_label("密码").fill(password)
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(f"{base}/journeys")
            row = page.locator("tr", has_text="首72小时欢迎SOP")
            row.get_by_role("button", name="安装").click()
            expect(page.locator(".alert-success")).to_contain_text("模板已装为草稿")
            expect(page.locator('#journey-graph [data-node="welcome"]')).to_be_visible()
            page.get_by_role("button", name="发布草稿").click()
            expect(page.locator(".alert-success")).to_contain_text("已发布")
            expect(page.locator('[data-node="recommend"] .here')).to_have_text("0 人等待此步")

            # Contacts enter and step (as the worker would); the open page's graph catches up by itself.
            db = make_engine(f"sqlite:///{tmp_path / 'siyu.db'}")
            factory = make_sessionmaker(db)
            with transaction(factory) as session:
                journey = session.scalars(select(Journey)).one()
                workspace_id, journey_id = journey.workspace_id, journey.id
            with transaction(factory, workspace_id=workspace_id) as session:
                contacts = list(session.scalars(select(Contact.id)))
                journeys.enter(session, journey_id, [(c, f"manual:{c}") for c in contacts], utcnow())
                journeys.step_due(session, utcnow())
            db.dispose()
            # a run waiting out the 24 hours is stored at the step it takes next
            expect(page.locator('[data-node="recommend"] .here')).to_have_text(
                f"{len(contacts)} 人等待此步", timeout=15_000
            )
            page.screenshot(path=str(ARTIFACTS / "console-journey.png"), full_page=True)
            page.goto(f"{base}/tasks")
            expect(page.locator("tbody tr")).to_have_count(len(contacts))
        finally:
            browser.close()
