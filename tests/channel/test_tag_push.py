"""Corp tags from siyu to WeCom against the stand-in: a siyu tag group put into WeCom's library and linked,
tags siyu puts on or takes off contacts marked on their relations (not those that came from WeCom), a
relation gone or a mark WeCom refuses counted and passed over, each event pushed once, and on
PostgreSQL only once no lower id can still commit."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from siyu.auth.permissions import Permission
from siyu.channel import tag_push
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import StaffRelation, Tag, TagGroup
from siyu.tag import service as tagging
from tests.channel.wecom_fixture import Corp
from tests.factories import create_token
from tests.wechat.standin_fixture import CORPID


def test_a_tag_group_goes_to_wecom_and_siyu_tagging_follows(corp: Corp) -> None:
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        group = TagGroup(name="生命周期")
        session.add(group)
        session.flush()
        session.add_all([Tag(group_id=group.id, name="新客"), Tag(group_id=group.id, name="老客")])
        session.flush()
        group_id = group.id
    token = create_token(corp.factory, corp.workspace_id, [Permission.channels_manage])
    api = httpx.Client(base_url=corp.siyu.url, headers={"Authorization": f"Bearer {token}"})
    pushed = api.post(f"/api/v1/wecom/tag-groups/{group_id}/push")
    assert pushed.status_code == 200, pushed.text
    body = pushed.json()
    wecom_ids = {t["name"]: t["wecom_tag_id"] for t in body["tags"]}
    assert all(wecom_ids.values())
    library = {t.name: t.id for g in corp.state.corp(CORPID).tag_groups.values() for t in g.tags}
    assert library == {"新客": wecom_ids["新客"], "老客": wecom_ids["老客"]}
    assert api.post(f"/api/v1/wecom/tag-groups/{group_id}/push").json() == body  # nothing new: unchanged

    first = corp.state.customer_adds(CORPID, "zhangsan")
    second = corp.state.customer_adds(CORPID, "lisi")
    corp.apply()
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        ids = {r.external_userid: r.contact_id for r in session.scalars(select(StaffRelation))}
        new = session.scalars(select(Tag).where(Tag.name == "新客")).one()
        tagging.apply(session, new, [ids[first], ids[second]], source="manual")
    corp.state.staff_deletes_customer(CORPID, "lisi", second)  # gone in WeCom, siyu not told yet
    client = corp.client()
    if corp.factory.kw["bind"].dialect.name == "postgresql":
        # ids are handed out before commit there: events wait until no lower id can still commit
        assert tag_push.push_marks(corp.factory, corp.workspace_id, client, utcnow()).events == 0

    def later() -> datetime:
        return utcnow() + tag_push.PG_SETTLE + timedelta(seconds=1)

    report = tag_push.push_marks(corp.factory, corp.workspace_id, client, later())
    assert (report.events, report.marked, report.relations_gone) == (2, 1, 1)
    relation = corp.state.corp(CORPID).relations[("zhangsan", first)]
    assert relation.tags == [wecom_ids["新客"]]
    assert tag_push.push_marks(corp.factory, corp.workspace_id, client, later()).events == 0  # pushed once
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        new = session.scalars(select(Tag).where(Tag.name == "新客")).one()
        old = session.scalars(select(Tag).where(Tag.name == "老客")).one()
        tagging.unapply(session, new, [ids[first]], source="manual")
        tagging.apply(session, old, [ids[first]], source="manual")
    # WeCom refuses the first mark (a tag deleted there meanwhile): counted, and the next one still goes
    corp.state.inject("mark_tag", errcode=40068)
    report = tag_push.push_marks(corp.factory, corp.workspace_id, client, later())
    assert (report.events, report.marked, report.refused) == (2, 1, 1)
    assert corp.state.corp(CORPID).relations[("zhangsan", first)].tags == [wecom_ids["新客"], wecom_ids["老客"]]
    client.close()
