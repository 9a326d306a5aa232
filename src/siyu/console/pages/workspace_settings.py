"""Workspace settings (工作区设置): the brand's name, time zone and language."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Form, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from siyu.auth.permissions import Permission
from siyu.console.access import Page, PageAccess
from siyu.console.forms import FormErrors, from_service, from_validation
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, render
from siyu.errors import SiyuError
from siyu.kit.inputs import NO_NUL
from siyu.workspace import service
from siyu.workspace.schemas import WorkspaceUpdate

router = console_router()

SettingsViewer = Annotated[Page, Depends(PageAccess(Permission.workspace_manage, form=False))]
SettingsManager = Annotated[Page, Depends(PageAccess(Permission.workspace_manage, form=True))]

NOTICES = {"saved": N_("Settings saved.")}


@cache
def time_zones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def _settings_page(
    page: Page,
    *,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    notice: str | None = None,
) -> Response:
    ws = page.workspace
    return render(
        page,
        "settings.html",
        status_code,
        form=form or {"name": ws.name, "timezone": ws.timezone, "locale": ws.locale},
        errors=errors or FormErrors(),
        time_zones=time_zones(),
        notice=NOTICES.get(notice or ""),
    )


@router.get("/settings")
def settings(page: SettingsViewer, notice: str | None = None) -> Response:
    return _settings_page(page, notice=notice)


@router.post("/settings")
def save_settings(
    page: SettingsManager,
    name: Annotated[str, Form(max_length=200), NO_NUL] = "",
    timezone: Annotated[str, Form(max_length=64), NO_NUL] = "",
    locale: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    form = {"name": name, "timezone": timezone, "locale": locale}
    try:
        data = WorkspaceUpdate(name=name.strip(), timezone=timezone.strip(), locale=locale)
        service.update_workspace(page.session, page.auth, data)
    except ValidationError as exc:
        return _settings_page(page, status_code=422, form=form, errors=from_validation(page, exc))
    except SiyuError as exc:
        page.discard_changes()
        errors = from_service(page, exc, default_field="name")
        return _settings_page(page, status_code=exc.status, form=form, errors=errors)
    return RedirectResponse("/settings?notice=saved", status_code=303)
