"""Exporting contacts, events and orders to CSV or XLSX, streamed in pages. Personal data (phone,
e-mail, names) is masked unless the caller may see it unmasked and asked to; every export is audited."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.contact.masking import is_personal, mask_identity, mask_name
from siyu.models import Contact, Event, Identity, SalesOrder

PAGE = 5000
EXPORT_FORMATS = ("csv", "xlsx")


def _identities(session: Session, contact_ids: list[int], unmask: bool) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    rows = session.execute(
        select(Identity.contact_id, Identity.kind, Identity.scope, Identity.value).where(
            Identity.contact_id.in_(contact_ids)
        )
    )
    for contact_id, kind, scope, value in rows:
        name = f"{kind}@{scope}" if scope else kind
        shown = value if unmask or not is_personal(kind) else mask_identity(kind, value)
        found.setdefault(contact_id, {})[name] = shown
    return found


def _contacts(session: Session, unmask: bool) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        page = session.scalars(
            select(Contact).where(Contact.merged_into_id.is_(None), Contact.id > last).order_by(Contact.id).limit(PAGE)
        ).all()
        if not page:
            return
        idents = _identities(session, [c.id for c in page], unmask)
        for c in page:
            yield {
                "contact_id": c.id,
                "nickname": c.nickname,
                "name": c.name if unmask or c.name is None else mask_name(c.name),
                "gender": c.gender,
                "birthday": c.birthday.isoformat() if c.birthday else None,
                "region": c.region,
                "source": c.first_source,
                "channel_code": c.first_channel_code,
                "created_at": c.created_at.isoformat(),
                "identities": orjson.dumps(idents.get(c.id, {})).decode(),
                "properties": orjson.dumps(c.properties).decode(),
            }
        last = page[-1].id


def _events(session: Session, unmask: bool) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        page = session.scalars(select(Event).where(Event.id > last).order_by(Event.id).limit(PAGE)).all()
        if not page:
            return
        for e in page:
            yield {
                "event_id": e.event_id,
                "contact_id": e.contact_id,
                "name": e.name,
                "time": e.occurred_at.isoformat(),
                "source": e.source,
                "properties": orjson.dumps(e.properties).decode(),
            }
        last = page[-1].id


def _orders(session: Session, unmask: bool) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        page = session.scalars(select(SalesOrder).where(SalesOrder.id > last).order_by(SalesOrder.id).limit(PAGE)).all()
        if not page:
            return
        for o in page:
            yield {
                "order_id": o.order_id,
                "contact_id": o.contact_id,
                "amount_fen": o.amount_fen,
                "refunded_fen": o.refunded_fen,
                "currency": o.currency,
                "paid_at": o.paid_at.isoformat(),
                "sales_channel": o.sales_channel,
                "items": orjson.dumps(o.items).decode(),
            }
        last = page[-1].id


COLUMNS: dict[str, list[str]] = {
    "contacts": [
        "contact_id",
        "nickname",
        "name",
        "gender",
        "birthday",
        "region",
        "source",
        "channel_code",
        "created_at",
        "identities",
        "properties",
    ],
    "events": ["event_id", "contact_id", "name", "time", "source", "properties"],
    "orders": ["order_id", "contact_id", "amount_fen", "refunded_fen", "currency", "paid_at", "sales_channel", "items"],
}

SOURCES: dict[str, tuple[Any, Callable[[Session, bool], Iterator[dict[str, Any]]]]] = {
    "contacts": (Contact, _contacts),
    "events": (Event, _events),
    "orders": (SalesOrder, _orders),
}


def count(session: Session, kind: str) -> int:
    model = SOURCES[kind][0]
    stmt = select(func.count()).select_from(model)
    if model is Contact:
        stmt = stmt.where(Contact.merged_into_id.is_(None))
    return session.scalar(stmt) or 0


def export(
    session: Session,
    kind: str,
    out: Path,
    *,
    fmt: str,
    unmask: bool,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every row of ``kind`` to ``out``; returns how many rows were written."""
    rows = SOURCES[kind][1](session, unmask)
    header = COLUMNS[kind]
    written = 0
    if fmt == "csv":
        with out.open("w", newline="", encoding="utf-8-sig") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                written += 1
                if progress and written % PAGE == 0:
                    progress(written)
        return written
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(kind)
    sheet.append(header)
    for row in rows:
        sheet.append([row[c] for c in header])
        written += 1
        if progress and written % PAGE == 0:
            progress(written)
    book.save(out)
    return written
