"""The webhook channel against a real HTTP server on loopback, on both databases: signed requests,
retries with back-off, refusals, dead letters, a lost call reconciled with its idempotency key, and
opt-out at the moment of sending."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.dispatch import channels, ledger
from siyu.dispatch.governance import Priority, parse_governance
from siyu.errors import InvalidInput
from siyu.kit.db import transaction
from siyu.models import ConsentRecord, Delivery
from tests.contact.factories import create_contact
from tests.factories import create_workspace

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SECRET = "s3cret-s3cret-s3cret"


class Receiver:
    """Records every request; answers with the scripted statuses (then 200); keeps idempotency keys."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[int] = []
        self.processed: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-Siyu-Timestamp"]
                expected = (
                    "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                )
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.requests.append(
                    {
                        "key": self.headers["Idempotency-Key"],
                        "signed": hmac.compare_digest(expected, self.headers["X-Siyu-Signature"]),
                        "body": json.loads(body),
                        "status": status,
                    }
                )
                if status == 200:
                    receiver.processed.add(self.headers["Idempotency-Key"])
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"no" if status == 400 else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture
def ws(session_factory: sessionmaker[Session], receiver: Receiver) -> tuple[int, list[int]]:
    ws = create_workspace(session_factory).id
    with transaction(session_factory, workspace_id=ws) as session:
        contacts = [create_contact(session, identities={"phone": f"1330000000{i}"}).id for i in range(3)]
        settings = {"url": receiver.url, "secret": SECRET, "max_attempts": 3, "timeout_seconds": 5}
        shown = channels.set_channel(session, ws, "webhook", settings)
    assert "secret" not in shown
    return ws, contacts


def queue(factory: sessionmaker[Session], ws: int, contacts: list[int], tag: str) -> None:
    with transaction(factory, workspace_id=ws) as session:
        messages = [
            ledger.Message(c, f"{tag}:{c}", "test", "webhook", {"text": "你好"}, Priority.transactional)
            for c in contacts
        ]
        ledger.queue(session, messages, parse_governance(None), "Asia/Shanghai", NOW)


def rows(factory: sessionmaker[Session], ws: int) -> list[tuple[str, str, str | None, int]]:
    with transaction(factory, workspace_id=ws) as session:
        found = session.execute(
            select(Delivery.dedup_key, Delivery.status, Delivery.rule, Delivery.attempts).order_by(Delivery.id)
        )
        return [(k, s, r, a) for k, s, r, a in found]


def test_signed_retried_refused_and_dead_lettered(
    session_factory: sessionmaker[Session], ws: tuple[int, list[int]], receiver: Receiver
) -> None:
    workspace, contacts = ws
    queue(session_factory, workspace, contacts, "m")
    receiver.script = [500, 400, 503]  # first contact: a transient error; second: refused; third: down
    first = channels.deliver_webhooks(session_factory, workspace, NOW)
    assert (first.sent, first.retrying, first.failed) == (0, 2, 1)
    assert all(r["signed"] for r in receiver.requests)
    assert receiver.requests[0]["key"] == f"m:{contacts[0]}"
    assert receiver.requests[0]["body"]["content"] == {"text": "你好"}
    soon = channels.deliver_webhooks(session_factory, workspace, NOW + timedelta(seconds=10))
    assert soon.sent == 0  # backing off for 30 s
    receiver.script = [200, 503]
    again = channels.deliver_webhooks(session_factory, workspace, NOW + timedelta(seconds=31))
    assert (again.sent, again.retrying) == (1, 1)
    receiver.script = [503]
    last = channels.deliver_webhooks(session_factory, workspace, NOW + timedelta(minutes=5))
    assert last.failed == 1
    assert rows(session_factory, workspace) == [
        (f"m:{contacts[0]}", "sent", None, 2),
        (f"m:{contacts[1]}", "failed", None, 1),
        (f"m:{contacts[2]}", "failed", "dead_letter", 3),
    ]


def test_a_lost_call_is_reconciled_with_its_key_and_opt_out_holds(
    session_factory: sessionmaker[Session], ws: tuple[int, list[int]], receiver: Receiver
) -> None:
    workspace, contacts = ws
    with transaction(session_factory, workspace_id=workspace) as session:
        messages = [
            ledger.Message(c, f"p:{c}", "test", "webhook", {"text": "上新"}, Priority.marketing, True) for c in contacts
        ]
        ledger.queue(session, messages, parse_governance(None), "Asia/Shanghai", NOW)
        lost = session.scalar(select(Delivery).where(Delivery.dedup_key == f"p:{contacts[0]}"))
        assert lost is not None
        lost.status, lost.sent_at, lost.attempts = "sending", NOW - timedelta(minutes=10), 1  # killed mid-call
        receiver.processed.add(f"p:{contacts[0]}")  # the receiver had got it
        session.add(
            ConsentRecord(contact_id=contacts[2], purpose="marketing", granted=False, source="test", recorded_at=NOW)
        )
    report = channels.deliver_webhooks(session_factory, workspace, NOW)
    assert (report.unknown, report.sent, report.blocked) == (1, 2, 1)
    keys = [r["key"] for r in receiver.requests]
    assert sorted(keys) == sorted([f"p:{contacts[0]}", f"p:{contacts[1]}"])
    assert receiver.processed == {f"p:{contacts[0]}", f"p:{contacts[1]}"}  # each reached the contact once
    assert [s for _, s, _, _ in rows(session_factory, workspace)] == ["sent", "sent", "blocked"]


def test_webhook_settings_are_validated(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidInput) as caught:
        channels.parse_webhook({"url": "ftp://x", "secret": "short"})
    assert {p.field for p in caught.value.errors} == {"webhook.url", "webhook.secret"}


def test_a_journeys_webhook_node_is_a_signed_call(
    session_factory: sessionmaker[Session], ws: tuple[int, list[int]], receiver: Receiver
) -> None:
    from siyu.auth.context import AuthContext
    from siyu.auth.permissions import Permission
    from siyu.journey import engine, service

    workspace, contacts = ws
    ctx = AuthContext(workspace_id=workspace, permissions=frozenset(Permission), label="test")
    definition = {
        "version": 1,
        "trigger": {"type": "manual"},
        "start": "crm",
        "nodes": {"crm": {"type": "webhook", "url": receiver.url + "/crm", "payload": {"list": "新客"}}},
    }
    with transaction(session_factory, workspace_id=workspace) as session:
        journey = service.create(session, ctx, name="同步CRM", definition=definition)
        assert journey.draft_problems is None, journey.draft_problems
        service.publish(session, ctx, journey.id)
        engine.enter(session, journey.id, [(contacts[0], "manual:x")], NOW)
    with transaction(session_factory, workspace_id=workspace) as session:
        engine.step_due(session, NOW)
    assert channels.deliver_webhooks(session_factory, workspace, NOW).sent == 1
    (call,) = receiver.requests
    assert call["signed"]
    assert call["body"]["payload"] == {"list": "新客"}
    assert call["body"]["contact_id"] == contacts[0]
    assert "content" not in call["body"]
