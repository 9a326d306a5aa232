"""Signing in and out of the console, the language switch and the sign-in redirect."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.dependencies import SESSION_COOKIE
from siyu.auth.permissions import Role
from siyu.kit.db import transaction
from siyu.workspace import service
from siyu.workspace.schemas import WorkspaceCreate
from tests.console.conftest import console_login, csrf_of
from tests.factories import Member, create_member


def test_login_page_is_chinese_by_default(client: TestClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in response.text
    assert "登录私域" in response.text
    assert "Sign in to siyu" not in response.text


def test_language_switch_turns_the_login_page_english(client: TestClient) -> None:
    switched = client.get("/lang/en?next=/login", follow_redirects=False)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/login"
    response = client.get("/login")
    assert '<html lang="en">' in response.text
    assert "Sign in to siyu" in response.text
    assert "登录私域" not in response.text
    back = client.get("/lang/zh_CN?next=/login")
    assert "登录私域" in back.text


def test_language_switch_ignores_unknown_languages_and_foreign_next(client: TestClient) -> None:
    response = client.get("/lang/xx?next=https://evil.example/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert "siyu_locale" not in response.headers.get("set-cookie", "")


def test_wrong_password_shows_the_form_again_with_an_error(client: TestClient, owner: Member) -> None:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"email": owner.email, "password": "not-the-password", "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "邮箱或密码不正确" in response.text
    assert f'value="{owner.email}"' in response.text
    assert SESSION_COOKIE not in response.cookies


def test_login_leads_to_the_dashboard(client: TestClient, owner: Member) -> None:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"email": owner.email, "password": owner.password, "csrf_token": csrf_of(form.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Acme 美妆" in home.text
    assert "工作台" in home.text
    assert 'action="/logout"' in home.text


def test_login_without_the_form_token_is_refused(client: TestClient, owner: Member) -> None:
    client.get("/login")
    response = client.post(
        "/login",
        data={"email": owner.email, "password": owner.password, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies
    assert client.get("/", follow_redirects=False).status_code == 303


def test_pages_without_a_session_redirect_to_login_and_back(client: TestClient, owner: Member) -> None:
    response = client.get("/audit?action=member.added", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/audit%3Faction%3Dmember.added"
    form = client.get(response.headers["location"])
    assert 'name="next" value="/audit?action=member.added"' in form.text
    signed_in = client.post(
        "/login",
        data={
            "email": owner.email,
            "password": owner.password,
            "csrf_token": csrf_of(form.text),
            "next": "/audit?action=member.added",
        },
        follow_redirects=False,
    )
    assert signed_in.headers["location"] == "/audit?action=member.added"


def test_login_never_redirects_off_site(client: TestClient, owner: Member) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        client.cookies.clear()
        form = client.get("/login")
        response = client.post(
            "/login",
            data={"email": owner.email, "password": owner.password, "csrf_token": csrf_of(form.text), "next": target},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/", target


def test_logout_ends_the_session(client: TestClient, owner: Member) -> None:
    csrf = console_login(client, owner)
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_workspace_language_applies_until_the_operator_chooses(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        ws = service.create_workspace(
            session, WorkspaceCreate(slug="intl", name="Intl Brand", locale="en"), actor_label="test"
        )
    member = create_member(session_factory, ws.id, Role.owner, "owner@intl.example")
    console_login(client, member)
    assert "Dashboard" in client.get("/").text
    client.get("/lang/zh_CN")
    assert "工作台" in client.get("/").text


def test_switching_workspace(client: TestClient, session_factory: sessionmaker[Session], owner: Member) -> None:
    with transaction(session_factory) as session:
        other = service.create_workspace(session, WorkspaceCreate(slug="beta", name="Beta 母婴"), actor_label="test")
    create_member(session_factory, other.id, Role.analyst, owner.email)
    csrf = console_login(client, owner)
    home = client.get("/").text
    assert 'action="/switch-workspace"' in home
    assert "Beta 母婴" in home
    response = client.post(
        "/switch-workspace", data={"csrf_token": csrf, "workspace_id": str(other.id)}, follow_redirects=False
    )
    assert response.status_code == 303
    switched = client.get("/").text
    assert f'<option value="{other.id}" selected>Beta 母婴</option>' in switched
    assert 'href="/tokens"' not in switched  # an analyst there


def test_htmx_requests_without_a_session_are_sent_to_login(client: TestClient) -> None:
    response = client.get("/audit?action=x", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.headers["hx-redirect"] == "/login?next=/audit%3Faction%3Dx"


def test_console_pages_are_not_cached_or_framed(client: TestClient, owner: Member) -> None:
    console_login(client, owner)
    for path in ("/login", "/", "/tokens"):
        response = client.get(path)
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
