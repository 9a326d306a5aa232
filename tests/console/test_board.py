"""The board (数据看板), the health check (私域体检) and the thresholds form on the hand-computed workspace of
tests/board/fixture.py: every KPI card carries the API's figure and status, the charts and their downloads,
bad filters answered with a 422 page naming the field, thresholds saved and refused, access by permission."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.board import service
from siyu.kit.db import transaction
from siyu.models import Contact, Delivery, Journey
from siyu.segment.flows import refresh_workspace
from tests.board.fixture import EXPECTED, RANGE, build, noon
from tests.console.conftest import console_login
from tests.factories import Member

_CARD = re.compile(r'data-kpi="([a-z0-9_]+)" data-value="([^"]*)" data-status="([^"]*)"')


@pytest.fixture
def board_ws(app: FastAPI, session_factory: sessionmaker[Session], owner: Member) -> int:
    build(session_factory, owner.workspace_id)
    refresh_workspace(session_factory, app.state.lake, owner.workspace_id, mode="full")
    return owner.workspace_id


def cards(html: str) -> dict[str, tuple[str, str]]:
    return {kpi: (value, status) for kpi, value, status in _CARD.findall(html)}


def chart_json(html: str, chart_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        html.split(f'<script type="application/json" id="{chart_id}">')[1].split("</script>")[0]
    )
    return found


def test_every_kpi_card_carries_the_hand_computed_figure_and_status(
    client: TestClient, analyst: Member, board_ws: int
) -> None:
    console_login(client, analyst)
    page = client.get("/board", params=RANGE)
    assert page.status_code == 200, page.text
    shown = cards(page.text)
    assert set(shown) == set(EXPECTED)
    for kpi, (value, _previous, status) in EXPECTED.items():
        raw, badge = shown[kpi]
        assert float(raw) == pytest.approx(value), kpi
        assert badge == (status or ""), kpi
    html = page.text
    for group in ("流量", "活跃", "变现", "留存"):
        assert f">{group}</h2>" in html
    assert html.index('data-kpi="new_contacts"') < html.index('data-kpi="open_rate"') < html.index('data-kpi="gmv"')
    assert "0.2 /天" in html  # new contacts per day
    assert "37.5%" in html  # open rate, one decimal
    assert "¥1,000.00" in html  # GMV in yuan
    assert "+4.2 个百分点" in html  # open rate change in points: 0.375 − 0.3333
    assert "目标 ≥ 15.0%" in html  # the open rate's threshold
    assert "2026-10-01 至 2026-10-30" in html
    assert "对比 2026-09-01 至 2026-09-30" in html
    # every chart section is there with its chart, its table and the two download links with the filters
    for name in service.CHARTS:
        assert f'id="chart-{name}"' in html, name
        query = "start=2026-10-01&amp;end=2026-10-30"
        assert f'href="/api/v1/board/charts/{name}?{query}&amp;compare=true&amp;format=csv"' in html, name
        assert f'href="/api/v1/board/charts/{name}?{query}&amp;compare=true&amp;format=xlsx"' in html, name
    traffic = chart_json(html, "chart-traffic-data")
    assert traffic["type"] == "lines"
    assert len(traffic["categories"]) == 30
    assert [s["name"] for s in traffic["series"]] == ["新增用户", "企微添加", "企微删除", "公众号关注", "公众号取关"]
    assert chart_json(html, "chart-acquisition_source-data")["categories"] == ["douyin", "mp", "store"]
    groups = chart_json(html, "chart-groups-data")
    assert groups["type"] == "stacked"
    assert [s["values"] for s in groups["series"]] == [[2], [1]]
    assert [i["value"] for i in chart_json(html, "chart-funnel-data")["items"]] == [6, 3, 0, 0]
    assert chart_json(html, "board-rfm-data")["type"] == "heatmap"  # the tiers, current
    assert "不受上方日期和筛选条件影响" in html
    assert chart_json(html, "spark-new_contacts")["type"] == "spark"
    assert 'href="/board/health?' in html

    english = client.get("/lang/en", params={"next": "/board?start=2026-10-01&end=2026-10-30"}, follow_redirects=True)
    assert ">Traffic</h2>" in english.text
    assert "0.2 /day" in english.text
    assert "+4.2 pp" in english.text
    assert chart_json(english.text, "chart-traffic-data")["series"][0]["name"] == "New contacts"


def test_the_filters_reach_the_figures_and_the_cohort_switch(
    client: TestClient, analyst: Member, board_ws: int
) -> None:
    console_login(client, analyst)
    douyin = client.get("/board", params={**RANGE, "source": "douyin", "filtered": "1"})
    assert douyin.status_code == 200
    assert float(cards(douyin.text)["gmv"][0]) == 70_000  # A and E
    assert "对比" not in douyin.text.split("</h1>")[1].split("</p>")[0]  # compare left unchecked
    monthly = client.get("/board", params={**RANGE, "cohort_period": "month"})
    assert monthly.status_code == 200
    assert "第 0 月" in monthly.text
    assert "cohort_period=month" in monthly.text  # kept in the download links
    default = client.get("/board")
    assert default.status_code == 200  # the 30 days up to yesterday
    assert 'name="start" value="' in default.text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"start": "2026-10-30", "end": "2026-10-01"}, "end", "结束日期不能早于开始日期"),
        ({"start": "yesterday"}, "start", "请输入有效的日期"),
        ({"segment_id": "9999"}, "segment_id", "请选择本工作区的一个分群"),
        ({"segment_id": "x"}, "segment_id", "请选择本工作区的一个分群"),
        ({"funnel_steps": "joined,Not An Event"}, "funnel_steps", "步骤为 2 到 10 个事件名"),
        ({"start": "2025-01-01", "end": "2026-10-01"}, "start", "时间范围最多 366 天"),
    ],
)
def test_bad_filters_answer_422_with_the_message_next_to_the_field(
    client: TestClient, analyst: Member, board_ws: int, params: dict[str, str], field: str, message: str
) -> None:
    console_login(client, analyst)
    for path in ("/board", "/board/health") if field != "funnel_steps" else ("/board",):
        page = client.get(path, params=params)
        assert page.status_code == 422, (path, params)
        error = re.search(rf'<p class="field-error" id="{field}-error" role="alert">([^<]*)</p>', page.text)
        assert error, (path, params)
        assert message in error.group(1)
    assert 'id="filter-errors"' in client.get("/board", params=params).text


def test_the_health_check_lists_the_red_findings_with_their_links(
    client: TestClient, analyst: Member, board_ws: int
) -> None:
    console_login(client, analyst)
    page = client.get("/board/health", params=RANGE)
    assert page.status_code == 200, page.text
    html = page.text
    findings = re.findall(r'data-finding="([a-z0-9_]+)" data-status="([a-z]+)"', html)
    assert sorted(findings) == sorted([("new_contacts", "red"), ("group_messages", "red"), ("retention_30d", "red")])
    assert 'data-passing="5" data-total="8"' in html
    for kpi, link in (("new_contacts", "/wecom"), ("group_messages", "/wecom"), ("retention_30d", "/journeys")):
        block = html.split(f'data-finding="{kpi}"')[1].split("</article>")[0]
        assert f'href="{link}"' in block, kpi
    retention = html.split('data-finding="retention_30d"')[1].split("</article>")[0]
    assert "30 天留存反映运营策略是否有效" in retention  # the seed's reasoning, translated
    assert "规划内容与活动" in retention
    passing = set(re.findall(r'<li data-passing="([a-z0-9_]+)"', html))
    assert passing == {"open_rate", "promotion_open_rate", "gmv_growth", "retention_7d", "repurchase_30d"}
    english = client.get(
        "/lang/en", params={"next": "/board/health?start=2026-10-01&end=2026-10-30"}, follow_redirects=True
    )
    assert "30-day retention shows whether the operating strategy works" in english.text


def test_the_thresholds_form_saves_and_refuses_bad_input(client: TestClient, owner: Member, board_ws: int) -> None:
    csrf = console_login(client, owner)
    form = client.get("/board/settings")
    assert form.status_code == 200
    assert 'name="open_rate.good" value="15"' in form.text  # rates as percent
    assert 'name="new_contacts.good" value="50"' in form.text

    def fields(**changes: str) -> dict[str, str]:
        values = dict(re.findall(r'name="([a-z0-9_]+\.(?:good|warn))" value="([^"]*)"', form.text))
        values |= {f"{k}.direction": "higher" for k in {n.split(".")[0] for n in values}}
        values["promotion_content_types"] = "福利/促销, coupon"
        return {"csrf_token": csrf, **values, **changes}

    refused = client.post("/board/settings", data=fields(**{"open_rate.good": "10", "open_rate.warn": "30",
                                                            "gmv_growth.good": "lots"}))  # fmt: skip
    assert refused.status_code == 422
    assert re.search(r'id="open_rate.good-error" role="alert">越高越好时，预警值不能高于目标值<', refused.text)
    assert re.search(r'id="gmv_growth.good-error" role="alert">请输入数字<', refused.text)
    assert 'name="open_rate.warn" value="30"' in refused.text  # what was typed stays
    assert 'name="new_contacts.good" value="50"' in refused.text
    # the stored settings did not change:
    assert 'name="open_rate.good" value="15"' in client.get("/board/settings").text
    no_types = client.post("/board/settings", data=fields(promotion_content_types=" "))
    assert no_types.status_code == 422
    assert "请至少填写一个内容类型" in no_types.text

    saved = client.post(
        "/board/settings", data=fields(**{"open_rate.good": "50", "open_rate.warn": "30"}), follow_redirects=False
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/board/settings?notice=thresholds_saved"
    assert "阈值已保存" in client.get(saved.headers["location"]).text
    assert cards(client.get("/board", params=RANGE).text)["open_rate"] == ("0.375", "amber")
    cleared = client.post("/board/settings", data=fields(**{"new_contacts.good": "", "new_contacts.warn": ""}))
    assert cleared.status_code == 200
    assert cards(client.get("/board", params=RANGE).text)["new_contacts"][1] == ""  # no threshold now
    assert client.post("/board/settings", data={**fields(), "csrf_token": "forged"}).status_code == 403


def test_access_follows_the_permissions(
    client: TestClient, service_agent: Member, community_manager: Member, board_ws: int
) -> None:
    csrf = console_login(client, service_agent)  # contacts:read, no analytics:read
    for path in ("/board", "/board/health"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "无权访问" in refused.text
    assert 'href="/board"' not in client.get("/").text
    client.post("/logout", data={"csrf_token": csrf})
    csrf = console_login(client, community_manager)  # analytics:read, not segments:manage
    page = client.get("/board", params=RANGE)
    assert page.status_code == 200
    assert 'href="/board/settings"' not in page.text
    assert client.get("/board/settings").status_code == 403
    assert client.post("/board/settings", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/board/refresh", data={"csrf_token": csrf}).status_code == 403
    nav = client.get("/").text.split('aria-label="主导航"')[1].split("</nav>")[0]
    assert nav.index('href="/"') < nav.index('href="/board"') < nav.index('href="/board/health"')
    assert nav.index('href="/board/health"') < nav.index('href="/segments"')


def test_before_the_first_refresh_the_board_says_so(client: TestClient, owner: Member) -> None:
    csrf = console_login(client, owner)
    page = client.get("/board")
    assert page.status_code == 200
    assert 'id="not-refreshed"' in page.text
    assert 'action="/board/refresh"' in page.text
    assert "data-kpi" not in page.text
    queued = client.post("/board/refresh", data={"csrf_token": csrf}, follow_redirects=False)
    assert queued.headers["location"] == "/board?notice=refresh_queued"


def test_empty_sections_say_what_to_do(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session], analyst: Member, board_ws: int
) -> None:
    console_login(client, analyst)
    page = client.get("/board", params={"start": "2026-06-01", "end": "2026-06-30"}).text  # nothing happened then
    content = page.split('id="chart-content"')[1].split("</section>")[0]
    assert 'data-empty="content"' in content
    assert "发起一次群发或发布一个旅程" in content
    assert 'href="/journeys"' in content
    assert 'data-empty="commerce"' in page


def test_the_funnel_window_and_the_cohort_periods_are_chosen_on_the_page(
    client: TestClient, analyst: Member, board_ws: int
) -> None:
    console_login(client, analyst)
    page = client.get("/board", params={**RANGE, "funnel_days": "1", "cohort_periods": "3", "filtered": "1"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'name="funnel_days" type="number" min="1" max="365" step="1" inputmode="numeric" value="1"' in html
    api = client.get("/api/v1/board/charts/funnel", params={**RANGE, "funnel_days": 1})
    assert api.status_code == 200
    one_day = [row[2] for row in api.json()["rows"]]
    assert [i["value"] for i in chart_json(html, "chart-funnel-data")["items"]] == one_day
    assert one_day != [6, 3, 0, 0]  # the 30-day funnel: B C D E F interacted later than a day after joining
    cohorts = client.get("/api/v1/board/charts/cohorts", params={**RANGE, "cohort_periods": 3}).json()
    assert cohorts["columns"] == ["cohort", "size", "k0", "k1", "k2", "k3"]
    assert "第 3 周" in html
    assert "第 4 周" not in html
    assert "funnel_days=1" in html
    assert "cohort_periods=3" in html


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"funnel_days": "0"}, "funnel_days", "请输入 1 到 365 之间的整数天数"),
        ({"funnel_days": "a week"}, "funnel_days", "请输入 1 到 365 之间的整数天数"),
        ({"cohort_periods": "25"}, "cohort_periods", "请输入 1 到 24 之间的整数期数"),
        ({"cohort_periods": "2.5"}, "cohort_periods", "请输入 1 到 24 之间的整数期数"),
    ],
)
def test_bad_chart_options_answer_422_next_to_the_field(
    client: TestClient, analyst: Member, board_ws: int, params: dict[str, str], field: str, message: str
) -> None:
    console_login(client, analyst)
    page = client.get("/board", params={**RANGE, **params})
    assert page.status_code == 422
    error = re.search(rf'<p class="field-error" id="{field}-error" role="alert">([^<]*)</p>', page.text)
    assert error
    assert message in error.group(1)


def test_cohort_cards_say_which_cohort_they_read_and_the_board_shows_loading_states(
    client: TestClient, analyst: Member, board_ws: int
) -> None:
    console_login(client, analyst)
    html = client.get("/board", params=RANGE).text
    # October has matured for every cohort KPI (today is past 29 November 2026): its own days
    card = html.split('data-kpi="repurchase_30d"')[1].split("</article>")[0]
    assert 'data-cohort-start="2026-10-01" data-cohort-end="2026-10-30"' in card
    assert "队列 2026-10-01 – 2026-10-30" in card
    assert 'id="board-body" aria-busy="false" data-loading="正在加载数据…"' in html
    form = re.search(r'<form[^>]*id="board-filters"[^>]*>', html)
    assert form
    assert 'data-busy="#board-body"' in form.group(0)
    assert 'data-busy-label="加载中…"' in html
    assert 'aria-busy="true" data-loading="正在绘制图表…"' in html  # charts until console.js draws them


def test_the_journeys_chart_names_broadcasts_by_key_and_text_and_journeys_by_name(
    client: TestClient, analyst: Member, board_ws: int, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory, workspace_id=board_ws) as session:
        contact = session.scalars(select(Contact)).first()
        assert contact is not None
        journey = Journey(name="新客欢迎", draft={}, created_by="test")
        session.add(journey)
        session.flush()
        at = noon(10, 12)
        for source, status, text in (
            (
                "broadcast:spring-01",
                "delivered",
                "春季上新：三款新品   限时 9 折，会员再享双倍积分，点击查看详情，活动截至 3 月 31 日",
            ),
            (f"journey:{journey.id}", "failed", "欢迎加入"),
        ):
            session.add(
                Delivery(contact_id=contact.id, dedup_key=f"{source}:{contact.id}", source=source, channel="wecom",
                         priority="marketing", content={"text": text}, status=status, created_at=at)
            )  # fmt: skip
    console_login(client, analyst)
    html = client.get("/board", params=RANGE).text
    chart = chart_json(html, "chart-journeys-data")
    assert chart["categories"] == ["spring-01", "新客欢迎"]
    assert [(s["name"], s["values"]) for s in chart["series"]] == [("已送达", [1, 0]), ("失败", [0, 1])]
    table = html.split('id="chart-journeys"')[1].split("</section>")[0]
    # the key and the text's first 40 characters, its runs of spaces made one
    assert "<td>spring-01 · 春季上新：三款新品 限时 9 折，会员再享双倍积分，点击查看详情，活动截至 3 …</td>" in table
    assert "<td>新客欢迎</td>" in table
