"""The analytics store's copy of the operational store, on both databases: the first sync copies
everything (local times, typed properties, no personal data), later syncs copy only what changed,
merges and unmerges move rows in the copy too, deletions are noticed, a sync that fails half-way leaves
the copy as it was, and a time-zone change rebuilds it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings
from siyu.identity import merge as merging
from siyu.kit.db import transaction
from siyu.lake import sync as lake_sync
from siyu.lake.store import Lake, lake_for
from siyu.lake.sync import sync_workspace
from siyu.models import Contact, ContactTag, OrderRefund, PropertyDefinition, Tag, TagGroup, Workspace
from tests.contact.factories import add_event, add_order, create_contact
from tests.factories import create_workspace

T = datetime(2026, 5, 1, 16, 30, tzinfo=UTC)  # 00:30 on 2 May in Asia/Shanghai


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return lake_for(settings)


def rows(lake: Lake, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with lake.read() as con:
        return con.execute(sql, params or []).fetchall()


def seed(factory: sessionmaker[Session]) -> dict[str, int]:
    ws = create_workspace(factory).id
    with transaction(factory, workspace_id=ws) as session:
        session.add_all(
            [
                PropertyDefinition(key="skin_type", type="enum", label="肤质", options=["敏感肌", "油皮"]),
                PropertyDefinition(key="age", type="number", label="年龄"),
                PropertyDefinition(key="interests", type="list", label="兴趣"),
                PropertyDefinition(key="joined_on", type="date", label="入会日"),
            ]
        )
        li = create_contact(
            session,
            name="李娜",
            gender="female",
            birthday=date(1990, 5, 2),
            identities={"phone": "13812348000"},
            created_at=T,
            properties={"skin_type": "敏感肌", "age": 31, "interests": ["口红", "面霜"], "joined_on": "2026-04-30"},
        )
        wang = create_contact(session, name="王芳", identities={"phone": "13912348001"}, created_at=T)
        add_event(session, li, "page_view", T, properties={"page": "/item/1"})
        add_event(session, wang, "page_view", T + timedelta(hours=1))
        order = add_order(session, li, "A-1", 12_900, T)
        session.add(OrderRefund(order_pk=order.id, refund_id="R-1", amount_fen=900, refunded_at=T + timedelta(days=1)))
        group = TagGroup(name="兴趣")
        session.add(group)
        session.flush()
        tag = Tag(group_id=group.id, name="彩妆")
        session.add(tag)
        session.flush()
        session.add(ContactTag(tag_id=tag.id, contact_id=li.id, source="manual"))
        return {"ws": ws, "li": li.id, "wang": wang.id, "tag": tag.id, "order": order.id}


def test_first_sync_copies_everything_in_local_time(session_factory: sessionmaker[Session], lake: Lake) -> None:
    ids = seed(session_factory)
    stats = sync_workspace(session_factory, lake, ids["ws"])
    assert stats.full
    assert stats.copied == {"event": 2, "sales_order": 1, "order_refund": 1, "contact": 2}
    contact = rows(lake, "SELECT * FROM contacts WHERE contact_id = ?", [ids["li"]])[0]
    assert "李娜" not in repr(contact)
    assert "13812348000" not in repr(contact)
    created, created_day = rows(lake, "SELECT created_at, created_day FROM contacts WHERE contact_id = ?", [ids["li"]])[
        0
    ]
    assert created == datetime(2026, 5, 2, 0, 30)  # local wall-clock time, without a zone
    assert created_day == (date(2026, 5, 2) - date(1970, 1, 1)).days
    assert rows(lake, "SELECT occurred_at FROM events WHERE contact_id = ?", [ids["li"]]) == [
        (datetime(2026, 5, 2, 0, 30),)
    ]
    assert rows(lake, "SELECT amount_fen, paid_day FROM orders") == [(12_900, created_day)]
    assert rows(lake, "SELECT amount_fen FROM refunds") == [(900,)]
    props = rows(
        lake,
        "SELECT key, text_value, number_value, date_value FROM contact_properties WHERE contact_id = ? "
        "ORDER BY key, text_value",
        [ids["li"]],
    )
    assert props == [
        ("age", "31", 31.0, None),
        ("interests", "口红", None, None),
        ("interests", "面霜", None, None),
        ("joined_on", "2026-04-30", None, date(2026, 4, 30)),
        ("skin_type", "敏感肌", None, None),
    ]
    assert rows(lake, "SELECT contact_id, tag_id FROM contact_tags") == [(ids["li"], ids["tag"])]


def test_later_syncs_copy_only_what_changed(session_factory: sessionmaker[Session], lake: Lake) -> None:
    ids = seed(session_factory)
    sync_workspace(session_factory, lake, ids["ws"])
    again = sync_workspace(session_factory, lake, ids["ws"])
    assert not again.full
    # PostgreSQL re-reads the last minutes (ids are handed out before commit) but copies nothing twice.
    assert again.copied.get("event", 0) == 0
    assert again.copied.get("sales_order", 0) == 0
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        wang = session.get(Contact, ids["wang"])
        assert wang is not None
        add_event(session, wang, "link_clicked", T + timedelta(days=2))
        wang.region = "杭州"
    stats = sync_workspace(session_factory, lake, ids["ws"])
    assert stats.copied["event"] == 1
    assert ids["wang"] in stats.touched
    assert rows(lake, "SELECT region FROM contacts WHERE contact_id = ?", [ids["wang"]]) == [("杭州",)]
    assert rows(lake, "SELECT count(*) FROM events") == [(3,)]
    assert rows(lake, "SELECT count(*) FROM contacts") == [(2,)]  # re-copied, not duplicated


def test_merge_and_unmerge_move_rows_in_the_copy(session_factory: sessionmaker[Session], lake: Lake) -> None:
    ids = seed(session_factory)
    sync_workspace(session_factory, lake, ids["ws"])
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        record = merging.merge(session, ids["wang"], ids["li"], rule="manual", evidence={}, actor_label="test")
    stats = sync_workspace(session_factory, lake, ids["ws"])
    assert stats.recopied_contacts == 2
    assert rows(lake, "SELECT DISTINCT contact_id FROM events") == [(ids["wang"],)]
    assert rows(lake, "SELECT contact_id FROM orders") == [(ids["wang"],)]
    assert rows(lake, "SELECT contact_id FROM contact_tags") == [(ids["wang"],)]
    assert rows(lake, "SELECT merged_into_id FROM contacts WHERE contact_id = ?", [ids["li"]]) == [(ids["wang"],)]
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        merging.unmerge(session, record.id, actor_label="test")
    sync_workspace(session_factory, lake, ids["ws"])
    assert sorted(rows(lake, "SELECT contact_id, count(*) FROM events GROUP BY 1")) == [
        (ids["li"], 1),
        (ids["wang"], 1),
    ]
    assert rows(lake, "SELECT contact_id FROM orders") == [(ids["li"],)]
    assert rows(lake, "SELECT contact_id FROM contact_tags") == [(ids["li"],)]
    assert rows(lake, "SELECT merged_into_id FROM contacts WHERE contact_id = ?", [ids["li"]]) == [(None,)]


def test_deleted_contacts_and_tags_leave_the_copy(session_factory: sessionmaker[Session], lake: Lake) -> None:
    ids = seed(session_factory)
    sync_workspace(session_factory, lake, ids["ws"])
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        session.execute(delete(Tag).where(Tag.id == ids["tag"]))
        session.execute(delete(Contact).where(Contact.id == ids["wang"]))
    stats = sync_workspace(session_factory, lake, ids["ws"])
    assert stats.deleted_contacts == 1
    assert rows(lake, "SELECT contact_id FROM contacts") == [(ids["li"],)]
    assert rows(lake, "SELECT DISTINCT contact_id FROM events") == [(ids["li"],)]
    assert rows(lake, "SELECT count(*) FROM contact_tags") == [(0,)]


def order_days(lake: Lake) -> list[tuple[Any, ...]]:
    return rows(lake, "SELECT contact_id, paid_day, orders, amount_fen FROM order_days ORDER BY 1, 2")


def order_days_from_scratch(lake: Lake) -> list[tuple[Any, ...]]:
    return rows(
        lake,
        "SELECT contact_id, paid_day, count(*), sum(amount_fen) FROM orders "
        "GROUP BY contact_id, paid_day ORDER BY 1, 2",
    )


def test_order_days_follow_new_orders_merges_and_deletions(session_factory: sessionmaker[Session], lake: Lake) -> None:
    ids = seed(session_factory)
    sync_workspace(session_factory, lake, ids["ws"])
    day = (date(2026, 5, 2) - date(1970, 1, 1)).days  # 00:30 local time on 2 May
    assert order_days(lake) == [(ids["li"], day, 1, 12_900)]  # gross: refunds apply when scores are computed
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        li, wang = session.get(Contact, ids["li"]), session.get(Contact, ids["wang"])
        assert li is not None
        assert wang is not None
        add_order(session, li, "A-2", 5_000, T + timedelta(hours=2))  # the same local day: one row, 2 orders
        add_order(session, wang, "B-1", 3_000, T + timedelta(days=3))
    sync_workspace(session_factory, lake, ids["ws"])
    assert order_days(lake) == [(ids["li"], day, 2, 17_900), (ids["wang"], day + 3, 1, 3_000)]
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        record = merging.merge(session, ids["wang"], ids["li"], rule="manual", evidence={}, actor_label="test")
    sync_workspace(session_factory, lake, ids["ws"])
    assert order_days(lake) == [(ids["wang"], day, 2, 17_900), (ids["wang"], day + 3, 1, 3_000)]
    assert order_days(lake) == order_days_from_scratch(lake)
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        merging.unmerge(session, record.id, actor_label="test")
    sync_workspace(session_factory, lake, ids["ws"])
    assert (
        order_days(lake)
        == order_days_from_scratch(lake)
        == [
            (ids["li"], day, 2, 17_900),
            (ids["wang"], day + 3, 1, 3_000),
        ]
    )
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        session.execute(delete(Contact).where(Contact.id == ids["wang"]))
    sync_workspace(session_factory, lake, ids["ws"])
    assert order_days(lake) == [(ids["li"], day, 2, 17_900)]


def test_relation_events_follow_new_events_merges_and_deletions(
    session_factory: sessionmaker[Session], lake: Lake
) -> None:
    ids = seed(session_factory)
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        li = session.get(Contact, ids["li"])
        assert li is not None
        add_event(session, li, "contact_added", T)
    sync_workspace(session_factory, lake, ids["ws"])  # the first copy
    relations = "SELECT contact_id, name FROM relation_events ORDER BY event_pk"
    assert rows(lake, relations) == [(ids["li"], "contact_added")]
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        wang = session.get(Contact, ids["wang"])
        assert wang is not None
        add_event(session, wang, "contact_added", T + timedelta(days=1))
        add_event(session, wang, "page_view", T + timedelta(days=1))  # not a relation event
        add_event(session, wang, "contact_deleted", T + timedelta(days=2))
    sync_workspace(session_factory, lake, ids["ws"])
    assert rows(lake, relations) == [
        (ids["li"], "contact_added"),
        (ids["wang"], "contact_added"),
        (ids["wang"], "contact_deleted"),
    ]
    assert rows(lake, relations) == rows(
        lake, "SELECT contact_id, name FROM events WHERE name LIKE 'contact_%' ORDER BY event_pk"
    )
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        merging.merge(session, ids["wang"], ids["li"], rule="manual", evidence={}, actor_label="test")
    sync_workspace(session_factory, lake, ids["ws"])
    assert rows(lake, "SELECT DISTINCT contact_id FROM relation_events") == [(ids["wang"],)]
    assert rows(lake, "SELECT count(*) FROM relation_events") == [(3,)]
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        session.execute(delete(Contact).where(Contact.id == ids["wang"]))
    sync_workspace(session_factory, lake, ids["ws"])
    assert rows(lake, "SELECT count(*) FROM relation_events") == [(0,)]


def test_a_sync_that_fails_half_way_leaves_the_copy_as_it_was(
    session_factory: sessionmaker[Session], lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = seed(session_factory)
    sync_workspace(session_factory, lake, ids["ws"])
    with transaction(session_factory, workspace_id=ids["ws"]) as session:
        li = session.get(Contact, ids["li"])
        assert li is not None
        add_event(session, li, "login", T + timedelta(days=3))
        li.region = "成都"
    before = rows(lake, "SELECT * FROM sync_state ORDER BY source")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(lake_sync, "_drop_deleted", broken)  # the last step of a sync
    with pytest.raises(RuntimeError):
        sync_workspace(session_factory, lake, ids["ws"])
    assert rows(lake, "SELECT count(*) FROM events") == [(2,)]
    assert rows(lake, "SELECT region FROM contacts WHERE contact_id = ?", [ids["li"]]) == [(None,)]
    assert rows(lake, "SELECT * FROM sync_state ORDER BY source") == before
    monkeypatch.undo()
    stats = sync_workspace(session_factory, lake, ids["ws"])
    assert stats.copied["event"] == 1
    assert rows(lake, "SELECT region FROM contacts WHERE contact_id = ?", [ids["li"]]) == [("成都",)]


def test_a_time_zone_change_rebuilds_the_copy(session_factory: sessionmaker[Session], lake: Lake) -> None:
    ids = seed(session_factory)
    sync_workspace(session_factory, lake, ids["ws"])
    with transaction(session_factory) as session:
        session.execute(update(Workspace).where(Workspace.id == ids["ws"]).values(timezone="Europe/London"))
    stats = sync_workspace(session_factory, lake, ids["ws"])
    assert stats.full
    assert rows(lake, "SELECT occurred_at FROM events WHERE contact_id = ?", [ids["li"]]) == [
        (datetime(2026, 5, 1, 17, 30),)
    ]


def test_workspaces_are_copied_apart(session_factory: sessionmaker[Session], lake: Lake) -> None:
    first = seed(session_factory)
    other = create_workspace(session_factory, slug="other").id
    with transaction(session_factory, workspace_id=other) as session:
        create_contact(session, created_at=T)
    sync_workspace(session_factory, lake, first["ws"])
    sync_workspace(session_factory, lake, other)
    assert rows(lake, "SELECT workspace_id, count(*) FROM contacts GROUP BY 1 ORDER BY 1") == [
        (first["ws"], 2),
        (other, 1),
    ]


def test_readers_wait_for_a_writer_of_the_same_process(tmp_path: Path) -> None:
    import threading

    lake = Lake(tmp_path / "a.duckdb", wait_seconds=10)
    seen: list[int] = []
    with lake.write() as con:
        con.execute("BEGIN")
        con.execute("INSERT INTO lake_meta VALUES ('probe', '1')")

        def read() -> None:
            with lake.read() as reader:
                seen.append(len(reader.execute("SELECT * FROM lake_meta WHERE key = 'probe'").fetchall()))

        thread = threading.Thread(target=read)
        thread.start()
        thread.join(timeout=5)
        con.execute("COMMIT")
    thread.join(timeout=5)
    assert seen == [0]  # the reader shared the instance and saw the snapshot before the commit
