"""Workspaces do not see or touch each other's rows: through the API, and at the session level where the
guard in ``siyu.kit.db`` scopes every ORM statement and refuses to flush another workspace's rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission, Role
from siyu.kit.db import WORKSPACE_KEY, CrossWorkspaceWrite, across_workspaces, transaction
from siyu.kit.security import digest
from siyu.models import ApiToken, AuditEvent, Job, Membership, Operator
from siyu.worker import queue
from siyu.workspace import repository
from tests.api.conftest import assert_problem
from tests.factories import Member, create_member, create_token, create_workspace, login

SCOPED_MODELS: list[type[Any]] = [Membership, ApiToken, AuditEvent, Job]


@dataclass
class Tenant:
    workspace_id: int
    owner: Member
    analyst: Member
    token_id: int
    token_secret: str
    job_id: int


def make_tenant(factory: sessionmaker[Session], slug: str) -> Tenant:
    ws = create_workspace(factory, slug, f"Brand {slug}")
    owner = create_member(factory, ws.id, Role.owner, f"owner@{slug}.example.com")
    analyst = create_member(factory, ws.id, Role.analyst, f"analyst@{slug}.example.com")
    secret = create_token(factory, ws.id, [Permission.members_read, Permission.jobs_read, Permission.audit_read])
    with transaction(factory, workspace_id=ws.id) as session:
        job = queue.enqueue(session, "test.noop", {"slug": slug})
        job.status = "dead"
        token = session.scalar(select(ApiToken).where(ApiToken.token_digest == digest(secret)))
        assert token is not None
        session.flush()
        return Tenant(ws.id, owner, analyst, token.id, secret, job.id)


@pytest.fixture
def tenants(session_factory: sessionmaker[Session]) -> tuple[Tenant, Tenant]:
    a, b = make_tenant(session_factory, "brand-a"), make_tenant(session_factory, "brand-b")
    with transaction(session_factory) as session:
        queue.enqueue(session, "test.system", {})  # a system job belongs to no workspace
    return a, b


@contextmanager
def rolled_back(factory: sessionmaker[Session], workspace_id: int) -> Iterator[Session]:
    """A session scoped to a workspace whose work is always thrown away."""
    session = factory()
    session.info[WORKSPACE_KEY] = workspace_id
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def ids_of(factory: sessionmaker[Session], model: type[Any], workspace_id: int) -> set[int]:
    with transaction(factory) as session:
        return set(session.scalars(select(model.id).where(model.workspace_id == workspace_id)))


def snapshot(factory: sessionmaker[Session], workspace_id: int) -> dict[str, Any]:
    """Everything of a workspace that an attack from another one could change."""
    with transaction(factory) as session:
        return {
            "members": sorted(
                (m.id, m.role, m.can_unmask_pii)
                for m in session.scalars(select(Membership).where(Membership.workspace_id == workspace_id))
            ),
            "tokens": sorted(
                (t.id, t.name, t.revoked_at)
                for t in session.scalars(select(ApiToken).where(ApiToken.workspace_id == workspace_id))
            ),
            "jobs": sorted(
                (j.id, j.status, j.attempts)
                for j in session.scalars(select(Job).where(Job.workspace_id == workspace_id))
            ),
            "audit": sorted(session.scalars(select(AuditEvent.id).where(AuditEvent.workspace_id == workspace_id))),
        }


# --- through the API --------------------------------------------------------------------------


def test_owner_lists_only_their_workspace(
    client: TestClient, session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    login(client, a.owner)

    members = client.get("/api/v1/members").json()
    assert {m["id"] for m in members} == ids_of(session_factory, Membership, a.workspace_id)
    assert not any("brand-b" in m["email"] for m in members)

    tokens = client.get("/api/v1/tokens").json()
    assert {t["id"] for t in tokens} == ids_of(session_factory, ApiToken, a.workspace_id)

    audit = client.get("/api/v1/audit-events", params={"limit": 500}).json()
    a_events = ids_of(session_factory, AuditEvent, a.workspace_id)
    assert {e["id"] for e in audit["items"]} == a_events
    assert audit["total"] == len(a_events)
    other = client.get("/api/v1/audit-events", params={"entity_type": "member", "entity_id": str(b.analyst.member_id)})
    assert other.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}

    jobs = client.get("/api/v1/jobs").json()
    assert {j["id"] for j in jobs["items"]} == {a.job_id}
    assert jobs["total"] == 1

    assert client.get("/api/v1/workspace").json()["id"] == a.workspace_id


def test_token_lists_only_its_workspace(client: TestClient, tenants: tuple[Tenant, Tenant]) -> None:
    _, b = tenants
    headers = {"Authorization": f"Bearer {b.token_secret}"}
    members = client.get("/api/v1/members", headers=headers).json()
    assert {m["id"] for m in members} == {b.owner.member_id, b.analyst.member_id}
    jobs = client.get("/api/v1/jobs", headers=headers).json()
    assert [j["id"] for j in jobs["items"]] == [b.job_id]


def test_other_workspace_ids_are_not_found_and_stay_unchanged(
    client: TestClient, session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    login(client, a.owner)
    b_before, a_before = snapshot(session_factory, b.workspace_id), snapshot(session_factory, a.workspace_id)

    attempts = [
        ("PATCH", f"/api/v1/members/{b.analyst.member_id}", {"role": "admin"}),
        ("PATCH", f"/api/v1/members/{b.owner.member_id}", {"can_unmask_pii": False}),
        ("DELETE", f"/api/v1/members/{b.analyst.member_id}", None),
        ("DELETE", f"/api/v1/members/{b.owner.member_id}", None),
        ("DELETE", f"/api/v1/tokens/{b.token_id}", None),
        ("POST", f"/api/v1/jobs/{b.job_id}/retry", None),
    ]
    for method, url, body in attempts:
        assert_problem(client.request(method, url, json=body), 404, "not_found")

    assert snapshot(session_factory, b.workspace_id) == b_before
    assert snapshot(session_factory, a.workspace_id) == a_before  # and no audit event for the refusals
    # B's token still works: it was not revoked from A.
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {b.token_secret}"}).status_code == 200


def test_signing_in_to_a_workspace_one_is_not_a_member_of_is_refused(
    client: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    response = client.post(
        "/api/v1/auth/login",
        json={"email": a.owner.email, "password": a.owner.password, "workspace_id": b.workspace_id},
    )
    assert_problem(response, 403, "permission_denied")
    assert "siyu_session" not in response.cookies


# --- the session guard --------------------------------------------------------------------------


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m.__name__)
def test_scoped_select_sees_only_its_workspace(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant], model: type[Any]
) -> None:
    a, _ = tenants
    expected = ids_of(session_factory, model, a.workspace_id)
    assert expected
    with transaction(session_factory, workspace_id=a.workspace_id) as session:
        assert set(session.scalars(select(model.id))) == expected
        assert {row.workspace_id for row in session.scalars(select(model))} == {a.workspace_id}
        assert session.scalar(select(func.count()).select_from(model)) == len(expected)
        assert session.scalar(select(func.count()).select_from(select(model).subquery())) == len(expected)
        with across_workspaces(session):
            assert len(set(session.scalars(select(model.id)))) > len(expected)
        # The guard is back after the block.
        assert set(session.scalars(select(model.id))) == expected


def test_scoped_join_and_count_see_only_their_workspace(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    with transaction(session_factory, workspace_id=a.workspace_id) as session:
        assert {o.email for _, o in repository.members(session)} == {a.owner.email, a.analyst.email}
        # Operators belong to no workspace; a join through memberships is what scopes them.
        assert session.scalar(select(func.count()).select_from(Operator)) == 4
        assert repository.owner_count(session) == 1


def test_scoped_update_and_delete_touch_only_their_workspace(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    b_before = snapshot(session_factory, b.workspace_id)
    a_tokens = ids_of(session_factory, ApiToken, a.workspace_id)
    with transaction(session_factory, workspace_id=a.workspace_id) as session:
        result = session.execute(update(ApiToken).values(name="renamed"))
        assert result.rowcount == len(a_tokens)  # type: ignore[attr-defined]
    with transaction(session_factory) as session:
        names = dict(session.execute(select(ApiToken.id, ApiToken.name)).all())
    assert {names[i] for i in a_tokens} == {"renamed"}
    assert names[b.token_id] == "test"

    with transaction(session_factory, workspace_id=a.workspace_id) as session:
        session.execute(delete(AuditEvent))
        session.execute(delete(Job))
    assert ids_of(session_factory, AuditEvent, a.workspace_id) == set()
    assert ids_of(session_factory, Job, a.workspace_id) == set()
    assert snapshot(session_factory, b.workspace_id) == b_before


def test_scoped_get_does_not_find_other_workspace_rows(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    with transaction(session_factory, workspace_id=a.workspace_id) as session:
        assert session.get(ApiToken, b.token_id) is None
        assert session.get(Membership, b.analyst.member_id) is None
        assert session.get(Job, b.job_id) is None
        assert session.get(ApiToken, a.token_id) is not None


def test_adding_a_row_of_another_workspace_is_refused(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    before = ids_of(session_factory, ApiToken, b.workspace_id)
    row = ApiToken(workspace_id=b.workspace_id, name="smuggled", token_digest="0" * 64, prefix="siyu_x", scopes=[])
    with rolled_back(session_factory, a.workspace_id) as session:
        session.add(row)
        with pytest.raises(CrossWorkspaceWrite):
            session.flush()
    assert ids_of(session_factory, ApiToken, b.workspace_id) == before


def test_a_new_row_without_a_workspace_takes_the_sessions(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    with transaction(session_factory, workspace_id=a.workspace_id) as session:
        row = ApiToken(name="adopted", token_digest="1" * 64, prefix="siyu_y", scopes=[])
        session.add(row)
        session.flush()
        assert row.workspace_id == a.workspace_id


def _load_b_token(factory: sessionmaker[Session], token_id: int) -> ApiToken:
    with transaction(factory) as session:
        token = session.get(ApiToken, token_id)
        assert token is not None
        session.expunge(token)
        return token


def test_merging_a_changed_row_of_another_workspace_is_refused(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    b_before = snapshot(session_factory, b.workspace_id)
    token = _load_b_token(session_factory, b.token_id)
    token.name = "hijacked"
    with rolled_back(session_factory, a.workspace_id) as session:
        session.merge(token)
        with pytest.raises(CrossWorkspaceWrite):
            session.flush()

    token = _load_b_token(session_factory, b.token_id)
    token.name = "hijacked"
    with rolled_back(session_factory, a.workspace_id) as session:
        session.add(token)
        with pytest.raises(CrossWorkspaceWrite):
            session.flush()

    token = _load_b_token(session_factory, b.token_id)
    with rolled_back(session_factory, a.workspace_id) as session:
        session.add(token)
        session.delete(token)
        with pytest.raises(CrossWorkspaceWrite):
            session.flush()
    assert snapshot(session_factory, b.workspace_id) == b_before


def test_moving_a_row_to_another_workspace_is_refused(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    with rolled_back(session_factory, a.workspace_id) as session:
        token = session.get(ApiToken, a.token_id)
        assert token is not None
        token.workspace_id = b.workspace_id
        with pytest.raises(CrossWorkspaceWrite):
            session.flush()
    assert ids_of(session_factory, ApiToken, a.workspace_id) == {a.token_id}


def _token_row(workspace_id: int, name: str) -> dict[str, Any]:
    return {"workspace_id": workspace_id, "name": name, "token_digest": digest(name), "prefix": "p", "scopes": []}


@pytest.mark.parametrize("form", ["values", "executemany", "update-moves-rows"])
def test_bulk_statements_cannot_write_another_workspace(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant], form: str
) -> None:
    a, b = tenants
    before = ids_of(session_factory, ApiToken, b.workspace_id)
    statements = {
        "values": (insert(ApiToken).values(**_token_row(b.workspace_id, "x")), None),
        "executemany": (insert(ApiToken), [_token_row(a.workspace_id, "y"), _token_row(b.workspace_id, "z")]),
        "update-moves-rows": (update(ApiToken).values(workspace_id=b.workspace_id), None),
    }
    statement, params = statements[form]
    with rolled_back(session_factory, a.workspace_id) as session, pytest.raises(CrossWorkspaceWrite):
        session.execute(statement, params)
    assert ids_of(session_factory, ApiToken, b.workspace_id) == before
    assert ids_of(session_factory, ApiToken, a.workspace_id) == {a.token_id}


def test_bulk_insert_into_own_workspace_is_allowed(
    session_factory: sessionmaker[Session], tenants: tuple[Tenant, Tenant]
) -> None:
    a, _ = tenants
    with transaction(session_factory, workspace_id=a.workspace_id) as session:
        session.execute(insert(ApiToken), [_token_row(a.workspace_id, "bulk-1"), _token_row(a.workspace_id, "bulk-2")])
    assert len(ids_of(session_factory, ApiToken, a.workspace_id)) == 3
