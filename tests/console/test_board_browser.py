"""The board in a real browser (Debian's Chromium through Playwright) on the hand-computed workspace of
tests/board/fixture.py: every KPI card shows the expected figure, every chart is drawn, the language switch,
a CSV downloaded through the page equal to the API's JSON, and the health check; screenshots in
``test-artifacts/``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from siyu import migrations
from siyu.auth.permissions import Role
from siyu.config import load_settings
from siyu.kit.db import make_engine, make_sessionmaker
from siyu.lake.store import lake_for
from siyu.segment import flows
from tests.board.fixture import EXPECTED, RANGE, build
from tests.console.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _need_chromium, serve
from tests.factories import create_member, create_workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def live_board(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A live server whose workspace holds the fixture's rows, refreshed; yields (base URL, e-mail, password)."""
    url = f"sqlite:///{tmp_path / 'siyu.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    workspace = create_workspace(factory, "board", "看板演示")
    owner = create_member(factory, workspace.id, Role.owner, "owner@board.example")
    build(factory, workspace.id)
    settings = load_settings(
        database_url=url, data_dir=tmp_path, secret_key="browser-test", run_worker_in_process=False
    )
    flows.refresh_workspace(factory, lake_for(settings), workspace.id, mode="full")
    engine.dispose()
    with serve(settings) as base:
        yield base, owner.email, owner.password


def test_the_board_in_a_real_browser(live_board: tuple[str, str, str]) -> None:
    _need_chromium()
    from playwright.sync_api import expect, sync_playwright

    base, email, password = live_board
    ARTIFACTS.mkdir(exist_ok=True)
    board_url = f"{base}/board?{urlencode(RANGE)}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1440, "height": 900}, locale="zh-CN", accept_downloads=True
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(board_url)
            page.get_by_label("邮箱").fill(email)
            page.get_by_label("密码").fill(password)
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(board_url)
            expect(page.get_by_role("heading", name="数据看板", level=1)).to_be_visible()

            for kpi, (value, _previous, status) in EXPECTED.items():
                card = page.locator(f'[data-kpi="{kpi}"]')
                expect(card).to_be_visible()
                assert float(card.get_attribute("data-value") or "nan") == pytest.approx(value), kpi
                expect(card).to_have_attribute("data-status", status or "")

            charts = page.locator("[data-chart]")
            assert charts.count() >= 14  # 11 board charts (touchpoints and the rest) + sparks + the tiers
            for i in range(charts.count()):
                chart = charts.nth(i)
                expect(chart).to_have_attribute("data-drawn", "1")
                expect(chart).to_have_attribute("aria-busy", "false")
                expect(chart.locator("svg").first).to_be_attached()
            page.screenshot(path=str(ARTIFACTS / "console-board.png"), full_page=True)

            # a CSV through the page's link: the same rows as the API's JSON for the same chart and filters
            link = page.locator("#chart-traffic [data-download=csv]")
            with page.expect_download() as downloaded:
                link.click()
            download = downloaded.value
            assert download.suggested_filename == "siyu-traffic-2026-10-01-2026-10-30.csv"
            rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
            href = link.get_attribute("href") or ""
            table = page.request.get(base + href.replace("format=csv", "format=json")).json()
            assert rows[0] == table["columns"]
            assert rows[1:] == [["" if v is None else str(v) for v in row] for row in table["rows"]]
            assert len(rows) == 31  # the header and 30 days

            # the loading state: once the filter form is submitted the figures are dimmed and say so (a
            # listener on window, after console.js's on document, keeps this page from leaving to look)
            page.evaluate("window.holdBoard = (e) => e.preventDefault(); addEventListener('submit', holdBoard)")
            page.locator('#board-filters input[name="funnel_days"]').fill("7")
            submit = page.locator("#board-filters button[type=submit]")
            submit.click()
            expect(page.locator("#board-body")).to_have_attribute("aria-busy", "true")
            expect(submit).to_have_text("加载中…")
            expect(page.locator("#board-body > .kpi-group").first).to_have_css("opacity", "0.45")
            page.screenshot(path=str(ARTIFACTS / "console-board-loading.png"))
            page.evaluate("removeEventListener('submit', holdBoard)")
            with page.expect_navigation():
                page.locator("#board-filters").evaluate("form => form.submit()")
            expect(page.locator('#board-filters input[name="funnel_days"]')).to_have_value("7")
            expect(page.locator("#board-body")).to_have_attribute("aria-busy", "false")
            expect(submit).to_have_text("查看")

            page.get_by_role("link", name="English").click()
            expect(page.get_by_role("heading", name="Traffic", exact=True)).to_be_visible()
            expect(page.get_by_role("heading", name="Data board", level=1)).to_be_visible()
            expect(page.locator('[data-kpi="new_contacts"] .kpi-value')).to_have_text("0.2 /day")
            page.screenshot(path=str(ARTIFACTS / "console-board-en.png"), full_page=True)
            page.get_by_role("link", name="简体中文").click()
            expect(page.get_by_role("heading", name="流量", exact=True)).to_be_visible()

            page.locator("#health-link").click()
            expect(page.get_by_role("heading", name="私域体检", level=1)).to_be_visible()
            findings = page.locator("[data-finding]")
            expect(findings).to_have_count(3)
            expect(page.locator("#health-score .stat-value")).to_have_text("5 / 8")
            expect(page.locator('[data-finding="retention_30d"]')).to_contain_text("30 天留存反映运营策略是否有效")
            page.screenshot(path=str(ARTIFACTS / "console-board-health.png"), full_page=True)
            page.locator('[data-finding="new_contacts"]').get_by_role("link").click()
            expect(page).to_have_url(f"{base}/wecom")
            assert errors == []
        finally:
            browser.close()
    for name in ("console-board.png", "console-board-loading.png", "console-board-en.png", "console-board-health.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
