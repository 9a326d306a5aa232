"""The analytics refresh of a workspace, on both databases: membership written back with one
segment_entered / segment_left event per change, full and incremental refreshes, static segments,
broken references flagged (not crashed), and recovery when a refresh dies between its steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from siyu.kit.db import transaction
from siyu.models import Contact, PropertyDefinition, Segment, SegmentRefresh
from siyu.segment import flows, membership, service
from siyu.segment.schemas import SegmentPatch
from tests.contact.factories import create_contact
from tests.segment.conftest import NOW, World

SENSITIVE = {"op": "property", "key": "skin_type", "cmp": "eq", "value": "敏感肌"}
BIG_SPENDERS = {"op": "orders", "measure": "amount_fen", "cmp": "gte", "value": 50_000, "within_days": 30}
CLICKERS = {"op": "event", "name": "link_clicked", "min_count": 2, "within_days": 7}


def refresh(world: World, mode: str = "full", **kwargs: Any) -> flows.RefreshReport:
    return flows.refresh_workspace(world.factory, world.lake, world.ws, mode=mode, **kwargs)


def test_first_refresh_materializes_membership_and_emits_entered_events(world: World) -> None:
    c = world.contacts
    sensitive = world.segment("敏感肌", SENSITIVE)
    spenders = world.segment("高消费", BIG_SPENDERS)
    both = world.segment(
        "敏感肌高消费",
        {
            "op": "and",
            "children": [{"op": "segment", "segment_id": sensitive}, {"op": "segment", "segment_id": spenders}],
        },
    )
    report = refresh(world)
    assert world.members(sensitive) == {c["li"], c["zhao"]}
    assert world.members(spenders) == {c["li"]}
    assert world.members(both) == {c["li"]}  # computed after the segments it includes
    entered = world.events("segment_entered")
    assert len(entered) == 4
    assert (c["li"], f"segment:{both}:1:{c['li']}:entered") in entered
    with transaction(world.factory, workspace_id=world.ws) as session:
        seg = session.get(Segment, sensitive)
        assert seg is not None
        assert (seg.size, seg.refresh_no) == (2, 1)
        history = list(session.scalars(select(SegmentRefresh).where(SegmentRefresh.segment_id == sensitive)))
        assert [(h.refresh_no, h.size, h.entered, h.left) for h in history] == [(1, 2, 2, 0)]
    assert report.tiers is not None
    assert report.tiers.contacts == 4


def test_changes_move_contacts_in_and_out_once(world: World) -> None:
    c = world.contacts
    spenders = world.segment("高消费", BIG_SPENDERS)
    refresh(world)
    world.order("wang", "B-2", 40_000)  # 200 + 400 元 in 30 days: wang is in now
    report = refresh(world, "incremental")
    assert c["wang"] in report.sync.touched
    assert world.members(spenders) == {c["li"], c["wang"]}
    again = refresh(world, "incremental")  # nothing new: nothing written
    assert [s.skipped for s in again.segments] == ["unchanged"]
    with transaction(world.factory, workspace_id=world.ws) as session:
        seg = session.get(Segment, spenders)
        assert seg is not None
        assert seg.refresh_no == 2
        definition = {"version": 1, "root": {**BIG_SPENDERS, "value": 70_000}}
        service.update_segment(session, world.ctx, spenders, SegmentPatch(definition=definition))
    refresh(world)
    assert world.members(spenders) == set()
    left = world.events("segment_left")
    assert sorted(cid for cid, _ in left) == sorted([c["li"], c["wang"]])
    entered = [cid for cid, _ in world.events("segment_entered")]
    assert sorted(entered) == sorted([c["li"], c["wang"]])  # each entered once
    with transaction(world.factory, workspace_id=world.ws) as session:
        seg = session.get(Segment, spenders)
        assert seg is not None
        assert seg.version == 2
        assert seg.size == 0


def test_an_incremental_refresh_reads_as_far_back_as_the_segments_look(world: World) -> None:
    # The touched contacts' events are copied only as far back as some reader looks: a test without a
    # window needs them all, one with a window only its days.
    c = world.contacts
    ever_root = {"op": "event", "name": "coupon_redeemed", "min_count": 2}
    ever = world.segment("用过两次券", ever_root)
    recent = world.segment("近7天用过两次", {**ever_root, "within_days": 7})
    world.event("wang", "coupon_redeemed", days_ago=400)  # older than any tier looks
    refresh(world)
    assert world.members(ever) == set()
    world.event("wang", "coupon_redeemed")
    report = refresh(world, "incremental")
    assert c["wang"] in report.sync.touched
    assert world.members(ever) == {c["wang"]}  # the coupon of 400 days ago was read
    assert world.members(recent) == set()  # one coupon in the last 7 days
    world.event("wang", "coupon_redeemed", days_ago=2)
    refresh(world, "incremental")
    assert world.members(recent) == {c["wang"]}
    assert world.members(recent) == membership_by_full_refresh(world, recent)


def test_new_events_that_nothing_reads_touch_nobody(world: World) -> None:
    # The segment_entered events a refresh writes come back with the next sync: nothing reads them
    # until some segment tests them, so they re-evaluate nobody.
    c = world.contacts
    with transaction(world.factory, workspace_id=world.ws) as session:
        session.execute(update(Contact).values(updated_at=NOW - timedelta(days=10)))
        # The newest change is read again by every sync (the watermark's overlap): a contact of its own.
        newest = create_contact(session, identities={"phone": "13900000000"}).id
    world.segment("敏感肌", SENSITIVE)
    refresh(world)
    world.event("wang", "coupon_issued")  # not an interaction, and no segment tests it
    report = refresh(world, "incremental")
    assert {c["li"], c["zhao"], c["wang"]} <= report.sync.touched  # the first refresh's segment_entered too
    assert report.refreshed == {newest}
    assert [s.skipped for s in report.segments] == ["unchanged"]
    issued = world.segment("领过券", {"op": "event", "name": "coupon_issued"})
    world.event("sun", "coupon_issued")
    world.event("zhao", "page_view")  # an interaction: the tiers read it
    report = refresh(world, "incremental")
    assert report.refreshed == {newest, c["sun"], c["zhao"]}  # a segment reads coupon_issued now
    assert world.members(issued) == {c["wang"], c["sun"]}  # a new segment is computed whole


def membership_by_full_refresh(world: World, segment_id: int) -> set[int]:
    refresh(world)
    return world.members(segment_id)


def test_static_segments_keep_their_members(world: World) -> None:
    c = world.contacts
    frozen = world.segment("名单", SENSITIVE, kind="static")
    refresh(world)
    assert world.members(frozen) == {c["li"], c["zhao"]}
    with transaction(world.factory, workspace_id=world.ws) as session:
        from siyu.models import Contact

        wang = session.get(Contact, c["wang"])
        assert wang is not None
        wang.properties = {"skin_type": "敏感肌"}
    refresh(world)
    assert world.members(frozen) == {c["li"], c["zhao"]}
    refresh(world, "incremental", segment_ids=[frozen], snapshot=True)
    assert world.members(frozen) == {c["li"], c["zhao"], c["wang"]}


def test_a_deleted_property_flags_the_segment_and_keeps_its_members(world: World) -> None:
    c = world.contacts
    sensitive = world.segment("敏感肌", SENSITIVE)
    refresh(world)
    with transaction(world.factory, workspace_id=world.ws) as session:
        session.execute(delete(PropertyDefinition).where(PropertyDefinition.key == "skin_type"))
    report = refresh(world)
    assert report.segments[0].skipped is not None
    assert "skin_type" in report.segments[0].skipped
    assert world.members(sensitive) == {c["li"], c["zhao"]}
    with transaction(world.factory, workspace_id=world.ws) as session:
        seg = session.get(Segment, sensitive)
        assert seg is not None
        assert seg.broken_reason is not None
        assert "skin_type" in seg.broken_reason


def test_deleting_an_included_segment_flags_the_one_that_includes_it(world: World) -> None:
    inner = world.segment("敏感肌", SENSITIVE)
    outer = world.segment("外层", {"op": "segment", "segment_id": inner})
    with transaction(world.factory, workspace_id=world.ws) as session:
        service.delete_segment(session, world.ctx, inner)
    with transaction(world.factory, workspace_id=world.ws) as session:
        seg = session.get(Segment, outer)
        assert seg is not None
        assert seg.broken_reason is not None
        assert "deleted" in seg.broken_reason
    report = refresh(world)
    assert report.segments[0].skipped is not None


def test_segments_may_not_include_each_other_in_a_circle(world: World) -> None:
    from siyu.filters.compiler import BrokenReference

    a = world.segment("A", SENSITIVE)
    b = world.segment("B", {"op": "segment", "segment_id": a})
    with transaction(world.factory, workspace_id=world.ws) as session, pytest.raises(BrokenReference) as caught:
        service.update_segment(
            session, world.ctx, a, SegmentPatch(definition={"root": {"op": "segment", "segment_id": b}})
        )
    assert f"{a} → {b} → {a}" in caught.value.errors[0].reason


def test_killed_after_the_write_back_the_next_refresh_completes(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    c = world.contacts
    sensitive = world.segment("敏感肌", SENSITIVE)
    refresh(world)
    with transaction(world.factory, workspace_id=world.ws) as session:
        from siyu.models import Contact

        wang = session.get(Contact, c["wang"])
        assert wang is not None
        wang.properties = {"skin_type": "敏感肌"}

    def die(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed")  # not an Exception: nothing may catch it

    monkeypatch.setattr(membership, "promote", die)  # step 3: applying the changes in the store
    with pytest.raises(KeyboardInterrupt):
        refresh(world)
    monkeypatch.undo()
    assert world.members(sensitive) == {c["li"], c["zhao"], c["wang"]}  # the write-back had committed
    report = refresh(world)
    assert report.recovered
    assert "applied the changes" in report.recovered[0]
    assert world.members(sensitive) == {c["li"], c["zhao"], c["wang"]}
    assert [cid for cid, _ in world.events("segment_entered")].count(c["wang"]) == 1


def test_killed_before_the_write_back_the_previous_membership_stays(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = world.contacts
    sensitive = world.segment("敏感肌", SENSITIVE)
    refresh(world)
    with transaction(world.factory, workspace_id=world.ws) as session:
        from siyu.models import Contact

        li = session.get(Contact, c["li"])
        assert li is not None
        li.properties = {"skin_type": "干皮"}

    def die(*args: Any, **kwargs: Any) -> bool:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(membership, "write_back", die)
    with pytest.raises(KeyboardInterrupt):
        refresh(world)
    monkeypatch.undo()
    assert world.members(sensitive) == {c["li"], c["zhao"]}
    refresh(world)
    assert world.members(sensitive) == {c["zhao"]}
    assert [cid for cid, _ in world.events("segment_left")] == [c["li"]]


def test_preview_and_explain(world: World) -> None:
    c = world.contacts
    sensitive = world.segment("敏感肌", SENSITIVE)
    refresh(world)
    with transaction(world.factory, workspace_id=world.ws) as session:
        preview = service.preview(session, world.lake, {"root": {"op": "and", "children": [SENSITIVE, CLICKERS]}})
        assert (preview.count, preview.total) == (1, 4)
        assert "contact_properties" in preview.sql
        why = service.explain(
            session, world.lake, c["zhao"], raw={"root": {"op": "and", "children": [SENSITIVE, CLICKERS]}}
        )
        assert not why.member
        assert [(n.path, n.holds, n.observed) for n in why.nodes] == [
            ("root", False, None),
            ("root.children[0]", True, "敏感肌"),
            ("root.children[1]", False, 0),
        ]
        stored = service.explain(session, world.lake, c["li"], segment_id=sensitive)
        assert stored.member
        assert stored.stored_member
