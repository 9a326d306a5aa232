from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.kit.inputs import RowId
from siyu.workspace import service
from siyu.workspace.schemas import (
    MemberCreate,
    MemberOut,
    MemberUpdate,
    TokenCreate,
    TokenCreated,
    TokenOut,
    WorkspaceOut,
    WorkspaceUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["workspace"])

P = Permission


@router.get("/workspace", response_model=WorkspaceOut, summary="The current workspace")
def get_workspace(session: DbSession, ctx: Annotated[AuthContext, Depends(require(P.workspace_read))]) -> WorkspaceOut:
    return WorkspaceOut.model_validate(service.get_workspace(session, ctx))


@router.patch("/workspace", response_model=WorkspaceOut, summary="Change the workspace's name, time zone or language")
def update_workspace(
    data: WorkspaceUpdate, session: DbSession, ctx: Annotated[AuthContext, Depends(require(P.workspace_manage))]
) -> WorkspaceOut:
    return WorkspaceOut.model_validate(service.update_workspace(session, ctx, data))


@router.get("/members", response_model=list[MemberOut], summary="Members of the workspace and their roles")
def list_members(session: DbSession, _ctx: Annotated[AuthContext, Depends(require(P.members_read))]) -> list[MemberOut]:
    return service.list_members(session)


@router.post("/members", response_model=MemberOut, status_code=201, summary="Add a member")
def add_member(
    data: MemberCreate, session: DbSession, ctx: Annotated[AuthContext, Depends(require(P.members_manage))]
) -> MemberOut:
    return service.add_member(session, ctx, data)


@router.patch("/members/{member_id}", response_model=MemberOut, summary="Change a member's role or PII grant")
def update_member(
    member_id: RowId,
    data: MemberUpdate,
    session: DbSession,
    ctx: Annotated[AuthContext, Depends(require(P.members_manage))],
) -> MemberOut:
    return service.update_member(session, ctx, member_id, data)


@router.delete("/members/{member_id}", status_code=204, response_class=Response, summary="Remove a member")
def remove_member(
    member_id: RowId, session: DbSession, ctx: Annotated[AuthContext, Depends(require(P.members_manage))]
) -> Response:
    service.remove_member(session, ctx, member_id)
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut], summary="API tokens of the workspace")
def list_tokens(session: DbSession, _ctx: Annotated[AuthContext, Depends(require(P.tokens_manage))]) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in service.list_tokens(session)]


@router.post("/tokens", response_model=TokenCreated, status_code=201, summary="Create an API token (secret shown once)")
def create_token(
    data: TokenCreate, session: DbSession, ctx: Annotated[AuthContext, Depends(require(P.tokens_manage))]
) -> TokenCreated:
    token, secret = service.create_token(session, ctx, data)
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke an API token")
def revoke_token(
    token_id: RowId, session: DbSession, ctx: Annotated[AuthContext, Depends(require(P.tokens_manage))]
) -> TokenOut:
    return TokenOut.model_validate(service.revoke_token(session, ctx, token_id))
