"""Route × role: every API route is guarded by one permission (or is explicitly public), and each role
gets exactly what ``ROLE_PERMISSIONS`` grants it — for console sessions and for API tokens alike.

The walk covers ``siyu.app.API_ROUTERS``; a test checks that the walk equals the app's ``/api/`` routes
so a new route cannot escape it. FastAPI runs a route's dependencies (and so the permission check)
before it validates the body, so a caller without the permission gets 403, never a 422 that would
reveal the body's schema; a test pins that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from siyu.app import API_ROUTERS, SIGNED_ROUTERS
from siyu.auth.dependencies import SESSION_COOKIE, RequirePermission, authenticated
from siyu.auth.permissions import Permission, Role, permissions_for
from siyu.kit.db import transaction
from siyu.worker import queue
from siyu.workspace.repository import tokens
from tests.api.conftest import assert_problem
from tests.factories import PASSWORD, Member, create_member, create_token, create_workspace

PUBLIC_ROUTES = frozenset({("POST", "/api/v1/auth/login")})
AUTHENTICATED_ONLY = "authenticated"
PUBLIC = "public"
MISSING_ID = 987_654


def _walk(dependant: Dependant) -> list[object]:
    calls: list[object] = []
    for dep in dependant.dependencies:
        calls.append(dep.call)
        calls.extend(_walk(dep))
    return calls


def guard_of(route: APIRoute) -> frozenset[Permission] | str:
    """The permissions a route requires, ``"authenticated"`` when any signed-in caller may use it, or
    ``"public"``."""
    calls = _walk(route.dependant)
    permissions = frozenset(c.permission for c in calls if isinstance(c, RequirePermission))
    if permissions:
        return permissions
    if authenticated in calls:
        return AUTHENTICATED_ONLY
    return PUBLIC


def api_routes() -> list[tuple[str, str, APIRoute]]:
    out: list[tuple[str, str, APIRoute]] = []
    for router in API_ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                out.extend((method, route.path, route) for method in sorted(route.methods or ()))
    return out


ROUTES = api_routes()
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ROUTES]


@dataclass
class World:
    """One workspace with a member of every role, and things the routes' path parameters can name."""

    workspace_id: int
    members: dict[Role, Member]
    ids: dict[str, int]


def build_world(factory: sessionmaker[Session]) -> World:
    ws = create_workspace(factory)
    members = {role: create_member(factory, ws.id, role) for role in Role}
    target = create_member(factory, ws.id, Role.analyst, "target@example.com")
    create_token(factory, ws.id, [Permission.workspace_read])
    with transaction(factory, workspace_id=ws.id) as session:
        job = queue.enqueue(session, "test.noop", {"n": 1})
        job.status = "dead"
        session.flush()
        job_id = job.id
    with transaction(factory, workspace_id=ws.id) as session:
        token_id = tokens(session)[0].id
    ids = {"member_id": target.member_id, "token_id": token_id, "job_id": job_id, "workspace_id": ws.id}
    return World(ws.id, members, ids)


class _Ids(dict[str, int]):
    def __missing__(self, key: str) -> int:
        return MISSING_ID


def url_for(path: str, world: World) -> str:
    return path.format_map(_Ids(world.ids))


BodyFor = Callable[[World, str], dict[str, Any]]

