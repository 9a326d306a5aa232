"""Channel settings API: which outbound channels a workspace has, and the settings of the webhook and
e-mail channels (their secrets are written, never shown)."""

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
    return {"available": sorted(channels.configured(workspace)), **channels.shown_all(workspace)}


@router.put("/channels/webhook", summary="Set up the webhook channel")
def set_webhook(session: DbSession, ctx: Manager, settings: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return channels.set_channel(session, ctx.workspace_id, "webhook", settings)


@router.put("/channels/email", summary="Set up the e-mail channel (an SMTP relay)")
def set_email(session: DbSession, ctx: Manager, settings: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return channels.set_channel(session, ctx.workspace_id, "email", settings)
