"""Built-in tiers API: distributions (for the RFM grid and tier charts), one contact's scores with their
explanation, lifecycle flows, and the workspace's tier settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.kit.inputs import RowId
from siyu.lake.dependencies import LakeDep
from siyu.tiers import service

router = APIRouter(prefix="/api/v1/tiers", tags=["tiers"])
Reader = Annotated[AuthContext, Depends(require(Permission.analytics_read))]
Manager = Annotated[AuthContext, Depends(require(Permission.segments_manage))]


@router.get("/distribution", summary="Contacts per RFM cell, tier and lifecycle stage; the R × F grid; CLV totals")
def distribution(ctx: Reader, lake: LakeDep) -> dict[str, Any]:
    return service.distribution(lake, ctx.workspace_id)


@router.get("/lifecycle-flows", summary="Lifecycle stage changes over the last days (from → to)")
def lifecycle_flows(ctx: Reader, lake: LakeDep, days: Annotated[int, Query(ge=1, le=3650)] = 90) -> dict[str, Any]:
    return service.lifecycle_flows(lake, ctx.workspace_id, days)


@router.get("/contacts/{contact_id}", summary="A contact's scores in every model, and why")
def contact_scores(contact_id: RowId, session: DbSession, ctx: Reader, lake: LakeDep) -> dict[str, Any]:
    return service.contact_scores(session, lake, contact_id)


@router.get("/settings", summary="The workspace's tier settings (defaults from the seeds)")
def get_settings(session: DbSession, ctx: Reader) -> dict[str, Any]:
    return service.settings_of(session).model_dump(mode="json")


@router.put("/settings", summary="Change the tier settings (queues a full refresh)")
def put_settings(session: DbSession, ctx: Manager, settings: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return service.put_settings(session, ctx, settings).model_dump(mode="json")
