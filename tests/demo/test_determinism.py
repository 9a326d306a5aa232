"""The same configuration gives the same rows (whatever ids the database hands out); another seed does not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import transaction
from siyu.models import ConsentRecord, Contact, Event, Identity, OrderRefund, SalesOrder
from tests.demo.helpers import build


def snapshot(factory: sessionmaker[Session], ws: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every generated row with ids made relative to the workspace's first contact / identity / order."""
    with transaction(factory) as session:
        contact0 = min(session.scalars(select(Contact.id).where(Contact.workspace_id == ws)))
        identity0 = min(session.scalars(select(Identity.id).where(Identity.workspace_id == ws)))
        order0 = min(session.scalars(select(SalesOrder.id).where(SalesOrder.workspace_id == ws)))

        def rel(value: int | None, base: int) -> int | None:
            return None if value is None else value - base

        def props(p: dict[str, Any]) -> dict[str, Any]:
            return {
                k: (v - contact0 if k in {"inviter", "invitee"} and isinstance(v, int) else v) for k, v in p.items()
            }

        contacts = [
            (c.id - contact0, c.nickname, c.name, c.gender, c.birthday, c.region, c.first_source, c.first_channel_code,
             c.properties, c.last_seen_at, c.created_at)
            for c in session.scalars(select(Contact).where(Contact.workspace_id == ws))
        ]  # fmt: skip
        identities = [
            (i.id - identity0, i.contact_id - contact0, i.kind, i.scope, i.value, i.created_at)
            for i in session.scalars(select(Identity).where(Identity.workspace_id == ws))
        ]
        events = [
            (e.event_id, e.contact_id - contact0, rel(e.identity_id, identity0), e.name, e.occurred_at, e.received_at,
             e.source, props(e.properties))
            for e in session.scalars(select(Event).where(Event.workspace_id == ws))
        ]  # fmt: skip
        orders = [
            (o.id - order0, o.order_id, o.contact_id - contact0, rel(o.identity_id, identity0), o.amount_fen,
             o.refunded_fen, o.paid_at, o.sales_channel, o.items)
            for o in session.scalars(select(SalesOrder).where(SalesOrder.workspace_id == ws))
        ]  # fmt: skip
        refunds = [
            (r.order_pk - order0, r.refund_id, r.amount_fen, r.refunded_at)
            for r in session.scalars(select(OrderRefund).where(OrderRefund.workspace_id == ws))
        ]
        consent = [
            (c.contact_id - contact0, c.purpose, c.channel, c.granted, c.source, c.recorded_at)
            for c in session.scalars(select(ConsentRecord).where(ConsentRecord.workspace_id == ws))
        ]
    return {
        name: sorted(rows, key=repr)
        for name, rows in (("contacts", contacts), ("identities", identities), ("events", events),
                           ("orders", orders), ("refunds", refunds), ("consent", consent))
    }  # fmt: skip


def test_same_seed_same_rows_other_seed_other_rows(session_factory: sessionmaker[Session]) -> None:
    first, _ = build(session_factory, "first", contacts=600, seed=7)
    second, _ = build(session_factory, "second", contacts=600, seed=7)
    third, _ = build(session_factory, "third", contacts=600, seed=8)
    a, b, c = (snapshot(session_factory, ws) for ws in (first, second, third))
    for table in a:
        assert a[table] == b[table], table
        assert a[table], table
    for table in ("contacts", "identities", "events", "orders"):
        assert a[table] != c[table], table
