"""Channel settings API: which outbound channels a workspace has, and the webhook's settings (the secret
is written, never shown)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.dispatch import channels
from siyu.models import Workspace

router = APIRouter(prefix="/api/v1", tags=["channels"])
Reader = Annotated[AuthContext, Depends(require(Permission.workspace_read))]
Manager = Annotated[AuthContext, Depends(require(Permission.channels_manage))]


@router.get("/channels", summary="The workspace's outbound channels")
def list_channels(session: DbSession, ctx: Reader) -> dict[str, Any]:
    workspace = session.get(Workspace, ctx.workspace_id)
    assert workspace is not None
    webhook = (workspace.channels or {}).get("webhook")
    return {
        "available": sorted(channels.configured(workspace)),
        "webhook": channels.shown(channels.parse_webhook(webhook)) if webhook else None,
    }


@router.put("/channels/webhook", summary="Set up the webhook channel")
def set_webhook(session: DbSession, ctx: Manager, settings: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return channels.set_channel(session, ctx.workspace_id, "webhook", settings)
