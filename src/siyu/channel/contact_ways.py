"""渠道活码: WeCom 联系我 codes made through ``add_contact_way``, one per source, campaign and staff, each with
its ``state`` — the key WeCom echoes in the add event and in ``follow_user[].state`` — so every new customer
is attributed to the code they scanned; and what each code brought (adds per day, deletions, 7-day
retention), read from the relations.

WeCom does not show API-made codes in its admin console and loses nothing when siyu keeps their
``config_id``: a code is edited and deleted through siyu.
"""

from __future__ import annotations

import re
import secrets
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.errors import ChannelUnreachable, Conflict, InvalidInput, NotFound
from siyu.kit.inputs import Text
from siyu.models import ChannelCode, StaffMember, StaffRelation, Workspace
from siyu.wechat.client import WeComClient
from siyu.wechat.errors import Unreachable, WeChatError

STATE = re.compile(r"^[A-Za-z0-9_-]{1,30}$")  # WeCom: state at most 30 characters
RETENTION_DAYS = 7


class ContactWayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Text = Field(min_length=1, max_length=200, description="What operators call it (上海门店收银台).")
    source: str = Field(min_length=1, max_length=64, description="The source it attributes: store, live, ad …")
    campaign: Text | None = Field(None, max_length=200)
    staff: list[str] = Field(min_length=1, max_length=100, description="The staff userids it adds (one: 单人码).")
    state: str | None = Field(None, description="The code's state (made up when left out); ≤30 letters, digits, _ -.")
    skip_verify: bool = Field(True, description="Customers are added without the member's confirmation.")

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is not None and not STATE.match(value):
            raise ValueError("at most 30 letters, digits, _ and -")
        return value

    @field_validator("staff")
    @classmethod
    def _staff(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each staff member once")
        return value


class ContactWayPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Text | None = Field(None, min_length=1, max_length=200)
    campaign: Text | None = Field(None, max_length=200)
    staff: list[str] | None = Field(None, min_length=1, max_length=100)
    skip_verify: bool | None = None


def _body(data: ContactWayIn | ContactWayPatch, code: ChannelCode, staff: list[str]) -> dict[str, Any]:
    """What add_contact_way and update_contact_way share (``type`` and ``scene`` are fixed at creation)."""
    return {
        "style": 1,
        "remark": (data.label or code.label)[:30],
        "skip_verify": code.skip_verify if data.skip_verify is None else data.skip_verify,
        "state": code.state,
        "user": staff,
    }


def _check_staff(session: Session, userids: list[str]) -> list[StaffMember]:
    found = {s.userid: s for s in session.scalars(select(StaffMember).where(StaffMember.userid.in_(userids)))}
    missing = [u for u in userids if u not in found or not found[u].active]
    if missing:
        raise InvalidInput.on("staff", f"not active staff members here: {', '.join(missing)} (sync WeCom first)")
    return [found[u] for u in userids]


def create(session: Session, client: WeComClient, data: ContactWayIn) -> ChannelCode:
    staff = _check_staff(session, data.staff)
    state = data.state or f"siyu-{secrets.token_hex(6)}"
    if session.scalar(select(ChannelCode.id).where(ChannelCode.state == state)) is not None:
        raise Conflict(f"a channel code with state {state!r} exists", extra={"field": "state"})
    code = ChannelCode(
        state=state,
        label=data.label,
        source=data.source,
        campaign=data.campaign,
        owner_staff_id=staff[0].id,
        staff=data.staff,
        skip_verify=data.skip_verify,
    )
    # the row first: a second request with the same state waits on the unique index and is refused here,
    # before WeCom makes a code that nothing would know the config_id of
    session.add(code)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a channel code with state {state!r} exists", extra={"field": "state"}) from None
    body = {"type": 1 if len(data.staff) == 1 else 2, "scene": 2, **_body(data, code, data.staff)}
    try:
        answer = client.add_contact_way(body)
    except (WeChatError, Unreachable) as exc:
        raise ChannelUnreachable(f"WeCom did not make the code: {exc}") from None
    code.config_id, code.qr_code = str(answer["config_id"]), answer.get("qr_code")
    session.flush()
    return code


def _code(session: Session, code_id: int) -> ChannelCode:
    code = session.get(ChannelCode, code_id)
    if code is None or code.deleted_at is not None:
        raise NotFound(f"no channel code {code_id}")
    return code


def update(session: Session, client: WeComClient, code_id: int, data: ContactWayPatch) -> ChannelCode:
    code = _code(session, code_id)
    staff = data.staff or list(code.staff or [])
    members = _check_staff(session, staff)
    if len(code.staff or []) == 1 and len(staff) > 1:
        # WeCom fixes a code's type when it is made: a 单人 code takes one member
        raise InvalidInput.on("staff", "this code was made for one staff member: make a new code for several")
    if code.config_id:
        try:
            client.update_contact_way({"config_id": code.config_id, **_body(data, code, staff)})
        except (WeChatError, Unreachable) as exc:
            raise ChannelUnreachable(f"WeCom did not change the code: {exc}") from None
    for name in ("label", "campaign", "skip_verify"):
        if getattr(data, name) is not None:
            setattr(code, name, getattr(data, name))
    code.staff, code.owner_staff_id = staff, members[0].id
    session.flush()
    return code


def delete(session: Session, client: WeComClient, code_id: int, now: datetime) -> None:
    """The code stops adding anyone; the contacts it brought keep their attribution."""
    code = _code(session, code_id)
    if code.config_id:
        try:
            client.delete_contact_way(code.config_id)
        except WeChatError as exc:
            if exc.errcode not in (40058, 41054):  # already gone in WeCom: taken down here too
                raise ChannelUnreachable(f"WeCom did not delete the code: {exc}") from None
        except Unreachable as exc:
            raise ChannelUnreachable(f"WeCom did not delete the code: {exc}") from None
    code.deleted_at = now
    session.flush()


@dataclass
class CodeStats:
    state: str
    adds: int = 0
    deletions: int = 0
    active: int = 0
    retention_7d: float | None = None  # of the adds at least 7 days old, the share still there 7 days later
    per_day: dict[str, int] = field(default_factory=dict)


def stats(session: Session, workspace_id: int, now: datetime, days: int = 30) -> dict[str, CodeStats]:
    """Per ``state``: adds (in the last ``days`` days, by local day), deletions, who is still there, and
    7-day retention over every add old enough to tell."""
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None
    tz = zoneinfo.ZoneInfo(workspace.timezone)
    since = now - timedelta(days=days)
    out: dict[str, CodeStats] = {}
    old_enough: dict[str, list[bool]] = {}
    rows = session.execute(
        select(StaffRelation.state, StaffRelation.added_at, StaffRelation.ended_at, StaffRelation.status).where(
            StaffRelation.state.is_not(None)
        )
    )
    for state, added_at, ended_at, status in rows:
        assert state is not None
        entry = out.setdefault(state, CodeStats(state))
        entry.adds += 1
        if status in ("staff_deleted", "customer_deleted"):
            entry.deletions += 1
        elif status in ("active", "half"):
            entry.active += 1
        if added_at >= since:
            day = added_at.astimezone(tz).date().isoformat()
            entry.per_day[day] = entry.per_day.get(day, 0) + 1
        if added_at <= now - timedelta(days=RETENTION_DAYS):
            stayed = ended_at is None or ended_at > added_at + timedelta(days=RETENTION_DAYS)
            old_enough.setdefault(state, []).append(stayed)
    for state, kept in old_enough.items():
        out[state].retention_7d = sum(kept) / len(kept)
    return out


def days_back(now: datetime, tz: zoneinfo.ZoneInfo, days: int) -> list[date]:
    today = now.astimezone(tz).date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
