"""The SMS channel, through a provider interface; the built-in provider is a generic HTTP one.

``POST <url>`` with ``Authorization: Bearer <api_key>`` and ``{"phone", "text", "sign", "client_id"}``
answers ``200 {"code": "OK", "message_id"}``, or ``400`` (``INVALID_PHONE`` …: failed), ``401``
(``UNAUTHORIZED``: retried — a key being rotated), ``429`` / 5xx (retried). ``client_id`` is the ledger row's
message id, so a repeat after a lost answer is not sent twice, and ``GET <status_url>?client_id=`` tells what
became of it (``delivered``, ``pending``, ``failed``, ``unknown``): the reconciliation of ``unknown`` rows.

The text is ``sign`` + the content (+ its link) and, on marketing rows, ``unsubscribe_hint`` (广告法 Art. 43:
a way to refuse further messages). The contact's ``phone`` identity is the number.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channel.settings import SmsSettings
from siyu.dispatch.calling import CallChannel, Outcome, Sender, message_id
from siyu.errors import ChannelUnreachable
from siyu.models import Delivery, Identity


class SmsProvider(Protocol):
    """What an SMS provider does for siyu; :class:`HttpProvider` is the built-in one."""

    def send(self, phone: str, text: str, client_id: str, attempts: int) -> Outcome: ...

    def status(self, client_id: str) -> str | None: ...

    def close(self) -> None: ...


class HttpProvider:
    def __init__(self, settings: SmsSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.Client(
            timeout=settings.timeout_seconds, headers={"Authorization": f"Bearer {settings.api_key}"}
        )

    def send(self, phone: str, text: str, client_id: str, attempts: int) -> Outcome:
        body = {"phone": phone, "text": text, "sign": self.settings.sign, "client_id": client_id}
        try:
            response = self.http.post(self.settings.url, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return "retry", f"attempt {attempts}: {type(exc).__name__}: {exc}"
        except httpx.HTTPError as exc:
            return "unknown", f"attempt {attempts}: {type(exc).__name__}: {exc}"
        if response.status_code == 200:
            return "sent", ""
        if response.status_code in (401, 429) or response.status_code >= 500:
            return "retry", f"attempt {attempts}: HTTP {response.status_code} {response.text[:100]}"
        return "failed", f"HTTP {response.status_code}: {response.text[:200]}"

    def status(self, client_id: str) -> str | None:
        if not self.settings.status_url:
            return None
        try:
            response = self.http.get(self.settings.status_url, params={"client_id": client_id})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        return str(response.json().get("status") or "unknown")

    def close(self) -> None:
        self.http.close()


def phones(session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for contact_id, value in session.execute(
        select(Identity.contact_id, Identity.value)
        .where(Identity.kind == "phone", Identity.contact_id.in_(contact_ids))
        .order_by(Identity.id)
    ):
        found.setdefault(contact_id, value)
    return found


def render(settings: SmsSettings, row: Delivery) -> str:
    content = row.content if isinstance(row.content, dict) else {}
    text = f"{settings.sign}{content.get('text') or ''}"
    if content.get("url"):
        text += f" {content['url']}"
    if row.priority == "marketing":
        text += f" {settings.unsubscribe_hint}"
    return text


class Sms(CallChannel):
    name = "sms"
    title = "短信 (SMS)"
    settings_model = SmsSettings
    capabilities = frozenset({"send", "reconcile"})

    def __init__(self, provider: SmsProvider | None = None) -> None:
        self.provider = provider

    def _provider(self, settings: SmsSettings) -> SmsProvider:
        return self.provider or HttpProvider(settings)

    def test_connection(self, settings: SmsSettings) -> str:
        if not settings.status_url:
            raise ChannelUnreachable("no status_url to ask: the provider can only be tested by sending")
        provider = self._provider(settings)
        try:
            found = provider.status("siyu-connection-test")
        finally:
            provider.close()
        if found is None:
            raise ChannelUnreachable(f"{settings.status_url} did not answer")
        return f"{settings.status_url} answered"

    def items(
        self, session: Session, settings: SmsSettings, rows: Sequence[Delivery], now: datetime
    ) -> list[dict[str, Any]]:
        to = phones(session, [r.contact_id for r in rows])
        out: list[dict[str, Any]] = []
        for row in rows:
            if row.contact_id not in to:
                out.append({"id": row.id, "outcome": ("failed", "the contact has no phone number")})
                continue
            out.append(
                {
                    "id": row.id,
                    "attempts": row.attempts,
                    "phone": to[row.contact_id],
                    "text": render(settings, row),
                    "client_id": message_id(row.id, row.dedup_key),
                }
            )
        return out

    @contextmanager
    def connect(self, settings: SmsSettings, now: datetime) -> Iterator[Sender]:
        provider = self._provider(settings)
        try:
            yield lambda items: [provider.send(i["phone"], i["text"], i["client_id"], i["attempts"]) for i in items]
        finally:
            provider.close()

    def can_reconcile(self, settings: SmsSettings) -> bool:
        return settings.status_url is not None

    def reconcile(self, settings: SmsSettings, rows: Sequence[dict[str, Any]]) -> dict[int, Outcome]:
        provider = self._provider(settings)
        settled: dict[int, Outcome] = {}
        try:
            for row in rows:
                status = provider.status(row["message_id"])
                if status in ("delivered", "pending"):
                    settled[row["id"]] = ("sent", f"reconciled: the provider has it ({status})")
                elif status == "unknown":  # never received: the same client_id makes a repeat harmless
                    settled[row["id"]] = ("queued", "reconciled: the provider never got it; sent again")
                elif status == "failed":
                    settled[row["id"]] = ("failed", "reconciled: the provider could not deliver it")
        finally:
            provider.close()
        return settled