# Valid bodies, so an allowed caller gets past validation too. Routes not listed here get ``{}``; that
# still tests the permission because dependencies run before body validation (see the test below).
BODIES: dict[tuple[str, str], BodyFor] = {
    ("POST", "/api/v1/auth/login"): lambda w, who: {"email": w.members[Role.owner].email, "password": PASSWORD},
    ("POST", "/api/v1/auth/switch-workspace"): lambda w, who: {"workspace_id": w.workspace_id},
    ("PATCH", "/api/v1/workspace"): lambda w, who: {"name": f"Renamed by {who}"},
    ("POST", "/api/v1/members"): lambda w, who: {
        "email": f"new-{who}@example.com",
        "display_name": "New member",
        "role": "analyst",
        "password": PASSWORD,
    },
    ("PATCH", "/api/v1/members/{member_id}"): lambda w, who: {"role": "content_editor"},
    # Anyone allowed here has tokens:manage, and a token may only carry scopes its creator has.
    ("POST", "/api/v1/tokens"): lambda w, who: {"name": f"made by {who}", "scopes": ["tokens:manage"]},
    ("POST", "/api/v1/contacts/merge/preview"): lambda w, who: {"survivor_id": 1, "merged_id": 2},
    ("POST", "/api/v1/contacts/merge"): lambda w, who: {"survivor_id": 1, "merged_id": 2},
    ("POST", "/api/v1/properties"): lambda w, who: {"key": f"prop_{who.replace('-', '_').lower()}", "type": "string"},
    ("POST", "/api/v1/staff"): lambda w, who: {"userid": f"staff-{who}", "name": "导购"},
    ("POST", "/api/v1/channel-codes"): lambda w, who: {"state": f"code-{who}"[:30], "label": "活码", "source": "store"},
}


def _empty_body(world: World, who: str) -> dict[str, Any]:
    return {}


def call(client: TestClient, method: str, path: str, world: World, who: str) -> httpx.Response:
    route = next(r for m, p, r in ROUTES if (m, p) == (method, path))
    kwargs: dict[str, Any] = {}
    if route.body_field is not None:
        kwargs["json"] = BODIES.get((method, path), _empty_body)(world, who)
    response: httpx.Response = client.request(method, url_for(path, world), **kwargs)
    return response


def sign_in(client: TestClient, member: Member) -> tuple[str, str]:
    """Log in through the API; returns the session cookie and the CSRF token."""
    client.cookies.clear()
    response = client.post("/api/v1/auth/login", json={"email": member.email, "password": member.password})
    assert response.status_code == 200, response.text
    return response.cookies[SESSION_COOKIE], response.json()["csrf_token"]


def act_as(client: TestClient, credentials: tuple[str, str] | None, bearer: str | None = None) -> None:
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    client.headers.pop("Authorization", None)
    if credentials is not None:
        client.cookies.set(SESSION_COOKIE, credentials[0])
        client.headers["X-CSRF-Token"] = credentials[1]
    if bearer is not None:
        client.headers["Authorization"] = f"Bearer {bearer}"


def allows(guard: frozenset[Permission] | str, granted: frozenset[Permission]) -> bool:
    return isinstance(guard, str) or guard <= granted


def assert_passed_auth(response: httpx.Response, context: str) -> None:
    assert response.status_code not in (401, 403), f"{context}: {response.status_code} {response.text}"
    assert response.status_code < 500, f"{context}: {response.status_code} {response.text}"


# --- the walk itself --------------------------------------------------------------------------


def test_walk_covers_every_api_route(app: FastAPI) -> None:
    walked = {(method, path) for method, path, _ in ROUTES}
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    # Also routes left out of the schema: what the app actually serves.
    mounted = {
        (method, str(context.path))
        for context in iter_route_contexts(app.routes)
        if str(context.path).startswith("/api/")
        for method in context.methods or ()
    }
    assert walked == documented
    assert walked == mounted
    assert len(walked) == len(ROUTES), "a method and path is served by two routes"


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in ROUTES], ids=ROUTE_IDS)
def test_every_route_is_guarded_or_listed_public(method: str, path: str) -> None:
    route = next(r for m, p, r in ROUTES if (m, p) == (method, path))
    guard = guard_of(route)
    if (method, path) in PUBLIC_ROUTES:
        assert guard == PUBLIC, f"{method} {path} is listed public but is guarded by {guard}"
    else:
        assert guard != PUBLIC, f"{method} {path} has no permission check and is not in PUBLIC_ROUTES"


