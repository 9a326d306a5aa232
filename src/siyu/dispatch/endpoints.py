"""Channel settings API: which outbound channels a workspace has, and the settings of the webhook and
e-mail channels (their secrets are written, never shown); broadcasts to a segment and their forecast."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.dispatch import broadcast, channels
from siyu.dispatch.governance import Priority
from siyu.kit.inputs import Text
from siyu.kit.time import utcnow
from siyu.models import Workspace

router = APIRouter(prefix="/api/v1", tags=["channels"])
Reader = Annotated[AuthContext, Depends(require(Permission.workspace_read))]
Manager = Annotated[AuthContext, Depends(require(Permission.channels_manage))]
Sender = Annotated[AuthContext, Depends(require(Permission.journeys_manage))]


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


class Content(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(None, max_length=200)
    text: Text = Field(min_length=1, max_length=4000)
    url: str | None = Field(None, max_length=2000)


class BroadcastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment_id: int = Field(ge=1)
    channel: str = Field(min_length=1, max_length=32)
    content: Content
    priority: Priority = Priority.marketing
    promotional: bool = False

    def plain(self) -> broadcast.Broadcast:
        content = self.content.model_dump(exclude_none=True)
        return broadcast.Broadcast(self.segment_id, self.channel, content, self.priority, self.promotional)


class BroadcastSend(BroadcastIn):
    key: str | None = Field(
        None, max_length=64, description="Names the broadcast and makes sending it again harmless (default: new)."
    )


class OutlookOut(BaseModel):
    key: str | None = None
    audience: int = Field(description="Contacts in the segment now.")
    send: int = Field(description="Would go out now.")
    deferred: int = Field(description="Deferred by quiet hours to the window's end.")
    blocked: dict[str, int] = Field(description="Blocked, by rule (opt_out, daily_cap, content_mix …).")
    no_address: int = Field(description="E-mail only: contacts without an address (they would fail).")
    queued: int = Field(0, description="Ledger rows written by this send (0 when the key was sent before).")


@router.post("/broadcasts/forecast", response_model=OutlookOut, summary="How a broadcast would fare, sending nothing")
def forecast_broadcast(data: BroadcastIn, session: DbSession, ctx: Reader) -> OutlookOut:
    return OutlookOut(**broadcast.forecast(session, ctx.workspace_id, data.plain(), utcnow()).as_dict())


@router.post("/broadcasts", response_model=OutlookOut, status_code=201, summary="Send to a segment now")
def send_broadcast(data: BroadcastSend, session: DbSession, ctx: Sender) -> OutlookOut:
    key = data.key or uuid.uuid4().hex
    outlook = broadcast.send(session, ctx.workspace_id, data.plain(), key, utcnow())
    return OutlookOut(key=key, **outlook.as_dict())
