"""Console test helpers: sign in through the real login form and read hidden CSRF fields."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Role
from tests.factories import Member, create_member, create_workspace

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first hidden CSRF field on a page."""
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def console_login(client: TestClient, member: Member) -> str:
    """Sign in through GET/POST /login like a browser; returns the session's CSRF token for forms."""
    form = client.get("/login")
    assert form.status_code == 200
    response = client.post(
        "/login",
        data={"email": member.email, "password": member.password, "csrf_token": csrf_of(form.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get("/")
    assert home.status_code == 200
    return csrf_of(home.text)


@pytest.fixture
def owner(session_factory: sessionmaker[Session]) -> Member:
    workspace = create_workspace(session_factory, "acme", "Acme 美妆")
    return create_member(session_factory, workspace.id, Role.owner, "owner@acme.example", can_unmask_pii=True)


@pytest.fixture
def analyst(session_factory: sessionmaker[Session], owner: Member) -> Member:
    return create_member(session_factory, owner.workspace_id, Role.analyst, "analyst@acme.example")


@pytest.fixture
def community_manager(session_factory: sessionmaker[Session], owner: Member) -> Member:
    """tags:manage and analytics:read, but not segments:manage."""
    return create_member(session_factory, owner.workspace_id, Role.community_manager, "community@acme.example")


@pytest.fixture
def service_agent(session_factory: sessionmaker[Session], owner: Member) -> Member:
    """contacts:read, but neither analytics permission nor tags:manage."""
    return create_member(session_factory, owner.workspace_id, Role.service_agent, "agent@acme.example")