def test_signed_routes_live_outside_the_api_and_take_no_credentials() -> None:
    """WeCom and WeChat call the callback routes with a signature, not a siyu session or token."""
    signed = [route for router in SIGNED_ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    assert {route.path for route in signed} == {"/callbacks/wecom/{slug}", "/callbacks/official_account/{slug}"}
    for route in signed:
        assert not route.path.startswith("/api/")
        assert guard_of(route) == PUBLIC


def test_public_allow_list_names_real_routes() -> None:
    assert {(m, p) for m, p, _ in ROUTES} >= PUBLIC_ROUTES


# --- roles over console sessions -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in ROUTES], ids=ROUTE_IDS)
def test_route_by_role(client: TestClient, session_factory: sessionmaker[Session], method: str, path: str) -> None:
    route = next(r for m, p, r in ROUTES if (m, p) == (method, path))
    guard = guard_of(route)
    world = build_world(session_factory)
    sessions = {role: sign_in(client, member) for role, member in world.members.items()}

    act_as(client, None)
    response = call(client, method, path, world, "anonymous")
    if guard == PUBLIC:
        assert_passed_auth(response, "anonymous on a public route")
    else:
        assert_problem(response, 401, "not_authenticated")

    for role in Role:
        act_as(client, sessions[role])
        response = call(client, method, path, world, role.value)
        if allows(guard, permissions_for(role)):
            assert_passed_auth(response, f"{role} on {method} {path}")
        else:
            assert_problem(response, 403, "permission_denied")


# --- API tokens -------------------------------------------------------------------------------

GUARDED = [(m, p) for m, p, r in ROUTES if not isinstance(guard_of(r), str)]


@pytest.mark.parametrize("has_scope", [True, False], ids=["with-scope", "without-scope"])
@pytest.mark.parametrize(("method", "path"), GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
def test_route_by_token_scope(
    client: TestClient, session_factory: sessionmaker[Session], method: str, path: str, has_scope: bool
) -> None:
    route = next(r for m, p, r in ROUTES if (m, p) == (method, path))
    guard = guard_of(route)
    assert isinstance(guard, frozenset)
    world = build_world(session_factory)
    scopes = sorted(guard) if has_scope else [next(p for p in Permission if p not in guard)]
    act_as(client, None, bearer=create_token(session_factory, world.workspace_id, scopes))
    response = call(client, method, path, world, f"token-{has_scope}")
    if has_scope:
        assert_passed_auth(response, f"token with {scopes} on {method} {path}")
    else:
        assert_problem(response, 403, "permission_denied")


def test_token_may_use_authenticated_only_routes(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    world = build_world(session_factory)
    act_as(client, None, bearer=create_token(session_factory, world.workspace_id, [Permission.analytics_read]))
    me = client.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["permissions"] == ["analytics:read"]
    assert me.json()["role"] is None


# --- the order of checks ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"role": "emperor"}, {"email": 5, "extra": True}])
def test_permission_is_checked_before_the_body(
    client: TestClient, session_factory: sessionmaker[Session], body: dict[str, Any]
) -> None:
    """An invalid body from a caller lacking the permission is refused for the permission, not the body."""
    world = build_world(session_factory)
    act_as(client, sign_in(client, world.members[Role.analyst]))
    assert_problem(client.post("/api/v1/members", json=body), 403, "permission_denied")
    act_as(client, None)
    assert_problem(client.post("/api/v1/members", json=body), 401, "not_authenticated")
    act_as(client, sign_in(client, world.members[Role.admin]))
    assert_problem(client.post("/api/v1/members", json=body), 422, "invalid_input")


def test_undecodable_json_is_refused_before_authentication(client: TestClient) -> None:
    """FastAPI parses JSON before it runs dependencies: bytes that are not JSON get 400 even anonymously.
    Nothing about the route's schema or data is revealed by it."""
    response = client.post("/api/v1/members", content=b'{"email": ', headers={"content-type": "application/json"})
    assert_problem(response, 400, "malformed_body")
