"""The reference data contacts point to: the custom property catalogue, 渠道活码 channel codes and staff
(WeCom users who own contacts). Every change is written to the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.contact import repository
from siyu.contact.schemas import (
    ChannelCodeIn,
    ChannelCodeOut,
    PropertyDefinitionIn,
    StaffIn,
    StaffRef,
)
from siyu.errors import Conflict, InvalidInput, NotFound
from siyu.kit.db import add_unique
from siyu.models import ChannelCode, PropertyDefinition, StaffMember

# --- property catalogue -----------------------------------------------------------------------


def _property_state(d: PropertyDefinition) -> dict[str, Any]:
    return {"key": d.key, "type": d.type, "label": d.label, "description": d.description, "options": d.options}


def list_properties(session: Session) -> list[PropertyDefinition]:
    return repository.property_definitions(session)


def create_property(session: Session, ctx: AuthContext, data: PropertyDefinitionIn) -> PropertyDefinition:
    definition = PropertyDefinition(
        key=data.key,
        type=data.type.value,
        label=data.label or data.key,
        description=data.description,
        options=data.options,
    )
    if repository.property_definition(session, data.key) is not None or not add_unique(session, definition):
        raise Conflict(f"a property {data.key!r} is already declared", extra={"field": "key"})
    audit.record(session, ctx, "property.created", "property_definition", data.key, after=_property_state(definition))
    return definition


def delete_property(session: Session, ctx: AuthContext, key: str) -> None:
    """Removes the declaration only: values stored on contacts stay, no longer checked or offered."""
    definition = repository.property_definition(session, key)
    if definition is None:
        raise NotFound(f"no property {key!r} is declared")
    before = _property_state(definition)
    session.delete(definition)
    session.flush()
    audit.record(session, ctx, "property.deleted", "property_definition", key, before=before)


# --- staff ------------------------------------------------------------------------------------


def _staff_state(s: StaffMember) -> dict[str, Any]:
    return {"userid": s.userid, "name": s.name, "department": s.department}


def list_staff(session: Session) -> list[StaffMember]:
    return repository.staff_members(session)


def create_staff(session: Session, ctx: AuthContext, data: StaffIn) -> StaffMember:
    staff = StaffMember(userid=data.userid, name=data.name, department=data.department, active=True)
    if repository.staff_by_userid(session, data.userid) is not None or not add_unique(session, staff):
        raise Conflict(f"a staff member with userid {data.userid!r} exists", extra={"field": "userid"})
    audit.record(session, ctx, "staff.created", "staff_member", staff.id, after=_staff_state(staff))
    return staff


# --- channel codes ----------------------------------------------------------------------------


def _code_out(code: ChannelCode, staff: dict[int, StaffMember], counts: dict[str, int]) -> ChannelCodeOut:
    owner = staff.get(code.owner_staff_id) if code.owner_staff_id else None
    return ChannelCodeOut(
        id=code.id,
        state=code.state,
        label=code.label,
        source=code.source,
        campaign=code.campaign,
        owner_staff=StaffRef(id=owner.id, userid=owner.userid, name=owner.name) if owner else None,
        contact_count=counts.get(code.state, 0),
        created_at=code.created_at,
    )


def list_channel_codes(session: Session) -> list[ChannelCodeOut]:
    codes = repository.channel_codes(session)
    staff = repository.staff_by_ids(session, [c.owner_staff_id for c in codes if c.owner_staff_id])
    counts = repository.contacts_per_channel_code(session)
    return [_code_out(c, staff, counts) for c in codes]


def create_channel_code(session: Session, ctx: AuthContext, data: ChannelCodeIn) -> ChannelCodeOut:
    owner = None
    if data.owner_staff is not None:
        owner = repository.staff_by_userid(session, data.owner_staff)
        if owner is None:
            raise InvalidInput.on("owner_staff", f"no staff member with userid {data.owner_staff!r}")
    code = ChannelCode(
        state=data.state,
        label=data.label,
        source=data.source,
        campaign=data.campaign,
        owner_staff_id=owner.id if owner else None,
    )
    if repository.channel_code(session, data.state) is not None or not add_unique(session, code):
        raise Conflict(f"a channel code with state {data.state!r} exists", extra={"field": "state"})
    state = {"state": code.state, "label": code.label, "source": code.source, "campaign": code.campaign}
    audit.record(
        session, ctx, "channel_code.created", "channel_code", code.id, after={**state, "owner": data.owner_staff}
    )
    return _code_out(code, {owner.id: owner} if owner else {}, {})
