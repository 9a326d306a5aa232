"""Reading a generated demo back as plain arrays, and the metrics the calibration is checked against."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.demo import DemoConfig, generate
from siyu.kit.db import transaction
from siyu.models import Contact, Event, SalesOrder
from tests.factories import create_workspace

UNTIL = date(2026, 6, 1)
DAY = 86_400
Ints = NDArray[np.int64]


def build(factory: sessionmaker[Session], slug: str = "demo", **config: Any) -> tuple[int, DemoConfig]:
    ws = create_workspace(factory, slug=slug, name=f"{slug} brand")
    settings = DemoConfig(**{"until": UNTIL, **config})
    generate(factory, ws.id, settings)
    return ws.id, settings


@dataclass
class Data:
    contact_ids: Ints
    added: dict[int, float]
    events: list[tuple[int, str, float, dict[str, Any]]]
    orders: dict[int, list[tuple[float, int]]]  # contact → (paid, net fen)

    def named(self, name: str) -> list[tuple[int, float, dict[str, Any]]]:
        return [(c, t, p) for c, n, t, p in self.events if n == name]


def load(factory: sessionmaker[Session], workspace_id: int) -> Data:
    with transaction(factory) as session:
        contacts = session.execute(
            select(Contact.id, Contact.created_at).where(Contact.workspace_id == workspace_id)
        ).all()
        events = session.execute(
            select(Event.contact_id, Event.name, Event.occurred_at, Event.properties).where(
                Event.workspace_id == workspace_id
            )
        ).all()
        orders = session.execute(
            select(SalesOrder.contact_id, SalesOrder.paid_at, SalesOrder.amount_fen, SalesOrder.refunded_fen).where(
                SalesOrder.workspace_id == workspace_id
            )
        ).all()
    by_contact: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for cid, paid, amount, refunded in orders:
        by_contact[cid].append((paid.timestamp(), amount - refunded))
    for lst in by_contact.values():
        lst.sort()
    return Data(
        contact_ids=np.asarray([c for c, _ in contacts], np.int64),
        added={c: t.timestamp() for c, t in contacts},
        events=[(c, n, t.timestamp(), p) for c, n, t, p in events],
        orders=dict(by_contact),
    )


def tier_shares(data: Data, end: float) -> tuple[float, float]:
    """Seed-000 thresholds at ``end``: VIP ≥5 orders in 30 days and ≥5000元; Active 2-4 and ≥1000元."""
    vip = active = 0
    for orders in data.orders.values():
        recent = sum(1 for t, _ in orders if t >= end - 30 * DAY)
        total = sum(a for _, a in orders)
        if recent >= 5 and total >= 500_000:
            vip += 1
        elif recent >= 2 and total >= 100_000:
            active += 1
    n = len(data.contact_ids)
    return vip / n, active / n


def repurchase_30d(data: Data, end: float) -> float:
    """Of buyers whose first order is at least 30 days old, the share who ordered again within 30 days."""
    eligible = [o for o in data.orders.values() if o[0][0] <= end - 30 * DAY]
    again = sum(1 for o in eligible if any(0 < t - o[0][0] <= 30 * DAY for t, _ in o[1:]))
    return again / len(eligible)


ENGAGEMENT = {"message_opened", "link_clicked", "group_message", "message_received", "checkin", "order_paid",
              "page_view", "survey_answered"}  # fmt: skip


def retention_7d(data: Data, end: float) -> float:
    """Of contacts who joined at least 8 days ago, the share with any engagement on days 1-7."""
    active = {c for c, n, t, _ in data.events if n in ENGAGEMENT and 1 <= (t - data.added[c]) // DAY <= 7}
    eligible = [c for c, t in data.added.items() if t <= end - 8 * DAY]
    return sum(1 for c in eligible if c in active) / len(eligible)


def churn_30d(data: Data, end: float) -> float:
    """Of WeCom contacts who joined at least 30 days ago, the share who deleted within 30 days."""
    deleted = {c: t for c, t, _ in data.named("contact_deleted")}
    joined = [c for c, t, _ in data.named("contact_added") if t <= end - 30 * DAY]
    return sum(1 for c in joined if c in deleted and deleted[c] - data.added[c] <= 30 * DAY) / len(joined)
