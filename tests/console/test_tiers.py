"""The tiers dashboard (分层看板) and the tiers, tags and segments cards of a contact's profile: empty before
the first refresh, the grid and the models after it, the settings form with field-path errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.kit.db import transaction
from siyu.lake.store import LakeBusy
from siyu.models import Job, Tag, TagGroup, Workspace
from siyu.segment import service as segment_service
from siyu.segment.schemas import SegmentIn
from siyu.tag import service as tag_service
from siyu.tiers import service
from tests.console.conftest import console_login
from tests.console.shop import Shop, open_shop, refresh
from tests.factories import Member


@pytest.fixture
def shop(owner: Member, session_factory: sessionmaker[Session]) -> Shop:
    return open_shop(session_factory, owner.workspace_id)


def _chart(page: str, chart_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        page.split(f'<script type="application/json" id="{chart_id}">')[1].split("</script>")[0]
    )
    return data


def _jobs(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    with factory() as session:
        return [j.payload for j in session.scalars(select(Job).where(Job.name == "analytics.refresh").order_by(Job.id))]


def test_before_the_first_refresh_the_page_says_so(
    client: TestClient, analyst: Member, community_manager: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, analyst)
    page = client.get("/tiers")
    assert page.status_code == 200
    assert 'id="not-refreshed"' in page.text
    assert "分析库尚未刷新" in page.text
    assert 'action="/tiers/refresh"' in page.text
    assert "data-chart" not in page.text
    queued = client.post("/tiers/refresh", data={"csrf_token": csrf}, follow_redirects=False)
    assert queued.headers["location"] == "/tiers?notice=refresh_queued"
    assert _jobs(session_factory)[-1] == {"mode": "full"}
    assert "已加入全量刷新队列" in client.get(queued.headers["location"]).text

    client.post("/logout", data={"csrf_token": csrf})
    csrf = console_login(client, community_manager)
    readonly = client.get("/tiers")
    assert readonly.status_code == 200
    assert 'action="/tiers/refresh"' not in readonly.text
    assert 'action="/tiers/settings"' not in readonly.text
    assert "window_days" in readonly.text  # the settings, read-only
    assert client.post("/tiers/refresh", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/tiers/settings", data={"csrf_token": csrf, "settings": "{}"}).status_code == 403


def test_after_a_refresh_the_grid_and_every_model_are_shown(
    client: TestClient, app: FastAPI, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    refresh(app, session_factory, shop.workspace_id)
    distribution = service.distribution(app.state.lake, shop.workspace_id)
    console_login(client, analyst)
    page = client.get("/tiers").text
    assert 'id="not-refreshed"' not in page
    assert '<span class="stat-value" id="contacts-scored">4</span>' in page
    assert "/static/vendor/echarts.min.js" in page

    grid = _chart(page, "rfm-grid-data")
    assert grid["type"] == "heatmap"
    assert len(grid["points"]) == 25
    shown = {(p[1] + 1, p[0] + 1): p[2] for p in grid["points"] if p[2]}
    expected = {(c["r"], c["f"]): c["contacts"] for c in distribution["rfm_grid"]}
    assert shown == expected
    assert sum(shown.values()) == 3  # li, wang and sun bought; zhao did not
    assert grid["labels"]["mean"] == "平均净消费"
    li_cell = next(c for c in distribution["rfm_grid"] if c["contacts"] and c["mean_net_fen"] == 180_000)
    assert re.search(rf'data-cell="R{li_cell["r"]}F{li_cell["f"]}" title="¥1,800.00">1<', page)

    cells = _chart(page, "rfm-cells-data")
    assert sum(item["value"] for item in cells["items"]) == 4
    assert {"RFM 窗口内无订单"} <= {item["name"] for item in cells["items"]}
    threshold = _chart(page, "tiers-threshold-data")
    assert threshold["categories"] == ["高价值用户", "潜力用户", "沉默用户"]
    assert sum(threshold["values"]) == 4
    lifecycle = _chart(page, "lifecycle-data")
    assert lifecycle["categories"][:2] == ["新客", "活跃"]
    assert sum(lifecycle["values"]) == 4
    for chart_id in ("tiers-value-data", "tiers-activity-data"):
        assert sum(_chart(page, chart_id)["values"]) == 4
    assert "预测价值合计" in page
    assert "没有用户变更阶段" in page  # one refresh: no stage changes yet

    english = client.get("/lang/en", params={"next": "/tiers"}, follow_redirects=True).text
    assert _chart(english, "tiers-threshold-data")["categories"] == ["VIP", "Active customer", "Inactive customer"]
    assert "RFM grid" in english


def test_lifecycle_flows_are_drawn_as_a_sankey(
    client: TestClient, analyst: Member, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def distribution(lake: object, workspace_id: int) -> dict[str, Any]:
        return {"contacts": 3, "as_of": "2026-05-01T10:00:00", "rfm": {}, "rfm_grid": [], "clv": {}}

    def flows(lake: object, workspace_id: int, days: int) -> dict[str, Any]:
        return {
            "since": "2026-02-01T10:00:00",
            "flows": [
                {"from": "new", "to": "active", "contacts": 2},
                {"from": "active", "to": "new", "contacts": 1},  # a cycle of stages: still drawable
            ],
        }

    monkeypatch.setattr(service, "distribution", distribution)
    monkeypatch.setattr(service, "lifecycle_flows", flows)
    console_login(client, analyst)
    page = client.get("/tiers").text
    sankey = _chart(page, "lifecycle-flow-data")
    assert sankey["type"] == "sankey"
    assert {n["name"] for n in sankey["nodes"]} == {"from:new", "from:active", "to:new", "to:active"}
    assert {"source": "from:active", "target": "to:new", "value": 1} in sankey["links"]
    assert '<td>新客</td><td>活跃</td><td class="num">2</td>' in page


def test_a_busy_analytics_store_is_a_message(
    client: TestClient, analyst: Member, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: object) -> None:
        raise LakeBusy("held by another process")

    monkeypatch.setattr(service, "distribution", busy)
    console_login(client, analyst)
    page = client.get("/tiers")
    assert page.status_code == 200
    assert "分析库正忙" in page.text
    monkeypatch.setattr(service, "contact_scores", busy)
    profile = client.get(f"/contacts/{shop.li}")
    assert profile.status_code == 200
    assert "分析库正忙" in profile.text


def test_changing_the_tier_settings(
    client: TestClient, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, analyst)
    form = client.get("/tiers").text
    assert 'action="/tiers/settings"' in form
    assert "&#34;window_days&#34;: 365" in form
    bad = json.dumps({"lifecycle": {"active_days": 400}, "rfm": {"high_score": 9}})
    refused = client.post("/tiers/settings", data={"csrf_token": csrf, "settings": bad})
    assert refused.status_code == 422
    assert 'data-path="lifecycle.active_days"' in refused.text
    assert 'data-path="rfm.high_score"' in refused.text
    assert "至多 365" in refused.text
    assert "&#34;active_days&#34;: 400" in refused.text  # what was typed is kept
    not_json = client.post("/tiers/settings", data={"csrf_token": csrf, "settings": "{,"})
    assert not_json.status_code == 422
    assert "JSON 格式有误" in not_json.text
    jobs = len(_jobs(session_factory))

    saved = client.post(
        "/tiers/settings",
        data={"csrf_token": csrf, "settings": json.dumps({"rfm": {"window_days": 180}})},
        follow_redirects=False,
    )
    assert saved.headers["location"] == "/tiers?notice=settings_saved"
    assert _jobs(session_factory)[jobs:] == [{"mode": "full"}]
    with session_factory() as session:
        workspace = session.get(Workspace, shop.workspace_id)
        assert workspace is not None
        assert workspace.tier_settings["rfm"]["window_days"] == 180
    assert "&#34;window_days&#34;: 180" in client.get("/tiers").text


# --- the contact profile ------------------------------------------------------------------------


def test_the_profile_shows_tiers_tags_and_segments(
    client: TestClient, app: FastAPI, owner: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    ctx = AuthContext(workspace_id=shop.workspace_id, permissions=frozenset(Permission), label="test")
    with transaction(session_factory, workspace_id=shop.workspace_id) as session:
        group = TagGroup(name="兴趣", exclusive=False)
        session.add(group)
        session.flush()
        lipstick = Tag(group_id=group.id, name="口红")
        session.add(lipstick)
        session.flush()
        tag_service.apply(session, lipstick, [shop.li], source="manual")
        root = {"op": "orders", "measure": "amount_fen", "cmp": "gte", "value": 100_000}
        segment = segment_service.create_segment(
            session, ctx, SegmentIn(name="高消费", definition={"version": 1, "root": root})
        )
        segment_id = segment.id
    console_login(client, owner)
    before = client.get(f"/contacts/{shop.li}").text
    assert 'id="tiers"' in before
    assert "尚未评分" in before
    assert "口红" in before

    refresh(app, session_factory, shop.workspace_id)
    page = client.get(f"/contacts/{shop.li}").text
    card = page.split('<section class="card" id="tiers">')[1].split("</section>")[0]
    for model in ("rfm", "threshold", "lifecycle", "value", "activity", "clv"):
        assert f'data-model="{model}"' in card, model
    assert re.search(r"R\d F\d M\d", card)
    assert "原因" in card
    assert "最近一次下单在 2 天前" in card  # a reason, in Chinese
    assert "暂无预测" in card  # too few repeat buyers to fit CLV
    segments = page.split('<section class="card" id="segments">')[1].split("</section>")[0]
    assert f'href="/segments/{segment_id}?contact={shop.li}#explain"' in segments
    assert "高消费" in segments
    assert "高消费" not in client.get(f"/contacts/{shop.wang}").text.split('id="segments"')[1].split("</section>")[0]


def test_the_profile_cards_follow_permissions(
    client: TestClient, service_agent: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    console_login(client, service_agent)
    page = client.get(f"/contacts/{shop.li}")
    assert page.status_code == 200
    assert 'id="tiers"' not in page.text
    assert 'id="segments"' not in page.text
    assert 'id="tags"' in page.text  # tags are part of reading contacts
