"""Corp tags from siyu to WeCom (the other way, WeCom to siyu, is the sync and the tag callbacks).

* :func:`push_group` makes a siyu tag group and its tags in WeCom's tag library (``add_corp_tag``) — or adds
  the group's new tags to the WeCom group it is linked to — and links them by their WeCom ids.
* :func:`push_marks` puts on WeCom what siyu did to its contacts: every ``tag_added`` / ``tag_removed``
  event since the last push, for a linked tag and not itself from WeCom, becomes a ``mark_tag`` on each of
  the contact's active relations. The watermark (the last event id pushed) is kept in
  ``workspace.channel_state.wecom.tags_pushed_to``. On PostgreSQL ids are handed out before commit, so a
  slow transaction can commit a lower id after a higher one was pushed: there only events received
  :data:`PG_SETTLE` ago or more are pushed (the lake's and the journey triggers' overlap). A mark WeCom
  refuses (a tag deleted there, a customer id it does not know) is counted and passed over; anything
  transient stops the push, which goes on from the same event next time. WeCom makes no callback for tags
  marked through the API, so nothing comes back round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, true
from sqlalchemy.orm import Session, sessionmaker

from siyu.errors import ChannelUnreachable, NotFound
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import Event, StaffMember, StaffRelation, Tag, TagGroup, Workspace
from siyu.wechat.client import WeComClient
from siyu.wechat.errors import Action, Unreachable, WeChatError

BATCH = 1000
PG_SETTLE = timedelta(minutes=5)  # longer than any transaction that tags contacts


def push_group(session: Session, client: WeComClient, group_id: int) -> TagGroup:
    group = session.get(TagGroup, group_id)
    if group is None:
        raise NotFound(f"no tag group {group_id}")
    tags = list(session.scalars(select(Tag).where(Tag.group_id == group.id).order_by(Tag.id)))
    new = [t for t in tags if t.wecom_tag_id is None]
    if not new and group.wecom_group_id:
        return group
    try:
        made = client.add_corp_tags(group.name, [t.name for t in new], group_id=group.wecom_group_id)
    except (WeChatError, Unreachable) as exc:
        raise ChannelUnreachable(f"WeCom did not take the tags: {exc}") from None
    group.wecom_group_id = str(made["group_id"])
    by_name = {str(t["name"]): str(t["id"]) for t in made.get("tag") or []}
    for tag in new:
        tag.wecom_tag_id = by_name.get(tag.name)
    session.flush()
    return group


@dataclass
class MarkReport:
    events: int = 0
    marked: int = 0
    relations_gone: int = 0
    refused: int = 0


def push_marks(
    factory: sessionmaker[Session], workspace_id: int, client: WeComClient, now: datetime | None = None
) -> MarkReport:
    report = MarkReport()
    now = now or utcnow()
    while True:
        with transaction(factory, workspace_id=workspace_id) as session:
            settled = Event.received_at <= now - PG_SETTLE if session.get_bind().dialect.name != "sqlite" else true()
            workspace = session.get(Workspace, workspace_id)
            assert workspace is not None
            state = dict((workspace.channel_state or {}).get("wecom") or {})
            after = int(state.get("tags_pushed_to") or 0)
            linked: dict[int, str] = {
                tag_id: wecom_id
                for tag_id, wecom_id in session.execute(
                    select(Tag.id, Tag.wecom_tag_id).where(Tag.wecom_tag_id.is_not(None))
                )
                if wecom_id is not None
            }
            events = session.execute(
                select(Event.id, Event.name, Event.contact_id, Event.properties)
                .where(Event.id > after, Event.name.in_(("tag_added", "tag_removed")), settled)
                .order_by(Event.id)
                .limit(BATCH)
            ).all()
            wanted = [
                (name, contact_id, linked[props["tag_id"]])
                for _, name, contact_id, props in events
                if isinstance(props, dict) and props.get("source") != "wecom" and props.get("tag_id") in linked
            ]
            relations: dict[int, list[tuple[str, str]]] = {}
            for contact_id, userid, external in session.execute(
                select(StaffRelation.contact_id, StaffMember.userid, StaffRelation.external_userid)
                .join(StaffMember, StaffMember.id == StaffRelation.staff_id)
                .where(StaffRelation.contact_id.in_({c for _, c, _ in wanted}), StaffRelation.status == "active")
            ):
                relations.setdefault(contact_id, []).append((userid, external))
        if not events:
            return report
        for name, contact_id, wecom_tag in wanted:  # outside any transaction: these are WeCom calls
            for userid, external in relations.get(contact_id, []):
                add, remove = ([wecom_tag], []) if name == "tag_added" else ([], [wecom_tag])
                try:
                    client.mark_tag(userid, external, add, remove)
                    report.marked += 1
                except WeChatError as exc:
                    if exc.action is Action.relation_gone:
                        report.relations_gone += 1
                    elif exc.action in (Action.refused, Action.do_not_retry):
                        report.refused += 1  # this mark can never succeed: the next ones go on
                    else:
                        raise  # the job is retried; marking again is harmless (mark_tag is idempotent)
        report.events += len(events)
        with transaction(factory, workspace_id=workspace_id) as session:
            workspace = session.get(Workspace, workspace_id)
            assert workspace is not None
            wecom_state = {**((workspace.channel_state or {}).get("wecom") or {}), "tags_pushed_to": events[-1][0]}
            workspace.channel_state = {**(workspace.channel_state or {}), "wecom": wecom_state}
