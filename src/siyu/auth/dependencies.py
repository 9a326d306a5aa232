"""FastAPI dependencies: the request's unit of work, who is calling, and the one permission check.

Every API route declares ``Depends(require(Permission.x))`` (or ``Depends(authenticated)``); the
route × role test finds the permission on the route through :class:`RequirePermission`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from siyu.auth import service
from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.errors import CsrfFailed, NotAuthenticated, PermissionDenied
from siyu.kit.db import read_only, scope_to_workspace, transaction
from siyu.kit.security import same

SESSION_COOKIE = "siyu_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed after the endpoint returns, before the response is sent."""
    with transaction(request.app.state.sessionmaker) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("Authorization header must be 'Bearer <token>'")
    return value.strip()


def resolve_caller(request: Request, session: Session, *, check_csrf: bool = True) -> AuthContext | None:
    ttl = timedelta(hours=request.app.state.settings.session_ttl_hours)
    bearer = _bearer(request)
    if bearer is not None:
        context = service.resolve_token(session, bearer)
        if context is None:
            raise NotAuthenticated("the API token is unknown, revoked or expired")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        context = service.resolve_session(session, cookie, ttl)
        if context is None:
            return None
        if check_csrf and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not context.csrf_token or not same(sent, context.csrf_token):
                raise CsrfFailed(f"send the session's CSRF token in the {CSRF_HEADER} header")
    scope_to_workspace(session, context.workspace_id)
    request.state.auth = context
    return context


def authenticated(request: Request, session: DbSession) -> AuthContext:
    # Finding the caller is a read (on SQLite it does not queue for the writer lock). Its bookkeeping
    # (token last use, sliding session expiry: at most about once a minute) is a write, so when some
    # is due the caller is resolved again in a write transaction.
    read_only(session)
    context = resolve_caller(request, session)
    if session.dirty:
        session.rollback()
        context = resolve_caller(request, session)
    if context is None:
        raise NotAuthenticated("sign in or send an API token")
    # Committed here, so the endpoint's transaction begins at its own first statement: on SQLite, where
    # writers queue, the lock is held only for the endpoint's work, not while it parses input.
    session.commit()
    return context


class RequirePermission:
    """Dependency that lets a caller through only with ``permission``."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, context: Annotated[AuthContext, Depends(authenticated)]) -> AuthContext:
        if not context.can(self.permission):
            raise PermissionDenied(f"this needs the {self.permission.value} permission")
        return context


_cache: dict[Permission, RequirePermission] = {}


def require(permission: Permission) -> RequirePermission:
    if permission not in _cache:
        _cache[permission] = RequirePermission(permission)
    return _cache[permission]
