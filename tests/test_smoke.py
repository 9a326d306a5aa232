from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import create_member, create_workspace, login


def test_login_and_me(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    owner = create_member(session_factory, ws.id)
    login(client, owner)
    me = client.get("/api/v1/auth/me").json()
    assert me["workspace_id"] == ws.id
    assert "pii:unmask" in me["permissions"]
