"""Broadcasts: one message to every contact of a segment now, through the dispatcher like any other.

:func:`forecast` says, before anything is sent, how many of the segment's contacts the message would
reach now, how many quiet hours would defer, and how many each rule would block (opt-out, the caps, the
content mix), and, on e-mail, how many have no address; it writes nothing. :func:`send` queues the
messages in one transaction; its ``key`` names the broadcast (``source`` = ``broadcast:<key>``)
and makes it idempotent: sending the same key again queues nobody twice (dedup ``broadcast:<key>:<contact>``),
and a send that failed half-way left nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.dispatch import channels, ledger
from siyu.dispatch.email import addresses
from siyu.dispatch.governance import Priority, parse_governance
from siyu.errors import InvalidInput, NotFound
from siyu.models import Delivery, Segment, SegmentMember, Workspace

CHUNK = 5000
KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class Broadcast:
    segment_id: int
    channel: str
    content: dict[str, Any]
    priority: Priority = Priority.marketing
    promotional: bool = False


@dataclass
class Outlook:
    audience: int = 0
    send: int = 0
    deferred: int = 0
    blocked: dict[str, int] = field(default_factory=dict)
    no_address: int = 0
    queued: int = 0  # send only: rows written now (a repeated key writes none)

    def as_dict(self) -> dict[str, Any]:
        return {
            "audience": self.audience,
            "send": self.send,
            "deferred": self.deferred,
            "blocked": dict(sorted(self.blocked.items())),
            "no_address": self.no_address,
            "queued": self.queued,
        }


def check(session: Session, workspace_id: int, b: Broadcast) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None
    if session.get(Segment, b.segment_id) is None:
        raise NotFound(f"no segment {b.segment_id}")
    available = channels.configured(workspace)
    if b.channel not in available:
        raise InvalidInput.on(
            "channel", f"channel {b.channel!r} is not set up; use one of {', '.join(sorted(available))}"
        )
    if not str(b.content.get("text") or "").strip():
        raise InvalidInput.on("content.text", "the message needs a text")
    return workspace


def _members(session: Session, segment_id: int) -> Iterator[list[int]]:
    after = 0
    while True:
        chunk = list(
            session.scalars(
                select(SegmentMember.contact_id)
                .where(SegmentMember.segment_id == segment_id, SegmentMember.contact_id > after)
                .order_by(SegmentMember.contact_id)
                .limit(CHUNK)
            )
        )
        if not chunk:
            return
        yield chunk
        after = chunk[-1]


def _messages(b: Broadcast, key: str, contacts: list[int]) -> list[ledger.Message]:
    return [
        ledger.Message(c, f"broadcast:{key}:{c}", f"broadcast:{key}", b.channel, b.content, b.priority, b.promotional)
        for c in contacts
    ]


def _count(outlook: Outlook, decisions: list[Any]) -> None:
    for d in decisions:
        if d.action == "block":
            outlook.blocked[d.rule] = outlook.blocked.get(d.rule, 0) + 1
        elif d.not_before is not None:
            outlook.deferred += 1
        else:
            outlook.send += 1


def forecast(session: Session, workspace_id: int, b: Broadcast, now: datetime) -> Outlook:
    workspace = check(session, workspace_id, b)
    settings = parse_governance(workspace.governance or None)
    outlook = Outlook()
    for contacts in _members(session, b.segment_id):
        outlook.audience += len(contacts)
        _count(
            outlook, ledger.decide_all(session, _messages(b, "forecast", contacts), settings, workspace.timezone, now)
        )
        if b.channel == "email":
            outlook.no_address += len(contacts) - len(addresses(session, contacts))
    return outlook


def send(session: Session, workspace_id: int, b: Broadcast, key: str, now: datetime) -> Outlook:
    """Queue the broadcast in the caller's transaction (all of it or none), a chunk at a time."""
    if not KEY.match(key):
        raise InvalidInput.on("key", "letters, digits and _ . : - only (at most 64)")
    workspace = check(session, workspace_id, b)
    settings = parse_governance(workspace.governance or None)
    outlook = Outlook()
    for contacts in list(_members(session, b.segment_id)):
        fresh = _not_queued_yet(session, key, contacts)
        outlook.audience += len(contacts)
        _count(outlook, ledger.queue(session, _messages(b, key, fresh), settings, workspace.timezone, now))
        outlook.queued += len(fresh)
        if b.channel == "email":
            outlook.no_address += len(fresh) - len(addresses(session, fresh))
    return outlook


def _not_queued_yet(session: Session, key: str, contacts: list[int]) -> list[int]:
    done = set(
        session.scalars(
            select(Delivery.contact_id).where(Delivery.source == f"broadcast:{key}", Delivery.contact_id.in_(contacts))
        )
    )
    return [c for c in contacts if c not in done]
