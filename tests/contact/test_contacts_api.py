"""Contact search, profiles with masking and audited unmasking, and timelines, through the API."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import transaction
from siyu.models import AuditEvent, Contact
from tests.api.conftest import assert_problem, error_fields
from tests.contact.conftest import Pool
from tests.contact.factories import T0, add_event, add_order, create_contact
from tests.factories import create_member, create_workspace, login


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _pii_events(factory: sessionmaker[Session]) -> list[AuditEvent]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "pii.viewed")))


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "who"),
    [
        ("13812348000", "li"),
        ("+86 138-1234-8000", "li"),  # any common writing of the number
        ("li.na@example.COM", "li"),  # e-mail in any case
        ("o_li_123", "li"),  # an openid, exactly
        ("tb_wang", "wang"),  # a buyer id
        ("u_wang_9", "wang"),  # a unionid
        ("李", "li"),  # part of the name
        ("小娜", "li"),  # the nickname
        ("fang", "wang"),  # nickname substring, any case
    ],
)
def test_search_by_phone_email_identity_and_name(client: TestClient, pool: Pool, q: str, who: str) -> None:
    pool.as_(client, "analyst")
    assert _ids(client.get("/api/v1/contacts", params={"q": q})) == [getattr(pool, who)]


def test_search_misses_partial_identities_and_wildcards(client: TestClient, pool: Pool) -> None:
    pool.as_(client, "analyst")
    for q in ("1381234", "o_li", "%", "_", "nobody"):
        assert _ids(client.get("/api/v1/contacts", params={"q": q})) == [], q


def test_list_is_newest_first_with_identity_kinds_and_masked_names(client: TestClient, pool: Pool) -> None:
    pool.as_(client, "owner")
    body = client.get("/api/v1/contacts").json()
    assert body["total"] == 2
    assert [c["id"] for c in body["items"]] == [pool.wang, pool.li]
    li = body["items"][1]
    assert li["name"] == "李*"  # masked even for the owner unless asked for
    assert li["nickname"] == "小娜"
    assert li["identity_kinds"] == ["email", "phone", "wx_openid"]
    assert li["first_channel_code"] == "dy-live-0301"


def test_filters(client: TestClient, pool: Pool, session_factory: sessionmaker[Session]) -> None:
    pool.as_(client, "analyst")

    def ids(**params: str) -> list[int]:
        return _ids(client.get("/api/v1/contacts", params=params))

    assert ids(source="taobao") == [pool.wang]
    assert ids(channel_code="dy-live-0301") == [pool.li]
    assert ids(owner_staff="zhang.wei") == [pool.li]
    assert ids(owner_staff="nobody") == []
    assert ids(identity_kind="wx_unionid") == [pool.wang]
    assert ids(identity_kind="phone", q="李") == [pool.li]
    # Days are the workspace's (Asia/Shanghai); both ends inclusive.
    assert ids(created_from="2025-03-02") == [pool.wang]
    assert ids(created_to="2025-03-01") == [pool.li]
    assert ids(created_from="2025-03-01", created_to="2025-03-11") == [pool.wang, pool.li]
    refused = assert_problem(
        client.get("/api/v1/contacts", params={"created_from": "2025-03-05", "created_to": "2025-03-01"}),
        422,
        "invalid_input",
    )
    assert error_fields(refused) == ["created_to"]
    assert "identity_kind" in error_fields(
        assert_problem(client.get("/api/v1/contacts?identity_kind=fax"), 422, "invalid_input")
    )


def test_paging(client: TestClient, pool: Pool, session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory, workspace_id=pool.workspace_id) as session:
        for n in range(5):
            create_contact(session, nickname=f"批量{n}", created_at=T0 + timedelta(days=20 + n))
    pool.as_(client, "analyst")
    first = client.get("/api/v1/contacts", params={"q": "批量", "limit": 2}).json()
    assert first["total"] == 5
    assert [c["nickname"] for c in first["items"]] == ["批量4", "批量3"]
    last = client.get("/api/v1/contacts", params={"q": "批量", "limit": 2, "offset": 4}).json()
    assert [c["nickname"] for c in last["items"]] == ["批量0"]


def test_list_unmask_is_audited_and_needs_the_grant(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session]
) -> None:
    pool.as_(client, "admin")
    assert_problem(client.get("/api/v1/contacts?unmask=true"), 403, "permission_denied")
    assert _pii_events(session_factory) == []
    pool.as_(client, "owner")
    names = {c["id"]: c["name"] for c in client.get("/api/v1/contacts?unmask=true").json()["items"]}
    assert names == {pool.li: "李娜", pool.wang: "王芳"}
    (event,) = _pii_events(session_factory)
    assert event.entity_type == "contact"
    assert event.after == {"contact_ids": [pool.wang, pool.li], "fields": ["name"]}
    assert event.actor_label == pool.owner.email


# --- profile ----------------------------------------------------------------------------------


def test_profile_is_masked_by_default(client: TestClient, pool: Pool, session_factory: sessionmaker[Session]) -> None:
    pool.as_(client, "analyst")
    profile = client.get(f"/api/v1/contacts/{pool.li}").json()
    assert profile["masked"] is True
    assert profile["name"] == "李*"
    values = {i["key"]: (i["value"], i["masked"]) for i in profile["identities"]}
    assert values == {
        "phone": ("138****8000", True),
        "email": ("l***@example.com", True),
        "wx_openid@wxapp1": ("o_li_123", False),
    }
    assert "13812348000" not in str(profile)
    assert "li.na@" not in str(profile)
    assert profile["owner_staff"]["userid"] == "zhang.wei"
    assert profile["properties"] == {"skin_type": "dry"}
    assert profile["orders"] == {"count": 1, "paid_fen": 12900, "refunded_fen": 0}
    assert profile["event_count"] == 2
    assert _pii_events(session_factory) == []


def test_unmasking_shows_everything_and_is_audited(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session]
) -> None:
    pool.as_(client, "owner")
    profile = client.get(f"/api/v1/contacts/{pool.li}?unmask=true").json()
    assert profile["masked"] is False
    assert profile["name"] == "李娜"
    assert {i["value"] for i in profile["identities"]} == {"13812348000", "li.na@example.com", "o_li_123"}
    (event,) = _pii_events(session_factory)
    assert event.entity_id == str(pool.li)
    assert event.after == {"fields": ["name", "identities.email", "identities.phone"]}
    assert event.actor_operator_id == pool.owner.operator_id


@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_unmasking_without_the_grant_is_refused_and_not_logged_as_a_read(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session], who: str
) -> None:
    pool.as_(client, who)
    body = assert_problem(client.get(f"/api/v1/contacts/{pool.li}?unmask=true"), 403, "permission_denied")
    assert "pii:unmask" in body["detail"]
    assert _pii_events(session_factory) == []


def test_consent_latest_record_wins_per_purpose_and_channel(client: TestClient, pool: Pool) -> None:
    pool.as_(client, "analyst")
    profile = client.get(f"/api/v1/contacts/{pool.li}").json()
    current = {(c["purpose"], c["channel"]): c["granted"] for c in profile["consent"]}
    assert current == {("marketing", None): False, ("marketing", "sms"): False}
    assert [c["granted"] for c in profile["consent_ledger"]] == [False, False, True]  # newest first


def test_unknown_and_bad_ids(client: TestClient, pool: Pool) -> None:
    pool.as_(client, "analyst")
    assert_problem(client.get("/api/v1/contacts/987654"), 404, "not_found")
    for bad in ("0", "-1", "abc", "1.5", str(2**63)):
        body = assert_problem(client.get(f"/api/v1/contacts/{bad}"), 422, "invalid_input")
        assert error_fields(body) == ["contact_id"]
        assert_problem(client.get(f"/api/v1/contacts/{bad}/timeline"), 422, "invalid_input")
    assert_problem(client.get("/api/v1/contacts?q=a%00b"), 422, "invalid_input")
    assert_problem(client.get(f"/api/v1/contacts?offset={2**63}"), 422, "invalid_input")
    assert_problem(client.get("/api/v1/contacts?limit=0"), 422, "invalid_input")


def test_another_workspaces_contact_is_not_found(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session]
) -> None:
    other = create_workspace(session_factory, "other", "Other")
    member = create_member(session_factory, other.id)
    client.cookies.clear()
    login(client, member)
    assert_problem(client.get(f"/api/v1/contacts/{pool.li}"), 404, "not_found")
    assert client.get("/api/v1/contacts", params={"q": "13812348000"}).json()["total"] == 0


# --- timeline ---------------------------------------------------------------------------------


def test_timeline_interleaves_events_and_orders_newest_first(client: TestClient, pool: Pool) -> None:
    pool.as_(client, "analyst")
    items = client.get(f"/api/v1/contacts/{pool.li}/timeline").json()["items"]
    assert [(i["type"], i.get("name") or i.get("order_id")) for i in items] == [
        ("event", "message_opened"),
        ("order", "SO-1"),
        ("event", "contact_added"),
    ]
    order = items[1]
    assert order["amount_fen"] == 12900
    assert order["items"][0]["sku"] == "LIP-01"


def test_timeline_pages_cover_everything_once_in_order(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory, workspace_id=pool.workspace_id) as session:
        contact = session.get(Contact, pool.wang)
        assert contact is not None
        for n in range(12):
            at = T0 + timedelta(hours=n // 3)  # three items share each time: ties are ordered too
            add_event(session, contact, "page_view", at, properties={"n": n})
            if n % 4 == 0:
                add_order(session, contact, f"W-{n}", 100 * n, at)
    pool.as_(client, "analyst")
    seen: list[tuple[str, int]] = []
    times: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = client.get(f"/api/v1/contacts/{pool.wang}/timeline", params=params).json()
        pages += 1
        assert len(body["items"]) <= 4
        seen += [(i["type"], i["id"]) for i in body["items"]]
        times += [i["at"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 4  # 12 events + 3 orders = 15 items
    assert len(seen) == len(set(seen)) == 15
    assert times == sorted(times, reverse=True)
    only = client.get(f"/api/v1/contacts/{pool.wang}/timeline", params={"event": "page_view", "limit": 100}).json()
    assert {i["type"] for i in only["items"]} == {"event"}
    assert len(only["items"]) == 12
    assert only["next_cursor"] is None


def test_timeline_refuses_bad_cursors_and_names(client: TestClient, pool: Pool) -> None:
    pool.as_(client, "analyst")
    url = f"/api/v1/contacts/{pool.li}/timeline"
    naive = ["2025-03-01T12:00:00", 0, 1]
    huge_id = ["2025-03-01T12:00:00+00:00", 0, 2**70]
    bad_rank = ["2025-03-01T12:00:00+00:00", 7, 1]
    encoded = [base64.urlsafe_b64encode(json.dumps(c).encode()).decode() for c in (naive, huge_id, bad_rank)]
    for cursor in ("garbage", "W10=", "eyJhIjoxfQ", "非ASCII", *encoded):
        assert error_fields(assert_problem(client.get(url, params={"cursor": cursor}), 422, "invalid_input")) == [
            "cursor"
        ]
    assert error_fields(assert_problem(client.get(url, params={"event": "Bad Name"}), 422, "invalid_input")) == [
        "event"
    ]
    assert_problem(client.get(url, params={"limit": 101}), 422, "invalid_input")
