"""Reading a corp into siyu from the stand-in: a full sync, an incremental one that mends what callbacks
missed, and a sync broken off half-way and run again ending exactly where one clean sync ends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.channel import sync
from siyu.dispatch import channels
from siyu.kit.db import transaction
from siyu.models import (
    Contact,
    ContactTag,
    CustomerGroup,
    CustomerGroupMember,
    Event,
    StaffMember,
    StaffRelation,
    Tag,
    Workspace,
)
from siyu.wechat.errors import WeChatError
from tests.channel.wecom_fixture import Corp
from tests.factories import create_workspace
from tests.wechat.standin_fixture import CORPID


def populate(corp: Corp) -> list[str]:
    state = corp.state
    tags = state.admin_adds_tag(CORPID, "兴趣", ["咖啡", "茶"])
    people = []
    for i in range(5):
        external = state.add_customer(CORPID, name=f"客户{i}", gender=1 + i % 2)
        state.add_relation(CORPID, "zhangsan" if i % 2 else "lisi", external, state="store-sh-01", tags=tags[:1])
        people.append(external)
    state.add_relation(CORPID, "zhangsan", people[0])  # one customer with two members
    state.create_group(CORPID, "zhangsan", "咖啡同好群", members=people[:3])
    state.callback_log.clear()
    return people


def snapshot(factory: sessionmaker[Session], ws: int) -> dict[str, Any]:
    with transaction(factory, workspace_id=ws) as session:
        relations = session.execute(
            select(StaffMember.userid, StaffRelation.external_userid, StaffRelation.status, StaffRelation.state).join(
                StaffMember, StaffMember.id == StaffRelation.staff_id
            )
        ).all()
        return {
            "contacts": sorted((c.nickname, c.gender, c.first_channel_code) for c in session.scalars(select(Contact))),
            "relations": sorted(tuple(r) for r in relations),
            "staff": sorted((s.userid, s.name, s.active) for s in session.scalars(select(StaffMember))),
            "tags": sorted((t.name, t.wecom_tag_id) for t in session.scalars(select(Tag))),
            "groups": sorted((g.chat_id, g.name, g.member_count) for g in session.scalars(select(CustomerGroup))),
            "members": sorted(
                (m.member_id, m.kind, m.left_at is None) for m in session.scalars(select(CustomerGroupMember))
            ),
        }


def second_workspace(corp: Corp) -> int:
    ws = create_workspace(corp.factory, slug="twin").id
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        settings = channels.settings_for(session, corp.workspace_id, "wecom").model_dump()
    with transaction(corp.factory, workspace_id=ws) as session:
        channels.set_channel(session, ws, "wecom", settings)
    return ws


def run(corp: Corp, ws: int, **options: Any) -> sync.SyncReport:
    with transaction(corp.factory, workspace_id=ws) as session:
        settings = channels.settings_for(session, ws, "wecom")
    client = corp.client(sleep=lambda s: None)
    try:
        return sync.sync(corp.factory, ws, settings, client, page_size=2, **options)
    finally:
        client.close()


def test_a_full_sync_then_an_incremental_one(corp: Corp) -> None:
    people = populate(corp)
    report = run(corp, corp.workspace_id)
    assert report.mode == "full"
    assert (report.staff, report.customers, report.tags, report.groups) == (2, 5, 2, 1)
    found = snapshot(corp.factory, corp.workspace_id)
    assert len(found["contacts"]) == 5
    assert len(found["relations"]) == 6
    assert ("张三", "zhangsan") in {(n, u) for u, n, _ in found["staff"]}
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        coffee = session.scalars(select(Tag).where(Tag.name == "咖啡")).one()
        tagged = session.scalars(select(ContactTag).where(ContactTag.tag_id == coffee.id)).all()
        assert len(tagged) == 5  # every relation carries the corp tag 咖啡
        assert {t.source for t in tagged} == {"wecom"}
        workspace = session.get(Workspace, corp.workspace_id)
        assert workspace is not None
        assert workspace.channel_state["wecom"]["full_sync_at"]
    # what the callbacks missed: a new customer, a deletion
    newcomer = corp.state.add_customer(CORPID, name="新客")
    corp.state.add_relation(CORPID, "lisi", newcomer)
    corp.state.corp(CORPID).relations.pop(("zhangsan", people[1]))
    again = run(corp, corp.workspace_id)
    assert again.mode == "incremental"
    assert (again.customers, again.relations_ended) == (1, 1)
    relations = {(u, e): s for u, e, s, _ in snapshot(corp.factory, corp.workspace_id)["relations"]}
    assert relations[("lisi", newcomer)] == "active"
    assert relations[("zhangsan", people[1])] == "staff_deleted"


def test_a_sync_broken_off_and_run_again_ends_like_one_clean_sync(corp: Corp) -> None:
    populate(corp)
    twin = second_workspace(corp)
    run(corp, twin)
    clean = snapshot(corp.factory, twin)

    def break_after_first_page(stage: str, done: int) -> None:
        if stage == "customers" and done >= 2:
            corp.state.inject("batch/get_by_user", errcode=40058, times=5)

    with pytest.raises(WeChatError):
        run(corp, corp.workspace_id, progress=break_after_first_page)
    broken = snapshot(corp.factory, corp.workspace_id)
    assert 0 < len(broken["contacts"]) < len(clean["contacts"])
    corp.state._faults.clear()  # WeCom answers again
    report = run(corp, corp.workspace_id)
    assert report.mode == "full"  # the broken one never finished
    assert snapshot(corp.factory, corp.workspace_id) == clean


def test_tags_split_over_pages_stay_and_unlicensed_members_keep_their_customers(corp: Corp) -> None:
    """A customer's follows reach siyu on different pages (and staff batches): the corp tag one follow
    carries is kept, not taken off by the page without it. A member WeCom answers for with fail_info (no
    licence) keeps their relations instead of having them ended."""
    state = corp.state
    coffee = state.admin_adds_tag(CORPID, "兴趣", ["咖啡"])[0]
    shared = state.add_customer(CORPID, name="两位导购的客户")
    state.add_relation(CORPID, "zhangsan", shared, tags=[coffee], createtime=1_700_000_000)
    for i in range(3):  # zhangsan's other customers put lisi's follow of the shared one on a later page
        state.add_relation(
            CORPID, "zhangsan", state.add_customer(CORPID, name=f"客户{i}"), createtime=1_700_000_001 + i
        )
    state.add_relation(CORPID, "lisi", shared, createtime=1_700_000_100)
    state.add_staff(CORPID, "wangwu", "王五")
    theirs = state.add_customer(CORPID, name="王五的客户")
    state.add_relation(CORPID, "wangwu", theirs, tags=[coffee])
    state.add_relation(CORPID, "zhangsan", theirs, createtime=1_700_000_050)  # without the tag
    run(corp, corp.workspace_id)
    state.add_staff(CORPID, "wangwu", "王五", licensed=False)
    report = run(corp, corp.workspace_id, full=True)
    assert report.unserved == ["wangwu"]
    assert report.relations_ended == 0
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        tag = session.scalars(select(Tag).where(Tag.name == "咖啡")).one()
        tagged = session.scalars(select(ContactTag.contact_id).where(ContactTag.tag_id == tag.id)).all()
        contact = session.scalars(select(Contact).where(Contact.nickname == "两位导购的客户")).one()
        wangwus = session.scalars(select(Contact.id).where(Contact.nickname == "王五的客户")).one()
        # wangwu's follows were not read this time: the tag on theirs is not taken off for want of them
        assert sorted(tagged) == sorted([contact.id, wangwus])
        # never taken off and put back on the way (journeys start from tag events)
        changes = session.scalars(select(Event.name).where(Event.contact_id == contact.id, Event.name.like("tag_%")))
        assert list(changes) == ["tag_added"]
    relations = {(u, e): s for u, e, s, _ in snapshot(corp.factory, corp.workspace_id)["relations"]}
    assert relations[("wangwu", theirs)] == "active"
    # once WeCom takes the tag off, the next full sync takes it off too
    state.corp(CORPID).relations[("zhangsan", shared)].tags = []
    run(corp, corp.workspace_id, full=True)
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        assert session.scalars(select(ContactTag.contact_id).where(ContactTag.tag_id == tag.id)).all() == [wangwus]


def test_groups_are_listed_by_owner_when_wecom_answers_81017(corp: Corp) -> None:
    populate(corp)
    corp.state.inject("groupchat/list", errcode=81017, times=1)  # what a corp of more than 1000 members gets
    report = run(corp, corp.workspace_id)
    assert report.groups == 1
    assert [name for _, name, _ in snapshot(corp.factory, corp.workspace_id)["groups"]] == ["咖啡同好群"]
