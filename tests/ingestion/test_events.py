"""Event ingestion through the HTTP batch API: per-record validation, idempotency, identity resolution."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.identity import merge as merging
from siyu.ingestion import events
from siyu.ingestion.context import BatchContext
from siyu.ingestion.records import typed_records
from siyu.ingestion.schemas import EventIn
from siyu.kit.db import read_only, transaction
from siyu.models import Contact, Event, Identity, MergeRecord
from tests.ingestion.conftest import Ingest


def count(factory: sessionmaker[Session], model: type, **where: object) -> int:
    with transaction(factory) as session:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return session.scalar(stmt) or 0


def batch(n: int, prefix: str = "e") -> list[dict[str, object]]:
    return [
        {
            "event_id": f"{prefix}{i}",
            "name": "page_view",
            "time": f"2026-10-01T10:{i % 60:02d}:00+08:00",
            "identities": {"wx_openid@wxapp": f"o{i % 7}"},
            "properties": {"page": f"/p/{i}"},
        }
        for i in range(n)
    ]


def test_same_batch_three_times_stores_each_event_once(ingest: Ingest, session_factory: sessionmaker[Session]) -> None:
    records = batch(50)
    first = ingest.post("events", records)
    assert (first["accepted"], first["duplicates"], first["contacts_created"]) == (50, 0, 7)
    for _ in range(2):
        again = ingest.post("events", {"events": records})
        assert (again["accepted"], again["duplicates"], again["contacts_created"]) == (0, 50, 0)
    assert count(session_factory, Event) == 50
    assert count(session_factory, Contact) == 7


def test_events_without_event_id_are_deduplicated_by_content(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    records = [{k: v for k, v in r.items() if k != "event_id"} for r in batch(20)]
    assert ingest.post("events", records)["accepted"] == 20
    assert ingest.post("events", records)["duplicates"] == 20
    changed = [dict(records[0], properties={"page": "/other"})]
    assert ingest.post("events", changed)["accepted"] == 1
    assert count(session_factory, Event) == 21


def test_mixed_batch_stores_exactly_the_valid_records_and_reports_every_invalid_one(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    good = batch(4)
    records: list[object] = [
        good[0],
        {"name": "Bad Name", "time": "2026-10-01T10:00:00+08:00", "identities": {"phone": "13800138000"}},
        good[1],
        {"name": "page_view", "time": "yesterday", "identities": {"phone": "13800138000"}},
        {"name": "page_view", "time": "2026-10-01T10:00:00", "identities": {"phone": "12345"}},
        good[2],
        {"name": "page_view", "time": "2026-10-01T10:00:00", "identities": {"wx_openid": "o1"}},
        {"name": "page_view", "time": "2026-10-01T10:00:00", "identities": {"phone": "13800138000"}, "extra": 1},
        {"name": "page_view", "time": "2026-10-01T10:00:00"},
        "not an object",
        {"name": "page_view", "time": "2999-01-01T00:00:00Z", "identities": {"phone": "13800138000"}},
        {"name": "page_view", "time": "2026-10-01T10:00:00", "contact_id": 987654},
        good[3],
    ]
    result = ingest.post("events", records)
    assert result["accepted"] == 4
    rejected = {r["index"]: r["field"] for r in result["rejected"]}
    assert rejected == {
        1: "name",
        3: "time",
        4: "identities.phone",
        6: "identities.wx_openid",
        7: "extra",
        8: "identities",
        9: "record",
        10: "time",
        11: "contact_id",
    }
    for problem in result["rejected"]:
        assert problem["reason"]
    with transaction(session_factory) as session:
        stored = set(session.scalars(select(Event.event_id)))
    assert stored == {"e0", "e1", "e2", "e3"}
    assert count(session_factory, Identity, kind="phone") == 0  # nothing from the rejected records


def test_naive_times_are_read_in_the_workspace_time_zone(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    ingest.post(
        "events",
        [{"event_id": "n1", "name": "login", "time": "2026-10-01 08:00:00", "identities": {"phone": "13800138000"}}],
    )
    with transaction(session_factory) as session:
        event = session.scalar(select(Event))
        assert event is not None
        assert event.occurred_at == datetime(2026, 10, 1, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai


def test_phone_formats_name_one_contact(ingest: Ingest, session_factory: sessionmaker[Session]) -> None:
    phones = ["13800138000", "+86 138 0013 8000", "+8613800138000", "138-0013-8000"]
    records = [
        {"event_id": f"p{i}", "name": "login", "time": "2026-10-01T08:00:00+08:00", "identities": {"phone": p}}
        for i, p in enumerate(phones)
    ]
    result = ingest.post("events", records)
    assert (result["accepted"], result["contacts_created"]) == (4, 1)
    assert count(session_factory, Identity) == 1


def test_unionid_joins_openids_of_two_apps_into_one_contact(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    t = "2026-10-01T08:00:00+08:00"
    ingest.post("events", [{"event_id": "a", "name": "subscribed", "time": t, "identities": {"wx_openid@gzh": "oA"}}])
    ingest.post("events", [{"event_id": "b", "name": "login", "time": t, "identities": {"wx_openid@mini": "oB"}}])
    assert count(session_factory, Contact, merged_into_id=None) == 2
    joined = ingest.post(
        "events",
        [{"event_id": "c", "name": "login", "time": t, "identities": {"wx_openid@mini": "oB", "wx_unionid": "U1"}}],
    )
    assert joined["merges"] == []  # unionid was new: it joins oB's contact, no merge yet
    merged = ingest.post(
        "events",
        [{"event_id": "d", "name": "page_view", "time": t, "identities": {"wx_openid@gzh": "oA", "wx_unionid": "U1"}}],
    )
    assert len(merged["merges"]) == 1
    with transaction(session_factory) as session:
        live = session.scalars(select(Contact).where(Contact.merged_into_id.is_(None))).all()
        assert len(live) == 1
        assert {e.contact_id for e in session.scalars(select(Event))} == {live[0].id}
        record = session.scalar(select(MergeRecord))
        assert record is not None
        assert record.rule == "joined_by_wx_unionid"
        assert record.survivor_id == live[0].id


def test_keys_of_different_contacts_without_a_joining_key_are_a_conflict_not_a_merge(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    t = "2026-10-01T08:00:00+08:00"
    ingest.post("events", [{"event_id": "a", "name": "login", "time": t, "identities": {"buyer_id@taobao": "tb1"}}])
    ingest.post("events", [{"event_id": "b", "name": "login", "time": t, "identities": {"buyer_id@douyin": "dy1"}}])
    result = ingest.post(
        "events",
        [
            {
                "event_id": "c",
                "name": "login",
                "time": t,
                "identities": {"buyer_id@taobao": "tb1", "buyer_id@douyin": "dy1"},
            }
        ],
    )
    assert (result["accepted"], result["conflicts"], result["merges"]) == (1, 1, [])
    assert count(session_factory, Contact, merged_into_id=None) == 2


def test_contact_added_with_channel_code_attributes_the_new_contact(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    from siyu.models import ChannelCode

    with transaction(session_factory, workspace_id=ingest.workspace_id) as session:
        session.add(
            ChannelCode(workspace_id=ingest.workspace_id, state="xhs-note-42", label="小红书笔记", source="xiaohongshu")
        )
    ingest.post(
        "events",
        [
            {
                "event_id": "add1",
                "name": "contact_added",
                "time": "2026-10-01T08:00:00+08:00",
                "identities": {"wecom_external_userid@ww1": "wmA"},
                "properties": {"state": "xhs-note-42"},
                "source": "wecom",
            }
        ],
    )
    with transaction(session_factory) as session:
        contact = session.scalar(select(Contact))
        assert contact is not None
        assert (contact.first_channel_code, contact.first_source) == ("xhs-note-42", "xiaohongshu")


def test_batch_over_the_limit_and_malformed_bodies_are_refused_whole(ingest: Ingest) -> None:
    too_many = ingest.client.post("/api/v1/events/batch", json=batch(10_001), headers=ingest.headers)
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "events"
    broken = ingest.client.post(
        "/api/v1/events/batch", content=b'[{"name": ', headers={**ingest.headers, "Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "malformed_body")
    not_a_list = ingest.client.post("/api/v1/events/batch", json={"name": "x"}, headers=ingest.headers)
    assert not_a_list.status_code == 422


def test_a_key_added_earlier_in_the_batch_follows_its_contact_into_a_merge(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    t = "2026-10-01T08:00:00+08:00"
    ingest.post("events", [{"event_id": "a", "name": "login", "time": t, "identities": {"buyer_id@taobao": "A"}}])
    ingest.post("events", [{"event_id": "b", "name": "login", "time": t, "identities": {"buyer_id@douyin": "B"}}])
    result = ingest.post(
        "events",
        [
            # The phone is new: it is planned for A's contact...
            {
                "event_id": "c",
                "name": "login",
                "time": t,
                "identities": {"buyer_id@taobao": "A", "phone": "13811112222"},
            },
            # ...then joins A's and B's contacts; both the phone and event c must end on the survivor.
            {
                "event_id": "d",
                "name": "login",
                "time": t,
                "identities": {"buyer_id@douyin": "B", "phone": "13811112222"},
            },
        ],
    )
    assert len(result["merges"]) == 1
    with transaction(session_factory) as session:
        live = session.scalars(select(Contact.id).where(Contact.merged_into_id.is_(None))).all()
        assert len(live) == 1
        assert set(session.scalars(select(Identity.contact_id))) == set(live)
        assert set(session.scalars(select(Event.contact_id))) == set(live)


def test_identities_read_ahead_are_checked_again_inside_the_write(
    ingest: Ingest, session_factory: sessionmaker[Session]
) -> None:
    """On SQLite a batch's identities are read before its write transaction; a merge, a deleted contact
    and a newly created key in between must not send events to the wrong contact."""
    t = "2026-10-01T08:00:00+08:00"
    ingest.post(
        "events",
        [
            {"event_id": f"seed-{k}", "name": "login", "time": t, "identities": {"wx_openid@wxapp": k}}
            for k in ("o-kept", "o-merged", "o-deleted")
        ],
    )
    with transaction(session_factory) as session:
        owner = dict(session.execute(select(Identity.value, Identity.contact_id)).all())
    raw = [
        {"event_id": f"late-{k}", "name": "login", "time": t, "identities": {"wx_openid@wxapp": k}}
        for k in ("o-kept", "o-merged", "o-deleted", "o-new")
    ]
    prepared = events.prepare(typed_records(orjson.dumps(raw), "events", EventIn))
    reader = session_factory()
    reader.info["workspace_id"] = ingest.workspace_id
    read_only(reader)
    events.look_ahead(reader, BatchContext.open(reader, ingest.workspace_id, "test"), prepared)
    reader.commit()
    reader.close()

    # Meanwhile, other writers: a merge, a deletion, and the new key created by someone else.
    with transaction(session_factory, ingest.workspace_id) as session:
        merging.merge(session, owner["o-kept"], owner["o-merged"], rule="manual", evidence={}, actor_label="t")
        session.execute(delete(Contact).where(Contact.id == owner["o-deleted"]))
    created = ingest.post(
        "events", [{"event_id": "other-new", "name": "login", "time": t, "identities": {"wx_openid@wxapp": "o-new"}}]
    )
    assert created["contacts_created"] == 1

    with transaction(session_factory, ingest.workspace_id) as session:
        result = events.ingest(session, BatchContext.open(session, ingest.workspace_id, "test"), prepared)
    assert result.accepted == 4
    assert result.contacts_created == 1  # only for the deleted contact's key
    with transaction(session_factory) as session:
        now_owner = dict(session.execute(select(Identity.value, Identity.contact_id)).all())
        landed = dict(session.execute(select(Event.event_id, Event.contact_id)).all())
    assert landed["late-o-kept"] == owner["o-kept"]
    assert landed["late-o-merged"] == owner["o-kept"]  # followed the merge
    assert landed["late-o-deleted"] == now_owner["o-deleted"] != owner["o-deleted"]  # a new contact
    assert landed["late-o-new"] == landed["other-new"]  # the contact the other writer created
