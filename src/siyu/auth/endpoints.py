from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from siyu.auth import repository, service
from siyu.auth.context import AuthContext
from siyu.auth.dependencies import SESSION_COOKIE, DbSession, authenticated
from siyu.auth.schemas import LoginIn, MeOut, SwitchWorkspaceIn, WorkspaceChoice
from siyu.errors import InvalidInput
from siyu.kit.db import scope_to_workspace
from siyu.models import Operator

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


def me_out(session: DbSession, ctx: AuthContext) -> MeOut:
    choices: list[WorkspaceChoice] = []
    if ctx.operator_id is not None:
        choices = [
            WorkspaceChoice(id=w.id, slug=w.slug, name=w.name, role=m.role)
            for m, w in repository.memberships_of(session, ctx.operator_id)
        ]
    return MeOut(
        operator_id=ctx.operator_id,
        token_id=ctx.token_id,
        label=ctx.label,
        workspace_id=ctx.workspace_id,
        role=ctx.role,
        permissions=sorted(ctx.permissions),
        csrf_token=ctx.csrf_token,
        workspaces=choices,
    )


@router.post("/login", response_model=MeOut, summary="Sign in with e-mail and password (sets the session cookie)")
def login(data: LoginIn, request: Request, response: Response, session: DbSession) -> MeOut:
    operator = service.check_password(session, data.email, data.password)
    ttl = timedelta(hours=request.app.state.settings.session_ttl_hours)
    started = service.start_session(session, operator, ttl, data.workspace_id)
    set_session_cookie(request, response, started.secret)
    return me_out(session, started.context)


@router.post("/logout", status_code=204, response_class=Response, summary="End the console session")
def logout(session: DbSession, ctx: Annotated[AuthContext, Depends(authenticated)]) -> Response:
    if ctx.session_id is not None:
        service.end_session(session, ctx.session_id)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut, summary="Who is calling, in which workspace, with which permissions")
def me(session: DbSession, ctx: Annotated[AuthContext, Depends(authenticated)]) -> MeOut:
    return me_out(session, ctx)


@router.post("/switch-workspace", response_model=MeOut, summary="Open another workspace in this console session")
def switch_workspace(
    data: SwitchWorkspaceIn,
    request: Request,
    response: Response,
    session: DbSession,
    ctx: Annotated[AuthContext, Depends(authenticated)],
) -> MeOut:
    if ctx.operator_id is None or ctx.session_id is None:
        raise InvalidInput.on("workspace_id", "API tokens belong to one workspace; create a token there")
    operator = session.get(Operator, ctx.operator_id)
    assert operator is not None
    service.end_session(session, ctx.session_id)
    # The request was scoped to the workspace being left; the new console session belongs to the one
    # being opened, so write it there (start_session still checks the operator is a member of it).
    session.flush()
    scope_to_workspace(session, data.workspace_id)
    ttl = timedelta(hours=request.app.state.settings.session_ttl_hours)
    started = service.start_session(session, operator, ttl, data.workspace_id)
    set_session_cookie(request, response, started.secret)
    return me_out(session, started.context)
