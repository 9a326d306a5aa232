"""Every change to a workspace leaves one audit event — who, what, which entity, before and after, never
a secret — readable through the API with filters and paging; a refused change leaves none."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission, Role
from siyu.kit.db import transaction
from siyu.kit.security import digest
from siyu.models import ApiToken
from tests.factories import PASSWORD, Member, create_member, create_token, create_workspace, login

NEW_PASSWORD = "a-brand-new-password"
SECRET_KEYS = {"password", "password_hash", "token", "token_digest", "secret", "session_digest"}


def events(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/audit-events", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def only(client: TestClient, action: str, **filters: str) -> dict[str, Any]:
    found = events(client, action=action, **filters)["items"]
    assert len(found) == 1, found
    event: dict[str, Any] = found[0]
    return event


def setup_owner(client: TestClient, factory: sessionmaker[Session]) -> Member:
    ws = create_workspace(factory)
    owner = create_member(factory, ws.id, Role.owner)
    login(client, owner)
    return owner


def test_each_change_is_audited_with_actor_entity_and_states(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    owner = setup_owner(client, session_factory)
    added = client.post(
        "/api/v1/members",
        json={"email": "li.na@example.com", "display_name": "李娜", "role": "analyst", "password": NEW_PASSWORD},
    )
    assert added.status_code == 201, added.text
    member_id = added.json()["id"]
    updated = client.patch(f"/api/v1/members/{member_id}", json={"role": "content_editor", "can_unmask_pii": True})
    assert updated.status_code == 200, updated.text
    created = client.post("/api/v1/tokens", json={"name": "ingest", "scopes": ["ingest:write"]})
    assert created.status_code == 201, created.text
    token_id, secret = created.json()["id"], created.json()["token"]
    assert client.delete(f"/api/v1/tokens/{token_id}").status_code == 200
    renamed = client.patch("/api/v1/workspace", json={"name": "Acme 美妆旗舰店", "timezone": "Asia/Hong_Kong"})
    assert renamed.status_code == 200, renamed.text
    assert client.delete(f"/api/v1/members/{member_id}").status_code == 204

    expected: dict[str, tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = {
        "member.added": (
            "member",
            str(member_id),
            None,
            {"email": "li.na@example.com", "role": "analyst", "can_unmask_pii": False},
        ),
        "member.updated": (
            "member",
            str(member_id),
            {"email": "li.na@example.com", "role": "analyst", "can_unmask_pii": False},
            {"email": "li.na@example.com", "role": "content_editor", "can_unmask_pii": True},
        ),
        "token.created": (
            "api_token",
            str(token_id),
            None,
            {"name": "ingest", "prefix": secret[:12], "scopes": ["ingest:write"], "revoked": False},
        ),
        "token.revoked": (
            "api_token",
            str(token_id),
            {"name": "ingest", "prefix": secret[:12], "scopes": ["ingest:write"], "revoked": False},
            {"name": "ingest", "prefix": secret[:12], "scopes": ["ingest:write"], "revoked": True},
        ),
        "workspace.updated": (
            "workspace",
            str(owner.workspace_id),
            {"slug": "acme", "name": "Acme 美妆", "timezone": "Asia/Shanghai", "locale": "zh_CN"},
            {"slug": "acme", "name": "Acme 美妆旗舰店", "timezone": "Asia/Hong_Kong", "locale": "zh_CN"},
        ),
        "member.removed": (
            "member",
            str(member_id),
            {"email": "li.na@example.com", "role": "content_editor", "can_unmask_pii": True},
            None,
        ),
    }
    request_ids = {
        "member.added": added.headers["x-request-id"],
        "token.created": created.headers["x-request-id"],
        "workspace.updated": renamed.headers["x-request-id"],
    }
    for action, (entity_type, entity_id, before, after) in expected.items():
        event = only(client, action, entity_id=entity_id)
        assert (event["entity_type"], event["entity_id"]) == (entity_type, entity_id), action
        assert (event["before"], event["after"]) == (before, after), action
        assert event["actor_operator_id"] == owner.operator_id
        assert event["actor_token_id"] is None
        assert event["actor_label"] == owner.email
        if action in request_ids:
            assert event["request_id"] == request_ids[action]

    dump = json.dumps(events(client))
    for secret_text in (secret, digest(secret), NEW_PASSWORD, PASSWORD):
        assert secret_text not in dump
    for event in events(client)["items"]:
        for state in (event["before"], event["after"]):
            assert not SECRET_KEYS & set(state or {}), event


def test_changes_made_with_a_token_name_the_token(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    secret = create_token(session_factory, ws.id, [Permission.members_manage, Permission.audit_read])
    with transaction(session_factory, workspace_id=ws.id) as session:
        token = session.scalar(select(ApiToken).where(ApiToken.token_digest == digest(secret)))
        assert token is not None
    client.headers["Authorization"] = f"Bearer {secret}"
    response = client.post(
        "/api/v1/members",
        json={"email": "bot-made@example.com", "display_name": "Bot", "role": "analyst", "password": NEW_PASSWORD},
    )
    assert response.status_code == 201, response.text
    event = only(client, "member.added", entity_id=str(response.json()["id"]))
    assert event["actor_token_id"] == token.id
    assert event["actor_operator_id"] is None
    assert event["actor_label"].startswith(f"token:{token.prefix}")


def test_filters_and_paging(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    setup_owner(client, session_factory)
    member_ids = []
    for n in range(3):
        body = {"email": f"m{n}@example.com", "display_name": f"M{n}", "role": "analyst", "password": NEW_PASSWORD}
        member_ids.append(client.post("/api/v1/members", json=body).json()["id"])
    client.patch(f"/api/v1/members/{member_ids[0]}", json={"role": "admin"})
    client.delete(f"/api/v1/members/{member_ids[0]}")

    everything = events(client)
    ids = [e["id"] for e in everything["items"]]
    assert ids == sorted(ids, reverse=True), "newest first"
    assert everything["total"] == len(ids)

    assert events(client, action="member.added")["total"] == 4  # the owner's own, then three
    one_member = events(client, entity_type="member", entity_id=str(member_ids[0]))
    assert [e["action"] for e in one_member["items"]] == ["member.removed", "member.updated", "member.added"]
    assert events(client, entity_type="workspace")["total"] == 1  # created
    assert events(client, action="no.such.action") == {"items": [], "total": 0, "limit": 500, "offset": 0}

    paged: list[int] = []
    for offset in range(0, len(ids) + 2, 2):
        page = events(client, limit=2, offset=offset)
        assert page["total"] == len(ids)
        assert len(page["items"]) <= 2
        paged.extend(e["id"] for e in page["items"])
    assert paged == ids
    assert events(client, limit=2, offset=len(ids))["items"] == []


def test_refused_changes_leave_no_event(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    owner = setup_owner(client, session_factory)
    admin = create_member(session_factory, owner.workspace_id, Role.admin)
    token = client.post("/api/v1/tokens", json={"name": "t", "scopes": ["audit:read"]}).json()
    assert client.delete(f"/api/v1/tokens/{token['id']}").status_code == 200
    before = events(client)["total"]

    refusals: list[tuple[str, str, dict[str, Any] | None, int]] = [
        ("PATCH", f"/api/v1/members/{owner.member_id}", {"role": "admin"}, 409),  # the last owner
        ("DELETE", f"/api/v1/members/{owner.member_id}", None, 409),
        ("POST", "/api/v1/members", {"email": admin.email, "display_name": "A", "role": "analyst"}, 409),
        ("POST", "/api/v1/members", {"email": "x@example.com", "display_name": "X", "role": "king"}, 422),
        ("PATCH", "/api/v1/workspace", {"timezone": "Nowhere/Land"}, 422),
        ("PATCH", "/api/v1/workspace", {"name": None}, 422),
        ("DELETE", "/api/v1/tokens/987654", None, 404),
        ("DELETE", f"/api/v1/tokens/{token['id']}", None, 200),  # already revoked: nothing changes
    ]
    for method, url, body, status in refusals:
        response = client.request(method, url, json=body)
        assert response.status_code == status, (method, url, response.text)
    assert events(client)["total"] == before

    login(client, admin)
    refusals = [
        ("PATCH", f"/api/v1/members/{admin.member_id}", {"can_unmask_pii": True}, 403),
        ("PATCH", f"/api/v1/members/{owner.member_id}", {"role": "analyst"}, 403),
        ("POST", "/api/v1/tokens", {"name": "t", "scopes": ["pii:unmask"]}, 403),
    ]
    for method, url, body, status in refusals:
        response = client.request(method, url, json=body)
        assert response.status_code == status, (method, url, response.text)
    assert events(client)["total"] == before
