"""The segments pages (分群): the list, the builder's save and live count, a segment's members, explain,
versions and actions — with the analytics store empty, refreshed, or busy."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.kit.db import transaction
from siyu.lake.store import LakeBusy
from siyu.models import Job, Segment, SegmentVersion
from siyu.segment import service
from siyu.segment.schemas import SegmentIn
from tests.console.conftest import console_login
from tests.console.shop import FEMALE, Shop, definition, open_shop, refresh
from tests.factories import Member

SENSITIVE: dict[str, Any] = {"op": "property", "key": "skin_type", "cmp": "eq", "value": "敏感肌"}
BIG_SPENDERS: dict[str, Any] = {
    "op": "orders",
    "measure": "amount_fen",
    "cmp": "gte",
    "value": 100_000,
    "within_days": 30,
}


@pytest.fixture
def shop(owner: Member, session_factory: sessionmaker[Session]) -> Shop:
    return open_shop(session_factory, owner.workspace_id)


def _segment(factory: sessionmaker[Session], workspace_id: int, name: str, root: dict[str, Any]) -> int:
    ctx = AuthContext(workspace_id=workspace_id, permissions=frozenset(Permission), label="test")
    with transaction(factory, workspace_id=workspace_id) as session:
        data = SegmentIn(name=name, definition={"version": 1, "root": root})
        return service.create_segment(session, ctx, data).id


def _segments(factory: sessionmaker[Session]) -> list[Segment]:
    with factory() as session:
        return list(session.scalars(select(Segment).order_by(Segment.id)))


def _refresh_jobs(factory: sessionmaker[Session]) -> list[dict[str, object]]:
    with factory() as session:
        return [j.payload for j in session.scalars(select(Job).where(Job.name == "analytics.refresh").order_by(Job.id))]


def _count(fragment: str) -> tuple[int, int]:
    found = re.search(r'data-count="(\d+)" data-total="(\d+)"', fragment)
    assert found, fragment
    return int(found.group(1)), int(found.group(2))


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "analyst"])
def test_managers_see_every_segment_page(client: TestClient, who: str, request: pytest.FixtureRequest) -> None:
    member: Member = request.getfixturevalue(who)
    console_login(client, member)
    listing = client.get("/segments")
    assert listing.status_code == 200
    assert "分群" in listing.text
    assert 'href="/segments/new"' in listing.text
    assert 'action="/segments/refresh"' in listing.text
    builder = client.get("/segments/new")
    assert builder.status_code == 200
    assert 'id="builder-config"' in builder.text
    assert "/static/segment_builder.js" in builder.text
    assert 'name="definition"' in builder.text


def test_readers_without_segments_manage_see_but_do_not_change(
    client: TestClient, community_manager: Member, session_factory: sessionmaker[Session]
) -> None:
    segment_id = _segment(session_factory, community_manager.workspace_id, "女性", FEMALE)
    csrf = console_login(client, community_manager)
    listing = client.get("/segments")
    assert listing.status_code == 200
    assert "女性" in listing.text
    assert 'href="/segments/new"' not in listing.text
    assert 'action="/segments/refresh"' not in listing.text
    page = client.get(f"/segments/{segment_id}")
    assert page.status_code == 200
    assert f"/segments/{segment_id}/edit" not in page.text
    assert f"/segments/{segment_id}/delete" not in page.text
    for path in ("/segments/new", f"/segments/{segment_id}/edit"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "管理分群" in refused.text  # the permission it needs, in the layout
    posted = client.post("/segments/new", data={"csrf_token": csrf, "name": "x", "definition": definition(FEMALE)})
    assert posted.status_code == 403
    assert client.post(f"/segments/{segment_id}/delete", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/segments/refresh", data={"csrf_token": csrf}).status_code == 403
    assert len(_segments(session_factory)) == 1
    # Reading the live count only needs analytics:read.
    preview = client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(FEMALE)})
    assert preview.status_code == 200


def test_members_without_analytics_are_refused(
    client: TestClient, service_agent: Member, session_factory: sessionmaker[Session]
) -> None:
    segment_id = _segment(session_factory, service_agent.workspace_id, "女性", FEMALE)
    csrf = console_login(client, service_agent)
    assert 'href="/segments"' not in client.get("/").text
    for path, needs in (
        ("/segments", "查看数据分析"),
        ("/segments/new", "管理分群"),
        (f"/segments/{segment_id}", "查看数据分析"),
    ):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert needs in refused.text
    preview = client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(FEMALE)})
    assert preview.status_code == 403


# --- the builder: saving --------------------------------------------------------------------------


def test_saving_a_segment_through_the_form(
    client: TestClient, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, analyst)
    root = {"op": "and", "children": [SENSITIVE, {"op": "not", "child": BIG_SPENDERS}]}
    response = client.post(
        "/segments/new",
        data={
            "csrf_token": csrf,
            "name": "敏感肌非高消费",
            "description": "试用装",
            "kind": "static",
            "definition": definition(root),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    [segment] = _segments(session_factory)
    assert response.headers["location"] == f"/segments/{segment.id}?notice=created"
    assert (segment.name, segment.description, segment.kind, segment.version) == (
        "敏感肌非高消费",
        "试用装",
        "static",
        1,
    )
    assert segment.definition["root"]["children"][1]["op"] == "not"
    assert {"mode": "incremental", "segments": [segment.id]} in _refresh_jobs(session_factory)
    page = client.get(response.headers["location"]).text
    assert "分群已保存" in page
    assert "静态" in page
    assert "肤质 等于 敏感肌" in page  # the conditions in words
    assert "不满足下面的条件" in page
    listing = client.get("/segments").text
    assert f'id="segment-{segment.id}"' in listing
    assert "尚未刷新" in listing


def test_a_bad_definition_is_shown_on_its_node_and_the_input_is_kept(
    client: TestClient, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, analyst)
    root = {"op": "and", "children": [SENSITIVE, {"op": "attribute", "field": "gender", "cmp": "gt", "value": 3}]}
    typed = definition(root)
    response = client.post(
        "/segments/new",
        data={"csrf_token": csrf, "name": "半成品", "description": "草稿", "kind": "dynamic", "definition": typed},
    )
    assert response.status_code == 422
    assert 'data-path="root.children[1]"' in response.text
    assert "这种比较方式需要数字或日期字段" in response.text
    assert 'value="半成品"' in response.text
    assert 'value="草稿"' in response.text
    assert str(escape(typed)) in response.text  # the JSON as typed, in the textarea
    assert _segments(session_factory) == []

    missing = client.post(
        "/segments/new",
        data={"csrf_token": csrf, "name": "缺值", "definition": definition({"op": "orders", "cmp": "gte"})},
    )
    assert missing.status_code == 422
    assert 'data-path="root.value"' in missing.text

    broken_json = client.post("/segments/new", data={"csrf_token": csrf, "name": "坏", "definition": '{"version": 1,'})
    assert broken_json.status_code == 422
    assert "JSON 格式有误" in broken_json.text
    assert "{&#34;version&#34;: 1," in broken_json.text

    unnamed = client.post("/segments/new", data={"csrf_token": csrf, "name": " ", "definition": definition(SENSITIVE)})
    assert unnamed.status_code == 422
    assert 'id="name-error"' in unnamed.text
    assert _segments(session_factory) == []


def test_a_taken_name_is_refused_on_the_name_field(
    client: TestClient, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    _segment(session_factory, shop.workspace_id, "敏感肌", SENSITIVE)
    csrf = console_login(client, analyst)
    again = client.post(
        "/segments/new", data={"csrf_token": csrf, "name": "敏感肌", "definition": definition(SENSITIVE)}
    )
    assert again.status_code == 409
    assert 'id="name-error"' in again.text
    assert "已有同名分群" in again.text
    assert len(_segments(session_factory)) == 1


def test_editing_saves_a_new_version(
    client: TestClient, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    segment_id = _segment(session_factory, shop.workspace_id, "敏感肌", SENSITIVE)
    csrf = console_login(client, analyst)
    edit = client.get(f"/segments/{segment_id}/edit")
    assert edit.status_code == 200
    assert "敏感肌" in edit.text
    assert "保存为新版本" in edit.text
    changed = {**SENSITIVE, "value": "油皮"}
    saved = client.post(
        f"/segments/{segment_id}/edit",
        data={"csrf_token": csrf, "name": "油皮", "description": "", "definition": definition(changed)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/segments/{segment_id}?notice=saved"
    same = client.post(
        f"/segments/{segment_id}/edit",
        data={"csrf_token": csrf, "name": "油皮", "definition": definition(changed)},
        follow_redirects=False,
    )
    assert same.headers["location"] == f"/segments/{segment_id}?notice=unchanged"
    bad = client.post(
        f"/segments/{segment_id}/edit",
        data={"csrf_token": csrf, "name": "油皮", "definition": definition({"op": "tag", "tag_id": 999})},
    )
    assert bad.status_code == 422
    assert 'data-path="root.tag_id"' in bad.text
    assert "标签 #999 不存在" in bad.text
    with session_factory() as session:
        segment = session.get(Segment, segment_id)
        assert segment is not None
        assert (segment.name, segment.version) == ("油皮", 2)
        versions = list(session.scalars(select(SegmentVersion.version).where(SegmentVersion.segment_id == segment_id)))
        assert sorted(versions) == [1, 2]
    page = client.get(f"/segments/{segment_id}").text
    assert "v2" in page
    assert "v1" in page
    assert "当前" in page


# --- the builder: the live count ----------------------------------------------------------------


def test_the_live_count_before_and_after_a_refresh(
    client: TestClient, app: FastAPI, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, analyst)
    before = client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(FEMALE)})
    assert before.status_code == 200
    assert "<html" not in before.text
    assert _count(before.text) == (0, 0)
    assert "分析库尚未刷新" in before.text

    refresh(app, session_factory, shop.workspace_id)
    after = client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(FEMALE)})
    assert _count(after.text) == (2, 4)
    assert "预估 <strong>2</strong> / 4 人" in after.text
    assert "截至" in after.text
    nested = {
        "op": "or",
        "children": [
            {"op": "and", "children": [SENSITIVE, {"op": "not", "child": FEMALE}]},  # zhao
            {"op": "event", "name": "link_clicked", "min_count": 2, "within_days": 7},  # li
        ],
    }
    assert _count(
        client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(nested)}).text
    ) == (
        2,
        4,
    )
    spenders = {"op": "orders", "measure": "amount_fen", "cmp": "gte", "value": 100_000}
    assert _count(
        client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(spenders)}).text
    ) == (
        1,
        4,
    )

    bad = {"op": "and", "children": [SENSITIVE, {"op": "event", "name": "Bad Name"}]}
    errors = client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(bad)})
    assert errors.status_code == 200
    assert 'data-state="invalid"' in errors.text
    assert 'data-path="root.children[1].name"' in errors.text
    assert "事件名：小写字母" in errors.text
    not_json = client.post("/segments/preview", data={"csrf_token": csrf, "definition": "{oops"})
    assert "JSON 格式有误" in not_json.text
    assert client.post("/segments/preview", data={"definition": definition(FEMALE)}).status_code == 403

    english = client.get("/lang/en", params={"next": "/segments/new"}, follow_redirects=True)
    assert "New segment" in english.text
    assert "Add a condition" in english.text  # the builder's words, translated for the script
    count = client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(FEMALE)})
    assert "Estimated <strong>2</strong> of 4 contacts" in count.text


def test_a_busy_analytics_store_gives_a_message_not_an_error(
    client: TestClient, analyst: Member, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = console_login(client, analyst)

    def busy(*args: object, **kwargs: object) -> None:
        raise LakeBusy("held by another process")

    monkeypatch.setattr(service, "preview", busy)
    response = client.post("/segments/preview", data={"csrf_token": csrf, "definition": definition(FEMALE)})
    assert response.status_code == 200
    assert "分析库正忙" in response.text


# --- a segment's page ----------------------------------------------------------------------------


def test_the_segment_page_shows_members_history_and_explains_a_contact(
    client: TestClient, app: FastAPI, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    root = {"op": "and", "children": [SENSITIVE, FEMALE]}
    segment_id = _segment(session_factory, shop.workspace_id, "敏感肌女性", root)
    console_login(client, analyst)
    empty = client.get(f"/segments/{segment_id}")
    assert empty.status_code == 200
    assert "还没有刷新计算过这个分群" in empty.text
    assert "还没有成员" in empty.text

    refresh(app, session_factory, shop.workspace_id)
    page = client.get(f"/segments/{segment_id}").text
    assert re.findall(r'<tr id="member-(\d+)"', page) == [str(shop.li)]
    assert f'href="/contacts/{shop.li}"' in page
    assert '<span class="stat-value" id="segment-size">1</span>' in page
    chart = json.loads(page.split('<script type="application/json" id="size-chart-data">')[1].split("</script>")[0])
    assert chart["type"] == "lines"
    assert [s["values"] for s in chart["series"]] == [[1], [1], [0]]
    assert chart["series"][0]["name"] == "成员"
    assert "&#34;version&#34;: 1" in page  # the definition, read-only

    member = client.get(f"/segments/{segment_id}", params={"contact": str(shop.li)}).text
    assert "✓ 当前满足条件" in member
    assert "在上次刷新的成员中" in member
    assert re.search(r'data-path="root\.children\[0\]">\s*<td><span class="explain-node"[^>]*>肤质 等于 敏感肌', member)

    other = client.get(f"/segments/{segment_id}", params={"contact": f"#{shop.zhao}"}).text
    assert "✗ 当前不满足条件" in other
    rows = re.findall(r'<tr class="explain-row (holds|fails)" data-path="([^"]+)"', other)
    assert rows == [("fails", "root"), ("holds", "root.children[0]"), ("fails", "root.children[1]")]
    assert ">男</td>" in other  # what zhao has for the gender condition

    unknown = client.get(f"/segments/{segment_id}", params={"contact": "999999"})
    assert "没有此编号的用户" in unknown.text
    typo = client.get(f"/segments/{segment_id}", params={"contact": "abc"})
    assert typo.status_code == 422
    assert client.get("/segments/424242").status_code == 404


def test_refresh_archive_and_delete(
    client: TestClient, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    segment_id = _segment(session_factory, shop.workspace_id, "敏感肌", SENSITIVE)
    csrf = console_login(client, analyst)
    jobs = len(_refresh_jobs(session_factory))
    now = client.post("/segments/refresh", data={"csrf_token": csrf}, follow_redirects=False)
    assert now.headers["location"] == "/segments?notice=refresh_queued"
    assert _refresh_jobs(session_factory)[jobs:] == [{"mode": "incremental"}]
    assert "已加入刷新队列" in client.get(now.headers["location"]).text
    assert client.post("/segments/refresh", data={}).status_code == 403  # no CSRF token

    snapshot = client.post(f"/segments/{segment_id}/refresh", data={"csrf_token": csrf}, follow_redirects=False)
    assert snapshot.headers["location"] == f"/segments/{segment_id}?notice=snapshot"
    assert _refresh_jobs(session_factory)[-1] == {"mode": "incremental", "segments": [segment_id], "snapshot": True}

    archived = client.post(f"/segments/{segment_id}/archive", data={"csrf_token": csrf, "archived": "true"})
    assert "分群已归档" in archived.text
    assert f'id="segment-{segment_id}"' not in client.get("/segments").text
    assert f'id="segment-{segment_id}"' in client.get("/segments", params={"archived": "true"}).text
    restored = client.post(f"/segments/{segment_id}/archive", data={"csrf_token": csrf, "archived": "false"})
    assert "分群已恢复" in restored.text

    deleted = client.post(f"/segments/{segment_id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert deleted.headers["location"] == "/segments?notice=deleted"
    assert _segments(session_factory) == []
    assert "还没有分群" in client.get("/segments?notice=deleted").text


def test_a_broken_segment_is_flagged(
    client: TestClient, analyst: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    inner = _segment(session_factory, shop.workspace_id, "敏感肌", SENSITIVE)
    outer = _segment(session_factory, shop.workspace_id, "外层", {"op": "segment", "segment_id": inner})
    csrf = console_login(client, analyst)
    client.post(f"/segments/{inner}/delete", data={"csrf_token": csrf})
    listing = client.get("/segments").text
    assert "已失效" in listing
    assert "which was deleted" in listing  # the reason the refresh gave
    page = client.get(f"/segments/{outer}").text
    assert "条件修复之前该分群不会刷新" in page
