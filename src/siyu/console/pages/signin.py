"""Signing in and out, choosing the workspace and the language."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from siyu.auth import service as auth_service
from siyu.auth.dependencies import SESSION_COOKIE, resolve_caller
from siyu.auth.endpoints import set_session_cookie
from siyu.console.access import AnyMemberForm, ConsoleDb, LoginRequired, local_path
from siyu.console.i18n import LOCALE_COOKIE, N_, as_locale
from siyu.console.rendering import console_router, render_public
from siyu.errors import NotAuthenticated, PermissionDenied
from siyu.kit.db import across_workspaces
from siyu.kit.inputs import NO_NUL, RowId
from siyu.kit.security import new_secret, same
from siyu.models import Operator

router = console_router()

# Login CSRF (double submit): the form's hidden field must equal this cookie, which only our own
# sign-in page can have set, so another site cannot sign a browser in to an account of its choosing.
LOGIN_CSRF_COOKIE = "siyu_login_csrf"
LOCALE_COOKIE_SECONDS = 365 * 24 * 3600


def _ttl(request: Request) -> timedelta:
    return timedelta(hours=request.app.state.settings.session_ttl_hours)


def _login_form(
    request: Request, *, next_path: str, email: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (20 <= len(token) <= 64):
        token = new_secret(24)
    response = render_public(
        request, "login.html", status_code, next_path=next_path, email=email, error=error, csrf_token=token
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookie_secure,
        path="/login",
    )
    return response


def _current_session_id(request: Request, session: Session) -> int | None:
    try:
        auth = resolve_caller(request, session, check_csrf=False)
    except NotAuthenticated:
        return None
    return auth.session_id if auth is not None and auth.operator_id is not None else None


@router.get("/login")
def login_page(
    request: Request, session: ConsoleDb, next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> Response:
    target = local_path(next_path)
    if _current_session_id(request, session) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_form(request, next_path=target)


@router.post("/login")
def login(
    request: Request,
    session: ConsoleDb,
    email: Annotated[str, Form(max_length=320), NO_NUL] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    target = local_path(next_path)
    if target.startswith("/login"):
        target = "/"
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf_token or not same(cookie, csrf_token):
        error = N_("This sign-in form has expired. Please try again.")
        return _login_form(request, next_path=target, email=email, error=error, status_code=403)
    try:
        operator = auth_service.check_password(session, email, password)
    except NotAuthenticated:
        error = N_("Wrong e-mail or password.")
        return _login_form(request, next_path=target, email=email, error=error, status_code=401)
    previous = _current_session_id(request, session)
    try:
        with across_workspaces(session):
            if previous is not None:
                auth_service.end_session(session, previous)
            started = auth_service.start_session(session, operator, _ttl(request))
    except PermissionDenied:
        error = N_("This account does not belong to any workspace yet.")
        return _login_form(request, next_path=target, email=email, error=error, status_code=403)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, started.secret)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(page: AnyMemberForm) -> Response:
    if page.auth.session_id is not None:
        auth_service.end_session(page.session, page.auth.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/switch-workspace")
def switch_workspace(request: Request, page: AnyMemberForm, workspace_id: Annotated[RowId, Form()]) -> Response:
    # The new session belongs to another workspace than the one this request's session is scoped to.
    operator = page.session.get(Operator, page.operator.id)
    if operator is None:
        raise LoginRequired("/")
    with across_workspaces(page.session):
        started = auth_service.start_session(page.session, operator, _ttl(request), workspace_id)
        if page.auth.session_id is not None:
            auth_service.end_session(page.session, page.auth.session_id)
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(request, response, started.secret)
    return response


@router.get("/lang/{code}")
def switch_language(
    request: Request, code: str, next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> Response:
    """The operator's language choice, kept in a cookie; it wins over the workspace's language."""
    response = RedirectResponse(local_path(next_path), status_code=303)
    locale = as_locale(code)
    if locale is not None:
        response.set_cookie(
            LOCALE_COOKIE,
            locale,
            max_age=LOCALE_COOKIE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.cookie_secure,
            path="/",
        )
    return response
