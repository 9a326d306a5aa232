"""The ledger's state machine for channels that call out (webhook, e-mail; WeCom and WeChat later).

A message moves ``queued`` → ``sending`` (committed before the call) → ``sent``, or back to ``queued`` with a
back-off after a transient failure (a timeout before anything was handed over, a 5xx, a 429, an SMTP 4xx),
or ``failed`` (a refusal, or the last attempt: a dead letter, ``rule`` = ``dead_letter``), or ``unknown``
when the call broke after the message was handed over and before the channel answered. No database
transaction is held open during a call; outcomes are written in batches.

A worker killed during a call leaves its rows in ``sending``: after :data:`SENDING_LEASE` they become
``unknown``. An ``unknown`` message is **reconciled through the channel**, never blindly sent again: each
channel's :meth:`CallChannel.reconcile` asks it (the webhook resends with the idempotency key its receiver
keeps; e-mail asks the relay's message lookup), and what cannot be settled stays ``unknown`` for an
operator to resolve (:func:`resolve`).

Each channel has a rate limit, ``per_minute``: a pass sends at most that many less the ones sent in the
minute before ``now``, service messages first, then transactional, then marketing.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ValidationError
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.dispatch.ledger import held_back, withdrawals
from siyu.errors import ChannelUnreachable, Conflict, InvalidInput, NotFound
from siyu.kit.db import transaction
from siyu.kit.sealed import unseal
from siyu.kit.validation import invalid_input
from siyu.models import Delivery, Workspace

SENDING_LEASE = timedelta(minutes=5)  # a call takes at most timeout_seconds; a row sending longer lost its worker
BACKOFF = timedelta(seconds=30)  # doubled at each attempt
DEFER = timedelta(seconds=60)  # WeCom's frequency limits block the rest of the minute
CHUNK = 500  # rows claimed at a time: a claim's rows are all sending for as short a time as possible

# ``handed_to_staff``: the channel took it and its staff member sends it (a WeCom 群发 task); the text is the
# channel's reference for it (``external_ref``), and a later status poll says ``delivered`` or ``failed``.
# ``deferred``: a rate limit said "not now": queued again after ``DEFER`` without spending an attempt.
Outcome = tuple[Literal["sent", "retry", "failed", "unknown", "queued", "handed_to_staff", "deferred"], str]


class ChannelSettings(Protocol):
    @property
    def per_minute(self) -> int: ...

    @property
    def max_attempts(self) -> int: ...


@dataclass
class ChannelReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    blocked: int = 0
    unknown: int = 0
    reconciled: int = 0
    delivered: int = 0  # moved on by a channel's status poll (WeCom 群发 results, SMS reports)


def stored(channel: CallChannel, raw: object) -> Any:
    """A channel's saved settings with their secrets unsealed, validated."""
    if isinstance(raw, dict):
        secrets = getattr(channel.settings_model, "secrets", ())
        raw = {k: unseal(v) if k in secrets and isinstance(v, str) else v for k, v in raw.items()}
    return channel.load(raw)


class Sender(Protocol):
    def __call__(self, items: list[dict[str, Any]]) -> list[Outcome]: ...


