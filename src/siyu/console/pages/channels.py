"""Channels (渠道): every installed channel plugin, its settings form (made from its schema; secrets are
write-only: left empty they keep the saved one) and connection test; and the WeCom page — the callback URL
to give WeCom, the sync, 渠道活码 with what each brought, staff with their customers, customer groups.

Reading needs ``workspace:read``; changing anything needs ``channels:manage``.
"""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Final

from fastapi import Depends, Form, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from siyu.auth.permissions import Permission
from siyu.channel import contact_ways, sending, views
from siyu.channel.settings import WeComSettings
from siyu.channel.tasks import SYNC_JOB
from siyu.console.access import Page, PageAccess
from siyu.console.forms import FormErrors, from_service
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, render
from siyu.dispatch import channels, plugins
from siyu.errors import NotFound, SiyuError
from siyu.kit.inputs import RowId
from siyu.kit.time import utcnow
from siyu.models import ChannelCode, Workspace
from siyu.worker.queue import enqueue

router = console_router()
P = Permission
Reader = Annotated[Page, Depends(PageAccess(P.workspace_read, form=False))]
Manager = Annotated[Page, Depends(PageAccess(P.channels_manage, form=True))]

NOTICES: Final = {
    "saved": N_("Settings saved. Secrets left empty were kept."),
    "sync": N_("Sync queued: it runs as a background job (see Background jobs)."),
    "code_made": N_("Channel code made in WeCom. Print its QR code where its customers will see it."),
    "code_deleted": N_("Channel code taken down. The contacts it brought keep their attribution."),
}
STATS_DAYS = 14


def _workspace(page: Page) -> Workspace:
    workspace = page.session.get(Workspace, page.auth.workspace_id)
    assert workspace is not None
    return workspace


@router.get("/channels")
def channel_list(page: Reader, notice: str | None = None) -> Response:
    workspace = _workspace(page)
    saved = workspace.channels or {}
    rows = [
        {
            "name": name,
            "title": cls.title or name,
            "capabilities": sorted(cls.capabilities),
            "set_up": bool(saved.get(cls.settings_name())),
            "shares": cls.settings_from,
        }
        for name, cls in plugins.registry().items()
    ]
    return render(page, "channels.html", rows=rows, notice=NOTICES.get(notice or ""))


def _fields(name: str, shown: dict[str, Any] | None) -> list[dict[str, Any]]:
    schema = plugins.schema(name)["settings"]
    required = set(schema.get("required", []))
    out = []
    for key, prop in schema["properties"].items():
        options = prop.get("anyOf", [prop])
        kinds = {o.get("type") for o in options} - {"null"}
        kind = "enum" if "enum" in prop else (kinds.pop() if len(kinds) == 1 else "string")
        value = (shown or {}).get(key, prop.get("default"))
        out.append(
            {
                "key": key,
                "kind": kind,
                "choices": prop.get("enum", []),
                "secret": bool(prop.get("writeOnly")),
                "is_set": bool((shown or {}).get(f"{key}_set")),
                "required": key in required,
                "help": prop.get("description", ""),
                "value": ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else value),
            }
        )
    return out


