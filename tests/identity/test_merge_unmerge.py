"""Merge then unmerge restores the exact pre-merge state (property-based, with hypothesis), on both databases."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.errors import Conflict
from siyu.identity import merge as merging
from siyu.kit.db import transaction
from siyu.models import ConsentRecord, Contact, ContactTag, Event, Identity, SalesOrder, Tag, TagGroup
from tests.factories import create_workspace

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_slugs = itertools.count()

optional_text = st.none() | st.sampled_from(["Lily", "小美", "王芳", "Amy"])
contact_spec = st.fixed_dictionaries(
    {
        "nickname": optional_text,
        "name": optional_text,
        "gender": st.none() | st.sampled_from(["male", "female"]),
        "birthday": st.none() | st.dates(min_value=date(1960, 1, 1), max_value=date(2010, 1, 1)),
        "region": st.none() | st.sampled_from(["上海", "杭州", "成都"]),
        "first_source": st.none() | st.sampled_from(["douyin", "taobao", "store"]),
        "properties": st.dictionaries(st.sampled_from(["skin", "vip", "city", "age"]), st.integers(0, 9), max_size=3),
        "identities": st.integers(1, 3),
        "events": st.integers(0, 4),
        "orders": st.integers(0, 2),
        "consent": st.lists(st.booleans(), max_size=2),
        "seen": st.none() | st.integers(0, 100),
        "tags": st.sets(st.integers(0, 2), max_size=3),
    }
)


def build(session: Session, ws: int, specs: list[dict[str, Any]]) -> list[int]:
    ids = []
    serial = itertools.count()
    group = TagGroup(workspace_id=ws, name="肤质")
    session.add(group)
    session.flush()
    tags = [Tag(workspace_id=ws, group_id=group.id, name=n) for n in ("敏感肌", "干皮", "油皮")]
    session.add_all(tags)
    session.flush()
    for spec in specs:
        contact = Contact(
            workspace_id=ws,
            **{k: spec[k] for k in ("nickname", "name", "gender", "birthday", "region", "first_source")},
            properties=spec["properties"],
            last_seen_at=None if spec["seen"] is None else T0 + timedelta(days=spec["seen"]),
        )
        session.add(contact)
        session.flush()
        ids.append(contact.id)
        idents = []
        for _ in range(spec["identities"]):
            ident = Identity(
                workspace_id=ws, contact_id=contact.id, kind="wx_openid", scope="app", value=f"o{next(serial)}"
            )
            session.add(ident)
            idents.append(ident)
        session.flush()
        for i in range(spec["events"]):
            session.add(
                Event(
                    workspace_id=ws,
                    contact_id=contact.id,
                    identity_id=idents[i % len(idents)].id,
                    event_id=f"e{contact.id}-{i}",
                    name="page_view",
                    occurred_at=T0,
                    received_at=T0,
                    properties={},
                )
            )
        for i in range(spec["orders"]):
            session.add(
                SalesOrder(
                    workspace_id=ws,
                    contact_id=contact.id,
                    identity_id=None,
                    order_id=f"o{contact.id}-{i}",
                    amount_fen=100 * (i + 1),
                    paid_at=T0,
                    sales_channel="store",
                    items=[],
                )
            )
        for t in sorted(spec.get("tags", ())):
            session.add(ContactTag(workspace_id=ws, contact_id=contact.id, tag_id=tags[t].id, source="manual"))
        for i, granted in enumerate(spec["consent"]):
            session.add(
                ConsentRecord(
                    workspace_id=ws,
                    contact_id=contact.id,
                    purpose="marketing",
                    granted=granted,
                    source="test",
                    recorded_at=T0 + timedelta(minutes=i),
                )
            )
    session.flush()
    return ids


def snapshot(session: Session) -> dict[str, Any]:
    fields = (
        "nickname",
        "name",
        "gender",
        "birthday",
        "region",
        "first_source",
        "first_channel_code",
        "owner_staff_id",
        "properties",
        "merged_into_id",
        "last_seen_at",
    )
    return {
        "contacts": {c.id: tuple(getattr(c, f) for f in fields) for c in session.scalars(select(Contact))},
        "identities": dict(session.execute(select(Identity.id, Identity.contact_id)).all()),
        "events": dict(session.execute(select(Event.id, Event.contact_id)).all()),
        "orders": dict(session.execute(select(SalesOrder.id, SalesOrder.contact_id)).all()),
        "consent": dict(session.execute(select(ConsentRecord.id, ConsentRecord.contact_id)).all()),
        "tags": sorted(session.execute(select(ContactTag.tag_id, ContactTag.contact_id, ContactTag.source)).all()),
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(contact_spec, min_size=2, max_size=4), pick=st.tuples(st.integers(0, 3), st.integers(0, 3)))
def test_unmerge_restores_the_exact_pre_merge_state(
    session_factory: sessionmaker[Session], specs: list[dict[str, Any]], pick: tuple[int, int]
) -> None:
    ws = create_workspace(session_factory, slug=f"ws-{next(_slugs)}").id
    with transaction(session_factory, workspace_id=ws) as session:
        ids = build(session, ws, specs)
    survivor, merged = ids[pick[0] % len(ids)], ids[pick[1] % len(ids)]
    if survivor == merged:
        merged = ids[(ids.index(survivor) + 1) % len(ids)]
    with transaction(session_factory, workspace_id=ws) as session:
        before = snapshot(session)
    with transaction(session_factory, workspace_id=ws) as session:
        record = merging.merge(session, survivor, merged, rule="manual", evidence={}, actor_label="test")
    with transaction(session_factory, workspace_id=ws) as session:
        during = snapshot(session)
        assert merged not in set(during["identities"].values()) | set(during["events"].values())
        # The survivor holds every tag either had; the merged contact keeps only the ones both had.
        survivor_tags = {t for t, c, _ in during["tags"] if c == survivor}
        assert survivor_tags == {t for t, c, _ in before["tags"] if c in (survivor, merged)}
        assert during["contacts"][merged][-2] == survivor
    with transaction(session_factory, workspace_id=ws) as session:
        merging.unmerge(session, record.id, actor_label="test")
    with transaction(session_factory, workspace_id=ws) as session:
        assert snapshot(session) == before


def test_events_that_arrive_during_a_merge_go_back_with_their_identity(session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory).id
    spec: dict[str, Any] = {
        "nickname": None,
        "name": None,
        "gender": None,
        "birthday": None,
        "region": None,
        "first_source": None,
        "properties": {},
        "identities": 1,
        "events": 1,
        "orders": 0,
        "consent": [],
        "seen": None,
    }
    with transaction(session_factory, workspace_id=ws) as session:
        a, b = build(session, ws, [spec, spec])
    with transaction(session_factory, workspace_id=ws) as session:
        record = merging.merge(session, a, b, rule="manual", evidence={}, actor_label="test")
    with transaction(session_factory, workspace_id=ws) as session:
        b_ident_id = session.scalar(select(Identity.id).where(Identity.id.in_(record.journal["identity"])))
        session.add(
            Event(
                workspace_id=ws,
                contact_id=a,
                identity_id=b_ident_id,
                event_id="late",
                name="login",
                occurred_at=T0,
                received_at=T0,
                properties={},
            )
        )
    with transaction(session_factory, workspace_id=ws) as session:
        merging.unmerge(session, record.id, actor_label="test")
    with transaction(session_factory, workspace_id=ws) as session:
        late = session.scalar(select(Event).where(Event.event_id == "late"))
        assert late is not None
        assert late.contact_id == b


def test_merge_refusals(session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory).id
    spec: dict[str, Any] = {
        "nickname": None,
        "name": None,
        "gender": None,
        "birthday": None,
        "region": None,
        "first_source": None,
        "properties": {},
        "identities": 1,
        "events": 0,
        "orders": 0,
        "consent": [],
        "seen": None,
    }
    with transaction(session_factory, workspace_id=ws) as session:
        a, b, c = build(session, ws, [spec, spec, spec])
    with transaction(session_factory, workspace_id=ws) as session:
        record = merging.merge(session, a, b, rule="manual", evidence={}, actor_label="test")
    with pytest.raises(Conflict), transaction(session_factory, workspace_id=ws) as session:
        merging.merge(session, c, b, rule="manual", evidence={}, actor_label="test")  # b is merged already
    with transaction(session_factory, workspace_id=ws) as session:
        merging.unmerge(session, record.id, actor_label="test")
    with pytest.raises(Conflict), transaction(session_factory, workspace_id=ws) as session:
        merging.unmerge(session, record.id, actor_label="test")  # twice
