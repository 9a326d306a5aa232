"""Manual merges through the API: preview, merge, the merged contact pointing at the survivor, and an
undo that puts identities, events, orders and consent back. (The merge journal itself is tested
property-by-property in the identity tests; these check the API around it.)"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import transaction
from siyu.models import AuditEvent, ConsentRecord, Contact, Event, Identity, MergeRecord, SalesOrder
from tests.api.conftest import assert_problem, error_fields
from tests.contact.conftest import Pool
from tests.contact.factories import T0, add_consent, add_event, add_order, create_contact


def _owned(factory: sessionmaker[Session], contact_id: int) -> dict[str, int]:
    with factory() as session:
        return {
            model.__name__: session.scalar(
                select(func.count()).select_from(model).where(model.contact_id == contact_id)
            )
            or 0
            for model in (Identity, Event, SalesOrder, ConsentRecord)
        }


def _merge(client: TestClient, pool: Pool, **extra: object) -> dict[str, object]:
    response = client.post(
        "/api/v1/contacts/merge", json={"survivor_id": pool.li, "merged_id": pool.wang, "reason": "同一人", **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_preview_says_what_would_move_and_changes_nothing(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory, workspace_id=pool.workspace_id) as session:
        wang = session.get(Contact, pool.wang)
        assert wang is not None
        wang.region = "杭州"
        wang.birthday = T0.date()
        add_event(session, wang, "page_view", T0)
    pool.as_(client, "analyst")  # previewing needs only contacts:read
    before = _owned(session_factory, pool.wang)
    response = client.post("/api/v1/contacts/merge/preview", json={"survivor_id": pool.li, "merged_id": pool.wang})
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["moves"] == {"identity": 2, "event": 1, "order": 0, "consent": 0}
    assert preview["fills"] == {"birthday": "2025-03-01"}
    assert preview["conflicts"]["region"] == {"kept": "上海", "dropped": "杭州"}
    assert preview["conflicts"]["name"] == {"kept": "李*", "dropped": "王*"}  # masked
    assert {i["key"] for i in preview["identities"]} == {"wx_unionid", "buyer_id@taobao"}
    assert preview["survivor"]["id"] == pool.li
    assert preview["merged"]["name"] == "王*"
    assert _owned(session_factory, pool.wang) == before
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(MergeRecord)) == 0


def test_merge_then_undo_restores_everything(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory, workspace_id=pool.workspace_id) as session:
        wang = session.get(Contact, pool.wang)
        assert wang is not None
        add_event(session, wang, "page_view", T0 + timedelta(days=3))
        add_order(session, wang, "TB-9", 5000, T0 + timedelta(days=4))
        add_consent(session, wang, "marketing", True, T0 + timedelta(days=4))
    li_before, wang_before = _owned(session_factory, pool.li), _owned(session_factory, pool.wang)
    pool.as_(client, "owner")

    merged = _merge(client, pool)
    assert merged["rule"] == "manual"
    assert merged["evidence"] == {"reason": "同一人"}
    assert merged["actor_label"] == pool.owner.email
    assert merged["moved"] == {"identity": 2, "event": 1, "order": 1, "consent": 1}
    assert _owned(session_factory, pool.wang) == {"Identity": 0, "Event": 0, "SalesOrder": 0, "ConsentRecord": 0}
    assert _owned(session_factory, pool.li) == {k: li_before[k] + wang_before[k] for k in li_before}

    # The merged contact is gone from lists and searches; its profile points at the survivor.
    listed = client.get("/api/v1/contacts").json()
    assert [c["id"] for c in listed["items"]] == [pool.li]
    found = client.get("/api/v1/contacts", params={"q": "tb_wang"}).json()["items"]
    assert [c["id"] for c in found] == [pool.li]  # the moved identity now finds the survivor
    gone = assert_problem(client.get(f"/api/v1/contacts/{pool.wang}"), 409, "contact_merged")
    assert gone["merged_into_id"] == pool.li
    assert_problem(client.get(f"/api/v1/contacts/{pool.wang}/timeline"), 409, "contact_merged")
    profile = client.get(f"/api/v1/contacts/{pool.li}").json()
    assert [m["id"] for m in profile["merges"]] == [merged["id"]]
    assert {i["key"] for i in profile["identities"]} >= {"wx_unionid", "buyer_id@taobao"}
    timeline = client.get(f"/api/v1/contacts/{pool.li}/timeline").json()["items"]
    assert any(i.get("order_id") == "TB-9" for i in timeline)

    listing = client.get("/api/v1/merges", params={"contact_id": pool.wang}).json()
    assert [m["id"] for m in listing["items"]] == [merged["id"]]
    assert client.get("/api/v1/merges", params={"rule": "joined_by_phone"}).json()["total"] == 0

    undone = client.post(f"/api/v1/merges/{merged['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_by"] == pool.owner.email
    assert undone.json()["undone_at"] is not None
    assert _owned(session_factory, pool.li) == li_before
    assert _owned(session_factory, pool.wang) == wang_before
    assert client.get(f"/api/v1/contacts/{pool.wang}").status_code == 200
    assert client.get("/api/v1/contacts").json()["total"] == 2
    assert_problem(client.post(f"/api/v1/merges/{merged['id']}/undo"), 409, "conflict")  # only once

    with session_factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "merge_record").order_by(AuditEvent.id)
        ).all()
    assert actions == ["contact.merged", "contact.unmerged"]


def test_merged_contacts_point_to_the_live_end_of_a_chain(
    client: TestClient, pool: Pool, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory, workspace_id=pool.workspace_id) as session:
        third = create_contact(session, nickname="third", created_at=T0)
        third_id = third.id
    pool.as_(client, "owner")
    _merge(client, pool)  # wang → li
    response = client.post("/api/v1/contacts/merge", json={"survivor_id": third_id, "merged_id": pool.li})
    assert response.status_code == 201, response.text
    assert assert_problem(client.get(f"/api/v1/contacts/{pool.wang}"), 409, "contact_merged")["merged_into_id"] == (
        third_id
    )
    # Undoing the older merge first would leave li merged: refused until the newer one is undone.
    first = client.get("/api/v1/merges", params={"contact_id": pool.wang}).json()["items"][0]["id"]
    assert_problem(client.post(f"/api/v1/merges/{first}/undo"), 409, "conflict")


def test_merge_refusals(client: TestClient, pool: Pool, session_factory: sessionmaker[Session]) -> None:
    pool.as_(client, "analyst")
    body = {"survivor_id": pool.li, "merged_id": pool.wang}
    assert_problem(client.post("/api/v1/contacts/merge", json=body), 403, "permission_denied")
    pool.as_(client, "admin")  # contacts:write, no pii:unmask: merging needs no unmasking
    itself = assert_problem(
        client.post("/api/v1/contacts/merge", json={"survivor_id": pool.li, "merged_id": pool.li}), 422, "invalid_input"
    )
    assert error_fields(itself) == ["merged_id"]
    missing = client.post("/api/v1/contacts/merge", json={"survivor_id": pool.li, "merged_id": 987654})
    assert_problem(missing, 404, "not_found")
    for bad in ({"survivor_id": 0, "merged_id": 1}, {"survivor_id": "x", "merged_id": 1}, {"survivor_id": 2**63}):
        assert_problem(client.post("/api/v1/contacts/merge", json=bad), 422, "invalid_input")
    extra = client.post("/api/v1/contacts/merge", json={**body, "rule": "joined_by_phone"})
    assert "rule" in error_fields(assert_problem(extra, 422, "invalid_input"))
    assert_problem(client.post("/api/v1/merges/987654/undo"), 404, "not_found")
    assert_problem(client.post("/api/v1/merges/0/undo"), 422, "invalid_input")
    assert_problem(client.get("/api/v1/merges?contact_id=abc"), 422, "invalid_input")
    merged = client.post("/api/v1/contacts/merge", json=body)
    assert merged.status_code == 201
    again = client.post("/api/v1/contacts/merge", json={"survivor_id": pool.wang, "merged_id": pool.li})
    assert assert_problem(again, 409, "contact_merged")["merged_into_id"] == pool.li
    preview = client.post("/api/v1/contacts/merge/preview", json=body)
    assert_problem(preview, 409, "contact_merged")
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(MergeRecord)) == 1
