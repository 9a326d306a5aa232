"""The tags page (标签): groups with their tags and counts, adding and deleting groups and tags, auto-tags
with a validated rule, and who may do what."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import transaction
from siyu.models import Tag, TagGroup
from siyu.tag import service
from tests.console.conftest import console_login
from tests.console.shop import Shop, definition, open_shop, refresh
from tests.factories import Member

SENSITIVE = {"op": "property", "key": "skin_type", "cmp": "eq", "value": "敏感肌"}


@pytest.fixture
def shop(owner: Member, session_factory: sessionmaker[Session]) -> Shop:
    return open_shop(session_factory, owner.workspace_id)


def _groups(factory: sessionmaker[Session]) -> list[TagGroup]:
    with factory() as session:
        return list(session.scalars(select(TagGroup).order_by(TagGroup.id)))


def _tags(factory: sessionmaker[Session]) -> list[Tag]:
    with factory() as session:
        return list(session.scalars(select(Tag).order_by(Tag.id)))


def test_creating_and_deleting_groups_and_tags(
    client: TestClient, community_manager: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, community_manager)
    empty = client.get("/tags")
    assert empty.status_code == 200
    assert "还没有标签组" in empty.text
    assert "请先添加标签组" in empty.text

    group = client.post(
        "/tags/groups",
        data={"csrf_token": csrf, "name": "肤质", "description": "护肤问卷", "exclusive": "true"},
        follow_redirects=False,
    )
    assert group.status_code == 303
    assert group.headers["location"] == "/tags?notice=group_created"
    [skin] = _groups(session_factory)
    assert (skin.name, skin.description, skin.exclusive) == ("肤质", "护肤问卷", True)
    page = client.get(group.headers["location"]).text
    assert "已添加标签组" in page
    assert f'id="group-{skin.id}"' in page
    assert "互斥" in page

    tag = client.post(
        "/tags",
        data={"csrf_token": csrf, "group_id": str(skin.id), "name": "敏感肌", "description": "", "rule": ""},
        follow_redirects=False,
    )
    assert tag.headers["location"] == "/tags?notice=tag_created"
    [sensitive] = _tags(session_factory)
    assert (sensitive.group_id, sensitive.name, sensitive.rule) == (skin.id, "敏感肌", None)
    with transaction(session_factory, workspace_id=shop.workspace_id) as session:
        stored = session.get(Tag, sensitive.id)
        assert stored is not None
        service.apply(session, stored, [shop.li, shop.zhao], source="manual")
    page = client.get("/tags").text
    row = page.split(f'<tr id="tag-{sensitive.id}">')[1].split("</tr>")[0]
    assert "手动" in row
    assert re.search(r'<td class="num">2</td>', row)

    taken = client.post("/tags", data={"csrf_token": csrf, "group_id": str(skin.id), "name": "敏感肌"})
    assert taken.status_code == 409
    assert "该标签组已有同名标签" in taken.text
    no_group = client.post("/tags", data={"csrf_token": csrf, "group_id": "", "name": "油皮"})
    assert no_group.status_code == 422
    assert 'id="group_id-error"' in no_group.text
    same_group = client.post("/tags/groups", data={"csrf_token": csrf, "name": "肤质"})
    assert same_group.status_code == 409
    assert "已有同名标签组" in same_group.text

    deleted = client.post(f"/tags/{sensitive.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert deleted.headers["location"] == "/tags?notice=tag_deleted"
    assert _tags(session_factory) == []
    gone = client.post(f"/tags/groups/{skin.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert gone.headers["location"] == "/tags?notice=group_deleted"
    assert _groups(session_factory) == []
    assert "还没有标签组" in client.get("/tags").text


def test_auto_tags_and_their_rules(
    client: TestClient, app: FastAPI, owner: Member, shop: Shop, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    client.post("/tags/groups", data={"csrf_token": csrf, "name": "肤质"})
    [skin] = _groups(session_factory)
    bad_rule = definition({"op": "and", "children": [SENSITIVE, {"op": "rfm", "cells": ["不存在"]}]})
    refused = client.post(
        "/tags",
        data={"csrf_token": csrf, "group_id": str(skin.id), "name": "敏感肌", "rule": bad_rule},
    )
    assert refused.status_code == 422
    assert 'data-path="root.children[1]"' in refused.text
    assert 'value="敏感肌"' in refused.text  # what was typed is kept
    assert _tags(session_factory) == []
    not_json = client.post("/tags", data={"csrf_token": csrf, "group_id": str(skin.id), "name": "x", "rule": "{"})
    assert not_json.status_code == 422
    assert "JSON 格式有误" in not_json.text

    check = client.post("/tags/rule-check", data={"csrf_token": csrf, "rule": bad_rule})
    assert check.status_code == 200
    assert "<html" not in check.text
    assert 'data-path="root.children[1]"' in check.text
    refresh(app, session_factory, shop.workspace_id)
    good = client.post("/tags/rule-check", data={"csrf_token": csrf, "rule": definition(SENSITIVE)})
    assert "规则有效" in good.text
    assert "当前 4 位用户中有 2 位满足" in good.text
    assert client.post("/tags/rule-check", data={"csrf_token": csrf, "rule": ""}).text.strip() == ""

    created = client.post(
        "/tags",
        data={
            "csrf_token": csrf,
            "group_id": str(skin.id),
            "name": "敏感肌",
            "rule": definition(SENSITIVE),
            "remove_when_false": "true",
        },
        follow_redirects=False,
    )
    assert created.headers["location"] == "/tags?notice=auto_tag_created"
    [auto] = _tags(session_factory)
    assert auto.rule is not None
    assert auto.remove_when_false is True
    refresh(app, session_factory, shop.workspace_id)
    page = client.get("/tags").text
    row = page.split(f'<tr id="tag-{auto.id}">')[1].split("</tr>")[0]
    assert "自动标签" in row
    assert '<td class="num">2</td>' in row
    assert "skin_type" in row  # the rule, shown folded


def test_who_may_see_and_change_tags(
    client: TestClient, analyst: Member, service_agent: Member, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, analyst)
    page = client.get("/tags")
    assert page.status_code == 200
    assert 'action="/tags/groups"' not in page.text
    assert client.post("/tags/groups", data={"csrf_token": csrf, "name": "肤质"}).status_code == 403
    assert client.post("/tags/rule-check", data={"csrf_token": csrf, "rule": "{}"}).status_code == 403
    assert _groups(session_factory) == []
    client.post("/logout", data={"csrf_token": csrf})
    console_login(client, service_agent)
    assert client.get("/tags").status_code == 200  # reading tags is contacts:read
