"""Bad input gets a 4xx ``application/problem+json`` naming the field and the reason; never a 500 and
never a partial write. Unexpected errors are 500 problems carrying the request id, with the trace logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message, Receive, Scope, Send

from siyu.app import create_app
from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission, Role
from siyu.config import Settings
from siyu.errors import Conflict
from siyu.kit.db import transaction
from siyu.middleware import BodySizeLimitMiddleware
from siyu.models import AuditEvent, Membership, Operator
from siyu.workspace import service
from siyu.workspace.schemas import MemberCreate
from tests.api.conftest import assert_problem, error_fields
from tests.factories import PASSWORD, create_member, create_workspace, login

BIG = 10**30
JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain"}
NEW_MEMBER = {"email": "new@example.com", "display_name": "New", "role": "analyst", "password": PASSWORD}


@pytest.fixture
def owner_client(client: TestClient, session_factory: sessionmaker[Session]) -> TestClient:
    ws = create_workspace(session_factory)
    login(client, create_member(session_factory, ws.id, Role.owner))
    return client


# (id, method, url, request kwargs, status, code, field named in ``errors`` or None)
Case = tuple[str, str, str, dict[str, Any], int, str, str | None]
# fmt: off
CASES: list[Case] = [
    ("truncated-json", "POST", "/api/v1/members", {"content": b'{"email": ', "headers": JSON}, 400, "malformed_body",
     None),
    ("not-utf8", "POST", "/api/v1/members", {"content": b"\xff\xfe{}", "headers": JSON}, 400, "malformed_body", None),
    ("number-for-text", "PATCH", "/api/v1/workspace", {"json": {"name": 123}}, 422, "invalid_input", "name"),
    ("null-for-text", "PATCH", "/api/v1/workspace", {"json": {"name": None}}, 422, "invalid_input", "name"),
    ("nul-in-text", "PATCH", "/api/v1/workspace", {"json": {"name": "a\x00b"}}, 422, "invalid_input", "name"),
    ("unknown-timezone", "PATCH", "/api/v1/workspace", {"json": {"timezone": "Mars/Base"}}, 422, "invalid_input",
     "timezone"),
    ("extra-field", "PATCH", "/api/v1/workspace", {"json": {"name": "x", "colour": "red"}}, 422, "invalid_input",
     "colour"),
    ("role-not-in-enum", "POST", "/api/v1/members", {"json": {**NEW_MEMBER, "role": "emperor"}}, 422,
     "invalid_input", "role"),
    ("role-not-in-enum-patch", "PATCH", "/api/v1/members/1", {"json": {"role": "emperor"}}, 422, "invalid_input",
     "role"),
    ("missing-field", "POST", "/api/v1/members", {"json": {"email": "n@example.com", "role": "analyst"}}, 422,
     "invalid_input", "display_name"),
    ("bad-email", "POST", "/api/v1/members", {"json": {**NEW_MEMBER, "email": "not-an-email"}}, 422,
     "invalid_input", "email"),
    ("short-password", "POST", "/api/v1/members", {"json": {**NEW_MEMBER, "password": "short"}}, 422,
     "invalid_input", "password"),
    ("body-not-object", "POST", "/api/v1/members", {"json": [1, 2]}, 422, "invalid_input", "body"),
    ("empty-body", "POST", "/api/v1/members", {}, 422, "invalid_input", "body"),
    ("text-plain", "POST", "/api/v1/members", {"content": b'{"email": "a@b.cn"}', "headers": TEXT}, 415,
     "unsupported_media_type", "body"),
    ("no-content-type", "POST", "/api/v1/members", {"content": b'{"email": "a@b.cn"}'}, 415,
     "unsupported_media_type", "body"),
    ("form-encoded", "POST", "/api/v1/members", {"data": {"email": "a@b.cn"}}, 415, "unsupported_media_type", "body"),
    ("scope-not-in-enum", "POST", "/api/v1/tokens", {"json": {"name": "t", "scopes": ["root"]}}, 422,
     "invalid_input", "scopes.0"),
    ("scopes-not-list", "POST", "/api/v1/tokens", {"json": {"name": "t", "scopes": "audit:read"}}, 422,
     "invalid_input", "scopes"),
    ("no-scopes", "POST", "/api/v1/tokens", {"json": {"name": "t", "scopes": []}}, 422, "invalid_input", "scopes"),
    ("naive-expiry", "POST", "/api/v1/tokens",
     {"json": {"name": "t", "scopes": ["audit:read"], "expires_at": "2999-01-01T00:00:00"}}, 422, "invalid_input",
     "expires_at"),
    ("past-expiry", "POST", "/api/v1/tokens",
     {"json": {"name": "t", "scopes": ["audit:read"], "expires_at": "2001-01-01T00:00:00Z"}}, 422, "invalid_input",
     "expires_at"),
    ("huge-body-int", "POST", "/api/v1/auth/switch-workspace", {"json": {"workspace_id": BIG}}, 422, "invalid_input",
     "workspace_id"),
    ("text-for-int", "POST", "/api/v1/auth/switch-workspace", {"json": {"workspace_id": "one"}}, 422,
     "invalid_input", "workspace_id"),
    ("huge-offset", "GET", f"/api/v1/audit-events?offset={BIG}", {}, 422, "invalid_input", "offset"),
    ("offset-past-bigint", "GET", f"/api/v1/audit-events?offset={2**63}", {}, 422, "invalid_input", "offset"),
    ("huge-limit", "GET", f"/api/v1/audit-events?limit={BIG}", {}, 422, "invalid_input", "limit"),
    ("negative-limit", "GET", "/api/v1/audit-events?limit=-1", {}, 422, "invalid_input", "limit"),
    ("negative-offset", "GET", "/api/v1/audit-events?offset=-5", {}, 422, "invalid_input", "offset"),
    ("text-limit", "GET", "/api/v1/audit-events?limit=ten", {}, 422, "invalid_input", "limit"),
    ("long-filter", "GET", "/api/v1/audit-events?action=" + "x" * 65, {}, 422, "invalid_input", "action"),
    ("nul-filter", "GET", "/api/v1/audit-events?entity_id=%00", {}, 422, "invalid_input", "entity_id"),
    ("status-not-in-enum", "GET", "/api/v1/jobs?status=bogus", {}, 422, "invalid_input", "status"),
    ("path-not-int", "DELETE", "/api/v1/members/abc", {}, 422, "invalid_input", "member_id"),
    ("path-float", "DELETE", "/api/v1/tokens/1.5", {}, 422, "invalid_input", "token_id"),
    ("path-huge", "PATCH", f"/api/v1/members/{BIG}", {"json": {"role": "analyst"}}, 422, "invalid_input",
     "member_id"),
    ("path-past-bigint", "DELETE", f"/api/v1/tokens/{2**63}", {}, 422, "invalid_input", "token_id"),
    ("path-zero", "DELETE", "/api/v1/members/0", {}, 422, "invalid_input", "member_id"),
    ("unknown-route", "GET", "/api/v1/nope", {}, 404, "not_found", None),
    ("unknown-version", "GET", "/api/v2/members", {}, 404, "not_found", None),
    ("wrong-method", "PUT", "/api/v1/members", {"json": {}}, 405, "method_not_allowed", None),
    ("wrong-method-delete", "DELETE", "/api/v1/workspace", {}, 405, "method_not_allowed", None),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "code", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_problem_naming_the_field(
    owner_client: TestClient, method: str, url: str, kwargs: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    response = owner_client.request(method, url, **kwargs)
    body = assert_problem(response, status, code)
    assert body["title"]
    assert body["detail"]
    if field is not None:
        assert field in error_fields(body), body
        assert all(e["reason"] for e in body["errors"])
    if status == 405:
        assert response.headers["allow"]


@pytest.mark.parametrize("url", [f"/api/v1/jobs?offset={2**63}", f"/api/v1/jobs/{2**63}/retry"])
def test_job_routes_refuse_ints_past_bigint(owner_client: TestClient, url: str) -> None:
    method = "POST" if url.endswith("retry") else "GET"
    assert_problem(owner_client.request(method, url), 422, "invalid_input")


def test_nul_in_login_email_is_refused_before_any_query(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", json={"email": "a\x00@example.com", "password": "x"})
    assert "email" in error_fields(assert_problem(response, 422, "invalid_input"))


# --- body size ------------------------------------------------------------------------------


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"max_request_bytes": 1024}), start_worker=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.engine.dispose()


def test_body_over_the_limit_is_413(small_client: TestClient) -> None:
    big = {"name": "x" * 2000}
    assert_problem(small_client.patch("/api/v1/workspace", json=big), 413, "payload_too_large")
    # Under the limit the request goes on to authentication as usual.
    assert_problem(small_client.patch("/api/v1/workspace", json={"name": "x"}), 401, "not_authenticated")


def test_streamed_body_over_the_limit_is_413_without_content_length() -> None:
    async def read_body(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 3
    sent: list[Message] = []

    async def receive() -> Message:
        return chunks.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/api/v1/members", "headers": []}
    asyncio.run(BodySizeLimitMiddleware(read_body, max_bytes=1024)(scope, receive, send))
    assert sent[0]["status"] == 413
    assert b"payload_too_large" in sent[1]["body"]


# --- no partial writes ----------------------------------------------------------------------


def _counts(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    with transaction(factory) as session:
        return (
            session.scalar(select(func.count()).select_from(Operator)) or 0,
            session.scalar(select(func.count()).select_from(Membership)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


def test_rejected_member_adds_write_nothing(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    create_member(session_factory, ws.id, Role.owner)
    admin = create_member(session_factory, ws.id, Role.admin)
    login(client, admin)
    before = _counts(session_factory)
    refusals = [
        ({**NEW_MEMBER, "role": "emperor"}, 422),  # invalid body
        ({**NEW_MEMBER, "password": None}, 422),  # new operator without a password
        ({**NEW_MEMBER, "can_unmask_pii": True}, 403),  # admin cannot grant what they lack
        ({**NEW_MEMBER, "role": "owner"}, 403),  # only owners make owners
        ({**NEW_MEMBER, "email": admin.email}, 409),  # already a member
    ]
    for body, status in refusals:
        response = client.post("/api/v1/members", json=body)
        assert response.status_code == status, (body, response.text)
        assert _counts(session_factory) == before, body
    assert client.post("/api/v1/members", json=NEW_MEMBER).status_code == 201
    operators, members, events = before
    assert _counts(session_factory) == (operators + 1, members + 1, events + 1)


def test_an_error_after_a_flush_rolls_the_whole_request_back(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    @app.post("/api/v1/test-only/add-then-refuse")
    def add_then_refuse(
        session: DbSession, ctx: Annotated[AuthContext, Depends(require(Permission.members_manage))]
    ) -> None:
        service.add_member(session, ctx, MemberCreate.model_validate(NEW_MEMBER))
        raise Conflict("refused after the member was flushed")

    ws = create_workspace(session_factory)
    login(client, create_member(session_factory, ws.id, Role.owner))
    before = _counts(session_factory)
    assert_problem(client.post("/api/v1/test-only/add-then-refuse"), 409, "conflict")
    assert _counts(session_factory) == before


# --- unexpected errors --------------------------------------------------------------------------


def test_unhandled_exception_is_a_500_problem_with_the_request_id(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/v1/test-only/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="siyu.errors"):
        response = client.get("/api/v1/test-only/boom")
    body = assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.text
    assert body["instance"] == "/api/v1/test-only/boom"
    traced = [r for r in caplog.records if r.name == "siyu.errors" and r.exc_info]
    assert traced, caplog.records
    assert traced[0].exc_info is not None
    assert traced[0].exc_info[0] is RuntimeError
    assert "/api/v1/test-only/boom" in traced[0].getMessage()

    # A sane client-chosen request id is kept, so logs and the report can be matched up.
    response = client.get("/api/v1/test-only/boom", headers={"X-Request-ID": "trace-me-42"})
    assert assert_problem(response, 500, "internal_error")["request_id"] == "trace-me-42"
    response = client.get("/api/v1/test-only/boom", headers={"X-Request-ID": "not sane\n"})
    assert assert_problem(response, 500, "internal_error")["request_id"] != "not sane\n"
