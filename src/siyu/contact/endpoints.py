"""Contact API: search and profiles, timelines, manual merges, and the property catalogue, channel codes
and staff that contacts refer to."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.contact import catalogue, merges, service
from siyu.contact.properties import PROPERTY_KEY
from siyu.contact.schemas import (
    ChannelCodeIn,
    ChannelCodeOut,
    ContactProfile,
    ContactSummary,
    MergeOut,
    MergePair,
    MergePreview,
    MergeRequest,
    PropertyDefinitionIn,
    PropertyDefinitionOut,
    StaffIn,
    StaffOut,
    TimelinePage,
)
from siyu.identity.keys import IdentityKind
from siyu.kit.inputs import NO_NUL, RowId, RowOffset
from siyu.kit.pagination import Page

router = APIRouter(prefix="/api/v1", tags=["contacts"])
P = Permission

Reader = Annotated[AuthContext, Depends(require(P.contacts_read))]
Writer = Annotated[AuthContext, Depends(require(P.contacts_write))]
ChannelManager = Annotated[AuthContext, Depends(require(P.channels_manage))]

Unmask = Annotated[
    bool,
    Query(
        description="Show names, phone numbers and e-mail addresses in full. Needs `pii:unmask` (403 otherwise); "
        "every such read is written to the audit log as `pii.viewed`."
    ),
]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[RowOffset, Query()]

MERGED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The contact was merged into another: the problem's code is `contact_merged` and "
        "`merged_into_id` names the live contact it became (follow it)."
    }
}


# --- contacts ---------------------------------------------------------------------------------


@router.get(
    "/contacts",
    response_model=Page[ContactSummary],
    summary="Search contacts",
    description=(
        "`q` matches a substring of the nickname or name, or exactly one identity value: a phone number in any "
        "common writing (`+86 138-1234-8000`), an e-mail address in any case, or any other identity value as "
        "stored (openid, unionid, buyer id…). Merged contacts are never listed. Newest first."
    ),
)
def list_contacts(
    session: DbSession,
    ctx: Reader,
    q: Annotated[str | None, Query(max_length=256), NO_NUL] = None,
    source: Annotated[str | None, Query(max_length=64), NO_NUL] = None,
    channel_code: Annotated[
        str | None, Query(max_length=128, description="First channel code (state)."), NO_NUL
    ] = None,
    owner_staff: Annotated[str | None, Query(max_length=128, description="Owner's staff userid."), NO_NUL] = None,
    identity_kind: Annotated[IdentityKind | None, Query(description="Has an identity of this kind.")] = None,
    created_from: Annotated[date | None, Query(description="Created on or after this day (workspace time).")] = None,
    created_to: Annotated[date | None, Query(description="Created on or before this day (workspace time).")] = None,
    unmask: Unmask = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ContactSummary]:
    filters = service.ContactFilters(
        q=q,
        source=source,
        channel_code=channel_code,
        owner_staff=owner_staff,
        identity_kind=identity_kind,
        created_from=created_from,
        created_to=created_to,
    )
    return service.list_contacts(session, ctx, filters, limit=limit, offset=offset, unmask=unmask)


@router.post("/contacts/merge/preview", response_model=MergePreview, summary="What merging two contacts would do")
def preview_merge(data: MergePair, session: DbSession, _ctx: Reader) -> MergePreview:
    return merges.preview_merge(session, data)


@router.post(
    "/contacts/merge",
    response_model=MergeOut,
    status_code=201,
    summary="Merge one contact into another",
    description="Moves identities, events, orders and consent to the survivor and fills its empty fields. "
    "Recorded with rule `manual`; undo it with `POST /api/v1/merges/{id}/undo`.",
)
def merge_contacts(data: MergeRequest, session: DbSession, ctx: Writer) -> MergeOut:
    return merges.merge_contacts(session, ctx, data)


@router.get("/contacts/{contact_id}", response_model=ContactProfile, summary="A contact's profile", responses=MERGED)
def get_contact(session: DbSession, ctx: Reader, contact_id: RowId, unmask: Unmask = False) -> ContactProfile:
    return service.profile(session, ctx, contact_id, unmask=unmask)


@router.get(
    "/contacts/{contact_id}/timeline",
    response_model=TimelinePage,
    summary="A contact's events and orders, newest first",
    responses=MERGED,
)
def get_timeline(
    session: DbSession,
    _ctx: Reader,
    contact_id: RowId,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page."), NO_NUL
    ] = None,
    event: Annotated[
        str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="Only events of this name (no orders).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TimelinePage:
    return service.timeline(session, contact_id, cursor=cursor, event=event, limit=limit)


# --- merges -----------------------------------------------------------------------------------


@router.get("/merges", response_model=Page[MergeOut], summary="Merges, newest first")
def list_merges(
    session: DbSession,
    _ctx: Reader,
    contact_id: Annotated[RowId | None, Query(description="Merges this contact took part in.")] = None,
    rule: Annotated[str | None, Query(max_length=64), NO_NUL] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[MergeOut]:
    return merges.list_merges(session, contact_id=contact_id, rule=rule, limit=limit, offset=offset)


@router.post("/merges/{merge_id}/undo", response_model=MergeOut, summary="Undo a merge exactly")
def undo_merge(session: DbSession, ctx: Writer, merge_id: RowId) -> MergeOut:
    return merges.unmerge_contacts(session, ctx, merge_id)


# --- property catalogue -----------------------------------------------------------------------


@router.get("/properties", response_model=list[PropertyDefinitionOut], summary="The custom property catalogue")
def list_properties(session: DbSession, _ctx: Reader) -> list[PropertyDefinitionOut]:
    return [PropertyDefinitionOut.model_validate(d) for d in catalogue.list_properties(session)]


@router.post("/properties", response_model=PropertyDefinitionOut, status_code=201, summary="Declare a custom property")
def create_property(data: PropertyDefinitionIn, session: DbSession, ctx: Writer) -> PropertyDefinitionOut:
    return PropertyDefinitionOut.model_validate(catalogue.create_property(session, ctx, data))


@router.delete(
    "/properties/{key}",
    status_code=204,
    response_class=Response,
    summary="Remove a property from the catalogue",
    description="Values already stored on contacts are kept, but no longer checked or offered.",
)
def delete_property(
    session: DbSession, ctx: Writer, key: Annotated[str, Path(max_length=64, pattern=PROPERTY_KEY.pattern)]
) -> Response:
    catalogue.delete_property(session, ctx, key)
    return Response(status_code=204)


# --- channel codes and staff ------------------------------------------------------------------


@router.get("/channel-codes", response_model=list[ChannelCodeOut], summary="渠道活码: channel codes and their sources")
def list_channel_codes(session: DbSession, _ctx: Reader) -> list[ChannelCodeOut]:
    return catalogue.list_channel_codes(session)


@router.post("/channel-codes", response_model=ChannelCodeOut, status_code=201, summary="Add a channel code")
def create_channel_code(data: ChannelCodeIn, session: DbSession, ctx: ChannelManager) -> ChannelCodeOut:
    return catalogue.create_channel_code(session, ctx, data)


@router.get("/staff", response_model=list[StaffOut], summary="Staff (WeCom users) who own contacts")
def list_staff(session: DbSession, _ctx: Reader) -> list[StaffOut]:
    return [StaffOut.model_validate(s) for s in catalogue.list_staff(session)]


@router.post("/staff", response_model=StaffOut, status_code=201, summary="Add a staff member")
def create_staff(data: StaffIn, session: DbSession, ctx: ChannelManager) -> StaffOut:
    return StaffOut.model_validate(catalogue.create_staff(session, ctx, data))
