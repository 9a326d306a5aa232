"""Segment API: save versioned definitions, preview counts, list members, explain membership, and
queue analytics refreshes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.kit.inputs import RowId, RowOffset
from siyu.kit.pagination import Page
from siyu.lake.dependencies import LakeDep
from siyu.lake.jobs import request_refresh
from siyu.models import Segment
from siyu.segment import repository, service
from siyu.segment.schemas import (
    Explanation,
    MemberOut,
    PreviewIn,
    PreviewOut,
    SegmentDetail,
    SegmentIn,
    SegmentKind,
    SegmentOut,
    SegmentPatch,
    SegmentVersionOut,
    SizePoint,
)

router = APIRouter(prefix="/api/v1", tags=["segments"])
Reader = Annotated[AuthContext, Depends(require(Permission.analytics_read))]
Manager = Annotated[AuthContext, Depends(require(Permission.segments_manage))]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[RowOffset, Query()]


def segment_out(s: Segment) -> SegmentOut:
    return SegmentOut(
        id=s.id,
        name=s.name,
        description=s.description,
        kind=SegmentKind(s.kind),
        definition=s.definition,
        version=s.version,
        archived=s.archived,
        size=s.size,
        refresh_no=s.refresh_no,
        refreshed_at=s.refreshed_at,
        broken_reason=s.broken_reason,
        created_by=s.created_by,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


@router.get("/segments", response_model=list[SegmentOut], summary="Segments of the workspace")
def list_segments(session: DbSession, ctx: Reader, archived: Annotated[bool, Query()] = False) -> list[SegmentOut]:
    return [segment_out(s) for s in repository.segments(session, include_archived=archived)]


@router.post("/segments", response_model=SegmentOut, status_code=201, summary="Save a segment")
def create_segment(data: SegmentIn, session: DbSession, ctx: Manager) -> SegmentOut:
    return segment_out(service.create_segment(session, ctx, data))


@router.post(
    "/segments/preview",
    response_model=PreviewOut,
    summary="Count the contacts a definition holds for, without saving it",
)
def preview(data: PreviewIn, session: DbSession, ctx: Reader, lake: LakeDep) -> PreviewOut:
    return service.preview(session, lake, data.definition)


@router.post("/segments/explain", response_model=Explanation, summary="Explain a definition for one contact")
def explain_definition(
    data: PreviewIn, session: DbSession, ctx: Reader, lake: LakeDep, contact_id: Annotated[RowId, Query()]
) -> Explanation:
    return service.explain(session, lake, contact_id, raw=data.definition)


@router.get(
    "/segments/{segment_id}", response_model=SegmentDetail, summary="A segment, its versions and size over time"
)
def get_segment(segment_id: RowId, session: DbSession, ctx: Reader) -> SegmentDetail:
    s = service.get(session, segment_id)
    return SegmentDetail(
        **segment_out(s).model_dump(),
        versions=[
            SegmentVersionOut(
                version=v.version, definition=v.definition, created_by=v.created_by, created_at=v.created_at
            )
            for v in repository.versions(session, s.id)
        ],
        history=[
            SizePoint(
                refresh_no=r.refresh_no,
                size=r.size,
                entered=r.entered,
                left=r.left,
                definition_version=r.definition_version,
                refreshed_at=r.refreshed_at,
            )
            for r in repository.refreshes(session, s.id)
        ],
    )


@router.patch("/segments/{segment_id}", response_model=SegmentOut, summary="Rename, archive or save a new version")
def update_segment(segment_id: RowId, data: SegmentPatch, session: DbSession, ctx: Manager) -> SegmentOut:
    return segment_out(service.update_segment(session, ctx, segment_id, data))


@router.delete("/segments/{segment_id}", status_code=204, response_class=Response, summary="Delete a segment")
def delete_segment(segment_id: RowId, session: DbSession, ctx: Manager) -> Response:
    service.delete_segment(session, ctx, segment_id)
    return Response(status_code=204)


@router.get("/segments/{segment_id}/members", response_model=Page[MemberOut], summary="Members (last refresh)")
def members(
    segment_id: RowId, session: DbSession, ctx: Reader, limit: Limit = 50, offset: Offset = 0
) -> Page[MemberOut]:
    service.get(session, segment_id)
    rows, total = repository.member_page(session, segment_id, limit=limit, offset=offset)
    items = [MemberOut(contact_id=m.contact_id, since_refresh=m.since_refresh, entered_at=m.entered_at) for m in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/segments/{segment_id}/explain",
    response_model=Explanation,
    summary="Why a contact is or is not in the segment, leaf by leaf",
)
def explain(
    segment_id: RowId, session: DbSession, ctx: Reader, lake: LakeDep, contact_id: Annotated[RowId, Query()]
) -> Explanation:
    return service.explain(session, lake, contact_id, segment_id=segment_id)


@router.post(
    "/segments/{segment_id}/refresh",
    status_code=202,
    summary="Queue a refresh of the segment (a static segment takes a new snapshot)",
)
def refresh_segment(segment_id: RowId, session: DbSession, ctx: Manager) -> dict[str, Any]:
    s = service.snapshot(session, ctx, segment_id)
    return {"queued": True, "segment_id": s.id}


@router.post("/analytics/refresh", status_code=202, summary="Queue an analytics refresh of the workspace")
def refresh(
    session: DbSession, ctx: Manager, mode: Annotated[str, Query(pattern="^(full|incremental)$")] = "full"
) -> dict[str, Any]:
    request_refresh(session, ctx.workspace_id, mode=mode)
    return {"queued": True, "mode": mode}
