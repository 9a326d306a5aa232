"""What the console and the API show of WeCom: staff members with their customers, customer groups with
their members and activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.models import CustomerGroup, CustomerGroupMember, Event, StaffMember, StaffRelation


@dataclass
class StaffView:
    id: int
    userid: str
    name: str
    department: str | None
    active: bool
    customers: int  # active relations
    deleted_by_customers: int
    groups_owned: int


def staff(session: Session) -> list[StaffView]:
    counts: dict[tuple[int, str], int] = {
        (staff_id, status): n
        for staff_id, status, n in session.execute(
            select(StaffRelation.staff_id, StaffRelation.status, func.count()).group_by(
                StaffRelation.staff_id, StaffRelation.status
            )
        )
    }
    owned = dict(
        session.execute(
            select(CustomerGroup.owner_staff_id, func.count())
            .where(CustomerGroup.status == "active")
            .group_by(CustomerGroup.owner_staff_id)
        ).all()
    )
    return [
        StaffView(
            s.id,
            s.userid,
            s.name,
            s.department,
            s.active,
            counts.get((s.id, "active"), 0),
            counts.get((s.id, "customer_deleted"), 0),
            int(owned.get(s.id, 0)),
        )
        for s in session.scalars(select(StaffMember).order_by(StaffMember.userid))
    ]


@dataclass
class GroupView:
    id: int
    chat_id: str
    name: str | None
    owner: str | None
    status: str
    members: int
    customers: int
    joined_7d: int
    left_7d: int
    speakers_7d: int  # customers who spoke in the group (group_message events) in the last 7 days


def groups(session: Session, now: datetime) -> list[GroupView]:
    week = now - timedelta(days=7)
    stats: dict[int, dict[str, int]] = {}
    for group_id, kind, left_at, joined_at in session.execute(
        select(
            CustomerGroupMember.group_id,
            CustomerGroupMember.kind,
            CustomerGroupMember.left_at,
            CustomerGroupMember.joined_at,
        )
    ):
        entry = stats.setdefault(group_id, {"customers": 0, "joined": 0, "left": 0})
        if left_at is None and kind == "customer":
            entry["customers"] += 1
        if joined_at is not None and joined_at >= week and left_at is None:
            entry["joined"] += 1
        if left_at is not None and left_at >= week:
            entry["left"] += 1
    spoke: dict[str, set[int]] = {}
    for contact_id, props in session.execute(
        select(Event.contact_id, Event.properties).where(Event.name == "group_message", Event.occurred_at >= week)
    ):
        if isinstance(props, dict) and props.get("group_id"):
            spoke.setdefault(str(props["group_id"]), set()).add(contact_id)
    speakers = {chat_id: len(ids) for chat_id, ids in spoke.items()}
    return [
        GroupView(
            g.id,
            g.chat_id,
            g.name,
            g.owner_userid,
            g.status,
            g.member_count,
            stats.get(g.id, {}).get("customers", 0),
            stats.get(g.id, {}).get("joined", 0),
            stats.get(g.id, {}).get("left", 0),
            speakers.get(g.chat_id, 0),
        )
        for g in session.scalars(select(CustomerGroup).order_by(CustomerGroup.id))
    ]
