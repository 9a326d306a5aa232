"""Turning templates into console responses: the layout's shared context (navigation, language,
CSRF token, workspace time), the sign-in redirect, the 403 and error pages, and the console's router."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from siyu.auth.permissions import Permission
from siyu.console.access import (
    LoginRequired,
    Page,
    PageForbidden,
    current_url,
    discard_request_changes,
    request_locale,
)
from siyu.console.i18n import LOCALES, N_, Locale, environment
from siyu.console.labels import (
    AUDIT_ACTION_LABELS,
    JOB_STATUS_LABELS,
    LANGUAGE_NAMES,
    PERMISSION_LABELS,
    ROLE_LABELS,
)
from siyu.errors import SiyuError

P = Permission


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    permission: Permission | None
    icon: str


# The one list of console pages. A page appears here only once its route exists; a test follows every
# link on the home page to prove it.
NAV: Final[tuple[NavItem, ...]] = (
    NavItem("/", N_("Dashboard"), None, "home"),
    NavItem("/board", N_("Data board"), P.analytics_read, "chart"),
    NavItem("/board/health", N_("Health check"), P.analytics_read, "pulse"),
    NavItem("/contacts", N_("Contacts"), P.contacts_read, "contacts"),
    NavItem("/tags", N_("Tags"), P.contacts_read, "tag"),
    NavItem("/segments", N_("Segments"), P.analytics_read, "users"),
    NavItem("/tiers", N_("Tiers"), P.analytics_read, "chart"),
    NavItem("/journeys", N_("Journeys"), P.workspace_read, "flow"),
    NavItem("/deliveries", N_("Delivery ledger"), P.workspace_read, "audit"),
    NavItem("/tasks", N_("Staff tasks"), P.workspace_read, "jobs"),
    NavItem("/channels", N_("Channels"), P.workspace_read, "settings"),
    NavItem("/wecom", N_("WeCom"), P.workspace_read, "users"),
    NavItem("/imports", N_("Data import"), P.ingest_write, "upload"),
    NavItem("/exports", N_("Data export"), P.contacts_read, "download"),
    NavItem("/members", N_("Members and roles"), P.members_read, "users"),
    NavItem("/tokens", N_("API tokens"), P.tokens_manage, "key"),
    NavItem("/audit", N_("Audit log"), P.audit_read, "audit"),
    NavItem("/jobs", N_("Background jobs"), P.jobs_read, "jobs"),
    NavItem("/settings", N_("Workspace settings"), P.workspace_manage, "settings"),
)

ERROR_TITLES: Final[dict[int, str]] = {
    403: N_("You do not have access to this page"),
    404: N_("This page does not exist"),
    409: N_("That conflicts with the current state"),
    422: N_("Some of what was sent is not valid"),
}


def nav_for(page: Page) -> list[NavItem]:
    return [item for item in NAV if item.permission is None or page.can(item.permission)]


def is_current(item: NavItem, path: str) -> bool:
    if item.path == "/":
        return path == "/"
    if path == item.path:
        return True
    # /board/health is its own entry, not a part of /board
    nested = any(other.path.startswith(item.path + "/") and is_current(other, path) for other in NAV)
    return path.startswith(item.path + "/") and not nested


def local_time(value: datetime | None, timezone: str) -> str:
    """A stored UTC time as the workspace reads it."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def pager(base: str, filters: dict[str, str], offset: int, total: int, size: int) -> dict[str, object]:
    """Links to the previous and next page, keeping the filters."""

    def link(at: int) -> str:
        query = {k: v for k, v in filters.items() if v}
        if at:
            query["offset"] = str(at)
        return base + (f"?{urlencode(query)}" if query else "")

    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + size, total),
        "total": total,
        "previous": link(max(offset - size, 0)) if offset > 0 else None,
        "next": link(offset + size) if offset + size < total else None,
    }


# Console pages are never framed (clickjacking), never cached (a page may show a token secret once, and
# the back button after signing out must not show a member list), and do not leak paths in Referer.
PAGE_HEADERS: Final[dict[str, str]] = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # The audit page answers HTMX with a fragment and browsers with the whole page.
    "Vary": "HX-Request",
}


def _common(request: Request) -> dict[str, Any]:
    return {
        "request": request,
        "path": request.url.path,
        "here": current_url(request),
        "locales": LOCALES,
        "language_names": LANGUAGE_NAMES,
        "role_labels": ROLE_LABELS,
        "permission_labels": PERMISSION_LABELS,
        "job_status_labels": JOB_STATUS_LABELS,
        "audit_action_labels": AUDIT_ACTION_LABELS,
        "quote": lambda value: quote(str(value), safe="/"),
    }


def render(page: Page, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page inside the console layout (sidebar, top bar), in the caller's language."""
    values = _common(page.request)
    timezone = page.workspace.timezone
    values.update(
        page=page,
        nav=nav_for(page),
        is_current=is_current,
        csrf_token=page.csrf_token,
        when=lambda value: local_time(value, timezone),
    )
    values.update(context)
    html = environment(page.locale).get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def render_public(
    request: Request, template: str, status_code: int = 200, *, locale: Locale | None = None, **context: Any
) -> HTMLResponse:
    """A page outside the layout (sign-in, errors before sign-in)."""
    locale = locale or request_locale(request)
    values = _common(request)
    values.update(context)
    html = environment(locale).get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def render_forbidden(page: Page, permission: Permission | None) -> HTMLResponse:
    return render(page, "forbidden.html", 403, permission=permission)


def render_error(request: Request, status_code: int, detail: str = "") -> HTMLResponse:
    title = ERROR_TITLES.get(status_code, N_("Something went wrong"))
    return render_public(request, "error.html", status_code, status=status_code, title=title, detail=detail)


# --- the console's routes ----------------------------------------------------------------------

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ConsoleRoute(APIRoute):
    """A route whose refusals are pages, not problem+json: sign-in redirect, 403 page, error page."""

    def get_route_handler(self) -> Handler:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except (LoginRequired, PageForbidden, RequestValidationError, SiyuError) as exc:
                await run_in_threadpool(discard_request_changes, request)
                return refusal(request, exc)

        return handler


def refusal(request: Request, exc: Exception) -> Response:
    """The console's answer to a request it refused."""
    if isinstance(exc, LoginRequired):
        target = f"/login?next={quote(exc.next_path, safe='/')}"
        if request.headers.get("hx-request"):
            # An HTMX fragment request: a redirect would put the sign-in page inside the table.
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    if isinstance(exc, PageForbidden):
        return render_forbidden(exc.page, exc.permission)
    if isinstance(exc, SiyuError):
        return render_error(request, exc.status, exc.detail)
    return render_error(request, 422)


def console_router() -> APIRouter:
    """A router for console pages: HTML responses, kept out of the OpenAPI schema."""
    return APIRouter(include_in_schema=False, route_class=ConsoleRoute, default_response_class=HTMLResponse)
