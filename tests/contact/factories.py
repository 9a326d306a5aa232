"""Plain factory functions for the user pool: contacts with identities, events, orders and consent."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.identity.keys import make_key
from siyu.models import ConsentRecord, Contact, Event, Identity, SalesOrder, StaffMember

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
_event_ids = itertools.count(1)


def create_contact(
    session: Session,
    *,
    identities: dict[str, str] | None = None,
    created_at: datetime | None = None,
    **fields: Any,
) -> Contact:
    contact = Contact(properties=fields.pop("properties", {}), **fields)
    if created_at is not None:
        contact.created_at = created_at
    session.add(contact)
    session.flush()
    for name, value in (identities or {}).items():
        key = make_key(name, value)
        session.add(Identity(contact_id=contact.id, kind=key.kind, scope=key.scope, value=key.value))
    session.flush()
    return contact


def identity_id(session: Session, contact: Contact, kind: str) -> int:
    found = session.scalar(select(Identity.id).where(Identity.contact_id == contact.id, Identity.kind == kind))
    assert found is not None
    return found


def add_event(
    session: Session,
    contact: Contact,
    name: str,
    at: datetime,
    *,
    identity: int | None = None,
    properties: dict[str, Any] | None = None,
) -> Event:
    event = Event(
        contact_id=contact.id,
        identity_id=identity,
        event_id=f"test-{next(_event_ids)}",
        name=name,
        occurred_at=at,
        received_at=at,
        source="test",
        properties=properties or {},
    )
    session.add(event)
    session.flush()
    return event


def add_order(session: Session, contact: Contact, order_id: str, amount_fen: int, at: datetime) -> SalesOrder:
    order = SalesOrder(
        contact_id=contact.id,
        order_id=order_id,
        amount_fen=amount_fen,
        refunded_fen=0,
        paid_at=at,
        sales_channel="miniprogram",
        items=[{"sku": "LIP-01", "category": "lipstick", "qty": 1, "price_fen": amount_fen}],
    )
    session.add(order)
    session.flush()
    return order


def add_consent(
    session: Session, contact: Contact, purpose: str, granted: bool, at: datetime, *, channel: str | None = None
) -> ConsentRecord:
    record = ConsentRecord(
        contact_id=contact.id, purpose=purpose, channel=channel, granted=granted, source="test", recorded_at=at
    )
    session.add(record)
    session.flush()
    return record


def create_staff(session: Session, userid: str, name: str) -> StaffMember:
    staff = StaffMember(userid=userid, name=name, department="门店", active=True)
    session.add(staff)
    session.flush()
    return staff
