"""Who is looking at a console page: the signed-in operator, the workspace, the language, and the
console's own refusals: "not signed in" and "not allowed" (a missing permission or CSRF token).

Pages declare ``page: Annotated[Page, Depends(PageAccess(...))]``; ``siyu.console.rendering.ConsoleRoute``
turns the refusals into a sign-in redirect or a 403 page instead of the API's problem+json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from siyu.auth import repository as auth_repository
from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, resolve_caller
from siyu.auth.permissions import Permission
from siyu.console.i18n import LOCALE_COOKIE, Locale, choose_locale, translations
from siyu.errors import NotAuthenticated
from siyu.kit.security import same
from siyu.models import Operator, Workspace

CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class WorkspaceChoice:
    id: int
    name: str
    role: str


# Plain copies, not ORM rows: a refusal page is rendered after the request's session has been rolled
# back, when rows would be expired.
@dataclass(frozen=True)
class WorkspaceView:
    id: int
    name: str
    timezone: str
    locale: str


@dataclass(frozen=True)
class OperatorView:
    id: int
    email: str
    display_name: str


@dataclass
class Page:
    """Everything a console page needs to know about the person looking at it."""

    request: Request
    session: Session
    auth: AuthContext
    operator: OperatorView
    workspace: WorkspaceView
    workspaces: list[WorkspaceChoice]
    locale: Locale

    def can(self, permission: Permission) -> bool:
        return self.auth.can(permission)

    @property
    def csrf_token(self) -> str:
        return self.auth.csrf_token or ""

    def discard_changes(self) -> None:
        """Undo what a refused form flushed, so the page rendered with its errors commits nothing of it."""
        self.session.rollback()

    def gettext(self, message: str, **params: object) -> str:
        """``message`` in the page's language, with ``%(name)s`` placeholders filled from ``params``."""
        text = translations(self.locale).gettext(message)
        return text % params if params else text


class LoginRequired(Exception):
    """No console session: the page answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """Signed in, but this page or form is not for this caller (missing permission or CSRF token)."""

    def __init__(self, page: Page, permission: Permission | None = None) -> None:
        super().__init__(permission.value if permission else "csrf")
        self.page = page
        self.permission = permission


def local_path(candidate: str | None, default: str = "/") -> str:
    """``candidate`` if it is a path on this site (so a ``next`` parameter cannot send people elsewhere)."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return default
    if "\\" in candidate or any(ord(ch) < 0x20 for ch in candidate):
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return default
    return candidate


def console_db(request: Request, session: DbSession) -> Session:
    """The request's unit of work, remembered so that a refused request can be rolled back.

    ``ConsoleRoute`` turns refusals into pages inside the handler, so the unit of work around it ends
    normally (and commits); rolling back first keeps "refused" meaning "nothing written".
    """
    request.state.console_db = session
    return session


ConsoleDb = Annotated[Session, Depends(console_db)]


def discard_request_changes(request: Request) -> None:
    session = getattr(request.state, "console_db", None)
    if isinstance(session, Session):
        session.rollback()


def request_locale(request: Request, workspace_locale: str | None = None) -> Locale:
    return choose_locale(
        request.cookies.get(LOCALE_COOKIE),
        workspace_locale,
        request.app.state.settings.default_locale,
    )


def current_url(request: Request) -> str:
    """The path and query of this request, as a ``next`` to come back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def signed_in(request: Request, session: ConsoleDb) -> Page:
    try:
        auth = resolve_caller(request, session, check_csrf=False)
    except NotAuthenticated:
        auth = None
    # API tokens are for integrations; the console is for people.
    if auth is None or auth.operator_id is None:
        raise LoginRequired(current_url(request) if request.method == "GET" else "/")
    operator = session.get(Operator, auth.operator_id)
    workspace = session.get(Workspace, auth.workspace_id)
    if operator is None or workspace is None:
        raise LoginRequired("/")
    choices = [
        WorkspaceChoice(id=w.id, name=w.name, role=m.role)
        for m, w in auth_repository.memberships_of(session, auth.operator_id)
    ]
    return Page(
        request=request,
        session=session,
        auth=auth,
        operator=OperatorView(id=operator.id, email=operator.email, display_name=operator.display_name),
        workspace=WorkspaceView(
            id=workspace.id, name=workspace.name, timezone=workspace.timezone, locale=workspace.locale
        ),
        workspaces=choices,
        locale=request_locale(request, workspace.locale),
    )


SignedIn = Annotated[Page, Depends(signed_in)]


async def check_form_csrf(request: Request, page: Page) -> None:
    """Every console form carries the session's CSRF token in a hidden field; anything else is refused."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not page.csrf_token or not same(sent, page.csrf_token):
        raise PageForbidden(page)


class PageAccess:
    """Dependency for a page (GET) or a form (POST) that needs ``permission``; None means any member."""

    def __init__(self, permission: Permission | None, *, form: bool) -> None:
        self.permission = permission
        self.form = form

    async def __call__(self, request: Request, page: SignedIn) -> Page:
        if self.form:
            await check_form_csrf(request, page)
        if self.permission is not None and not page.can(self.permission):
            raise PageForbidden(page, self.permission)
        return page


AnyMember = Annotated[Page, Depends(PageAccess(None, form=False))]
AnyMemberForm = Annotated[Page, Depends(PageAccess(None, form=True))]
