"""A generated demo is valid data: the exact size, every row in the workspace and pointing at its contacts,
identity values as ingestion normalizes them, money in positive integer fen adding up."""

from __future__ import annotations

from collections import Counter

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.demo import DemoConfig, generate
from siyu.demo.presets import PRESETS, Industry
from siyu.identity.keys import make_key
from siyu.ingestion.catalogue import STANDARD_EVENTS
from siyu.kit.db import transaction
from siyu.models import (
    ChannelCode,
    ConsentRecord,
    Contact,
    Event,
    Identity,
    OrderRefund,
    SalesOrder,
    StaffMember,
)
from tests.demo.helpers import UNTIL, build
from tests.factories import create_workspace


def test_size_is_exact_and_every_row_belongs_to_a_contact_of_the_workspace(
    session_factory: sessionmaker[Session],
) -> None:
    ws, config = build(session_factory, contacts=1000)
    other = create_workspace(session_factory, slug="other", name="other")
    with transaction(session_factory) as session:
        contacts = set(session.scalars(select(Contact.id).where(Contact.workspace_id == ws)))
        assert len(contacts) == 1000
        for model in (Identity, Event, SalesOrder, ConsentRecord):
            owners = set(session.scalars(select(model.contact_id).where(model.workspace_id == ws).distinct()))
            assert owners, model.__name__
            assert owners <= contacts, model.__name__
            assert session.scalar(select(func.count()).select_from(model).where(model.workspace_id == other.id)) == 0
        identity_ids = set(session.scalars(select(Identity.id).where(Identity.workspace_id == ws)))
        named = set(session.scalars(select(Event.identity_id).where(Event.identity_id.is_not(None))))
        assert named <= identity_ids
        # Each identity names the contact its events and orders belong to.
        owner_of = dict(session.execute(select(Identity.id, Identity.contact_id)).all())
        for cid, iid in session.execute(
            select(Event.contact_id, Event.identity_id).where(Event.identity_id.is_not(None))
        ):
            assert iid is not None
            assert owner_of[iid] == cid
        staff = set(session.scalars(select(StaffMember.id).where(StaffMember.workspace_id == ws)))
        states = dict(session.execute(select(ChannelCode.state, ChannelCode.owner_staff_id)).all())
        for code, owner in session.execute(
            select(Contact.first_channel_code, Contact.owner_staff_id).where(Contact.first_channel_code.is_not(None))
        ):
            assert code is not None
            assert states[code] == owner
            assert owner in staff
        start = session.scalar(select(func.min(Event.occurred_at)))
        end = session.scalar(select(func.max(Event.occurred_at)))
        assert start is not None
        assert end is not None
        assert end.date() <= UNTIL
        assert (UNTIL - start.date()).days <= 31 * config.months + 1


def test_identities_are_normalized_and_unique(session_factory: sessionmaker[Session]) -> None:
    ws, _ = build(session_factory, contacts=1000)
    with transaction(session_factory) as session:
        rows = session.execute(
            select(Identity.kind, Identity.scope, Identity.value).where(Identity.workspace_id == ws)
        ).all()
    assert len(rows) == len(set(rows))
    kinds = Counter(kind for kind, _, _ in rows)
    assert {"wecom_external_userid", "wx_openid", "wx_unionid", "phone", "buyer_id"} <= set(kinds)
    for kind, scope, value in rows:
        name = f"{kind}@{scope}" if scope else kind
        assert tuple(make_key(name, value)) == (kind, scope, value)
        if kind == "phone":
            assert len(value) == 11
            assert value.startswith("1")
    per_contact = Counter(k for k, _, _ in rows)
    assert per_contact["wecom_external_userid"] <= 1000


def test_orders_are_integer_fen_and_add_up(session_factory: sessionmaker[Session]) -> None:
    ws, _ = build(session_factory, contacts=1000)
    skus = {s.sku: s for s in PRESETS[Industry.beauty].skus}
    with transaction(session_factory) as session:
        orders = session.execute(
            select(SalesOrder.id, SalesOrder.order_id, SalesOrder.amount_fen, SalesOrder.refunded_fen, SalesOrder.items,
                   SalesOrder.sales_channel, SalesOrder.currency).where(SalesOrder.workspace_id == ws)
        ).all()  # fmt: skip
        refunds: Counter[int] = Counter()
        for pk, amount in session.execute(select(OrderRefund.order_pk, OrderRefund.amount_fen)):
            refunds[pk] += amount
        paid_events = {
            p["order_id"]: p for p in session.scalars(select(Event.properties).where(Event.name == "order_paid"))
        }
    assert orders
    for pk, order_id, amount, refunded, items, channel, currency in orders:
        assert isinstance(amount, int)
        assert amount > 0
        assert currency == "CNY"
        assert 0 <= refunded <= amount
        assert refunds[pk] == refunded
        assert sum(i["qty"] * i["price_fen"] for i in items) == amount
        for item in items:
            assert item["price_fen"] == skus[item["sku"]].price_fen
            assert item["qty"] >= 1
        assert paid_events[order_id] == {"order_id": order_id, "amount_fen": amount, "sales_channel": channel}
    assert len({o[1] for o in orders}) == len(orders)


def test_events_look_like_ingested_ones(session_factory: sessionmaker[Session]) -> None:
    ws, _ = build(session_factory, contacts=1000)
    with transaction(session_factory) as session:
        events = session.execute(
            select(
                Event.event_id, Event.name, Event.occurred_at, Event.received_at, Event.properties, Event.source
            ).where(Event.workspace_id == ws)
        ).all()
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        assert event.name in STANDARD_EVENTS
        assert event.received_at >= event.occurred_at
        assert isinstance(event.properties, dict)
        assert len(orjson.dumps(event.properties)) < 16_384
    added = [e.properties for e in events if e.name == "contact_added"]
    assert added
    assert all(set(p) == {"state", "staff"} for p in added)
    opened = [e.properties for e in events if e.name == "message_opened"]
    assert opened
    assert all(p["channel"] in {"wecom", "mp"} for p in opened)


def test_generating_again_replaces_instead_of_duplicating(session_factory: sessionmaker[Session]) -> None:
    ws, config = build(session_factory, contacts=1000)

    def counts() -> tuple[int, ...]:
        with transaction(session_factory) as session:
            return tuple(
                session.scalar(select(func.count()).select_from(m).where(m.workspace_id == ws)) or 0
                for m in (Contact, Identity, Event, SalesOrder, StaffMember, ChannelCode)
            )

    first = counts()
    generate(session_factory, ws, config)
    assert counts() == first
    generate(session_factory, ws, DemoConfig(contacts=1200, until=UNTIL))
    assert counts()[0] == 1200
