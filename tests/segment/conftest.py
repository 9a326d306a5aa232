"""A workspace in the operational store with a few contacts whose segment memberships are known, and the
analytics store beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.config import Settings
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.lake.store import Lake, lake_for
from siyu.models import Contact, Event, PropertyDefinition, SegmentMember
from siyu.segment import service
from siyu.segment.schemas import SegmentIn, SegmentKind
from tests.contact.factories import add_event, add_order, create_contact
from tests.factories import create_workspace

NOW = utcnow()


@dataclass
class World:
    factory: sessionmaker[Session]
    lake: Lake
    ws: int
    ctx: AuthContext
    contacts: dict[str, int]

    def segment(self, name: str, root: dict[str, Any], kind: str = "dynamic") -> int:
        with transaction(self.factory, workspace_id=self.ws) as session:
            data = SegmentIn(name=name, kind=SegmentKind(kind), definition={"version": 1, "root": root})
            return service.create_segment(session, self.ctx, data).id

    def members(self, segment_id: int) -> set[int]:
        with transaction(self.factory, workspace_id=self.ws) as session:
            return set(session.scalars(select(SegmentMember.contact_id).where(SegmentMember.segment_id == segment_id)))

    def events(self, name: str) -> list[tuple[int, str]]:
        with transaction(self.factory, workspace_id=self.ws) as session:
            rows = session.execute(
                select(Event.contact_id, Event.event_id).where(Event.name == name).order_by(Event.id)
            )
            return [(int(c), str(e)) for c, e in rows]

    def order(self, who: str, order_id: str, fen: int, days_ago: float = 0) -> None:
        with transaction(self.factory, workspace_id=self.ws) as session:
            contact = session.get(Contact, self.contacts[who])
            assert contact is not None
            add_order(session, contact, order_id, fen, NOW - timedelta(days=days_ago))

    def event(self, who: str, name: str, days_ago: float = 0, **properties: Any) -> None:
        with transaction(self.factory, workspace_id=self.ws) as session:
            contact = session.get(Contact, self.contacts[who])
            assert contact is not None
            add_event(session, contact, name, NOW - timedelta(days=days_ago), properties=properties)


@pytest.fixture
def world(session_factory: sessionmaker[Session], settings: Settings) -> World:
    ws = create_workspace(session_factory).id
    contacts: dict[str, int] = {}
    created = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction(session_factory, workspace_id=ws) as session:
        session.add(PropertyDefinition(key="skin_type", type="enum", label="肤质", options=["敏感肌", "油皮", "干皮"]))
        for key, skin in (("li", "敏感肌"), ("wang", "油皮"), ("zhao", "敏感肌"), ("sun", None)):
            props = {"skin_type": skin} if skin else {}
            contact = create_contact(
                session, identities={"phone": f"1381234{len(contacts):04d}"}, created_at=created, properties=props
            )
            contacts[key] = contact.id
        li = session.get(Contact, contacts["li"])
        wang = session.get(Contact, contacts["wang"])
        assert li is not None
        assert wang is not None
        add_order(session, li, "A-1", 60_000, NOW - timedelta(days=3))
        add_order(session, wang, "B-1", 20_000, NOW - timedelta(days=3))
        add_event(session, li, "link_clicked", NOW - timedelta(days=1))
        add_event(session, li, "link_clicked", NOW - timedelta(days=2))
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="test")
    return World(session_factory, lake_for(settings), ws, ctx, contacts)
