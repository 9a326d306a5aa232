"""A small workspace whose board figures are worked out by hand (below each figure in EXPECTED).

The range is 2026-10-01 … 2026-10-30 (30 days), the previous period 2026-09-01 … 2026-09-30. Every time is
12:00 in Shanghai (04:00 UTC), so local and UTC dates agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import transaction
from siyu.models import Contact
from tests.contact.factories import add_event, add_order, create_contact

RANGE: Final = {"start": "2026-10-01", "end": "2026-10-30"}


def noon(month: int, day: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, 4, minute, tzinfo=UTC)


def _send(session: Session, contact: Contact, content_id: str, content_type: str, at: datetime) -> None:
    props = {"channel": "wecom", "content_type": content_type, "content_id": content_id}
    add_event(session, contact, "message_sent", at, properties=props)


def _open(session: Session, contact: Contact, content_id: str, at: datetime) -> None:
    add_event(session, contact, "message_opened", at, properties={"channel": "wecom", "content_id": content_id})


def build(factory: sessionmaker[Session], workspace_id: int) -> dict[str, int]:
    ids: dict[str, int] = {}
    with transaction(factory, workspace_id=workspace_id) as session:
        joined = {
            "A": (noon(10, 1), "douyin", "live"),
            "B": (noon(10, 1), "douyin", "live"),
            "C": (noon(10, 2), "mp", None),
            "D": (noon(10, 3), "store", None),
            "E": (noon(10, 10), "douyin", "live"),
            "F": (noon(10, 20), "mp", None),
            "G": (noon(9, 5), "douyin", None),
            "H": (noon(9, 10), "mp", None),
            "I": (noon(9, 15), "store", None),
        }
        c: dict[str, Contact] = {}
        for i, (key, (at, source, code)) in enumerate(joined.items()):
            c[key] = create_contact(
                session, identities={"phone": f"1380000{i:04d}"}, created_at=at, first_source=source,
                first_channel_code=code,
            )  # fmt: skip
            ids[key] = c[key].id
        for key in ("A", "B", "E"):
            add_event(session, c[key], "contact_added", joined[key][0], properties={"state": "live"})
        for key in ("C", "F"):
            add_event(session, c[key], "subscribed", joined[key][0])
        add_event(session, c["B"], "contact_deleted", noon(10, 15))
        # b1, a promotion, to A B C D (A and C open); t1, a tutorial, to A B C D (D opens)
        for key in "ABCD":
            _send(session, c[key], "b1", "福利/促销", noon(10, 5))
            _send(session, c[key], "t1", "干货/教程", noon(10, 6))
        _open(session, c["A"], "b1", noon(10, 5, 30))
        _open(session, c["C"], "b1", noon(10, 5, 40))
        _open(session, c["D"], "t1", noon(10, 6, 30))
        # the previous period: p1, a promotion, to G H I (G opens)
        for key in "GHI":
            _send(session, c[key], "p1", "福利/促销", noon(9, 20))
        _open(session, c["G"], "p1", noon(9, 20, 30))
        # one group: A B C join; A speaks three times, C once
        for key in "ABC":
            add_event(
                session, c[key], "group_joined", noon(10, 2), properties={"group_id": "g1", "group_name": "会员群"}
            )
        for minute in (1, 2, 3):
            add_event(session, c["A"], "group_message", noon(10, 3, minute), properties={"group_id": "g1"})
        add_event(session, c["C"], "group_message", noon(10, 4), properties={"group_id": "g1"})
        add_order(session, c["A"], "O-1", 10_000, noon(10, 3))
        add_order(session, c["A"], "O-2", 20_000, noon(10, 12))
        add_order(session, c["C"], "O-3", 30_000, noon(10, 8))
        add_order(session, c["E"], "O-4", 40_000, noon(10, 15))
        add_order(session, c["G"], "O-5", 50_000, noon(9, 6))
    return ids


# KPI → (value, previous, status); worked out from the rows above
EXPECTED: Final[dict[str, tuple[Any, Any, str | None]]] = {
    "new_contacts": (0.2, 0.1, "red"),  # 6 joined in 30 days; 3 in September
    "follows": (0.17, 0.0, None),  # A B E added, C F subscribed: 5 / 30
    "deletions": (0.03, 0.0, None),  # B deleted: 1 / 30
    "open_rate": (0.375, 0.333333, "green"),  # 3 of 8 sends opened; September 1 of 3
    "promotion_open_rate": (0.5, 0.333333, "green"),  # b1: 2 of 4
    "group_messages": (0.13, 0.0, "red"),  # 4 messages / 30 days
    "active_rate": (0.333333, 0.333333, None),  # A C D of 9; September: G of 3
    "speaker_ratio": (0.666667, None, None),  # A and C of the members A B C
    "gmv": (100_000, 50_000, None),  # 100 + 200 + 300 + 400 元; September 500 元
    "gmv_growth": (1.0, None, "green"),  # (1000 − 500) / 500; August had nothing
    "aov": (25_000.0, 50_000.0, None),  # 1000 元 / 4 orders
    "arpu": (11_111.11, 16_666.67, None),  # 1000 元 / 9 contacts; 500 元 / 3
    "retention_7d": (0.5, 0.0, "green"),  # A C D interacted on days 1–7 of 6; in September nobody did
    "retention_30d": (0.0, 0.0, "red"),  # nobody interacted on days 24–30
    "repurchase_30d": (0.333333, 0.0, "green"),  # first buyers A C E; A again on day 9; September: G did not
}
