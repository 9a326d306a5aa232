"""The dispatcher's front door and the delivery ledger.

:func:`queue` is the only way a message is sent: it applies the governance rules
(:mod:`siyu.dispatch.governance`) to the contact's ledger history, and writes one ledger row: ``queued``
(with ``not_before`` when quiet hours defer it) or ``blocked`` with the rule and the reason. The row's
``dedup_key`` is unique per workspace, so the same message queued twice (a journey step replayed after a
crash) is stored once. It runs in the caller's transaction: a journey step and its message commit
together or not at all.

:func:`deliver_due` hands queued messages to their channel. Opt-out is checked again at that moment, so a
contact who opts out after a message was queued does not get it. The ``outbox`` channel (messages shown
in the console, for demos and tests) completes in the same transaction as the ledger's change of state,
so it is exactly once by construction; the channels that call out (webhook, e-mail, WeCom) go through
``sending`` and reconcile an ``unknown`` outcome instead of resending it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.dispatch.governance import Decision, GovernanceSettings, Outgoing, Priority, Touch, decide
from siyu.kit.bulk import insert_rows
from siyu.kit.db import WORKSPACE_KEY
from siyu.models import ConsentRecord, Delivery

MARKETING_PURPOSE = "marketing"
TOUCHING = ("queued", "sending", "sent", "handed_to_staff", "delivered", "unknown")  # count towards caps
HISTORY_DAYS = 32  # the longest period a cap looks at (a month), plus a day of time-zone slack


@dataclass(frozen=True)
class Message:
    contact_id: int
    dedup_key: str
    source: str
    channel: str
    content: dict[str, Any]
    priority: Priority = Priority.marketing
    promotional: bool = False


def withdrawals(session: Session, contact_ids: Iterable[int]) -> dict[int, set[str | None]]:
    """Per contact, the channels (None: every channel) whose latest marketing consent is a withdrawal."""
    ids = sorted(set(contact_ids))
    out: dict[int, set[str | None]] = {}
    for start in range(0, len(ids), 2000):
        rows = session.execute(
            select(ConsentRecord.contact_id, ConsentRecord.channel, ConsentRecord.granted)
            .where(ConsentRecord.contact_id.in_(ids[start : start + 2000]), ConsentRecord.purpose == MARKETING_PURPOSE)
            .order_by(ConsentRecord.contact_id, ConsentRecord.recorded_at, ConsentRecord.id)
        )
        latest: dict[tuple[int, str | None], bool] = {}
        for contact_id, record_channel, granted in rows:
            latest[(contact_id, record_channel)] = granted  # later rows win
        for (contact_id, record_channel), granted in latest.items():
            if not granted:
                out.setdefault(contact_id, set()).add(record_channel)
    return out


def is_withdrawn(withdrawn: dict[int, set[str | None]], contact_id: int, channel: str) -> bool:
    channels = withdrawn.get(contact_id, set())
    return None in channels or channel in channels


def held_back(row: Delivery, withdrawn: dict[int, set[str | None]]) -> bool:
    """At hand-over: block a marketing message whose contact opted out after it was queued."""
    if row.priority != Priority.marketing.value or not is_withdrawn(withdrawn, row.contact_id, row.channel):
        return False
    row.status, row.rule = "blocked", "opt_out"
    row.reason = "the contact opted out of marketing after the message was queued"
    return True


def touches(session: Session, contact_ids: Iterable[int], now: datetime) -> dict[int, list[Touch]]:
    """The contacts' messages of the last month that count towards caps and the content mix, oldest
    first (queued ones too: two journeys queueing in the same minute must not both pass a daily cap)."""
    ids = sorted(set(contact_ids))
    found: dict[int, list[Touch]] = {c: [] for c in ids}
    since = now - timedelta(days=HISTORY_DAYS)
    for start in range(0, len(ids), 2000):
        rows = session.execute(
            select(Delivery.contact_id, Delivery.created_at, Delivery.not_before, Delivery.channel)
            .add_columns(Delivery.priority, Delivery.promotional)
            .where(
                Delivery.contact_id.in_(ids[start : start + 2000]),
                Delivery.status.in_(TOUCHING),
                Delivery.created_at >= since,
            )
            .order_by(Delivery.created_at, Delivery.id)
        )
        for contact_id, created_at, not_before, channel, priority, promotional in rows:
            at = max(created_at, not_before) if not_before is not None else created_at
            found[contact_id].append(Touch(at, channel, Priority(priority), bool(promotional)))
    return found


def decide_all(
    session: Session,
    messages: Sequence[Message],
    settings: GovernanceSettings,
    timezone: str,
    now: datetime,
) -> list[Decision]:
    """Decide each message against the contact's history and the ones decided before it in this call
    (two messages to one contact in one call see each other), writing nothing."""
    # Only marketing messages are governed: the history and consent of the others' contacts are not read.
    marketing = [m.contact_id for m in messages if m.priority is Priority.marketing]
    history = touches(session, marketing, now)
    withdrawn = withdrawals(session, marketing)
    decisions: list[Decision] = []
    for m in messages:
        outgoing = Outgoing(m.channel, m.priority, m.promotional)
        out = is_withdrawn(withdrawn, m.contact_id, m.channel)
        decision = decide(outgoing, history.get(m.contact_id, []), settings, timezone, now, opted_out=out)
        decisions.append(decision)
        if decision.action != "block" and m.contact_id in history:
            at = decision.not_before or now
            history[m.contact_id].append(Touch(at, m.channel, m.priority, m.promotional))
    return decisions


def queue(
    session: Session,
    messages: Sequence[Message],
    settings: GovernanceSettings,
    timezone: str,
    now: datetime,
) -> list[Decision]:
    """Decide each message (:func:`decide_all`) and write its ledger row; a message whose ``dedup_key``
    is in the ledger already is left as it was. Returns the decisions, in order."""
    if not messages:
        return []
    ws = int(session.info[WORKSPACE_KEY])
    decisions = decide_all(session, messages, settings, timezone, now)
    rows: list[dict[str, Any]] = []
    for m, decision in zip(messages, decisions, strict=True):
        status = "blocked" if decision.action == "block" else "queued"
        rows.append(
            {
                "workspace_id": ws,
                "contact_id": m.contact_id,
                "dedup_key": m.dedup_key,
                "source": m.source,
                "channel": m.channel,
                "priority": m.priority.value,
                "promotional": m.promotional,
                "content": m.content,
                "status": status,
                "rule": decision.rule if status == "blocked" else None,
                "reason": decision.reason[:500] if decision.action != "send" else None,
                "attempts": 0,
                "not_before": decision.not_before,
                "created_at": now,
            }
        )
    insert_rows(session, Delivery, rows, skip_conflicts_on=["workspace_id", "dedup_key"])
    return decisions


@dataclass
class DeliveryReport:
    sent: int = 0
    blocked: int = 0
    waiting: int = 0


def deliver_due(session: Session, now: datetime, *, limit: int = 5000) -> DeliveryReport:
    """Hand the queued messages that are due to their channel (for now the ``outbox``, which completes
    here). A contact who opted out since the message was queued is blocked (``opt_out``)."""
    report = DeliveryReport()
    query = (
        select(Delivery)
        .where(Delivery.status == "queued", Delivery.channel == "outbox")
        .where((Delivery.not_before.is_(None)) | (Delivery.not_before <= now))
        .order_by(Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two workers never hand over the same message
    rows = list(session.scalars(query))
    withdrawn = withdrawals(session, (r.contact_id for r in rows))
    for row in rows:
        row.attempts += 1
        if held_back(row, withdrawn):
            report.blocked += 1
            continue
        row.status, row.sent_at = "sent", now
        report.sent += 1
    session.flush()
    return report
