"""The channels that call out, their settings, and which of them a workspace has.

The ledger's state machine for them is :mod:`siyu.dispatch.calling`; e-mail is :mod:`siyu.dispatch.email`.

For the **webhook** the channel's own reconciliation is the ``Idempotency-Key`` header (the ledger's
``dedup_key``): the receiver must keep the keys it has processed, so sending an ``unknown`` message again
with its key reaches the contact at most once.

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
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session, sessionmaker

from siyu.dispatch import plugins
from siyu.dispatch.calling import CallChannel, ChannelReport, Outcome, Sender, deliver, stored
from siyu.errors import ChannelUnreachable, InvalidInput, NotFound
from siyu.kit.db import transaction
from siyu.kit.sealed import SealBroken, seal, unseal
from siyu.kit.time import utcnow
from siyu.models import Delivery, Workspace

log = logging.getLogger(__name__)


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secrets: ClassVar[tuple[str, ...]] = ("secret",)

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


def parse_webhook(raw: object) -> WebhookSettings:
    return Webhook().load(raw)  # type: ignore[no-any-return]


def configured(workspace: Workspace) -> set[str]:
    """The channels that deliver in this workspace: the outbox always, the installed ones once set up."""
    saved = workspace.channels or {}
    return {plugins.OUTBOX} | {name for name, cls in plugins.registry().items() if saved.get(cls.settings_name())}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class Webhook(CallChannel):
    """The webhook channel; a journey's ``webhook`` node is a call on it to the node's own URL."""

    name = "webhook"
    title = "Webhook"
    settings_model = WebhookSettings
    capabilities = frozenset({"send", "reconcile"})

    def __init__(self, client: httpx.Client | None = None) -> None:
        self.client = client

    def test_connection(self, settings: WebhookSettings) -> str:
        """A signed ``{"ping": true}`` POST: any 2xx answer passes."""
        body = b'{"ping":true}'
        timestamp = str(int(utcnow().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-Siyu-Timestamp": timestamp,
            "X-Siyu-Signature": sign(settings.secret, timestamp, body),
        }
        try:
            response = httpx.post(settings.url, content=body, headers=headers, timeout=settings.timeout_seconds)
        except httpx.HTTPError as exc:
            raise ChannelUnreachable(f"{settings.url}: {type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise ChannelUnreachable(f"{settings.url} answered HTTP {response.status_code}")
        return f"{settings.url} answered HTTP {response.status_code}"

    def items(
        self, session: Session, settings: WebhookSettings, rows: Sequence[Delivery], now: datetime
    ) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            call = row.content if isinstance(row.content, dict) and row.content.get("kind") == "call" else None
            out.append(
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
        return out

    @contextmanager
    def connect(self, settings: WebhookSettings, now: datetime) -> Iterator[Sender]:
        http = self.client or httpx.Client(timeout=settings.timeout_seconds)
        try:
            yield lambda items: [_call(http, settings, item, now) for item in items]
        finally:
            if self.client is None:
                http.close()

    def reconcile(self, settings: WebhookSettings, rows: Sequence[dict[str, Any]]) -> dict[int, Outcome]:
        # The receiver keeps the idempotency keys it has processed: sending again with the key is safe.
        return {
            r["id"]: ("queued", "the worker stopped during the call; sent again with its idempotency key") for r in rows
        }


def deliver_webhooks(
    factory: sessionmaker[Session], workspace_id: int, now: datetime, *, client: httpx.Client | None = None
) -> ChannelReport:
    """One pass of the webhook channel for a workspace (see :func:`siyu.dispatch.calling.deliver`)."""
    return deliver(factory, workspace_id, now, Webhook(client))


def deliver_all(factory: sessionmaker[Session], workspace_id: int, now: datetime) -> ChannelReport:
    """One pass of every channel set up in the workspace, then their after-send status polls; the sum of
    their reports."""
    total = ChannelReport()
    with transaction(factory, workspace_id=workspace_id) as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        names = sorted(configured(workspace) - {plugins.OUTBOX})
    for name in names:
        channel = plugins.channel(name)
        try:
            report = deliver(factory, workspace_id, now, channel)
            for field, value in vars(report).items():
                setattr(total, field, getattr(total, field) + value)
            if "status" in channel.capabilities:
                with transaction(factory, workspace_id=workspace_id) as session:
                    workspace = session.get(Workspace, workspace_id)
                    assert workspace is not None
                    settings = stored(channel, (workspace.channels or {})[channel.settings_name()])
                total.delivered += channel.poll(factory, workspace_id, settings, now)
        except SealBroken:
            # its messages wait, queued, until the secret is entered again; the other channels go on
            log.warning("channel %s skipped in workspace %s: a saved secret cannot be read", name, workspace_id)
    return total


def _call(http: httpx.Client, settings: WebhookSettings, item: dict[str, Any], now: datetime) -> Outcome:
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
        # sent again with the same key, so a request the receiver did get reaches the contact once
        return "retry", f"attempt {item['attempts']}: {type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return "sent", ""
    if response.status_code in (408, 425, 429) or response.status_code >= 500:
        return "retry", f"attempt {item['attempts']}: HTTP {response.status_code}"
    return "failed", f"HTTP {response.status_code}: {response.text[:200]}"


def set_channel(session: Session, workspace_id: int, name: str, raw: object) -> dict[str, Any]:
    """Save a channel's settings (validated; secrets sealed); returns them as shown, without their secrets.
    A secret left out keeps the one saved before."""
    channel = plugins.channel(name)
    if channel.settings_from:
        raise InvalidInput.on("channel", f"{name} uses the settings of {channel.settings_from}: set those")
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None
    saved = (workspace.channels or {}).get(name) or {}
    secrets = _secrets(channel)
    if isinstance(raw, dict):
        kept: dict[str, Any] = {}
        for key in secrets:
            if saved.get(key) and key not in raw:
                try:
                    kept[key] = unseal(saved[key])
                except SealBroken:
                    raise InvalidInput.on(
                        key, "the saved value was sealed with another SIYU_SECRET_KEY: enter it again"
                    ) from None
        raw = {**kept, **raw}
    settings = channel.load(raw)
    dumped = settings.model_dump()
    sealed = {k: seal(v) if k in secrets and isinstance(v, str) else v for k, v in dumped.items()}
    workspace.channels = {**(workspace.channels or {}), name: sealed}
    session.flush()
    return shown(settings)


def settings_for(session: Session, workspace_id: int, name: str) -> Any:
    """A channel's settings in this workspace (secrets unsealed); NotFound when it is not set up."""
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None
    channel = plugins.channel(name)
    raw = (workspace.channels or {}).get(channel.settings_name())
    if not raw:
        raise NotFound(f"the {channel.settings_name()} channel is not set up in this workspace")
    return stored(channel, raw)


def test_channel(session: Session, workspace_id: int, name: str) -> dict[str, Any]:
    """The channel's connection test with the saved settings: ``{"ok": true, "detail": …}``, or the error."""
    channel = plugins.channel(name)
    return {"ok": True, "channel": name, "detail": channel.test_connection(settings_for(session, workspace_id, name))}


def _secrets(channel: CallChannel) -> tuple[str, ...]:
    return tuple(getattr(channel.settings_model, "secrets", ()))


def shown(settings: BaseModel) -> dict[str, Any]:
    """Settings as the API shows them: each secret replaced by whether one is set."""
    secrets = set(getattr(settings, "secrets", ()))
    return {
        **settings.model_dump(exclude=secrets),
        **{f"{name}_set": bool(getattr(settings, name)) for name in sorted(secrets)},
    }


def shown_all(workspace: Workspace) -> dict[str, Any]:
    saved = workspace.channels or {}
    out: dict[str, Any] = {}
    for name, cls in plugins.registry().items():
        if cls.settings_from:
            continue
        if not saved.get(name):
            out[name] = None
            continue
        try:
            out[name] = shown(stored(plugins.channel(name), saved[name]))
        except SealBroken as exc:
            out[name] = {"problem": str(exc)}
    return out
