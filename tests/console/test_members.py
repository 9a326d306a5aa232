"""The members page: adding, re-roling and removing members through forms, with CSRF and inline errors."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Role
from siyu.models import AuditEvent, Membership, Operator
from tests.console.conftest import console_login
from tests.factories import Member, create_member


def _new_member(csrf: str, **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "email": "li.na@acme.example",
        "display_name": "李娜",
        "role": "content_editor",
        "password": "a-long-password-1",
    }
    form.update(overrides)
    return form


def _operator_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return len(session.scalars(select(Operator)).all())


def test_adding_a_member_through_the_form(client: TestClient, owner: Member) -> None:
    csrf = console_login(client, owner)
    response = client.post("/members", data=_new_member(csrf), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/members?notice=added"
    page = client.get(response.headers["location"]).text
    assert "已添加成员" in page
    assert "li.na@acme.example" in page
    assert "李娜" in page


def test_the_new_member_can_sign_in(client: TestClient, owner: Member) -> None:
    csrf = console_login(client, owner)
    client.post("/members", data=_new_member(csrf))
    client.post("/logout", data={"csrf_token": csrf})
    newcomer = Member(owner.workspace_id, 0, 0, "li.na@acme.example", owner.role, "a-long-password-1")
    console_login(client, newcomer)
    assert "内容编辑" in client.get("/").text


def test_form_without_csrf_token_is_refused(
    client: TestClient, owner: Member, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    before = _operator_count(session_factory)
    missing = client.post("/members", data={k: v for k, v in _new_member(csrf).items() if k != "csrf_token"})
    assert missing.status_code == 403
    wrong = client.post("/members", data=_new_member("not-the-token"))
    assert wrong.status_code == 403
    assert "不是来自当前的控制台会话" in wrong.text
    assert client.post("/logout", data={}).status_code == 403
    assert _operator_count(session_factory) == before


def test_invalid_input_is_shown_next_to_the_field(
    client: TestClient, owner: Member, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    before = _operator_count(session_factory)
    response = client.post("/members", data=_new_member(csrf, email="not-an-email"))
    assert response.status_code == 422
    assert 'id="email-error"' in response.text
    assert "请输入有效的邮箱地址" in response.text
    assert 'value="李娜"' in response.text  # what was typed is kept
    short = client.post("/members", data=_new_member(csrf, password="short"))
    assert short.status_code == 422
    assert 'id="password-error"' in short.text
    assert _operator_count(session_factory) == before


def test_adding_an_existing_member_is_a_conflict_on_the_email(client: TestClient, owner: Member) -> None:
    csrf = console_login(client, owner)
    response = client.post("/members", data=_new_member(csrf, email=owner.email))
    assert response.status_code == 409
    assert 'id="email-error"' in response.text
    assert "此人已是工作区成员" in response.text


def test_changing_a_role_and_removing_a_member(
    client: TestClient, owner: Member, analyst: Member, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    changed = client.post(
        f"/members/{analyst.member_id}/role", data={"csrf_token": csrf, "role": "admin"}, follow_redirects=False
    )
    assert changed.status_code == 303
    with session_factory() as session:
        assert session.get(Membership, analyst.member_id).role == "admin"  # type: ignore[union-attr]
    removed = client.post(f"/members/{analyst.member_id}/remove", data={"csrf_token": csrf}, follow_redirects=False)
    assert removed.status_code == 303
    assert "analyst@acme.example" not in client.get("/members").text
    with session_factory() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["member.updated", "member.removed"]


def test_a_refused_role_change_is_shown_on_the_row(client: TestClient, owner: Member) -> None:
    csrf = console_login(client, owner)
    page = client.get("/members").text
    assert f'action="/members/{owner.member_id}/role"' not in page  # nobody re-roles themselves here
    response = client.post(f"/members/{owner.member_id}/role", data={"csrf_token": csrf, "role": "analyst"})
    assert response.status_code == 409
    assert "工作区至少要保留一位所有者" in response.text


def test_analyst_cannot_post_member_forms(client: TestClient, analyst: Member) -> None:
    csrf = console_login(client, analyst)
    response = client.post("/members", data=_new_member(csrf))
    assert response.status_code == 403
    assert "管理成员与角色" in response.text


def test_admins_do_not_get_forms_for_owners(
    client: TestClient, owner: Member, analyst: Member, session_factory: sessionmaker[Session]
) -> None:
    admin = create_member(session_factory, owner.workspace_id, Role.admin, "admin@acme.example")
    console_login(client, admin)
    page = client.get("/members").text
    assert f'action="/members/{analyst.member_id}/role"' in page
    assert f'action="/members/{owner.member_id}/role"' not in page
    assert f'action="/members/{owner.member_id}/remove"' not in page
    assert '<option value="owner"' not in page  # only owners make owners
