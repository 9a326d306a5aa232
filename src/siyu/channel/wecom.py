"""WeCom facts written into siyu: staff members, customers and their 好友 relations, corp tags, customer groups.

The callbacks (:mod:`siyu.channel.callbacks`) and the sync (:mod:`siyu.channel.sync`) both end here, so an
add seen by a callback and the same add seen by a later sync give the same rows. Every write is an upsert:
applying a fact twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.identity.keys import make_key
from siyu.identity.resolver import look_up
from siyu.ingestion import contacts as contact_ingestion
from siyu.ingestion import events as event_ingestion
from siyu.ingestion.context import BatchContext
from siyu.ingestion.schemas import ContactIn, EventIn
from siyu.models import (
    Contact,
    CustomerGroup,
    CustomerGroupMember,
    StaffMember,
    StaffRelation,
    Tag,
    TagGroup,
)
from siyu.tag import service as tagging

ACTOR = "wecom"
GENDER = {0: "unknown", 1: "male", 2: "female"}
ENDED = ("staff_deleted", "customer_deleted", "transferred")


def key_name(corpid: str) -> str:
    return f"wecom_external_userid@{corpid}"


def when(seconds: object) -> datetime | None:
    try:
        value = int(str(seconds))
    except ValueError:
        return None
    return datetime.fromtimestamp(value, UTC) if value > 0 else None


# --- staff ------------------------------------------------------------------------------------------------


def upsert_staff(session: Session, userid: str, name: str | None = None, department: str | None = None) -> StaffMember:
    staff = session.scalar(select(StaffMember).where(StaffMember.userid == userid))
    if staff is None:
        staff = StaffMember(userid=userid, name=name or userid, department=department, active=True)
        session.add(staff)
        session.flush()
        return staff
    if name and staff.name != name:
        staff.name = name
    if department is not None and staff.department != department:
        staff.department = department
    staff.active = True
    return staff


# --- customers and relations --------------------------------------------------------------------------------


@dataclass
class Follow:
    """One ``follow_user`` entry of a customer: the member, and what WeCom keeps about the relation."""

    userid: str
    remark: str | None = None
    description: str | None = None
    state: str | None = None
    add_way: int | None = None
    added_at: datetime | None = None
    tag_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Follow:
        return cls(
            userid=str(raw["userid"]),
            remark=raw.get("remark") or None,
            description=raw.get("description") or None,
            state=raw.get("state") or None,
            add_way=raw.get("add_way"),
            added_at=when(raw.get("createtime")),
            # externalcontact/get lists tags with their type; batch/get_by_user gives the corp tags' ids only
            tag_ids=tuple(raw.get("tag_id") or ())
            or tuple(t["tag_id"] for t in raw.get("tags") or [] if t.get("type", 1) == 1 and t.get("tag_id")),
        )


def upsert_customers(
    session: Session,
    ctx: BatchContext,
    corpid: str,
    customers: list[tuple[dict[str, Any], list[Follow]]],
    half: frozenset[tuple[str, str]] = frozenset(),
    *,
    complete: bool = True,
) -> dict[str, int]:
    """Customers as ``externalcontact/get`` describes them (``external_contact``) with their follow users:
    contacts (found by external_userid, or by unionid, or made), the staff members, the relations (new ones
    named in ``half`` — (userid, external_userid) — are not accepted yet) and the corp tags. Returns
    external_userid → contact id.

    ``complete`` says the follows are each customer's whole list: only then are the corp tags no follow
    carries taken off (a page of ``batch/get_by_user`` holds one staff batch's follows; see
    :func:`settle_tags`)."""
    records = []
    for person, follows in customers:
        identities: dict[str, str | int] = {key_name(corpid): person["external_userid"]}
        if person.get("unionid"):
            identities["wx_unionid"] = person["unionid"]
        first = min(follows, key=lambda f: f.added_at or datetime.max.replace(tzinfo=UTC)) if follows else None
        for follow in follows:
            upsert_staff(session, follow.userid)
        records.append(
            ContactIn(
                identities=identities,
                nickname=person.get("name") or None,
                gender=GENDER.get(int(person.get("gender") or 0)),  # type: ignore[arg-type]
                # a known 渠道活码 names the source itself (store, 直播, …); the others came from WeCom
                source=None if first and first.state else "wecom",
                channel_code=first.state if first else None,
                owner_staff=first.userid if first else None,
            )
        )
    if not records:
        return {}
    session.flush()
    contact_ingestion.ingest(session, ctx, list(records))
    keys = [make_key(key_name(corpid), p["external_userid"]) for p, _ in customers]
    found = look_up(session, ctx.workspace_id, keys)
    ids = {k.value: found[k][1] for k in keys if k in found}
    staff = {s.userid: s for s in session.scalars(select(StaffMember))}
    for person, follows in customers:
        contact_id = ids.get(person["external_userid"])
        if contact_id is None:
            continue
        contact = session.get(Contact, contact_id)
        if contact is not None and contact.first_source is None:
            contact.first_source = "wecom"
        for follow in follows:
            external = person["external_userid"]
            status = "half" if (follow.userid, external) in half else "active"
            relate(session, staff[follow.userid], contact_id, external, follow, ctx.now, status=status)
    _mark_tags(session, ids, customers, ctx.now, remove=complete)
    return ids


def relate(
    session: Session,
    staff: StaffMember,
    contact_id: int,
    external_userid: str,
    follow: Follow,
    now: datetime,
    *,
    status: str = "active",
) -> StaffRelation:
    relation = session.scalar(
        select(StaffRelation).where(
            StaffRelation.staff_id == staff.id, StaffRelation.external_userid == external_userid
        )
    )
    if relation is None:
        relation = StaffRelation(
            staff_id=staff.id,
            contact_id=contact_id,
            external_userid=external_userid,
            status=status,
            added_at=follow.added_at or now,
        )
        session.add(relation)
    elif relation.status in ENDED or (relation.status == "half" and status == "active"):
        relation.status, relation.ended_at = status, None
        relation.added_at = follow.added_at or now
    relation.contact_id = contact_id
    for field in ("state", "add_way", "remark", "description"):
        value = getattr(follow, field)
        if value is not None:
            setattr(relation, field, value)
    session.flush()
    return relation


def end_relation(
    session: Session, staff_userid: str, external_userid: str, status: str, now: datetime
) -> StaffRelation | None:
    relation = session.scalar(
        select(StaffRelation)
        .join(StaffMember, StaffMember.id == StaffRelation.staff_id)
        .where(StaffMember.userid == staff_userid, StaffRelation.external_userid == external_userid)
    )
    if relation is not None and relation.status not in ENDED:
        relation.status, relation.ended_at, relation.welcome_code = status, now, None
    return relation


def contact_of(session: Session, workspace_id: int, corpid: str, external_userid: str) -> int | None:
    key = make_key(key_name(corpid), external_userid)
    found = look_up(session, workspace_id, [key]).get(key)
    if found is None:
        return None
    contact = session.get(Contact, found[1])
    while contact is not None and contact.merged_into_id is not None:
        contact = session.get(Contact, contact.merged_into_id)
    return contact.id if contact is not None else None


def record_event(
    session: Session, ctx: BatchContext, event_id: str, name: str, contact_id: int, at: datetime, props: dict[str, Any]
) -> None:
    event = EventIn(name=name, time=at, contact_id=contact_id, event_id=event_id, source="wecom", properties=props)
    event_ingestion.ingest(session, ctx, [event])


# --- corp tags ----------------------------------------------------------------------------------------------


def sync_corp_tags(session: Session, groups: list[dict[str, Any]]) -> dict[str, Tag]:
    """WeCom's tag library (``get_corp_tag_list``) as siyu tag groups and tags, linked by their WeCom ids.
    A WeCom tag gone from the library is gone from siyu too (with it, from the contacts). Returns
    wecom tag id → tag."""
    by_wecom = {t.wecom_tag_id: t for t in session.scalars(select(Tag).where(Tag.wecom_tag_id.is_not(None)))}
    group_by_wecom = {
        g.wecom_group_id: g for g in session.scalars(select(TagGroup).where(TagGroup.wecom_group_id.is_not(None)))
    }
    seen: set[str] = set()
    out: dict[str, Tag] = {}
    for raw_group in groups:
        if raw_group.get("deleted"):
            continue
        group = group_by_wecom.get(raw_group["group_id"])
        if group is None:
            group = session.scalar(select(TagGroup).where(TagGroup.name == raw_group["group_name"]))
            if group is None:
                group = TagGroup(name=raw_group["group_name"][:100])
                session.add(group)
            group.wecom_group_id = raw_group["group_id"]
        group.name = raw_group["group_name"][:100]
        session.flush()
        for raw in raw_group.get("tag") or []:
            if raw.get("deleted"):
                continue
            seen.add(raw["id"])
            tag = by_wecom.get(raw["id"])
            if tag is None:
                tag = session.scalar(select(Tag).where(Tag.group_id == group.id, Tag.name == raw["name"][:100]))
                if tag is None:
                    tag = Tag(group_id=group.id, name=raw["name"][:100])
                    session.add(tag)
                tag.wecom_tag_id = raw["id"]
            tag.group_id, tag.name = group.id, raw["name"][:100]
            out[raw["id"]] = tag
    for wecom_id, tag in by_wecom.items():
        if wecom_id not in seen:
            session.delete(tag)
    session.flush()
    return out


def settle_tags(session: Session, workspace_id: int, corpid: str, wanted: dict[str, set[str]], now: datetime) -> None:
    """After a full sync's pages: each customer's corp tags (WeCom tag ids, over all its follows) are exactly
    ``wanted`` — the ``wecom`` tags none of its follows carries are taken off."""
    keys = [make_key(key_name(corpid), external) for external in wanted]
    found = look_up(session, workspace_id, keys)
    ids = {k.value: found[k][1] for k in keys if k in found}
    customers = [({"external_userid": e}, [Follow(userid="", tag_ids=tuple(tags))]) for e, tags in wanted.items()]
    _mark_tags(session, ids, customers, now, remove=True)


def _mark_tags(
    session: Session,
    ids: dict[str, int],
    customers: list[tuple[dict[str, Any], list[Follow]]],
    now: datetime,
    *,
    remove: bool,
) -> None:
    """The corp tags WeCom shows on each customer, as siyu tags with source ``wecom`` (tags of other sources
    are left alone); with ``remove``, the ``wecom`` tags not shown are taken off."""
    linked = {t.wecom_tag_id: t for t in session.scalars(select(Tag).where(Tag.wecom_tag_id.is_not(None)))}
    if not linked:
        return
    wanted: dict[int, set[int]] = {}
    for person, follows in customers:
        contact_id = ids.get(person["external_userid"])
        if contact_id is not None:
            tags = {linked[t].id for f in follows for t in f.tag_ids if t in linked}
            wanted.setdefault(contact_id, set()).update(tags)
    for tag in linked.values():
        having = [c for c, tags in wanted.items() if tag.id in tags]
        losing = [c for c, tags in wanted.items() if tag.id not in tags]
        if having:
            tagging.apply(session, tag, having, source="wecom", now=now)
        if losing and remove:
            tagging.unapply(session, tag, losing, source="wecom", only_source="wecom")


# --- customer groups ------------------------------------------------------------------------------------------


def is_customer_id(member_id: str) -> bool:
    """External userids start wm/wo (微信 customers) — members of the corp are plain userids."""
    return member_id.startswith(("wm", "wo"))


def upsert_group(
    session: Session, ctx: BatchContext, corpid: str, raw: dict[str, Any], now: datetime
) -> tuple[CustomerGroup, list[int], list[int]]:
    """A group as ``groupchat/get`` has it, members and all. Returns the group and the contacts that
    joined and left since siyu last knew it."""
    group = session.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == raw["chat_id"]))
    if group is None:
        group = CustomerGroup(chat_id=raw["chat_id"], status="active")
        session.add(group)
    owner = raw.get("owner")
    group.name = (raw.get("name") or None) and str(raw["name"])[:200]
    group.owner_userid = owner
    group.owner_staff_id = upsert_staff(session, owner).id if owner else None
    group.notice = (raw.get("notice") or None) and str(raw["notice"])[:2000]
    group.member_version = raw.get("member_version") or None
    group.created_on_wecom = when(raw.get("create_time"))
    group.status, group.dismissed_at = "active", None
    session.flush()
    members = {str(m["userid"]): m for m in raw.get("member_list") or []}
    return (group, *_set_members(session, ctx, corpid, group, members, now))


def _set_members(
    session: Session,
    ctx: BatchContext,
    corpid: str,
    group: CustomerGroup,
    members: dict[str, dict[str, Any]],
    now: datetime,
) -> tuple[list[int], list[int]]:
    rows = {
        m.member_id: m
        for m in session.scalars(select(CustomerGroupMember).where(CustomerGroupMember.group_id == group.id))
    }
    joined, left = [], []
    for member_id, raw in members.items():
        row = rows.get(member_id)
        customer = int(raw.get("type") or (2 if is_customer_id(member_id) else 1)) == 2
        if row is None:
            row = CustomerGroupMember(group_id=group.id, member_id=member_id, kind="customer" if customer else "staff")
            session.add(row)
        if row.left_at is not None or row.id is None:
            row.left_at = None
            if customer:
                row.contact_id = _group_contact(session, ctx, corpid, member_id, raw)
                if row.contact_id is not None:
                    joined.append(row.contact_id)
        row.name = (raw.get("group_nickname") or raw.get("name") or None) and str(
            raw.get("group_nickname") or raw.get("name")
        )[:200]
        row.join_scene = raw.get("join_scene")
        row.joined_at = when(raw.get("join_time")) or row.joined_at or now
    for member_id, row in rows.items():
        if member_id not in members and row.left_at is None:
            row.left_at = now
            if row.contact_id is not None:
                left.append(row.contact_id)
    session.flush()
    group.member_count = len(members)
    return joined, left


def apply_member_changes(
    session: Session,
    ctx: BatchContext,
    corpid: str,
    group: CustomerGroup,
    added: Iterable[str],
    removed: Iterable[str],
    join_scene: int | None,
    version: str | None,
    now: datetime,
) -> tuple[list[int], list[int]]:
    """A change event applied member by member (its ``LastMemVer`` was the version siyu had)."""
    current = {
        m.member_id: {"type": 2 if m.kind == "customer" else 1, "join_scene": m.join_scene}
        for m in session.scalars(
            select(CustomerGroupMember).where(
                CustomerGroupMember.group_id == group.id, CustomerGroupMember.left_at.is_(None)
            )
        )
    }
    for member_id in added:
        current[member_id] = {"join_scene": join_scene, "join_time": int(now.timestamp())}
    for member_id in removed:
        current.pop(member_id, None)
    group.member_version = version
    return _set_members(session, ctx, corpid, group, current, now)


def _group_contact(session: Session, ctx: BatchContext, corpid: str, member_id: str, raw: dict[str, Any]) -> int | None:
    """The contact of a customer in a group; one is made for a customer no staff member has added (a group
    member is a private-domain contact too). Customers of other corps (企业微信 users) have no such id."""
    if not is_customer_id(member_id):
        return None
    found = contact_of(session, ctx.workspace_id, corpid, member_id)
    if found is not None:
        return found
    identities: dict[str, str | int] = {key_name(corpid): member_id}
    if raw.get("unionid"):
        identities["wx_unionid"] = raw["unionid"]
    contact_ingestion.ingest(
        session, ctx, [ContactIn(identities=identities, nickname=raw.get("name"), source="wecom_group")]
    )
    return contact_of(session, ctx.workspace_id, corpid, member_id)


def welcome_window(received_at: datetime, seconds: int) -> datetime:
    return received_at + timedelta(seconds=seconds)
