"""The analytics API over HTTP, on both databases: segments (save with path-named errors, preview, refresh,
members, explain, versions, delete), tags (groups, auto-tags applied by a refresh, manual tagging, exclusive
groups), tiers (distribution, a contact's scores, settings) and metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.metrics.cache import CACHE
from siyu.models import Contact, OrderRefund, PropertyDefinition, SalesOrder
from siyu.segment.flows import refresh_workspace
from tests.contact.factories import add_event, add_order, create_contact
from tests.factories import create_token, create_workspace

NOW = utcnow()


class Api:
    def __init__(self, client: TestClient, app: FastAPI, factory: sessionmaker[Session]) -> None:
        self.client = client
        self.app = app
        self.factory = factory
        self.ws = create_workspace(factory).id
        token = create_token(
            factory,
            self.ws,
            [Permission.segments_manage, Permission.analytics_read, Permission.tags_manage, Permission.contacts_read],
        )
        self.headers = {"Authorization": f"Bearer {token}"}
        self.contacts: dict[str, int] = {}
        with transaction(factory, workspace_id=self.ws) as session:
            session.add(PropertyDefinition(key="skin_type", type="enum", label="肤质", options=["敏感肌", "油皮"]))
            for i, (key, skin, spend) in enumerate(
                (("li", "敏感肌", 80_000), ("wang", "油皮", 5_000), ("zhao", None, 0))
            ):
                contact = create_contact(
                    session, identities={"phone": f"1390000000{i}"}, properties={"skin_type": skin} if skin else {}
                )
                self.contacts[key] = contact.id
                if spend:
                    add_order(session, contact, f"O-{key}", spend, NOW - timedelta(days=2))
                add_event(session, contact, "message_opened", NOW - timedelta(days=1))

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.client.request(method, path, json=body, headers=self.headers, params=params or None)
        return response

    def refresh(self, mode: str = "full") -> None:
        refresh_workspace(self.factory, self.app.state.lake, self.ws, mode=mode)


@pytest.fixture
def api(client: TestClient, app: FastAPI, session_factory: sessionmaker[Session]) -> Api:
    return Api(client, app, session_factory)


SENSITIVE = {"version": 1, "root": {"op": "property", "key": "skin_type", "cmp": "eq", "value": "敏感肌"}}


def test_segment_lifecycle_over_http(api: Api) -> None:
    api.refresh()
    preview = api.call("POST", "/api/v1/segments/preview", {"definition": SENSITIVE})
    assert preview.status_code == 200, preview.text
    assert (preview.json()["count"], preview.json()["total"]) == (1, 3)
    created = api.call("POST", "/api/v1/segments", {"name": "敏感肌", "definition": SENSITIVE})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.json()["refresh_no"] == 0  # members arrive with the refresh the save queued
    api.refresh("incremental")
    members = api.call("GET", f"/api/v1/segments/{sid}/members").json()
    assert [m["contact_id"] for m in members["items"]] == [api.contacts["li"]]
    why = api.call("GET", f"/api/v1/segments/{sid}/explain", contact_id=api.contacts["wang"]).json()
    assert why["member"] is False
    assert why["stored_member"] is False
    assert why["nodes"][0]["observed"] == "油皮"
    patched = api.call(
        "PATCH",
        f"/api/v1/segments/{sid}",
        {"definition": {"root": {"op": "property", "key": "skin_type", "cmp": "is_set"}}},
    )
    assert patched.json()["version"] == 2
    api.refresh()
    detail = api.call("GET", f"/api/v1/segments/{sid}").json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert [(h["size"], h["entered"]) for h in detail["history"]] == [(1, 1), (2, 1)]
    assert api.call("DELETE", f"/api/v1/segments/{sid}").status_code == 204
    assert api.call("GET", f"/api/v1/segments/{sid}").status_code == 404


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"root": {"op": "property", "key": "hair", "cmp": "eq", "value": "x"}}, "definition.root.key"),
        ({"root": {"op": "and", "children": [{"op": "tag", "tag_id": 1}]}}, "definition.root.children[0].tag_id"),
        ({"root": {"op": "orders", "cmp": "gte", "value": "lots"}}, "definition.root.value"),
        ({"root": {"op": "whatever"}}, "definition.root"),
        ({"version": 9, "root": {"op": "tag", "tag_id": 1}}, "definition.version"),
    ],
)
def test_bad_definitions_are_refused_with_the_node_path(api: Api, definition: dict[str, Any], field: str) -> None:
    for path in ("/api/v1/segments/preview", "/api/v1/segments"):
        body = {"definition": definition} if path.endswith("preview") else {"name": "x", "definition": definition}
        response = api.call("POST", path, body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert api.call("GET", "/api/v1/segments").json() == []  # nothing half-saved


def test_duplicate_names_and_cycles_are_conflicts(api: Api) -> None:
    first = api.call("POST", "/api/v1/segments", {"name": "A", "definition": SENSITIVE}).json()
    assert api.call("POST", "/api/v1/segments", {"name": "A", "definition": SENSITIVE}).status_code == 409
    second = api.call(
        "POST", "/api/v1/segments", {"name": "B", "definition": {"root": {"op": "segment", "segment_id": first["id"]}}}
    )
    cycle = api.call(
        "PATCH",
        f"/api/v1/segments/{first['id']}",
        {"definition": {"root": {"op": "segment", "segment_id": second.json()["id"]}}},
    )
    assert cycle.status_code == 422
    assert "circle" in cycle.json()["errors"][0]["reason"]


def test_tags_groups_auto_tags_and_exclusive_groups(api: Api) -> None:
    group = api.call("POST", "/api/v1/tag-groups", {"name": "肤质", "exclusive": True}).json()
    dry = api.call("POST", "/api/v1/tags", {"group_id": group["id"], "name": "干皮"}).json()
    oily = api.call("POST", "/api/v1/tags", {"group_id": group["id"], "name": "油皮"}).json()
    li, wang = api.contacts["li"], api.contacts["wang"]
    tagged = api.call("POST", f"/api/v1/tags/{dry['id']}/contacts", {"contact_ids": [li, wang, 999_999]}).json()
    assert (tagged["changed"], tagged["not_found"]) == (2, [999_999])
    assert api.call("POST", f"/api/v1/tags/{oily['id']}/contacts", {"contact_ids": [wang]}).json()["changed"] == 1
    # An exclusive group: wang is oily now, no longer dry.
    assert [t["tag"] for t in api.call("GET", f"/api/v1/contacts/{wang}/tags").json()] == ["油皮"]
    interests = api.call("POST", "/api/v1/tag-groups", {"name": "消费"}).json()
    rule = {
        "version": 1,
        "root": {"op": "orders", "measure": "net_amount_fen", "cmp": "gte", "value": 50_000, "within_days": 30},
    }
    auto = api.call("POST", "/api/v1/tags", {"group_id": interests["id"], "name": "高消费", "rule": rule}).json()
    assert auto["kind"] == "rule"
    api.refresh()
    holders = {t["tag"] for t in api.call("GET", f"/api/v1/contacts/{li}/tags").json()}
    assert holders == {"干皮", "高消费"}
    # A refund takes li below the line: the auto-tag comes off, the manual tag stays.
    with transaction(api.factory, workspace_id=api.ws) as session:
        order = session.scalars(select(SalesOrder).where(SalesOrder.contact_id == li)).one()
        session.add(OrderRefund(order_pk=order.id, refund_id="R-li", amount_fen=40_000, refunded_at=NOW))
    api.refresh("incremental")
    assert {t["tag"] for t in api.call("GET", f"/api/v1/contacts/{li}/tags").json()} == {"干皮"}
    bad = api.call("POST", "/api/v1/tags", {"group_id": interests["id"], "name": "坏", "rule": {"root": {"op": "x"}}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "rule.root"


def test_tiers_and_metrics(api: Api) -> None:
    api.refresh()
    dist = api.call("GET", "/api/v1/tiers/distribution").json()
    assert dist["contacts"] == 3
    assert sum(dist["lifecycle"].values()) == 3
    scores = api.call("GET", f"/api/v1/tiers/contacts/{api.contacts['li']}").json()
    assert scores["scores"]["orders_in_window"] == 1
    assert scores["explanation"]["rfm"]["result"] is not None
    assert api.call("GET", "/api/v1/tiers/contacts/999999").status_code == 404
    bad = api.call("PUT", "/api/v1/tiers/settings", {"rfm": {"window_days": 1}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "settings.rfm.window_days"
    good = api.call("PUT", "/api/v1/tiers/settings", {"rfm": {"window_days": 90}})
    assert good.json()["rfm"]["window_days"] == 90
    assert api.call("GET", "/api/v1/tiers/settings").json()["rfm"]["window_days"] == 90
    today = NOW.date()
    metric = api.call(
        "POST",
        "/api/v1/metrics",
        {
            "kind": "commerce",
            "period": "month",
            "start": (today - timedelta(days=40)).isoformat(),
            "end": today.isoformat(),
        },
    )
    assert metric.status_code == 200, metric.text
    assert sum(r["gmv_fen"] for r in metric.json()["rows"]) == 85_000
    wrong = api.call(
        "POST", "/api/v1/metrics", {"kind": "funnel", "steps": ["a"], "start": "2026-01-01", "end": "2026-01-02"}
    )
    assert wrong.status_code == 422


def test_contacts_carry_tags_by_name(api: Api, tmp_path: Any) -> None:
    token = create_token(api.factory, api.ws, [Permission.ingest_write, Permission.contacts_read])
    headers = {"Authorization": f"Bearer {token}"}
    body = [
        {"identities": {"phone": "13900000000"}, "tags": ["肤质/敏感肌", "新品体验官"]},
        {"identities": {"phone": "13911112222"}, "tags": ["肤质/敏感肌"]},
        {"identities": {"phone": "13933334444"}, "tags": ["/bad"]},
    ]
    result = api.client.post("/api/v1/contacts/batch", json=body, headers=headers).json()
    assert result["accepted"] == 2
    assert result["rejected"] == [{"index": 2, "field": "tags.0", "reason": 'a tag name, or "group/tag"'}]
    li = api.contacts["li"]  # phone 13900000000
    tags = {(t["group"], t["tag"], t["source"]) for t in api.call("GET", f"/api/v1/contacts/{li}/tags").json()}
    assert tags == {("肤质", "敏感肌", "api"), ("导入标签", "新品体验官", "api")}
    again = api.client.post("/api/v1/contacts/batch", json=body[:1], headers=headers).json()
    assert again["accepted"] == 1  # sending again adds nothing twice
    assert len(api.call("GET", f"/api/v1/contacts/{li}/tags").json()) == 2
    groups = {g["name"]: g["tags"] for g in api.call("GET", "/api/v1/tag-groups").json()}
    assert groups == {"肤质": 1, "导入标签": 1}


def test_metrics_are_cached_until_new_data_lands(api: Api) -> None:
    """The same metric twice is computed once; an order copied into the analytics store by the next
    refresh changes the store's generation, and the figure with it."""
    api.refresh()
    today = NOW.date()
    start, end = (today - timedelta(days=40)).isoformat(), (today + timedelta(days=1)).isoformat()  # local dates
    query = {"kind": "commerce", "period": "month", "start": start, "end": end}
    hits, misses = CACHE.hits, CACHE.misses
    first = api.call("POST", "/api/v1/metrics", query).json()
    assert api.call("POST", "/api/v1/metrics", query).json() == first
    assert (CACHE.hits - hits, CACHE.misses - misses) == (1, 1)
    with transaction(api.factory, workspace_id=api.ws) as session:
        zhao = session.get(Contact, api.contacts["zhao"])
        assert zhao is not None
        add_order(session, zhao, "O-zhao", 7_000, NOW - timedelta(hours=1))
    assert api.call("POST", "/api/v1/metrics", query).json() == first  # not in the analytics store yet
    api.refresh("incremental")
    after = api.call("POST", "/api/v1/metrics", query).json()
    assert sum(r["gmv_fen"] for r in after["rows"]) == sum(r["gmv_fen"] for r in first["rows"]) + 7_000
