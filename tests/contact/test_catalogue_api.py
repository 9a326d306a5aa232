"""The property catalogue, channel codes and staff through the API: validation naming the field,
conflicts, who may change them, and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.models import AuditEvent, PropertyDefinition
from tests.api.conftest import assert_problem, error_fields
from tests.contact.conftest import Pool


def _actions(factory: sessionmaker[Session], entity_type: str) -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.entity_type == entity_type).order_by(AuditEvent.id)
            )
        )


# --- property catalogue -----------------------------------------------------------------------


def test_declare_list_and_remove_properties(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session]
) -> None:
    pool.as_(client, "admin")
    created = client.post(
        "/api/v1/properties",
        json={"key": "skin_type", "type": "enum", "label": "肤质", "options": ["dry", "oily", "sensitive"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["options"] == ["dry", "oily", "sensitive"]
    plain = client.post("/api/v1/properties", json={"key": "vip_since", "type": "date"})
    assert plain.json()["label"] == "vip_since"  # the label defaults to the key
    pool.as_(client, "analyst")
    assert [p["key"] for p in client.get("/api/v1/properties").json()] == ["skin_type", "vip_since"]
    assert_problem(client.delete("/api/v1/properties/vip_since"), 403, "permission_denied")
    pool.as_(client, "admin")
    assert client.delete("/api/v1/properties/vip_since").status_code == 204
    assert_problem(client.delete("/api/v1/properties/vip_since"), 404, "not_found")
    assert_problem(client.delete("/api/v1/properties/Bad-Key"), 422, "invalid_input")
    assert [p["key"] for p in client.get("/api/v1/properties").json()] == ["skin_type"]
    assert _actions(session_factory, "property_definition") == [
        "property.created",
        "property.created",
        "property.deleted",
    ]


BAD_PROPERTIES: list[tuple[str, dict[str, Any], str, str]] = [
    ("key-uppercase", {"key": "SkinType", "type": "string"}, "key", "lower-case"),
    ("key-digit-first", {"key": "1st", "type": "string"}, "key", "lower-case"),
    ("key-too-long", {"key": "k" * 65, "type": "string"}, "key", "64"),
    ("key-reserved", {"key": "name", "type": "string"}, "key", "built-in"),
    ("type-unknown", {"key": "age", "type": "integer"}, "type", "string"),
    ("enum-no-options", {"key": "tier", "type": "enum"}, "options", "at least one option"),
    ("enum-empty-options", {"key": "tier", "type": "enum", "options": []}, "options", "at least one option"),
    ("options-on-string", {"key": "tier", "type": "string", "options": ["a"]}, "options", "only enum and list"),
    ("options-repeated", {"key": "tier", "type": "enum", "options": ["a", "a"]}, "options", "unique"),
    ("option-empty", {"key": "tier", "type": "enum", "options": [""]}, "options.0", "at least 1"),
    ("label-nul", {"key": "tier", "type": "string", "label": "a\x00"}, "label", "NUL"),
    ("extra-field", {"key": "tier", "type": "string", "required": True}, "required", "not permitted"),
]


@pytest.mark.parametrize(
    ("body", "field", "reason"), [c[1:] for c in BAD_PROPERTIES], ids=[c[0] for c in BAD_PROPERTIES]
)
def test_property_validation_names_the_field(
    client: TestClient,
    pool: Pool,
    session_factory: sessionmaker[Session],
    body: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    pool.as_(client, "admin")
    problem = assert_problem(client.post("/api/v1/properties", json=body), 422, "invalid_input")
    assert error_fields(problem) == [field]
    assert reason in problem["errors"][0]["reason"]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PropertyDefinition)) == 0


def test_a_key_is_declared_once(client: TestClient, pool: Pool) -> None:
    pool.as_(client, "admin")
    assert client.post("/api/v1/properties", json={"key": "tier", "type": "string"}).status_code == 201
    again = assert_problem(client.post("/api/v1/properties", json={"key": "tier", "type": "number"}), 409, "conflict")
    assert again["field"] == "key"


# --- staff and channel codes ------------------------------------------------------------------


def test_staff_and_channel_codes(client: TestClient, pool: Pool, session_factory: sessionmaker[Session]) -> None:
    pool.as_(client, "admin")
    staff = client.post("/api/v1/staff", json={"userid": "li.lei", "name": "李雷", "department": "华东门店"})
    assert staff.status_code == 201, staff.text
    code = client.post(
        "/api/v1/channel-codes",
        json={"state": "dy-live-0301", "label": "抖音直播 3 月", "source": "douyin", "owner_staff": "li.lei"},
    )
    assert code.status_code == 201, code.text
    assert code.json()["owner_staff"]["name"] == "李雷"

    pool.as_(client, "analyst")  # contacts:read may read both
    assert [s["userid"] for s in client.get("/api/v1/staff").json()] == ["li.lei", "zhang.wei"]
    codes = client.get("/api/v1/channel-codes").json()
    assert [(c["state"], c["source"], c["contact_count"]) for c in codes] == [("dy-live-0301", "douyin", 1)]
    assert codes[0]["owner_staff"]["userid"] == "li.lei"
    assert_problem(client.post("/api/v1/staff", json={"userid": "x", "name": "x"}), 403, "permission_denied")
    assert_problem(
        client.post("/api/v1/channel-codes", json={"state": "s", "label": "l", "source": "x"}), 403, "permission_denied"
    )
    assert _actions(session_factory, "staff_member") == ["staff.created"]
    assert _actions(session_factory, "channel_code") == ["channel_code.created"]


def test_staff_and_channel_code_refusals(client: TestClient, pool: Pool) -> None:
    pool.as_(client, "admin")
    dup = assert_problem(client.post("/api/v1/staff", json={"userid": "zhang.wei", "name": "又一个"}), 409, "conflict")
    assert dup["field"] == "userid"
    bad_userid = client.post("/api/v1/staff", json={"userid": "has space", "name": "x"})
    assert error_fields(assert_problem(bad_userid, 422, "invalid_input")) == ["userid"]
    no_owner = client.post(
        "/api/v1/channel-codes", json={"state": "s1", "label": "l", "source": "store", "owner_staff": "ghost"}
    )
    assert error_fields(assert_problem(no_owner, 422, "invalid_input")) == ["owner_staff"]
    long_state = client.post("/api/v1/channel-codes", json={"state": "s" * 31, "label": "l", "source": "store"})
    assert error_fields(assert_problem(long_state, 422, "invalid_input")) == ["state"]
    missing = assert_problem(client.post("/api/v1/channel-codes", json={"state": "s1"}), 422, "invalid_input")
    assert set(error_fields(missing)) == {"label", "source"}
    assert (
        client.post("/api/v1/channel-codes", json={"state": "s1", "label": "l", "source": "store"}).status_code == 201
    )
    dup_state = client.post("/api/v1/channel-codes", json={"state": "s1", "label": "again", "source": "store"})
    assert assert_problem(dup_state, 409, "conflict")["field"] == "state"
