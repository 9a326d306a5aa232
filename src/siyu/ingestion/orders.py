"""Order ingestion: idempotent by ``order_id`` (refunds by ``refund_id``); each stored order also
emits an ``order_paid`` event, each refund an ``order_refunded`` event, so journeys can start from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.identity.keys import IdentityKey
from siyu.identity.resolver import Resolver
from siyu.ingestion.context import BatchContext
from siyu.ingestion.records import (
    RecordProblem,
    check_text,
    identity_keys,
    need_someone,
    rejection,
    stored_values,
    to_utc,
)
from siyu.ingestion.schemas import BatchResult, OrderIn, Rejection
from siyu.kit.bulk import insert_rows
from siyu.models import Event, OrderRefund, SalesOrder

MAX_FEN = 10**12  # 100 亿元: beyond any single order, inside BIGINT


@dataclass
class ValidOrder:
    index: int
    record: OrderIn
    keys: list[IdentityKey]
    paid_at: datetime
    refunds: list[tuple[str, int, datetime, str | None]]


def validate(record: OrderIn, index: int, ctx: BatchContext) -> ValidOrder:
    if not 0 < len(record.order_id) <= 128 or "\x00" in record.order_id:
        raise RecordProblem("order_id", "1 to 128 characters, no NUL")
    if not 0 <= record.amount_fen <= MAX_FEN:
        raise RecordProblem("amount_fen", f"an integer number of fen from 0 to {MAX_FEN}")
    if len(record.currency) != 3 or not record.currency.isupper():
        raise RecordProblem("currency", "a three-letter ISO 4217 code such as CNY")
    keys = identity_keys(record.identities)
    need_someone(keys, record.contact_id)
    paid_at = to_utc(record.paid_at, ctx.tz, "paid_at", now=ctx.now)
    if len(record.items) > 500:
        raise RecordProblem("items", "at most 500 items")
    for i, item in enumerate(record.items):
        check_text(item.sku, f"items.{i}.sku", 128)
        check_text(item.category, f"items.{i}.category", 128)
        check_text(item.name, f"items.{i}.name", 200)
        if item.qty < 1:
            raise RecordProblem(f"items.{i}.qty", "at least 1")
        if not 0 <= item.price_fen <= MAX_FEN:
            raise RecordProblem(f"items.{i}.price_fen", f"an integer number of fen from 0 to {MAX_FEN}")
    refunds = []
    for i, refund in enumerate(record.refunds):
        check_text(refund.refund_id, f"refunds.{i}.refund_id", 128)
        check_text(refund.reason, f"refunds.{i}.reason", 500)
        if refund.amount_fen <= 0:
            raise RecordProblem(f"refunds.{i}.amount_fen", "a positive integer number of fen")
        at = to_utc(refund.time, ctx.tz, f"refunds.{i}.time", now=ctx.now)
        if at < paid_at:
            raise RecordProblem(f"refunds.{i}.time", "is before the order was paid")
        refunds.append((refund.refund_id, refund.amount_fen, at, refund.reason))
    if sum(r[1] for r in refunds) > record.amount_fen:
        raise RecordProblem("refunds", "refunds add up to more than the order amount")
    return ValidOrder(index, record, keys, paid_at, refunds)


def ingest(
    session: Session, ctx: BatchContext, records: list[OrderIn | RecordProblem], *, emit_events: bool = True
) -> BatchResult:
    """Store the valid orders of a batch. ``emit_events=False`` (history imports) records the orders
    without ``order_paid`` / ``order_refunded`` events, so a backfill does not start journeys."""
    rejected: list[Rejection] = []
    valid: dict[str, ValidOrder] = {}
    duplicates = 0
    for index, record in enumerate(records):
        try:
            if isinstance(record, RecordProblem):
                raise record
            order = validate(record, index, ctx)
        except RecordProblem as problem:
            rejected.append(rejection(index, problem))
            continue
        if order.record.order_id in valid:
            duplicates += 1
            continue
        valid[order.record.order_id] = order

    # SQLite reports how many rows an insert skipped, so only orders that bring refunds are looked up
    # first (a stored order may gain a refund); elsewhere every order is.
    sqlite = session.get_bind().dialect.name == "sqlite"
    existing = stored_values(session, SalesOrder.order_id, [oid for oid, o in valid.items() if o.refunds or not sqlite])
    new_orders = [o for oid, o in valid.items() if oid not in existing]
    ready, by_contact_id = ctx.check_named_contacts(new_orders, rejected)

    resolver = Resolver(session, ctx.workspace_id, ctx.rules, actor_label=ctx.actor_label)
    keyed = [o for o in ready if o.keys]
    defaults = [{"first_source": o.record.sales_channel, "last_seen_at": o.paid_at} for o in keyed]
    resolutions = resolver.resolve([o.keys for o in keyed], defaults=defaults, now=ctx.now)
    owners: dict[str, tuple[int, int | None]] = {}
    for order, res in zip(keyed, resolutions, strict=True):
        assert res is not None
        owners[order.record.order_id] = (res.contact_id, res.identity_id)
    rows, events = [], []
    for order in ready:
        rec = order.record
        contact_id, identity_id = owners.get(rec.order_id) or (by_contact_id[rec.contact_id or 0], None)
        rows.append(
            {
                "workspace_id": ctx.workspace_id,
                "contact_id": contact_id,
                "identity_id": identity_id,
                "order_id": rec.order_id,
                "amount_fen": rec.amount_fen,
                "refunded_fen": 0,
                "currency": rec.currency,
                "paid_at": order.paid_at,
                "sales_channel": rec.sales_channel,
                "items": [
                    {"sku": i.sku, "category": i.category, "name": i.name, "qty": i.qty, "price_fen": i.price_fen}
                    for i in rec.items
                ],
                "created_at": ctx.now,
            }
        )
        if emit_events:
            paid = {"order_id": rec.order_id, "amount_fen": rec.amount_fen, "sales_channel": rec.sales_channel}
            events.append(
                _event(ctx, contact_id, identity_id, f"order_paid:{rec.order_id}", "order_paid", order.paid_at, paid)
            )
    inserted = insert_rows(session, SalesOrder, rows, skip_conflicts_on=["workspace_id", "order_id"])
    if inserted is not None:
        duplicates += len(rows) - inserted
    refunds_added = _store_refunds(session, ctx, [o for o in valid.values() if o.refunds], events)
    if emit_events:
        insert_rows(session, Event, events, skip_conflicts_on=["workspace_id", "event_id"])
    duplicates += sum(1 for oid in valid if oid in existing and not refunds_added.get(oid))
    rejected.sort(key=lambda r: r.index)
    return BatchResult(
        accepted=(len(rows) if inserted is None else inserted)
        + sum(1 for oid in refunds_added if oid in existing and refunds_added[oid]),
        duplicates=duplicates,
        rejected=rejected,
        contacts_created=resolver.created,
        merges=resolver.merges,
        conflicts=sum(1 for r in resolutions if r is not None and r.conflicts),
    )


def _event(
    ctx: BatchContext,
    contact_id: int,
    identity_id: int | None,
    event_id: str,
    name: str,
    at: datetime,
    properties: dict[str, Any],
) -> dict[str, Any]:
    return {
        "workspace_id": ctx.workspace_id,
        "contact_id": contact_id,
        "identity_id": identity_id,
        "event_id": event_id,
        "name": name,
        "occurred_at": at,
        "received_at": ctx.now,
        "source": "orders",
        "properties": properties,
    }


def _store_refunds(
    session: Session, ctx: BatchContext, orders: list[ValidOrder], events: list[dict[str, Any]]
) -> dict[str, int]:
    """Add refunds not stored yet; returns order_id → refunds added. Re-sent refunds change nothing."""
    if not orders:
        return {}
    ids = [o.record.order_id for o in orders]
    stored = {
        oid: (pk, contact_id, refunded)
        for pk, oid, contact_id, refunded in session.execute(
            select(SalesOrder.id, SalesOrder.order_id, SalesOrder.contact_id, SalesOrder.refunded_fen).where(
                SalesOrder.order_id.in_(ids)
            )
        )
    }
    known = set(
        session.scalars(
            select(OrderRefund.refund_id).where(OrderRefund.refund_id.in_([r[0] for o in orders for r in o.refunds]))
        )
    )
    added: dict[str, int] = {}
    for order in orders:
        pk, contact_id, refunded = stored[order.record.order_id]
        fresh = [r for r in order.refunds if r[0] not in known]
        if not fresh:
            continue
        insert_rows(
            session,
            OrderRefund,
            [
                {
                    "workspace_id": ctx.workspace_id,
                    "order_pk": pk,
                    "refund_id": rid,
                    "amount_fen": amount,
                    "refunded_at": at,
                    "reason": reason,
                    "created_at": ctx.now,
                }
                for rid, amount, at, reason in fresh
            ],
            skip_conflicts_on=["workspace_id", "refund_id"],
        )
        total = refunded + sum(r[1] for r in fresh)
        session.execute(update(SalesOrder).where(SalesOrder.id == pk).values(refunded_fen=total))
        for rid, amount, at, _ in fresh:
            events.append(
                _event(
                    ctx,
                    contact_id,
                    None,
                    f"order_refunded:{rid}",
                    "order_refunded",
                    at,
                    {"order_id": order.record.order_id, "refund_id": rid, "amount_fen": amount},
                )
            )
        added[order.record.order_id] = len(fresh)
    return added
