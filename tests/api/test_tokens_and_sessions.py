"""API tokens and console sessions: what authenticates, what stops authenticating, CSRF on cookie writes,
switching workspaces, and the grants that only some may give (owners, unmasked personal data)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.dependencies import SESSION_COOKIE
from siyu.auth.permissions import Permission, Role
from siyu.kit.db import transaction
from siyu.kit.security import digest
from siyu.kit.time import utcnow
from siyu.models import ApiToken, ConsoleSession, Operator
from tests.api.conftest import assert_problem
from tests.factories import Member, create_member, create_token, create_workspace, login

ME = "/api/v1/auth/me"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def token_row(factory: sessionmaker[Session], secret: str) -> ApiToken:
    with transaction(factory) as session:
        token = session.scalar(select(ApiToken).where(ApiToken.token_digest == digest(secret)))
        assert token is not None
        return token


def other_client(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


# --- API tokens -------------------------------------------------------------------------------


def test_bearer_token_authenticates_with_its_scopes(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    secret = create_token(session_factory, ws.id, [Permission.members_read])
    me = client.get(ME, headers=bearer(secret))
    assert me.status_code == 200, me.text
    assert me.json()["permissions"] == ["members:read"]
    assert me.json()["token_id"] == token_row(session_factory, secret).id
    assert client.get("/api/v1/members", headers=bearer(secret)).status_code == 200
    assert_problem(client.get("/api/v1/tokens", headers=bearer(secret)), 403, "permission_denied")
    assert token_row(session_factory, secret).last_used_at is not None


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown", "not-a-siyu-token"])
def test_unusable_token_is_401(client: TestClient, session_factory: sessionmaker[Session], state: str) -> None:
    ws = create_workspace(session_factory)
    secret = create_token(session_factory, ws.id, [Permission.members_read])
    with transaction(session_factory) as session:
        now = utcnow()
        values = {"revoked": {"revoked_at": now}, "expired": {"expires_at": now - timedelta(seconds=1)}}
        if state in values:
            session.execute(update(ApiToken).values(**values[state]))
    if state == "unknown":
        secret = secret[:-4] + "abcd"
    if state == "not-a-siyu-token":
        secret = secret.removeprefix("siyu_")
    response = client.get("/api/v1/members", headers=bearer(secret))
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_revoking_a_token_stops_it_at_once(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    secret = create_token(session_factory, ws.id, [Permission.members_read])
    assert client.get(ME, headers=bearer(secret)).status_code == 200
    login(client, create_member(session_factory, ws.id, Role.admin))
    assert client.delete(f"/api/v1/tokens/{token_row(session_factory, secret).id}").status_code == 200
    client.cookies.clear()
    assert_problem(client.get(ME, headers=bearer(secret)), 401, "not_authenticated")


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token siyu_abc", "siyu_abc", "Bearer siyu_ a b"]
)
def test_malformed_authorization_header_is_401_even_with_a_session(
    client: TestClient, session_factory: sessionmaker[Session], header: str
) -> None:
    ws = create_workspace(session_factory)
    login(client, create_member(session_factory, ws.id, Role.owner))
    assert client.get(ME).status_code == 200
    assert_problem(client.get(ME, headers={"Authorization": header}), 401, "not_authenticated")


def test_token_secret_is_shown_once_and_only_its_digest_is_stored(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    ws = create_workspace(session_factory)
    login(client, create_member(session_factory, ws.id, Role.admin))
    created = client.post("/api/v1/tokens", json={"name": "crm sync", "scopes": ["members:read"]})
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert secret.startswith("siyu_")
    assert len(secret) > 40
    assert created.json()["prefix"] == secret[:12]

    listed = client.get("/api/v1/tokens")
    assert secret not in listed.text
    assert all("token" not in t for t in listed.json())

    row = token_row(session_factory, secret)
    assert row.token_digest == digest(secret)
    stored = [getattr(row, column.key) for column in ApiToken.__table__.columns]
    assert not any(isinstance(value, str) and secret in value for value in stored)
    client.cookies.clear()
    assert client.get("/api/v1/members", headers=bearer(secret)).status_code == 200


def test_a_token_cannot_exceed_its_creators_permissions(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    ws = create_workspace(session_factory)
    login(client, create_member(session_factory, ws.id, Role.admin))
    response = client.post("/api/v1/tokens", json={"name": "t", "scopes": ["members:read", "pii:unmask"]})
    assert "pii:unmask" in assert_problem(response, 403, "permission_denied")["detail"]

    client.cookies.clear()
    manager = create_token(session_factory, ws.id, [Permission.tokens_manage, Permission.members_read])
    response = client.post("/api/v1/tokens", json={"name": "t", "scopes": ["members:manage"]}, headers=bearer(manager))
    assert_problem(response, 403, "permission_denied")
    response = client.post("/api/v1/tokens", json={"name": "t", "scopes": ["members:read"]}, headers=bearer(manager))
    assert response.status_code == 201, response.text

    login(client, create_member(session_factory, ws.id, Role.owner))
    response = client.post("/api/v1/tokens", json={"name": "t", "scopes": ["pii:unmask"]})
    assert response.status_code == 201, response.text


# --- console sessions and CSRF ----------------------------------------------------------------


def test_cookie_writes_need_the_csrf_token(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    ws = create_workspace(session_factory)
    csrf = login(client, create_member(session_factory, ws.id, Role.owner))
    other_csrf = login(other_client(app), create_member(session_factory, ws.id, Role.admin))
    body = {"name": "t", "scopes": ["members:read"]}
    for sent in (None, "", "wrong", other_csrf, csrf + "x"):
        headers = {"X-CSRF-Token": sent} if sent is not None else {}
        client.headers.pop("X-CSRF-Token", None)
        response = client.post("/api/v1/tokens", json=body, headers=headers)
        assert_problem(response, 403, "csrf_failed")
        assert_problem(client.patch("/api/v1/workspace", json={"name": "x"}, headers=headers), 403, "csrf_failed")
    assert client.get("/api/v1/tokens").status_code == 200  # reads need no CSRF token
    assert client.get("/api/v1/tokens").json() == []  # and the refused writes wrote nothing
    assert client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201


def test_bearer_writes_need_no_csrf_token(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    secret = create_token(session_factory, ws.id, [Permission.workspace_manage])
    assert client.patch("/api/v1/workspace", json={"name": "x"}, headers=bearer(secret)).status_code == 200


def test_logout_ends_the_session(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    login(client, create_member(session_factory, ws.id, Role.analyst))
    cookie = client.cookies[SESSION_COOKIE]
    csrf = client.headers.pop("X-CSRF-Token")
    assert_problem(client.post("/api/v1/auth/logout"), 403, "csrf_failed")  # no forced logout from other sites
    response = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert SESSION_COOKIE not in client.cookies
    client.cookies.set(SESSION_COOKIE, cookie)
    assert_problem(client.get(ME), 401, "not_authenticated")


@pytest.mark.parametrize("how", ["expired", "member-removed", "operator-disabled"])
def test_session_stops_working(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session], how: str
) -> None:
    ws = create_workspace(session_factory)
    create_member(session_factory, ws.id, Role.owner)
    member = create_member(session_factory, ws.id, Role.analyst)
    login(client, member)
    assert client.get(ME).status_code == 200
    with transaction(session_factory) as session:
        if how == "expired":
            session.execute(update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        elif how == "operator-disabled":
            session.execute(update(Operator).where(Operator.id == member.operator_id).values(disabled=True))
    if how == "member-removed":
        admin = other_client(app)
        login(admin, create_member(session_factory, ws.id, Role.admin))
        assert admin.delete(f"/api/v1/members/{member.member_id}").status_code == 204
    assert_problem(client.get(ME), 401, "not_authenticated")


# --- switching workspaces ---------------------------------------------------------------------


def test_switching_workspace(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    a = create_workspace(session_factory, "brand-a")
    b = create_workspace(session_factory, "brand-b")
    c = create_workspace(session_factory, "brand-c")
    member_a = create_member(session_factory, a.id, Role.owner, "both@example.com")
    create_member(session_factory, b.id, Role.analyst, "both@example.com")
    create_member(session_factory, c.id, Role.owner, "someone-else@example.com")
    login(client, member_a)
    me = client.get(ME).json()
    assert (me["workspace_id"], me["role"]) == (a.id, "owner")
    assert {(w["id"], w["role"]) for w in me["workspaces"]} == {(a.id, "owner"), (b.id, "analyst")}

    for refused in (c.id, 987654):
        response = client.post("/api/v1/auth/switch-workspace", json={"workspace_id": refused})
        assert_problem(response, 403, "permission_denied")
        assert client.get(ME).json()["workspace_id"] == a.id  # the refused switch kept the old session

    old_cookie = client.cookies[SESSION_COOKIE]
    switched = client.post("/api/v1/auth/switch-workspace", json={"workspace_id": b.id})
    assert switched.status_code == 200, switched.text
    assert (switched.json()["workspace_id"], switched.json()["role"]) == (b.id, "analyst")
    assert "members:manage" not in switched.json()["permissions"]
    client.headers["X-CSRF-Token"] = switched.json()["csrf_token"]
    assert client.get(ME).json()["workspace_id"] == b.id
    assert {m["email"] for m in client.get("/api/v1/members").json()} == {"both@example.com"}
    assert_problem(client.post("/api/v1/members", json={}), 403, "permission_denied")

    client.cookies.set(SESSION_COOKIE, old_cookie)
    assert_problem(client.get(ME), 401, "not_authenticated")


def test_tokens_cannot_switch_workspace(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    secret = create_token(session_factory, ws.id, [Permission.members_read])
    response = client.post("/api/v1/auth/switch-workspace", json={"workspace_id": ws.id}, headers=bearer(secret))
    assert_problem(response, 422, "invalid_input")


# --- grants: unmasked personal data and owners ----------------------------------------------------


def permissions_of(client: TestClient, member: Member) -> set[str]:
    login(client, member)
    return set(client.get(ME).json()["permissions"])


def test_only_owners_and_granted_members_may_unmask_pii(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    ws = create_workspace(session_factory)
    for role in Role:
        has = "pii:unmask" in permissions_of(client, create_member(session_factory, ws.id, role))
        assert has == (role is Role.owner), role
    for role in (Role.admin, Role.service_agent):
        granted = create_member(session_factory, ws.id, role, f"granted-{role}@example.com", can_unmask_pii=True)
        assert "pii:unmask" in permissions_of(client, granted)


def test_admin_cannot_grant_what_they_lack(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    owner = create_member(session_factory, ws.id, Role.owner)
    agent = create_member(session_factory, ws.id, Role.service_agent)
    admin = create_member(session_factory, ws.id, Role.admin)
    login(client, admin)
    grant = {"can_unmask_pii": True}
    assert_problem(client.patch(f"/api/v1/members/{agent.member_id}", json=grant), 403, "permission_denied")
    assert_problem(client.patch(f"/api/v1/members/{admin.member_id}", json=grant), 403, "permission_denied")
    new = {"email": "n@example.com", "display_name": "N", "role": "analyst", "password": "long-enough-pw", **grant}
    assert_problem(client.post("/api/v1/members", json=new), 403, "permission_denied")
    assert_problem(client.patch(f"/api/v1/members/{agent.member_id}", json={"role": "owner"}), 403, "permission_denied")
    assert_problem(client.patch(f"/api/v1/members/{owner.member_id}", json={"role": "admin"}), 403, "permission_denied")
    assert_problem(client.delete(f"/api/v1/members/{owner.member_id}"), 403, "permission_denied")
    assert "pii:unmask" not in permissions_of(client, agent)

    granted_admin = create_member(session_factory, ws.id, Role.admin, "granted@example.com", can_unmask_pii=True)
    login(client, granted_admin)
    response = client.patch(f"/api/v1/members/{agent.member_id}", json=grant)
    assert response.status_code == 200, response.text
    assert "pii:unmask" in permissions_of(client, agent)


def test_the_last_owner_cannot_be_demoted_or_removed(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    ws = create_workspace(session_factory)
    other = create_workspace(session_factory, "other-brand")
    owner = create_member(session_factory, ws.id, Role.owner)
    create_member(session_factory, other.id, Role.owner)  # owners elsewhere do not count
    login(client, owner)
    assert_problem(client.patch(f"/api/v1/members/{owner.member_id}", json={"role": "admin"}), 409, "conflict")
    assert_problem(client.delete(f"/api/v1/members/{owner.member_id}"), 409, "conflict")
    assert client.get(ME).json()["role"] == "owner"

    second = create_member(session_factory, ws.id, Role.owner, "second-owner@example.com")
    second_client = other_client(app)
    login(second_client, second)
    response = client.patch(f"/api/v1/members/{second.member_id}", json={"role": "analyst"})
    assert response.status_code == 200, response.text
    assert second_client.get(ME).json()["role"] == "analyst"  # takes effect in the live session
    assert_problem(
        second_client.patch(f"/api/v1/members/{owner.member_id}", json={"role": "admin"}), 403, "permission_denied"
    )
    assert_problem(client.patch(f"/api/v1/members/{owner.member_id}", json={"role": "admin"}), 409, "conflict")
