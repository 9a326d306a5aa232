"""Outbound channels that call out, and the ledger's state machine for them.

A message on such a channel moves ``queued`` → ``sending`` (committed before the call) → ``sent``, or
back to ``queued`` with a back-off after a transient failure (a timeout, a 5xx, a 429), or ``failed``
(a refusal, or the last attempt: a dead letter, ``rule`` = ``dead_letter``). No database transaction is
held open during a call.

A worker killed during a call leaves the row in ``sending``: after :data:`SENDING_LEASE` it becomes
``unknown`` and is reconciled through the channel, never blindly sent again. For the **webhook** the
channel's own mechanism is the ``Idempotency-Key`` header (the ledger's ``dedup_key``): the receiver
must keep the keys it has processed, so sending an ``unknown`` message again with its key reaches the
contact at most once. Channels without such a mechanism leave ``unknown`` rows for an operator.

A journey's ``webhook`` node is a *call* on this channel: its row's content is
``{"kind": "call", "url": …, "payload": …}``, and it is POSTed to that URL (with ``payload`` in place of
``content``), signed with the same secret and retried and reconciled the same way.

**Webhook** settings (``workspace.channels.webhook``): ``url``, ``secret`` (at least 16 characters),
``timeout_seconds``, ``max_attempts``, ``per_minute`` (a rate limit). Each POST carries the message as JSON
and ``X-Siyu-Timestamp`` and ``X-Siyu-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.dispatch.ledger import held_back, withdrawals
from siyu.errors import InvalidInput
from siyu.kit.db import transaction
from siyu.kit.validation import invalid_input
from siyu.models import Delivery, Workspace

SENDING_LEASE = timedelta(minutes=5)  # a call takes at most timeout_seconds; a row sending longer lost its worker
BACKOFF = timedelta(seconds=30)  # doubled at each attempt


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(max_length=2000, description="Where messages are POSTed (http:// or https://).")
    secret: str = Field(min_length=16, max_length=200, description="Signs every request (HMAC-SHA256).")
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    max_attempts: int = Field(6, ge=1, le=20, description="Then the message is a dead letter.")
    per_minute: int = Field(600, ge=1, le=100_000, description="At most this many requests a minute.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value


def parse_webhook(raw: object, field_prefix: str = "webhook") -> WebhookSettings:
    try:
        return WebhookSettings.model_validate(raw)
    except ValidationError as exc:
        raise invalid_input(exc, field_prefix, (), tag_name="type", tag_values=lambda _: "") from None


def configured(workspace: Workspace) -> set[str]:
    """The channels that deliver in this workspace: the outbox always, the webhook once set up."""
    found = {"outbox"}
    if (workspace.channels or {}).get("webhook"):
        found.add("webhook")
    return found


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass
class ChannelReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    blocked: int = 0
    unknown: int = 0


def _claim(session: Session, now: datetime, limit: int) -> list[Delivery]:
    query = (
        select(Delivery)
        .where(Delivery.status == "queued", Delivery.channel == "webhook")
        .where((Delivery.not_before.is_(None)) | (Delivery.not_before <= now))
        .order_by(Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def deliver_webhooks(
    factory: sessionmaker[Session], workspace_id: int, now: datetime, *, client: httpx.Client | None = None
) -> ChannelReport:
    """One pass of the webhook channel for a workspace: lost calls become ``unknown`` and are sent again
    with their idempotency key, then the due messages are claimed, called and recorded."""
    report = ChannelReport()
    with transaction(factory, workspace_id=workspace_id) as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        raw = (workspace.channels or {}).get("webhook")
        if not raw:
            return report
        settings = parse_webhook(raw)
        lost = list(
            session.scalars(
                select(Delivery).where(
                    Delivery.status == "sending", Delivery.channel == "webhook", Delivery.sent_at < now - SENDING_LEASE
                )
            )
        )
        for row in lost:
            row.status, row.reason = "unknown", "the worker stopped during the call; resent with its idempotency key"
        report.unknown = len(lost)
        session.flush()
        # Reconciled through the channel: the receiver keeps the idempotency keys it has processed.
        session.execute(
            update(Delivery)
            .where(Delivery.status == "unknown", Delivery.channel == "webhook")
            .values(status="queued", not_before=None)
        )
        rows = _claim(session, now, settings.per_minute)
        withdrawn = withdrawals(session, (r.contact_id for r in rows))
        claimed: list[dict[str, Any]] = []
        for row in rows:
            if held_back(row, withdrawn):
                report.blocked += 1
                continue
            # sent_at marks when the call started, until the outcome replaces it
            row.status, row.attempts, row.sent_at = "sending", row.attempts + 1, now
            call = row.content if isinstance(row.content, dict) and row.content.get("kind") == "call" else None
            claimed.append(
                {
                    "id": row.id,
                    "attempts": row.attempts,
                    "url": call["url"] if call else settings.url,
                    "body": {
                        "delivery_id": row.id,
                        "dedup_key": row.dedup_key,
                        "contact_id": row.contact_id,
                        "source": row.source,
                        "priority": row.priority,
                        **({"payload": call["payload"]} if call else {"content": row.content}),
                    },
                    "key": row.dedup_key,
                }
            )
    own = client is None
    http = client or httpx.Client(timeout=settings.timeout_seconds)
    try:
        for item in claimed:
            outcome = _call(http, settings, item, now)
            with transaction(factory, workspace_id=workspace_id) as session:
                found = session.get(Delivery, item["id"])
                if found is None or found.status != "sending":
                    continue
                row = found
                status, reason = outcome
                if status == "sent":
                    row.status, row.reason = "sent", None
                    report.sent += 1
                elif status == "retry" and row.attempts < settings.max_attempts:
                    row.status, row.reason, row.sent_at = "queued", reason, None
                    row.not_before = now + BACKOFF * (2 ** (row.attempts - 1))
                    report.retrying += 1
                else:
                    row.status, row.reason, row.sent_at = "failed", reason, None
                    row.rule = "dead_letter" if status == "retry" else None
                    report.failed += 1
    finally:
        if own:
            http.close()
    return report


def _call(http: httpx.Client, settings: WebhookSettings, item: dict[str, Any], now: datetime) -> tuple[str, str]:
    body = json.dumps(item["body"], ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": item["key"],
        "X-Siyu-Timestamp": timestamp,
        "X-Siyu-Signature": sign(settings.secret, timestamp, body),
    }
    try:
        response = http.post(item["url"], content=body, headers=headers, timeout=settings.timeout_seconds)
    except httpx.HTTPError as exc:
        return "retry", f"attempt {item['attempts']}: {type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return "sent", ""
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        return "retry", f"attempt {item['attempts']}: HTTP {response.status_code}"
    return "failed", f"HTTP {response.status_code}: {response.text[:200]}"


def set_channel(session: Session, workspace_id: int, name: str, raw: object) -> dict[str, Any]:
    """Save a channel's settings (validated); returns them without the secret."""
    if name != "webhook":
        raise InvalidInput.on("channel", "webhook is the only channel with settings so far")
    settings = parse_webhook(raw)
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None
    workspace.channels = {**(workspace.channels or {}), name: settings.model_dump()}
    session.flush()
    return shown(settings)


def shown(settings: WebhookSettings) -> dict[str, Any]:
    return {**settings.model_dump(exclude={"secret"}), "secret_set": True}
