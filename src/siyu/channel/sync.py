"""Reading a WeCom corp into siyu: staff (follow users), customers and relations, corp tags, customer groups.

A **full** sync reads everything: the tag library, each staff member's name (``user/get``), every customer
with their follow info through ``batch/get_by_user`` (100 staff members at a time, cursor paging), every
group (``groupchat/list``, by owner when WeCom answers 81017, then ``groupchat/get``). Members WeCom
does not answer for (``fail_info``) keep their relations, and a customer's corp tags are settled once all
its follows are read. Each page is written in a transaction of its own, and
every write is an upsert (:mod:`siyu.channel.wecom`), so a sync broken off half-way and run again ends in
the same state as one clean run.

After the first full sync (``workspace.channel_state.wecom.full_sync_at``) a sync is **incremental**: the
callbacks keep siyu current, and the sync only mends what they may have missed — per staff member the list
of customer ids (``externalcontact/list``) against the relations siyu has: new ids are read one by one
(``externalcontact/get``), missing ones end the relation; groups siyu does not know are read, groups WeCom
no longer lists are dismissed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.channel import wecom
from siyu.channel.settings import WeComSettings
from siyu.ingestion.context import BatchContext
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import CustomerGroup, StaffMember, StaffRelation, Workspace
from siyu.wechat.client import WeComClient
from siyu.wechat.errors import WeChatError

STAFF_PER_CALL = 100  # batch/get_by_user and groupchat/list's owner_filter take at most 100 userids
TOO_MANY_TO_LIST = 81017  # groupchat/list without owner_filter when the app sees more than 1000 members


@dataclass
class SyncReport:
    mode: str = "full"
    staff: int = 0
    customers: int = 0
    relations_ended: int = 0
    tags: int = 0
    groups: int = 0
    groups_dismissed: int = 0
    # members WeCom would not list customers for (no licence): their relations are left as they were
    unserved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


Progress = Callable[[str, int], None]


def _noop(stage: str, done: int) -> None:
    pass


def sync(
    factory: sessionmaker[Session],
    workspace_id: int,
    settings: WeComSettings,
    client: WeComClient,
    *,
    full: bool | None = None,
    page_size: int = 100,
    progress: Progress = _noop,
) -> SyncReport:
    """Sync the corp; ``full`` None means full the first time, incremental after."""
    with transaction(factory, workspace_id=workspace_id) as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        state = dict((workspace.channel_state or {}).get("wecom") or {})
    if full is None:
        full = not state.get("full_sync_at")
    report = SyncReport(mode="full" if full else "incremental")
    started = utcnow()

    tags = client.corp_tags()
    with transaction(factory, workspace_id=workspace_id) as session:
        report.tags = len(wecom.sync_corp_tags(session, tags))
    progress("tags", report.tags)

    userids = client.follow_users()
    people = {userid: client.user(userid) for userid in userids}
    with transaction(factory, workspace_id=workspace_id) as session:
        for userid, raw in people.items():
            department = ",".join(str(d) for d in raw.get("department") or []) or None
            wecom.upsert_staff(session, userid, raw.get("name") or userid, department)
        for staff in session.scalars(select(StaffMember).where(StaffMember.userid.not_in(userids))):
            staff.active = False
    report.staff = len(userids)
    progress("staff", report.staff)

    if full:
        _customers_full(factory, workspace_id, settings, client, userids, page_size, report, progress)
    else:
        _customers_incremental(factory, workspace_id, settings, client, userids, report, progress)
    _groups(factory, workspace_id, settings, client, userids, full, report, progress)

    with transaction(factory, workspace_id=workspace_id) as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        key = "full_sync_at" if full else "incremental_sync_at"
        wecom_state = {**state, key: started.isoformat(), "last_report": report.__dict__}
        workspace.channel_state = {**(workspace.channel_state or {}), "wecom": wecom_state}
    return report


def _customers_full(
    factory: sessionmaker[Session],
    workspace_id: int,
    settings: WeComSettings,
    client: WeComClient,
    userids: list[str],
    page_size: int,
    report: SyncReport,
    progress: Progress,
) -> None:
    seen: set[tuple[str, str]] = set()
    unserved: set[str] = set()
    # each customer's corp tags over all its follows, which pages and staff batches split up
    tags: dict[str, set[str]] = {}
    for start in range(0, len(userids), STAFF_PER_CALL):
        staff = userids[start : start + STAFF_PER_CALL]
        page: dict[str, tuple[dict[str, Any], list[wecom.Follow]]] = {}
        for entry in client.customers_by_staff(staff, limit=page_size, unserved=unserved):
            person = entry["external_contact"]
            follow = wecom.Follow.of(entry["follow_info"])
            seen.add((follow.userid, person["external_userid"]))
            tags.setdefault(person["external_userid"], set()).update(follow.tag_ids)
            page.setdefault(person["external_userid"], (person, []))[1].append(follow)
            if len(page) >= page_size:
                report.customers += _write(factory, workspace_id, settings, list(page.values()), complete=False)
                page = {}
                progress("customers", report.customers)
        if page:
            report.customers += _write(factory, workspace_id, settings, list(page.values()), complete=False)
            progress("customers", report.customers)
    if unserved:  # their follows were not read: the tags on them are not known, so leave their customers be
        with transaction(factory, workspace_id=workspace_id) as session:
            for external in session.scalars(
                select(StaffRelation.external_userid)
                .join(StaffMember, StaffMember.id == StaffRelation.staff_id)
                .where(StaffMember.userid.in_(unserved))
            ):
                tags.pop(external, None)
    externals = sorted(tags)
    for start in range(0, len(externals), page_size):
        with transaction(factory, workspace_id=workspace_id) as session:
            chunk = {e: tags[e] for e in externals[start : start + page_size]}
            wecom.settle_tags(session, workspace_id, settings.corpid, chunk, utcnow())
    report.unserved = sorted(unserved)
    # what WeCom no longer lists is no longer a relation (a deletion whose callback was missed); a member
    # WeCom did not answer for keeps their relations
    served = [u for u in userids if u not in unserved]
    with transaction(factory, workspace_id=workspace_id) as session:
        now = utcnow()
        for userid, external in session.execute(
            select(StaffMember.userid, StaffRelation.external_userid)
            .join(StaffMember, StaffMember.id == StaffRelation.staff_id)
            .where(StaffRelation.status.in_(("active", "half")), StaffMember.userid.in_(served))
        ).all():
            if (userid, external) not in seen:
                wecom.end_relation(session, userid, external, "staff_deleted", now)
                report.relations_ended += 1


def _write(
    factory: sessionmaker[Session],
    workspace_id: int,
    settings: WeComSettings,
    customers: list[tuple[dict[str, Any], list[wecom.Follow]]],
    *,
    complete: bool = True,
) -> int:
    with transaction(factory, workspace_id=workspace_id) as session:
        ctx = BatchContext.open(session, workspace_id, wecom.ACTOR)
        return len(wecom.upsert_customers(session, ctx, settings.corpid, customers, complete=complete))


def _customers_incremental(
    factory: sessionmaker[Session],
    workspace_id: int,
    settings: WeComSettings,
    client: WeComClient,
    userids: list[str],
    report: SyncReport,
    progress: Progress,
) -> None:
    for userid in userids:
        listed = set(client.customers_of(userid))
        with transaction(factory, workspace_id=workspace_id) as session:
            known: dict[str, str] = dict(
                session.execute(
                    select(StaffRelation.external_userid, StaffRelation.status)
                    .join(StaffMember, StaffMember.id == StaffRelation.staff_id)
                    .where(StaffMember.userid == userid)
                ).all()
            )
            now = utcnow()
            for external, status in known.items():
                if external not in listed and status in ("active", "half"):
                    wecom.end_relation(session, userid, external, "staff_deleted", now)
                    report.relations_ended += 1
        new = sorted(e for e in listed if known.get(e) not in ("active", "half"))
        for external in new:
            customer = client.customer(external)
            follows = [wecom.Follow.of(f) for f in customer.get("follow_user") or []]
            report.customers += _write(factory, workspace_id, settings, [(customer["external_contact"], follows)])
        progress("customers", report.customers)


def _groups(
    factory: sessionmaker[Session],
    workspace_id: int,
    settings: WeComSettings,
    client: WeComClient,
    userids: list[str],
    full: bool,
    report: SyncReport,
    progress: Progress,
) -> None:
    try:
        listed = [g["chat_id"] for g in client.groups()]
    except WeChatError as exc:
        if exc.errcode != TOO_MANY_TO_LIST:
            raise
        # the app sees more than 1000 members: WeCom lists groups only by owner, up to 100 owners a call
        listed = [
            g["chat_id"]
            for start in range(0, len(userids), STAFF_PER_CALL)
            for g in client.groups(userids[start : start + STAFF_PER_CALL])
        ]
    with transaction(factory, workspace_id=workspace_id) as session:
        known: dict[str, str] = dict(session.execute(select(CustomerGroup.chat_id, CustomerGroup.status)).all())
        now = utcnow()
        for group in session.scalars(select(CustomerGroup).where(CustomerGroup.status == "active")):
            if group.chat_id not in set(listed):
                group.status, group.dismissed_at = "dismissed", now
                report.groups_dismissed += 1
    wanted = listed if full else [c for c in listed if known.get(c) != "active"]
    for chat_id in wanted:
        raw = client.group(chat_id)
        with transaction(factory, workspace_id=workspace_id) as session:
            ctx = BatchContext.open(session, workspace_id, wecom.ACTOR)
            wecom.upsert_group(session, ctx, settings.corpid, raw, _now())
        report.groups += 1
        progress("groups", report.groups)


def _now() -> datetime:
    return utcnow()
