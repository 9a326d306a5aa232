"""API tokens, the audit log, background jobs and workspace settings, through the console."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.audit import service as audit
from siyu.errors import Conflict
from siyu.kit.db import transaction
from siyu.models import ApiToken, Job, Workspace
from siyu.workspace import service as workspace_service
from tests.console.conftest import console_login
from tests.factories import Member


def test_creating_a_token_shows_its_secret_once(
    client: TestClient, owner: Member, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    response = client.post(
        "/tokens", data={"csrf_token": csrf, "name": "订单同步", "scopes": ["ingest:write", "contacts:read"]}
    )
    assert response.status_code == 201
    secret = re.search(r'<code id="new-token">(siyu_[^<]+)</code>', response.text)
    assert secret, "the secret is shown"
    api = client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {secret.group(1)}", "X-CSRF-Token": ""})
    assert api.status_code == 403  # the token works, and only within its scopes
    listed = client.get("/tokens").text
    assert "订单同步" in listed
    assert secret.group(1) not in listed
    with session_factory() as session:
        token = session.scalars(select(ApiToken)).one()
    assert sorted(token.scopes) == ["contacts:read", "ingest:write"]


def test_token_form_errors_and_revoking(
    client: TestClient, owner: Member, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    no_scope = client.post("/tokens", data={"csrf_token": csrf, "name": "x"})
    assert no_scope.status_code == 422
    assert "请至少选择一项" in no_scope.text
    past = client.post(
        "/tokens", data={"csrf_token": csrf, "name": "x", "scopes": ["contacts:read"], "expires_on": "2001-01-01"}
    )
    assert past.status_code == 422
    assert "必须是将来的时间" in past.text
    client.post("/tokens", data={"csrf_token": csrf, "name": "temp", "scopes": ["contacts:read"]})
    with session_factory() as session:
        token_id = session.scalars(select(ApiToken.id)).one()
    revoked = client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert revoked.status_code == 303
    assert "已吊销" in client.get(revoked.headers["location"]).text
    with session_factory() as session:
        assert session.get(ApiToken, token_id).revoked_at is not None  # type: ignore[union-attr]


def test_audit_log_filters_and_pages(client: TestClient, owner: Member, session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        for n in range(60):
            audit.record(
                session, None, "contact.exported", "contact", n, workspace_id=owner.workspace_id, actor_label="test"
            )
    console_login(client, owner)
    page = client.get("/audit?action=contact.exported")
    assert page.status_code == 200
    assert page.text.count(">contact.exported</code>") == 50
    assert "member.added" not in page.text.split('id="audit-table"')[1]
    assert "第 1–50 条，共 60 条" in page.text
    second = client.get("/audit?action=contact.exported&offset=50")
    assert second.text.count(">contact.exported</code>") == 10
    partial = client.get("/audit?action=member.added", headers={"HX-Request": "true"})
    assert "<html" not in partial.text
    assert ">member.added</code>" in partial.text


def test_dead_jobs_can_be_retried(client: TestClient, owner: Member, session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        job = Job(name="segment.refresh", payload={}, status="dead", attempts=8, max_attempts=8, last_error="boom")
        session.add(job)
        session.flush()
        job_id = job.id
    csrf = console_login(client, owner)
    dead = client.get("/jobs?status=dead")
    assert f'action="/jobs/{job_id}/retry"' in dead.text
    assert "boom" in dead.text
    response = client.post(f"/jobs/{job_id}/retry", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    with session_factory() as session:
        assert session.get(Job, job_id).status == "queued"  # type: ignore[union-attr]
    assert "任务已重新排队" in client.get(response.headers["location"]).text


def test_settings_save_and_validate(client: TestClient, owner: Member, session_factory: sessionmaker[Session]) -> None:
    csrf = console_login(client, owner)
    bad = client.post("/settings", data={"csrf_token": csrf, "name": "Acme", "timezone": "Mars/Base", "locale": "en"})
    assert bad.status_code == 422
    assert 'id="timezone-error"' in bad.text
    saved = client.post(
        "/settings",
        data={"csrf_token": csrf, "name": "Acme Beauty", "timezone": "Asia/Tokyo", "locale": "en"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get(saved.headers["location"]).text
    assert "Settings saved." in page  # the workspace is English now and no language was chosen
    with session_factory() as session:
        ws = session.get(Workspace, owner.workspace_id)
        assert ws is not None
        assert (ws.name, ws.timezone, ws.locale) == ("Acme Beauty", "Asia/Tokyo", "en")


def test_refusals_are_html_pages_not_problem_json(client: TestClient, owner: Member) -> None:
    csrf = console_login(client, owner)
    missing = client.post("/tokens/987654/revoke", data={"csrf_token": csrf})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "返回工作台" in missing.text
    invalid = client.get("/audit?offset=-1")
    assert invalid.status_code == 422
    assert invalid.headers["content-type"].startswith("text/html")


def test_a_refused_request_writes_nothing(
    client: TestClient, owner: Member, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console renders refusals inside the request; what a service flushed before failing is undone."""
    csrf = console_login(client, owner)
    client.post("/tokens", data={"csrf_token": csrf, "name": "keep", "scopes": ["contacts:read"]})
    with session_factory() as session:
        token_id = session.scalars(select(ApiToken.id)).one()

    def revoke_then_fail(session: Session, _ctx: object, token_id: int) -> ApiToken:
        token = session.get(ApiToken, token_id)
        assert token is not None
        token.name = "half-written"
        session.flush()
        raise Conflict("refused after a write")

    monkeypatch.setattr(workspace_service, "revoke_token", revoke_then_fail)
    response = client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 409
    with session_factory() as session:
        assert session.get(ApiToken, token_id).name == "keep"  # type: ignore[union-attr]


def test_out_of_range_and_nul_input_is_refused_not_a_crash(client: TestClient, owner: Member) -> None:
    csrf = console_login(client, owner)
    for path in ("/tokens/9223372036854775808/revoke", "/members/0/remove", "/jobs/99999999999999999999/retry"):
        assert client.post(path, data={"csrf_token": csrf}).status_code == 422, path
    assert client.get("/audit?action=a%00b").status_code == 422
    assert client.get("/jobs?offset=9223372036854775808").status_code == 422
    added = client.post(
        "/members",
        data={"csrf_token": csrf, "email": "x@acme.example", "display_name": "a\x00b", "role": "analyst"},
    )
    assert added.status_code == 422
    login_form = client.post("/login", data={"email": "a\x00b@x.example", "password": "x", "csrf_token": csrf})
    assert login_form.status_code == 422