class CallChannel(ABC):
    """One outbound channel, and the plugin interface every channel implements, the built-ins too (they are
    found through the ``siyu.channels`` entry points, :mod:`siyu.dispatch.plugins`): its settings (a Pydantic
    model whose ``secrets`` are sealed at rest and never shown), its capabilities, how a ledger row becomes
    a call, how it settles ``unknown``, and a connection test."""

    name: ClassVar[str]
    title: ClassVar[str] = ""
    settings_model: ClassVar[type[BaseModel]]
    # send (always), reconcile (asks the channel about unknown rows), status (delivery reports after the
    # send), callbacks (receives events), welcome, group_send, opens
    capabilities: ClassVar[frozenset[str]] = frozenset({"send"})
    # A channel that shares another's settings (the WeCom welcome message uses WeCom's) names it here.
    settings_from: ClassVar[str | None] = None

    @classmethod
    def settings_name(cls) -> str:
        return cls.settings_from or cls.name

    def load(self, raw: object) -> Any:
        """The settings stored in ``workspace.channels[name]`` (secrets unsealed), validated; a problem names
        its field under the channel's name."""
        try:
            return self.settings_model.model_validate(raw)
        except ValidationError as exc:
            raise invalid_input(exc, self.name, (), tag_name="type", tag_values=lambda _: "") from None

    def test_connection(self, settings: Any) -> str:
        """Reach the channel with these settings without sending anyone anything; what was found, or
        :class:`~siyu.errors.InvalidInput` / :class:`ChannelUnreachable` saying what is wrong."""
        raise ChannelUnreachable(f"the {self.name} channel has no connection test")

    def poll(self, factory: sessionmaker[Session], workspace_id: int, settings: Any, now: datetime) -> int:
        """After-send status (``status`` capability): move rows whose outcome the channel reports later
        (``handed_to_staff`` → ``delivered`` / ``failed``). Returns how many rows moved."""
        return 0

    @abstractmethod
    def items(self, session: Session, settings: Any, rows: Sequence[Delivery], now: datetime) -> list[dict[str, Any]]:
        """What each claimed row's call needs (read in the claiming transaction). An item with an
        ``outcome`` is settled without a call (e.g. a contact without an address)."""

    @abstractmethod
    def connect(self, settings: Any, now: datetime) -> AbstractContextManager[Sender]:
        """A sender for one pass (one HTTP client; SMTP connections, reopened when they break): it
        calls a list of items and returns their outcomes in order."""

    def can_reconcile(self, settings: Any) -> bool:
        """Whether this channel, so set up, can be asked about ``unknown`` rows at all."""
        return True

    @abstractmethod
    def reconcile(self, settings: Any, rows: Sequence[dict[str, Any]]) -> dict[int, Outcome]:
        """Ask the channel about ``unknown`` rows (``id``, ``dedup_key``, ``message_id``, ``contact_id``,
        ``content``, ``sent_at``, ``external_ref``): ``sent``, ``handed_to_staff``,
        ``queued`` (it never got it: send again), or leave a row out to keep it ``unknown``."""


def deliver(factory: sessionmaker[Session], workspace_id: int, now: datetime, channel: CallChannel) -> ChannelReport:
    """One pass of a channel for a workspace: lost calls become ``unknown`` and are reconciled, then the
    due messages are claimed, called and recorded, a chunk at a time, within the rate limit."""
    report = ChannelReport()
    with transaction(factory, workspace_id=workspace_id) as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        raw = (workspace.channels or {}).get(channel.settings_name())
        if not raw:
            return report
        settings = stored(channel, raw)
        lost = session.execute(
            update(Delivery)
            .where(
                Delivery.status == "sending", Delivery.channel == channel.name, Delivery.sent_at < now - SENDING_LEASE
            )
            .values(status="unknown", reason="the worker stopped during the call")
        )
        report.unknown = int(lost.rowcount or 0)  # type: ignore[attr-defined]
        unknown = (
            [
                {
                    "id": i,
                    "dedup_key": k,
                    "message_id": message_id(i, k),
                    "contact_id": contact_id,
                    "content": content,
                    "sent_at": sent_at,
                    "external_ref": ref,
                    "now": now,
                }
                for i, k, contact_id, content, sent_at, ref in session.execute(
                    select(
                        Delivery.id,
                        Delivery.dedup_key,
                        Delivery.contact_id,
                        Delivery.content,
                        Delivery.sent_at,
                        Delivery.external_ref,
                    )
                    .where(Delivery.status == "unknown", Delivery.channel == channel.name)
                    .order_by(Delivery.id)
                )
            ]
            if channel.can_reconcile(settings)
            else []  # they wait for an operator: not read again at every pass
        )
    if unknown:
        settled = channel.reconcile(settings, unknown)
        with transaction(factory, workspace_id=workspace_id) as session:
            found = _rows(session, settled)
            for row_id, outcome in settled.items():
                row = found.get(row_id)
                if row is not None and row.status == "unknown":
                    _record(row, outcome, settings, now, report)
                    report.reconciled += 1
    with channel.connect(settings, now) as send:
        while True:
            with transaction(factory, workspace_id=workspace_id) as session:
                wanted = min(settings.per_minute - _sent_within_a_minute(session, channel.name, now), CHUNK)
                rows = _claim(session, channel.name, now, wanted) if wanted > 0 else []
                withdrawn = withdrawals(session, (r.contact_id for r in rows))
                ready = []
                for row in rows:
                    if held_back(row, withdrawn):
                        report.blocked += 1
                        continue
                    # sent_at marks when the call started, until the outcome replaces it
                    row.status, row.attempts, row.sent_at = "sending", row.attempts + 1, now
                    ready.append(row)
                calls = channel.items(session, settings, ready, now)
            if not rows:
                break
            settled = {item["id"]: item["outcome"] for item in calls if item.get("outcome")}
            to_call = [item for item in calls if not item.get("outcome")]
            outcomes = {**settled, **{item["id"]: o for item, o in zip(to_call, send(to_call), strict=True)}}
            with transaction(factory, workspace_id=workspace_id) as session:
                found = _rows(session, outcomes)
                for row_id, outcome in outcomes.items():
                    row = found.get(row_id)
                    if row is not None and row.status == "sending":
                        _record(row, outcome, settings, now, report)
            if len(rows) < wanted:
                break
    return report


