"""Plain factory functions that create real rows (no factory magic)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission, Role
from siyu.kit.db import transaction
from siyu.models import Workspace
from siyu.workspace import service
from siyu.workspace.schemas import MemberCreate, TokenCreate, WorkspaceCreate

PASSWORD = "correct-horse-battery"


@dataclass
class Member:
    workspace_id: int
    member_id: int
    operator_id: int
    email: str
    role: Role
    password: str = PASSWORD


def create_workspace(factory: sessionmaker[Session], slug: str = "acme", name: str = "Acme 美妆") -> Workspace:
    with transaction(factory) as session:
        return service.create_workspace(session, WorkspaceCreate(slug=slug, name=name), actor_label="test")


def create_member(
    factory: sessionmaker[Session],
    workspace_id: int,
    role: Role = Role.owner,
    email: str | None = None,
    *,
    can_unmask_pii: bool = False,
) -> Member:
    email = email or f"{role.value}-{workspace_id}@example.com"
    with transaction(factory, workspace_id=workspace_id) as session:
        out = service.add_member(
            session,
            None,
            MemberCreate(
                email=email, display_name=role.value, role=role, password=PASSWORD, can_unmask_pii=can_unmask_pii
            ),
            workspace_id=workspace_id,
            actor_label="test",
        )
    return Member(workspace_id, out.id, out.operator_id, email, role)


def create_token(factory: sessionmaker[Session], workspace_id: int, scopes: list[Permission]) -> str:
    with transaction(factory, workspace_id=workspace_id) as session:
        _, secret = service.create_token(
            session, None, TokenCreate(name="test", scopes=scopes), workspace_id=workspace_id, actor_label="test"
        )
    return secret


def login(client: TestClient, member: Member) -> str:
    """Sign in through the API; the client keeps the cookie. Returns the CSRF token."""
    response = client.post("/api/v1/auth/login", json={"email": member.email, "password": member.password})
    assert response.status_code == 200, response.text
    csrf = response.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    return str(csrf)
