"""Tag API: groups, tags (manual and auto-tags), bulk tagging, a contact's tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.errors import NotFound
from siyu.kit.inputs import RowId
from siyu.models import Tag
from siyu.tag import repository, service
from siyu.tag.schemas import (
    ContactTagOut,
    TaggingIn,
    TaggingOut,
    TagGroupIn,
    TagGroupOut,
    TagIn,
    TagOut,
    TagPatch,
)

router = APIRouter(prefix="/api/v1", tags=["tags"])
Reader = Annotated[AuthContext, Depends(require(Permission.contacts_read))]
Manager = Annotated[AuthContext, Depends(require(Permission.tags_manage))]


def tag_out(session: DbSession, tag: Tag, counts: dict[int, int] | None = None) -> TagOut:
    group = repository.group(session, tag.group_id)
    counts = counts if counts is not None else repository.tag_counts(session)
    return TagOut(
        id=tag.id,
        group_id=tag.group_id,
        group=group.name if group else "",
        name=tag.name,
        description=tag.description,
        kind="rule" if tag.rule else "manual",
        rule=tag.rule,
        remove_when_false=tag.remove_when_false,
        broken_reason=tag.broken_reason,
        contacts=counts.get(tag.id, 0),
        created_at=tag.created_at,
    )


@router.get("/tag-groups", response_model=list[TagGroupOut], summary="Tag groups")
def list_groups(session: DbSession, ctx: Reader) -> list[TagGroupOut]:
    sizes = repository.group_sizes(session)
    return [
        TagGroupOut(id=g.id, name=g.name, description=g.description, exclusive=g.exclusive, tags=sizes.get(g.id, 0))
        for g in repository.groups(session)
    ]


@router.post("/tag-groups", response_model=TagGroupOut, status_code=201, summary="Add a tag group")
def create_group(data: TagGroupIn, session: DbSession, ctx: Manager) -> TagGroupOut:
    g = service.create_group(session, ctx, data)
    return TagGroupOut(id=g.id, name=g.name, description=g.description, exclusive=g.exclusive, tags=0)


@router.delete(
    "/tag-groups/{group_id}", status_code=204, response_class=Response, summary="Delete a group and its tags"
)
def delete_group(group_id: RowId, session: DbSession, ctx: Manager) -> Response:
    service.delete_group(session, ctx, group_id)
    return Response(status_code=204)


@router.get("/tags", response_model=list[TagOut], summary="Tags, with how many contacts hold each")
def list_tags(session: DbSession, ctx: Reader) -> list[TagOut]:
    counts = repository.tag_counts(session)
    return [tag_out(session, t, counts) for t in repository.tags(session)]


@router.post("/tags", response_model=TagOut, status_code=201, summary="Add a tag (with a rule: an auto-tag)")
def create_tag(data: TagIn, session: DbSession, ctx: Manager) -> TagOut:
    return tag_out(session, service.create_tag(session, ctx, data))


@router.patch("/tags/{tag_id}", response_model=TagOut, summary="Rename a tag or change its rule")
def update_tag(tag_id: RowId, data: TagPatch, session: DbSession, ctx: Manager) -> TagOut:
    return tag_out(session, service.update_tag(session, ctx, tag_id, data))


@router.delete("/tags/{tag_id}", status_code=204, response_class=Response, summary="Delete a tag")
def delete_tag(tag_id: RowId, session: DbSession, ctx: Manager) -> Response:
    service.delete_tag(session, ctx, tag_id)
    return Response(status_code=204)


@router.post("/tags/{tag_id}/contacts", response_model=TaggingOut, summary="Tag up to 10,000 contacts")
def tag_contacts(tag_id: RowId, data: TaggingIn, session: DbSession, ctx: Manager) -> TaggingOut:
    return service.tag_contacts(session, ctx, tag_id, data.contact_ids, add=True)


@router.post("/tags/{tag_id}/contacts/remove", response_model=TaggingOut, summary="Untag up to 10,000 contacts")
def untag_contacts(tag_id: RowId, data: TaggingIn, session: DbSession, ctx: Manager) -> TaggingOut:
    return service.tag_contacts(session, ctx, tag_id, data.contact_ids, add=False)


@router.get("/contacts/{contact_id}/tags", response_model=list[ContactTagOut], summary="A contact's tags")
def contact_tags(contact_id: RowId, session: DbSession, ctx: Reader) -> list[ContactTagOut]:
    rows = repository.contact_tags(session, contact_id)
    if not rows and not repository.live_contacts(session, [contact_id]):
        raise NotFound(f"no contact {contact_id}")
    return [
        ContactTagOut(tag_id=t.id, tag=t.name, group=g.name, source=ct.source, created_at=ct.created_at)
        for ct, t, g in rows
    ]