def _rows(session: Session, ids: Iterable[int]) -> dict[int, Delivery]:
    """The rows by id, read in a few queries: one ``session.get`` per row made a query each, and each one
    first flushed the row recorded before it."""
    wanted = sorted(ids)
    found: dict[int, Delivery] = {}
    for start in range(0, len(wanted), CHUNK):
        for row in session.scalars(select(Delivery).where(Delivery.id.in_(wanted[start : start + CHUNK]))):
            found[row.id] = row
    return found


def _record(row: Delivery, outcome: Outcome, settings: ChannelSettings, now: datetime, report: ChannelReport) -> None:
    status, reason = outcome
    if status == "sent":
        row.status, row.reason = "sent", reason or None
        row.sent_at = row.sent_at or now
        report.sent += 1
    elif status == "handed_to_staff":
        row.status, row.external_ref, row.reason = "handed_to_staff", reason[:128] or None, None
        row.sent_at = row.sent_at or now
        report.sent += 1
    elif status == "deferred":
        row.status, row.reason, row.sent_at = "queued", reason[:500], None
        row.attempts, row.not_before = max(row.attempts - 1, 0), now + DEFER
        report.retrying += 1
    elif status == "queued":
        row.status, row.reason, row.sent_at, row.not_before = "queued", reason or None, None, None
    elif status == "unknown":
        row.status, row.reason = "unknown", reason[:500]
        report.unknown += 1
    elif status == "retry" and row.attempts < settings.max_attempts:
        row.status, row.reason, row.sent_at = "queued", reason[:500], None
        row.not_before = now + BACKOFF * (2 ** (row.attempts - 1))
        report.retrying += 1
    else:
        row.status, row.reason, row.sent_at = "failed", reason[:500], None
        row.rule = "dead_letter" if status == "retry" else None
        report.failed += 1


def _sent_within_a_minute(session: Session, channel: str, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.channel == channel,
                Delivery.status.in_(("sending", "sent", "unknown", "handed_to_staff", "delivered")),
                Delivery.sent_at > now - timedelta(minutes=1),
            )
        )
        or 0
    )


def _claim(session: Session, channel: str, now: datetime, limit: int) -> list[Delivery]:
    """The due messages, service first, then transactional, then marketing (oldest first within each):
    under a rate limit an order confirmation does not wait behind a broadcast."""
    rank = case({"service": 0, "transactional": 1}, value=Delivery.priority, else_=2)
    query = (
        select(Delivery)
        .where(Delivery.status == "queued", Delivery.channel == channel)
        .where((Delivery.not_before.is_(None)) | (Delivery.not_before <= now))
        .order_by(rank, Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def message_id(delivery_id: int, dedup_key: str) -> str:
    """A stable id for a message that a channel can be asked about (e-mail's ``Message-ID`` left part)."""
    return f"siyu.{delivery_id}.{hashlib.sha256(dedup_key.encode()).hexdigest()[:16]}"


def resolve(session: Session, delivery_id: int, outcome: str, now: datetime) -> Delivery:
    """An operator settles an ``unknown`` message: ``sent`` (the contact got it) or ``resend``."""
    row = session.get(Delivery, delivery_id)
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    if row.status != "unknown":
        raise Conflict(f"delivery {delivery_id} is {row.status}; only an unknown one is resolved")
    if outcome == "sent":
        row.status, row.reason = "sent", "resolved by an operator: the contact got it"
        row.sent_at = row.sent_at or now
    elif outcome == "resend":
        row.status, row.reason, row.sent_at, row.not_before = (
            "queued",
            "resolved by an operator: sent again",
            None,
            None,
        )
    else:
        raise InvalidInput.on("outcome", "sent or resend")
    session.flush()
    return row
