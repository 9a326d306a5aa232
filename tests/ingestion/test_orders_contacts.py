"""Order ingestion (integer fen, refunds, order events) and contact upserts (catalogue, consent, first touch)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import transaction
from siyu.models import ConsentRecord, Contact, Event, OrderRefund, PropertyDefinition, SalesOrder, StaffMember
from tests.ingestion.conftest import Ingest
from tests.ingestion.test_events import count

ORDER = {
    "order_id": "TB20261001001",
    "amount_fen": 25900,
    "paid_at": "2026-10-01T20:15:00+08:00",
    "sales_channel": "taobao",
    "identities": {"buyer_id@taobao": "tb_lily", "phone": "13900139000"},
    "items": [
        {"sku": "LIP-01", "category": "彩妆/口红", "qty": 1, "price_fen": 15900},
        {"sku": "MASK-03", "category": "护肤/面膜", "qty": 2, "price_fen": 5000},
    ],
}


def test_orders_are_idempotent_and_emit_order_paid(ingest: Ingest, session_factory: sessionmaker[Session]) -> None:
    for expected in (1, 0, 0):
        assert ingest.post("orders", [ORDER])["accepted"] == expected
    with transaction(session_factory) as session:
        order = session.scalar(select(SalesOrder))
        assert order is not None
        assert (order.amount_fen, order.refunded_fen, order.currency) == (25900, 0, "CNY")
        assert isinstance(order.amount_fen, int)
        assert [i["sku"] for i in order.items] == ["LIP-01", "MASK-03"]
        paid = session.scalar(select(Event).where(Event.name == "order_paid"))
        assert paid is not None
        assert (paid.contact_id, paid.properties["amount_fen"]) == (order.contact_id, 25900)


def test_a_refund_sent_later_is_added_once(ingest: Ingest, session_factory: sessionmaker[Session]) -> None:
    ingest.post("orders", [ORDER])
    refunded = dict(ORDER, refunds=[{"refund_id": "R1", "amount_fen": 5000, "time": "2026-10-03T10:00:00+08:00"}])
    assert ingest.post("orders", [refunded])["accepted"] == 1
    assert ingest.post("orders", [refunded])["duplicates"] == 1
    with transaction(session_factory) as session:
        order = session.scalar(select(SalesOrder))
        assert order is not None
        assert order.refunded_fen == 5000
    assert count(session_factory, OrderRefund) == 1
    assert count(session_factory, Event, name="order_refunded") == 1


def test_bad_orders_are_rejected_alone(ingest: Ingest, session_factory: sessionmaker[Session]) -> None:
    records = [
        dict(ORDER, order_id="ok-1"),
        dict(ORDER, order_id="float", amount_fen=259.5),
        dict(ORDER, order_id="neg", amount_fen=-1),
        dict(ORDER, order_id="chan", sales_channel="street"),
        dict(ORDER, order_id="qty", items=[{"sku": "A", "qty": 0, "price_fen": 1}]),
        dict(
            ORDER, order_id="over", refunds=[{"refund_id": "Rx", "amount_fen": 99999, "time": "2026-10-02T00:00:00Z"}]
        ),
        dict(ORDER, order_id="early", refunds=[{"refund_id": "Ry", "amount_fen": 1, "time": "2026-09-01T00:00:00Z"}]),
        dict(ORDER, order_id="ok-2"),
    ]
    result = ingest.post("orders", records)
    assert result["accepted"] == 2
    fields = {r["index"]: r["field"] for r in result["rejected"]}
    assert fields == {
        1: "amount_fen",
        2: "amount_fen",
        3: "sales_channel",
        4: "items.0.qty",
        5: "refunds",
        6: "refunds.0.time",
    }
    with transaction(session_factory) as session:
        assert set(session.scalars(select(SalesOrder.order_id))) == {"ok-1", "ok-2"}


def test_contact_upsert_sets_fields_catalogue_properties_and_consent_once(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory, workspace_id=ingest.workspace_id) as session:
        session.add(
            PropertyDefinition(
                workspace_id=ingest.workspace_id,
                key="skin_type",
                type="enum",
                label="肤质",
                options=["敏感肌", "干皮", "油皮"],
            )
        )
        session.add(StaffMember(workspace_id=ingest.workspace_id, userid="guide-01", name="小美"))
    record = {
        "identities": {"phone": "13700137000"},
        "nickname": "Lily",
        "gender": "female",
        "birthday": "1995-05-20",
        "source": "douyin",
        "owner_staff": "guide-01",
        "properties": {"skin_type": "敏感肌"},
        "consent": [{"purpose": "marketing", "granted": True, "channel": "sms"}],
    }
    for _ in range(3):
        assert ingest.post("contacts", [record])["accepted"] == 1
    later = dict(
        record,
        source="taobao",
        nickname="Lily W",
        consent=[{"purpose": "marketing", "granted": False, "channel": "sms"}],
    )
    assert ingest.post("contacts", [later])["accepted"] == 1
    with transaction(session_factory) as session:
        contact = session.scalar(select(Contact))
        assert contact is not None
        assert (contact.nickname, contact.first_source, contact.gender) == ("Lily W", "douyin", "female")
        assert contact.properties == {"skin_type": "敏感肌"}
        assert contact.owner_staff_id is not None
        ledger = session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        assert [c.granted for c in ledger] == [True, False]  # re-sent grants were not repeated


def test_contact_upsert_rejects_undeclared_or_mistyped_properties(ingest: Ingest) -> None:
    records = [
        {"identities": {"phone": "13700137001"}, "properties": {"undeclared": 1}},
        {"identities": {"phone": "13700137002"}, "gender": "robot"},
        {"identities": {"phone": "13700137003"}, "owner_staff": "nobody"},
        {"identities": {"phone": "13700137004"}, "consent": [{"purpose": "spam", "granted": True}]},
        {"identities": {"phone": "13700137005"}, "birthday": "1995-02-30"},
    ]
    result = ingest.post("contacts", records)
    assert result["accepted"] == 0
    fields = [r["field"] for r in result["rejected"]]
    assert fields == ["properties.undeclared", "gender", "owner_staff", "consent.0.purpose", "birthday"]
