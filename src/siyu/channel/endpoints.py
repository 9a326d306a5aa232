"""The callback URLs WeCom and the 公众号 call (public: they are checked by signature, not by login), and the
channel API: settings of any installed channel, its schema and connection test, and the WeCom sync."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.channel import callbacks, contact_ways, group_messages, sending, tag_push, views
from siyu.channel.settings import OfficialAccountSettings, WeComSettings
from siyu.channel.tasks import PUSH_TAGS_JOB, SYNC_JOB
from siyu.dispatch import channels, plugins
from siyu.errors import NotFound
from siyu.kit.db import across_workspaces, transaction
from siyu.kit.inputs import RowId
from siyu.kit.time import utcnow
from siyu.models import ChannelCode, Tag, Workspace
from siyu.wechat.client import WeComClient
from siyu.worker.queue import enqueue

router = APIRouter(tags=["channels"])
# WeCom and WeChat call these with no siyu credentials: each request is checked by its signature.
callback_router = APIRouter(tags=["callbacks"])
Reader = Annotated[AuthContext, Depends(require(Permission.workspace_read))]
Manager = Annotated[AuthContext, Depends(require(Permission.channels_manage))]
Sender = Annotated[AuthContext, Depends(require(Permission.journeys_manage))]
Signed = Annotated[str, Query(max_length=200)]


def _workspace(request: Request, slug: str, channel: str) -> tuple[int, Any]:
    with transaction(request.app.state.sessionmaker) as session, across_workspaces(session):
        workspace = session.scalar(select(Workspace).where(Workspace.slug == slug))
        if workspace is None:
            raise NotFound(f"no workspace {slug!r}")
        workspace_id = workspace.id
    with transaction(request.app.state.sessionmaker, workspace_id=workspace_id) as session:
        return workspace_id, channels.settings_for(session, workspace_id, channel)


@callback_router.get("/callbacks/wecom/{slug}", response_class=PlainTextResponse, summary="WeCom's callback URL check")
def wecom_url_check(
    request: Request, slug: str, msg_signature: Signed, timestamp: Signed, nonce: Signed, echostr: Signed
) -> PlainTextResponse:
    _, settings = _workspace(request, slug, "wecom")
    assert isinstance(settings, WeComSettings)
    # "+" in echostr can reach us as a space when WeCom does not encode it: the crypto module undoes that
    plain = callbacks.verify_wecom_url(settings, msg_signature, timestamp, nonce, echostr)
    return PlainTextResponse(plain)


@callback_router.post("/callbacks/wecom/{slug}", response_class=PlainTextResponse, summary="WeCom's callbacks")
async def wecom_callback(
    request: Request, slug: str, msg_signature: Signed, timestamp: Signed, nonce: Signed
) -> PlainTextResponse:
    body = await request.body()
    workspace_id, settings = _workspace(request, slug, "wecom")
    assert isinstance(settings, WeComSettings)
    message = callbacks.open_wecom(settings, body, msg_signature, timestamp, nonce)
    with transaction(request.app.state.sessionmaker, workspace_id=workspace_id) as session:
        callbacks.receive(session, workspace_id, "wecom", message, utcnow())
    return PlainTextResponse("")  # an empty 200 tells WeCom it arrived


@callback_router.get("/callbacks/official_account/{slug}", response_class=PlainTextResponse, summary="公众号 URL check")
def mp_url_check(
    request: Request, slug: str, signature: Signed, timestamp: Signed, nonce: Signed, echostr: Signed
) -> PlainTextResponse:
    _, settings = _workspace(request, slug, "official_account")
    assert isinstance(settings, OfficialAccountSettings)
    return PlainTextResponse(callbacks.verify_mp_url(settings, signature, timestamp, nonce, echostr))


@callback_router.post("/callbacks/official_account/{slug}", response_class=PlainTextResponse, summary="公众号 pushes")
async def mp_callback(request: Request, slug: str) -> PlainTextResponse:
    body = await request.body()
    workspace_id, settings = _workspace(request, slug, "official_account")
    assert isinstance(settings, OfficialAccountSettings)
    message = callbacks.open_mp(settings, body, {k: v[:200] for k, v in request.query_params.items()})
    with transaction(request.app.state.sessionmaker, workspace_id=workspace_id) as session:
        callbacks.receive(session, workspace_id, "official_account", message, utcnow())
    return PlainTextResponse("success")


@router.get("/api/v1/channels/{name}/schema", summary="A channel's settings schema (secrets are writeOnly)")
def channel_schema(name: str, ctx: Reader) -> dict[str, Any]:
    return plugins.schema(name)


@router.put("/api/v1/channels/{name}", summary="Set up a channel (any installed channel plugin)")
def set_channel(
    name: str, session: DbSession, ctx: Manager, settings: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    return channels.set_channel(session, ctx.workspace_id, name, settings)


@router.post("/api/v1/channels/{name}/test", summary="Test a channel's connection; nothing is sent")
def test_channel(name: str, session: DbSession, ctx: Manager) -> dict[str, Any]:
    return channels.test_channel(session, ctx.workspace_id, name)


@router.post("/api/v1/wecom/sync", status_code=202, summary="Read the WeCom corp into siyu (a job)")
def start_sync(session: DbSession, ctx: Manager, full: bool = False) -> dict[str, Any]:
    channels.settings_for(session, ctx.workspace_id, "wecom")
    job = enqueue(session, SYNC_JOB, {"full": True} if full else {}, workspace_id=ctx.workspace_id)
    return {"job_id": job.id, "full": full}


# --- 渠道活码, staff and customer groups --------------------------------------------------------------------


def _client(session: DbSession, ctx: AuthContext) -> WeComClient:
    settings = channels.settings_for(session, ctx.workspace_id, "wecom")
    assert isinstance(settings, WeComSettings)
    return sending.client_for(settings)


def code_out(code: ChannelCode, found: contact_ways.CodeStats | None) -> dict[str, Any]:
    return {
        "id": code.id,
        "state": code.state,
        "label": code.label,
        "source": code.source,
        "campaign": code.campaign,
        "staff": code.staff or [],
        "skip_verify": code.skip_verify,
        "config_id": code.config_id,
        "qr_code": code.qr_code,
        "deleted": code.deleted_at is not None,
        "stats": asdict(found) if found else asdict(contact_ways.CodeStats(code.state)),
    }


@router.get("/api/v1/wecom/contact-ways", summary="渠道活码 with what each brought (adds, deletions, retention)")
def list_contact_ways(session: DbSession, ctx: Reader, days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[Any]:
    found = contact_ways.stats(session, ctx.workspace_id, utcnow(), days)
    codes = session.scalars(select(ChannelCode).order_by(ChannelCode.id))
    return [code_out(c, found.get(c.state)) for c in codes]


@router.post("/api/v1/wecom/contact-ways", status_code=201, summary="Make a 渠道活码 in WeCom (add_contact_way)")
def create_contact_way(data: contact_ways.ContactWayIn, session: DbSession, ctx: Manager) -> dict[str, Any]:
    client = _client(session, ctx)
    try:
        return code_out(contact_ways.create(session, client, data), None)
    finally:
        client.close()


@router.patch("/api/v1/wecom/contact-ways/{code_id}", summary="Change a 渠道活码 (update_contact_way)")
def update_contact_way(
    code_id: RowId, data: contact_ways.ContactWayPatch, session: DbSession, ctx: Manager
) -> dict[str, Any]:
    client = _client(session, ctx)
    try:
        code = contact_ways.update(session, client, code_id, data)
    finally:
        client.close()
    return code_out(code, contact_ways.stats(session, ctx.workspace_id, utcnow()).get(code.state))


@router.delete("/api/v1/wecom/contact-ways/{code_id}", status_code=204, summary="Take a 渠道活码 down")
def delete_contact_way(code_id: RowId, session: DbSession, ctx: Manager) -> Response:
    client = _client(session, ctx)
    try:
        contact_ways.delete(session, client, code_id, utcnow())
    finally:
        client.close()
    return Response(status_code=204)


@router.get("/api/v1/wecom/staff", summary="Staff members with their customer counts")
def list_staff(session: DbSession, ctx: Reader) -> list[dict[str, Any]]:
    return [asdict(s) for s in views.staff(session)]


@router.get("/api/v1/wecom/groups", summary="Customer groups with member counts and activity")
def list_groups(session: DbSession, ctx: Reader) -> list[dict[str, Any]]:
    return [asdict(g) for g in views.groups(session, utcnow())]


@router.post("/api/v1/wecom/group-messages", status_code=201, summary="客户群群发: a staff member to their groups")
def send_group_message(data: group_messages.GroupMessageIn, session: DbSession, ctx: Sender) -> dict[str, Any]:
    client = _client(session, ctx)
    try:
        return group_messages.out(group_messages.send(session, client, data, utcnow()))
    finally:
        client.close()


@router.get("/api/v1/wecom/group-messages/{message_id}", summary="A group message with WeCom's results as last read")
def group_message(message_id: RowId, session: DbSession, ctx: Reader) -> dict[str, Any]:
    return group_messages.out(group_messages.get(session, message_id))


@router.post(
    "/api/v1/wecom/group-messages/{message_id}/refresh",
    summary="Read WeCom's results for a group message now (a WeCom call: for those who send)",
)
def refresh_group_message(message_id: RowId, session: DbSession, ctx: Sender) -> dict[str, Any]:
    client = _client(session, ctx)
    try:
        return group_messages.out(group_messages.refresh(session, client, message_id, utcnow()))
    finally:
        client.close()


@router.post("/api/v1/wecom/tag-groups/{group_id}/push", summary="Put a siyu tag group into WeCom's tag library")
def push_tag_group(group_id: RowId, session: DbSession, ctx: Manager) -> dict[str, Any]:
    client = _client(session, ctx)
    try:
        group = tag_push.push_group(session, client, group_id)
    finally:
        client.close()
    tags = session.scalars(select(Tag).where(Tag.group_id == group.id).order_by(Tag.id))
    return {
        "id": group.id,
        "name": group.name,
        "wecom_group_id": group.wecom_group_id,
        "tags": [{"id": t.id, "name": t.name, "wecom_tag_id": t.wecom_tag_id} for t in tags],
    }


@router.post("/api/v1/wecom/tags/push", status_code=202, summary="Mark on WeCom the tags siyu changed (a job)")
def push_tag_marks(session: DbSession, ctx: Manager) -> dict[str, Any]:
    channels.settings_for(session, ctx.workspace_id, "wecom")
    job = enqueue(session, PUSH_TAGS_JOB, {}, workspace_id=ctx.workspace_id)
    return {"job_id": job.id}
