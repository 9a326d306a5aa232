"""API tokens (API 令牌): creating them (the secret is shown once), listing and revoking them."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from siyu.auth.permissions import Permission
from siyu.console.access import Page, PageAccess
from siyu.console.forms import FormErrors, from_service, from_validation
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, render
from siyu.errors import SiyuError
from siyu.kit.inputs import NO_NUL, RowId
from siyu.workspace import service
from siyu.workspace.schemas import TokenCreate

router = console_router()
P = Permission

TokensViewer = Annotated[Page, Depends(PageAccess(P.tokens_manage, form=False))]
TokensManager = Annotated[Page, Depends(PageAccess(P.tokens_manage, form=True))]

NOTICES = {"revoked": N_("Token revoked. Integrations using it are refused from now on.")}


def grantable_scopes(page: Page) -> list[Permission]:
    """A token can carry only permissions its creator has."""
    return [p for p in Permission if page.can(p)]


def _tokens_page(
    page: Page,
    *,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    created_secret: str | None = None,
    notice: str | None = None,
) -> Response:
    return render(
        page,
        "tokens.html",
        status_code,
        tokens=service.list_tokens(page.session),
        scopes=grantable_scopes(page),
        form=form or {"name": "", "scopes": [], "expires_on": ""},
        errors=errors or FormErrors(),
        created_secret=created_secret,
        notice=NOTICES.get(notice or ""),
    )


def _end_of_day(day: str, timezone: str) -> datetime | None:
    """An expiry date typed in the console means the end of that day in the workspace's time zone."""
    if not day:
        return None
    return datetime.combine(date.fromisoformat(day), time(23, 59, 59), tzinfo=ZoneInfo(timezone))


@router.get("/tokens")
def tokens(page: TokensViewer, notice: str | None = None) -> Response:
    return _tokens_page(page, notice=notice)


@router.post("/tokens")
def create_token(
    page: TokensManager,
    name: Annotated[str, Form(max_length=200), NO_NUL] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    chosen = scopes or []
    form = {"name": name, "scopes": chosen, "expires_on": expires_on}
    try:
        expires_at = _end_of_day(expires_on, page.workspace.timezone)
    except ValueError:
        errors = FormErrors()
        errors.add("expires_at", page.gettext(N_("Enter a valid date")))
        return _tokens_page(page, status_code=422, form=form, errors=errors)
    try:
        data = TokenCreate(name=name.strip(), scopes=chosen, expires_at=expires_at)
        _token, secret = service.create_token(page.session, page.auth, data)
    except ValidationError as exc:
        return _tokens_page(page, status_code=422, form=form, errors=from_validation(page, exc))
    except SiyuError as exc:
        page.discard_changes()
        errors = from_service(page, exc, default_field="scopes")
        return _tokens_page(page, status_code=exc.status, form=form, errors=errors)
    # No redirect here, unlike other forms: the secret exists only in this response, and keeping it
    # anywhere for a redirected page to show would store a usable credential.
    return _tokens_page(page, status_code=201, created_secret=secret)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(page: TokensManager, token_id: RowId) -> Response:
    service.revoke_token(page.session, page.auth, token_id)
    return RedirectResponse("/tokens?notice=revoked", status_code=303)
