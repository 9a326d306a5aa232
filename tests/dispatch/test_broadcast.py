"""Broadcasts to a segment over HTTP, on both databases: the forecast counts who would be reached,
deferred and blocked by which rule (and, on e-mail, who has no address) and writes nothing; sending
writes exactly those ledger rows, once per key; bad requests name their field."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission
from siyu.dispatch import channels
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import ConsentRecord, Delivery, Segment, SegmentMember, Workspace
from tests.api.conftest import assert_problem, error_fields
from tests.contact.factories import create_contact
from tests.factories import create_token, create_workspace

MESSAGE = {"title": "上新", "text": "秋冬新品到了"}


def test_forecast_then_send_a_broadcast(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory).id
    token = create_token(session_factory, ws, [Permission.journeys_manage, Permission.workspace_read])
    reader = create_token(session_factory, ws, [Permission.workspace_read])
    headers, reading = {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {reader}"}
    now = utcnow()
    with transaction(session_factory, workspace_id=ws) as session:
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        workspace.governance = {"quiet_hours": {"enabled": False}}  # whatever the hour the test runs at
        contacts = [create_contact(session, identities={"email": f"b{i}@x.example"}).id for i in range(3)]
        contacts.append(create_contact(session, identities={"phone": "13900000001"}).id)  # no e-mail
        segment = Segment(name="老客", kind="dynamic", definition={"version": 1}, created_by="test")
        session.add(segment)
        session.flush()
        session.add_all(
            SegmentMember(segment_id=segment.id, contact_id=c, since_refresh=1, entered_at=now) for c in contacts
        )
        session.add(
            ConsentRecord(contact_id=contacts[0], purpose="marketing", granted=False, source="test", recorded_at=now)
        )
        session.add(  # a marketing message today already: the daily cap of 1 is used
            Delivery(
                contact_id=contacts[1],
                dedup_key="earlier",
                source="journey:9",
                channel="outbox",
                priority="marketing",
                promotional=False,
                content={"text": "hi"},
                status="sent",
                attempts=1,
                created_at=now - timedelta(seconds=1),
            )
        )
        channels.set_channel(session, ws, "email", {"host": "127.0.0.1", "from_address": "a@brand.example"})
        segment_id = segment.id

    def call(path: str, body: object, who: dict[str, str] = headers) -> Response:
        response: Response = client.post(f"/api/v1{path}", json=body, headers=who)
        return response

    body = {"segment_id": segment_id, "channel": "email", "content": MESSAGE}
    outlook = call("/broadcasts/forecast", body, reading)
    assert outlook.status_code == 200, outlook.text
    expected = {"opt_out": 1, "daily_cap": 1}
    got = outlook.json()
    assert (got["audience"], got["send"], got["deferred"], got["blocked"], got["no_address"]) == (4, 2, 0, expected, 1)
    with transaction(session_factory, workspace_id=ws) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1  # the forecast wrote nothing

    assert_problem(call("/broadcasts", {**body, "key": "autumn"}, reading), 403, "permission_denied")
    sent = call("/broadcasts", {**body, "key": "autumn"}).json()
    assert (sent["key"], sent["queued"], sent["send"], sent["blocked"]) == ("autumn", 4, 2, expected)
    again = call("/broadcasts", {**body, "key": "autumn"}).json()
    assert (again["audience"], again["queued"]) == (4, 0)  # the same key queues nobody twice
    with transaction(session_factory, workspace_id=ws) as session:
        rows = session.execute(
            select(Delivery.contact_id, Delivery.status, Delivery.rule).where(Delivery.source == "broadcast:autumn")
        ).all()
    assert sorted(rows) == sorted(
        [(contacts[0], "blocked", "opt_out"), (contacts[1], "blocked", "daily_cap")]
        + [(c, "queued", None) for c in contacts[2:]]
    )
    fresh = call("/broadcasts", {**body, "channel": "outbox"}).json()
    assert len(fresh["key"]) == 32  # a new key when none is given

    bad = call("/broadcasts/forecast", {"segment_id": 0, "channel": "", "content": {"text": ""}}, reading)
    assert set(error_fields(assert_problem(bad, 422, "invalid_input"))) == {"segment_id", "channel", "content.text"}
    wechat = call("/broadcasts/forecast", {**body, "channel": "wechat"}, reading)
    assert error_fields(assert_problem(wechat, 422, "invalid_input")) == ["channel"]
    assert_problem(call("/broadcasts/forecast", {**body, "segment_id": 999999}, reading), 404, "not_found")
    assert error_fields(assert_problem(call("/broadcasts", {**body, "key": "a b"}), 422, "invalid_input")) == ["key"]
