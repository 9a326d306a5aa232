"""The layout shows only pages that exist and that the caller may open; the rest answer 403."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from siyu.console.rendering import NAV
from tests.console.conftest import console_login
from tests.factories import Member

_HREF = re.compile(r'href="(/[^"]*)"')


def local_links(html: str) -> set[str]:
    return {href.replace("&amp;", "&") for href in _HREF.findall(html)}


@pytest.mark.parametrize("who", ["owner", "analyst"])
def test_every_link_on_the_dashboard_works(client: TestClient, who: str, request: pytest.FixtureRequest) -> None:
    member: Member = request.getfixturevalue(who)
    console_login(client, member)
    links = local_links(client.get("/").text)
    assert "/" in links
    for href in sorted(links):
        response = client.get(href)
        assert response.status_code == 200, f"{who}: {href} answered {response.status_code}"
        client.get("/lang/zh_CN")  # following the language links switches the language; switch back


def test_owner_sees_every_page_in_the_navigation(client: TestClient, owner: Member) -> None:
    console_login(client, owner)
    links = local_links(client.get("/").text)
    assert {item.path for item in NAV} <= links
    for label in ("工作台", "成员与角色", "API 令牌", "审计日志", "后台任务", "工作区设置"):
        assert label in client.get("/").text


def test_analyst_sees_only_what_the_role_allows(client: TestClient, analyst: Member) -> None:
    console_login(client, analyst)
    home = client.get("/").text
    links = local_links(home)
    assert "/members" in links
    assert not {"/tokens", "/audit", "/jobs", "/settings"} & links
    assert "data-chart" not in home  # job counts need jobs:read

    members = client.get("/members")
    assert members.status_code == 200
    assert "owner@acme.example" in members.text
    assert 'action="/members"' not in members.text
    assert "/role" not in members.text
    assert "/remove" not in members.text

    for path in ("/tokens", "/audit", "/jobs", "/settings"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "无权访问" in refused.text
        assert "Acme 美妆" in refused.text  # inside the layout, not a bare error


def test_console_pages_stay_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(path in paths for path in ("/", "/login", "/members", "/tokens", "/audit", "/jobs"))


def test_dashboard_shows_job_counts_chart_and_recent_activity(client: TestClient, owner: Member) -> None:
    console_login(client, owner)
    home = client.get("/").text
    assert 'data-chart="job-chart-data"' in home
    chart = json.loads(home.split('<script type="application/json" id="job-chart-data">')[1].split("</script>")[0])
    assert chart["categories"] == ["排队中", "运行中", "已完成", "已终止"]
    assert chart["values"] == [0, 0, 0, 0]
    assert "/static/vendor/echarts.min.js" in home
    assert "member.added" in home  # recent audit events
    assert "cdn" not in home.lower()
