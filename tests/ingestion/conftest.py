from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission
from tests.factories import create_token, create_workspace


@dataclass
class Ingest:
    client: TestClient
    workspace_id: int
    headers: dict[str, str]

    def post(self, kind: str, records: object) -> Any:
        response = self.client.post(f"/api/v1/{kind}/batch", json=records, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def ingest(client: TestClient, session_factory: sessionmaker[Session]) -> Ingest:
    ws = create_workspace(session_factory)
    token = create_token(session_factory, ws.id, [Permission.ingest_write, Permission.contacts_read])
    return Ingest(client, ws.id, {"Authorization": f"Bearer {token}"})