def _settings_page(
    page: Page,
    name: str,
    *,
    status_code: int = 200,
    errors: FormErrors | None = None,
    notice: str | None = None,
    test: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    cls = plugins.registry().get(name)
    if cls is None or cls.settings_from:
        raise NotFound(f"no channel {name!r} with settings of its own")
    workspace = _workspace(page)
    shown = channels.shown_all(workspace).get(name)
    fields = _fields(name, {**(shown or {}), **(values or {})})
    callback = None
    if name in ("wecom", "official_account"):
        callback = f"{str(page.request.base_url).rstrip('/')}/callbacks/{name}/{workspace.slug}"
    return render(
        page,
        "channels_detail.html",
        status_code,
        name=name,
        title=cls.title or name,
        capabilities=sorted(cls.capabilities),
        fields=fields,
        set_up=shown is not None,
        callback=callback,
        errors=errors or FormErrors(),
        notice=NOTICES.get(notice or "") if notice else None,
        test=test,
        can_manage=page.can(P.channels_manage),
    )


@router.get("/channels/{name}")
def channel_detail(page: Reader, name: str, notice: str | None = None) -> Response:
    return _settings_page(page, name, notice=notice)


@router.post("/channels/{name}")
async def save_channel(page: Manager, name: str, request: Request) -> Response:
    form = await request.form()
    fields = _fields(name, None)
    raw: dict[str, Any] = {}
    for f in fields:
        text = str(form.get(f["key"]) or "").strip()
        if f["kind"] == "boolean":
            raw[f["key"]] = form.get(f["key"]) == "on"
        elif text == "":
            continue  # a secret keeps the saved one, anything else takes its default
        elif f["kind"] == "array":
            raw[f["key"]] = [part.strip() for part in text.split(",") if part.strip()]
        elif f["kind"] in ("integer", "number"):
            try:
                raw[f["key"]] = int(text) if f["kind"] == "integer" else float(text)
            except ValueError:
                raw[f["key"]] = text  # the model says what is wrong with it
        else:
            raw[f["key"]] = text
    try:
        channels.set_channel(page.session, page.auth.workspace_id, name, raw)
    except SiyuError as exc:
        page.discard_changes()
        errors = from_service(page, exc, default_field="settings")
        errors.fields = {k.removeprefix(f"{name}."): v for k, v in errors.fields.items()}
        shown = {k: v for k, v in raw.items() if not next((f for f in fields if f["key"] == k and f["secret"]), None)}
        return _settings_page(page, name, status_code=exc.status, errors=errors, values=shown)
    return RedirectResponse(f"/channels/{name}?notice=saved", status_code=303)


@router.post("/channels/{name}/test")
def test_channel(page: Manager, name: str) -> Response:
    try:
        result = channels.test_channel(page.session, page.auth.workspace_id, name)
    except SiyuError as exc:
        result = {"ok": False, "detail": exc.detail}
    return _settings_page(page, name, test=result)


@router.post("/wecom/sync")
def start_sync(page: Manager, full: Annotated[str, Form(max_length=8)] = "") -> Response:
    channels.settings_for(page.session, page.auth.workspace_id, "wecom")
    enqueue(page.session, SYNC_JOB, {"full": True} if full else {}, workspace_id=page.auth.workspace_id)
    return RedirectResponse("/wecom?notice=sync", status_code=303)


def _wecom_page(
    page: Page,
    *,
    status_code: int = 200,
    errors: FormErrors | None = None,
    notice: str | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    workspace = _workspace(page)
    now = utcnow()
    set_up = bool((workspace.channels or {}).get("wecom"))
    stats = contact_ways.stats(page.session, workspace.id, now, STATS_DAYS)
    days = [d.isoformat() for d in contact_ways.days_back(now, zoneinfo.ZoneInfo(workspace.timezone), STATS_DAYS)]
    codes = []
    for code in page.session.scalars(select(ChannelCode).order_by(ChannelCode.id.desc())):
        found = stats.get(code.state) or contact_ways.CodeStats(code.state)
        series = [found.per_day.get(d, 0) for d in days]
        codes.append({"code": code, "stats": found, "series": series, "peak": max(series) or 1})
    staff = views.staff(page.session)
    state = (workspace.channel_state or {}).get("wecom") or {}
    return render(
        page,
        "wecom.html",
        status_code,
        set_up=set_up,
        codes=codes,
        days=days,
        staff=staff,
        staff_peak=max((s.customers for s in staff), default=0) or 1,
        groups=views.groups(page.session, now),
        sync_state=state,
        errors=errors or FormErrors(),
        values=values or {},
        notice=NOTICES.get(notice or "") if notice else None,
        can_manage=page.can(P.channels_manage),
    )


@router.get("/wecom")
def wecom_page(page: Reader, notice: str | None = None) -> Response:
    return _wecom_page(page, notice=notice)


@router.post("/wecom/contact-ways")
def make_code(
    page: Manager,
    label: Annotated[str, Form(max_length=200)] = "",
    source: Annotated[str, Form(max_length=64)] = "",
    campaign: Annotated[str, Form(max_length=200)] = "",
    staff: Annotated[str, Form(max_length=4000)] = "",
    state: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    values = {"label": label, "source": source, "campaign": campaign, "staff": staff, "state": state}
    try:
        data = contact_ways.ContactWayIn(
            label=label,
            source=source,
            campaign=campaign or None,
            staff=[s.strip() for s in staff.split(",") if s.strip()],
            state=state or None,
        )
    except ValidationError as exc:
        errors = FormErrors()
        for problem in exc.errors(include_url=False):
            errors.add(str(problem["loc"][0]), str(problem["msg"]).removeprefix("Value error, "))
        return _wecom_page(page, status_code=422, errors=errors, values=values)
    try:
        settings = channels.settings_for(page.session, page.auth.workspace_id, "wecom")
        assert isinstance(settings, WeComSettings)
        client = sending.client_for(settings)
        try:
            contact_ways.create(page.session, client, data)
        finally:
            client.close()
    except SiyuError as exc:
        page.discard_changes()
        return _wecom_page(
            page, status_code=exc.status, errors=from_service(page, exc, default_field="label"), values=values
        )
    return RedirectResponse("/wecom?notice=code_made", status_code=303)


@router.post("/wecom/contact-ways/{code_id}/delete")
def delete_code(page: Manager, code_id: RowId) -> Response:
    settings = channels.settings_for(page.session, page.auth.workspace_id, "wecom")
    assert isinstance(settings, WeComSettings)
    client = sending.client_for(settings)
    try:
        contact_ways.delete(page.session, client, code_id, utcnow())
    finally:
        client.close()
    return RedirectResponse("/wecom?notice=code_deleted", status_code=303)
