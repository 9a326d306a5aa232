"""The board (数据看板): every KPI of :mod:`siyu.board.service` as a card by group, the charts with their
tables and downloads, the current tiers; the health check (私域体检) that lists what to fix; and the
thresholds form.

Reading needs ``analytics:read``; changing the thresholds and queueing a full refresh need
``segments:manage``. The filters are a GET form, so a board's URL can be shared. Downloads link the API
(``/api/v1/board/charts/…``), which a console session authenticates for GET.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from siyu.auth.permissions import Permission
from siyu.board import service
from siyu.board.settings import DEFAULT_THRESHOLDS, Threshold
from siyu.console import board_figures as figures
from siyu.console import vocabulary
from siyu.console.access import Page, PageAccess
from siyu.console.forms import FormErrors
from siyu.console.i18n import N_
from siyu.console.pages.tiers import FLOW_DAYS, _bars, _labelled, lifecycle_sankey, rfm_grid
from siyu.console.rendering import console_router, render
from siyu.console.vocabulary import TIER_COLOURS, TIER_LABELS
from siyu.errors import InvalidInput
from siyu.lake.jobs import request_refresh
from siyu.lake.store import Lake
from siyu.models import ChannelCode, Contact
from siyu.segment import repository as segment_repository
from siyu.tiers import service as tiers_service

router = console_router()
P = Permission

BoardReader = Annotated[Page, Depends(PageAccess(P.analytics_read, form=False))]
BoardManagerPage = Annotated[Page, Depends(PageAccess(P.segments_manage, form=False))]
BoardManager = Annotated[Page, Depends(PageAccess(P.segments_manage, form=True))]
Text = Annotated[str, Query(max_length=200)]

NOTICES: Final = {
    "refresh_queued": N_("A full refresh is queued: the board shows the new figures in a moment."),
    "thresholds_saved": N_("Thresholds saved. The board and the health check use them from now on."),
}
FILTER_FIELDS: Final = ("start", "end", "segment_id", "source", "channel_code")
OPTION_FIELDS: Final = ("cohort_period", "cohort_basis", "cohort_periods", "funnel_steps", "funnel_days")
SOURCES_SHOWN = 50
OPTION_ERRORS: Final = {
    "funnel_steps": N_("Steps are 2 to 10 event names (lower-case letters, digits and _), separated by commas"),
    "funnel_days": N_("Enter a whole number of days from 1 to 365"),
    "cohort_periods": N_("Enter a whole number of periods from 1 to 24"),
}


def _lake(page: Page) -> Lake:
    lake: Lake = page.request.app.state.lake
    return lake


# --- the filters -------------------------------------------------------------------------------------


@dataclass
class Chosen:
    """The filters as typed (for the form and the links) and as the service takes them, or the errors."""

    values: dict[str, str]
    compare: bool
    errors: FormErrors = field(default_factory=FormErrors)
    filters: service.BoardFilters | None = None
    options: service.ChartOptions | None = None

    def query(self, **overrides: str) -> str:
        """This board's query string (``overrides`` replace values; an empty one drops the parameter)."""
        values = {**self.values, "compare": "1" if self.compare else "", "filtered": "1", **overrides}
        return urlencode({k: v for k, v in values.items() if v})

    def export_query(self, fmt: str) -> str:
        values = {k: self.values[k] for k in (*FILTER_FIELDS, *OPTION_FIELDS) if self.values.get(k)}
        return urlencode({**values, "compare": "true" if self.compare else "false", "format": fmt})


def _date(raw: str, name: str, page: Page, errors: FormErrors) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.add(name, page.gettext(N_("Enter a valid date")))
        return None


def choose(page: Page, raw: dict[str, str]) -> Chosen:
    """The request's filters, checked; every problem is a message on its field."""
    values = {k: raw.get(k, "").strip() for k in (*FILTER_FIELDS, *OPTION_FIELDS)}
    compare = bool(raw.get("compare")) or not raw.get("filtered")
    chosen = Chosen(values=values, compare=compare)
    errors = chosen.errors
    start = _date(values["start"], "start", page, errors)
    end = _date(values["end"], "end", page, errors)
    if start and end and end < start:
        errors.add("end", page.gettext(N_("The end date must not be before the start date")))
    elif start and end and (end - start).days >= service.MAX_RANGE_DAYS:
        errors.add("start", page.gettext(N_("A range is at most %(days)s days"), days=service.MAX_RANGE_DAYS))
    segment_id: int | None = None
    if values["segment_id"]:
        known = {s.id for s in segment_repository.segments(page.session, include_archived=True)}
        segment_id = int(values["segment_id"]) if values["segment_id"].isdigit() else None
        if segment_id not in known:
            errors.add("segment_id", page.gettext(N_("Choose one of the workspace's segments")))
    if errors:
        return chosen
    try:
        chosen.filters = service.BoardFilters(
            start=start, end=end, segment_id=segment_id, source=values["source"] or None,
            channel_code=values["channel_code"] or None, compare=compare,
        )  # fmt: skip
    except ValidationError as exc:
        for problem in exc.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "start"
            errors.add(name, page.gettext(N_("Not a valid value")))
        return chosen
    steps = [s.strip() for s in values["funnel_steps"].split(",") if s.strip()] or list(service.DEFAULT_FUNNEL)
    fields = service.ChartOptions.model_fields
    numbers = {name: values[name] or str(fields[name].default) for name in ("cohort_periods", "funnel_days")}
    try:
        chosen.options = service.ChartOptions.model_validate(
            {
                "cohort_period": values["cohort_period"] or "week",
                "cohort_basis": values["cohort_basis"] or "activity",
                "funnel_steps": steps,
                **numbers,  # as typed: pydantic reads the whole number or says it is not one
            }
        )
    except ValidationError as exc:
        for problem in exc.errors():
            name = str(problem["loc"][0])
            errors.add(name, page.gettext(OPTION_ERRORS.get(name, N_("Choose one of the options"))))
    if chosen.filters and not errors:
        start_at, end_at = chosen.filters.resolved(service.today_of(page.session))
        values.update(start=start_at.isoformat(), end=end_at.isoformat())
    return chosen


def _raw(request: Request) -> dict[str, str]:
    return {k: v[:200] for k, v in request.query_params.items()}


def _choices(page: Page) -> dict[str, Any]:
    """What the filter selects offer: the workspace's segments, first sources and channel codes."""
    session = page.session
    sources = session.scalars(
        select(Contact.first_source).where(Contact.first_source.is_not(None)).distinct().limit(SOURCES_SHOWN)
    ).all()
    codes: set[str | None] = set(session.scalars(select(ChannelCode.state)).all())
    codes |= set(
        session.scalars(
            select(Contact.first_channel_code)
            .where(Contact.first_channel_code.is_not(None))
            .distinct()
            .limit(SOURCES_SHOWN)
        ).all()
    )
    return {
        "segments": [(s.id, s.name) for s in segment_repository.segments(page.session)],
        "sources": sorted(s for s in sources if s),
        "codes": sorted(c for c in codes if c),
    }


# --- the board -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One chart of the board: its heading and note, and what to do when it is empty (with a link)."""

    chart: str
    title: str
    note: str
    empty: str | None = None
    link: str | None = None
    link_text: str | None = None


NO_MESSAGES: Final = N_(
    "No message was sent in this range. Send a broadcast or publish a journey; open rates appear here once "
    "messages go out."
)
SECTIONS: Final = (
    Section("traffic", N_("Traffic per day"), N_("New contacts, WeCom adds and deletions, official account follows."),
            N_("No contact joined in this range. Share a channel code (渠道活码) to start counting where people "
               "come from."), "/wecom", N_("Open WeCom")),
    Section("acquisition_source", N_("New contacts by source"), N_("The first source each new contact came from."),
            N_("No new contact in this range."), "/imports", N_("Import contacts")),
    Section("acquisition_code", N_("New contacts by channel code"), N_("The 渠道活码 each new contact scanned."),
            N_("No contact joined through a channel code in this range. Create a channel code per campaign to "
               "compare them."), "/wecom", N_("Create a channel code")),
    Section("engagement", N_("Engagement per day"), N_("Messages sent and opened, and group messages."),
            NO_MESSAGES, "/journeys", N_("Open the journeys")),
    Section("content", N_("Content performance"), N_("Open rate per piece of content sent in this range."),
            NO_MESSAGES, "/journeys", N_("Open the journeys")),
    Section("groups", N_("Customer group health"), N_("Per group: members who spoke and lurkers."),
            N_("No customer group activity in this range. Connect WeCom so that group joins and messages arrive."),
            "/wecom", N_("Open WeCom")),
    Section("touchpoints", N_("Touchpoint matrix"), N_("How each touchpoint converts: numerator of denominator.")),
    Section("commerce", N_("Commerce per day"), N_("GMV and average order value, in yuan."),
            N_("No paid order in this range. Orders arrive through the data import or the shop connection."),
            "/imports", N_("Import orders")),
    Section("cohorts", N_("Cohort retention"), N_("Share of each cohort active again in each period after joining."),
            N_("No cohort in this range yet.")),
    Section("funnel", N_("Funnel"), N_("Contacts who did each step in order, within 30 days of the first."),
            N_("Nobody did the first step in this range.")),
    Section("journeys", N_("Journeys and broadcasts"),
            N_("Messages created in this range, by journey or broadcast and by state."),
            N_("No journey or broadcast created a message in this range."), "/journeys", N_("Open the journeys")),
)  # fmt: skip
TALL: Final = frozenset({"cohorts"})


def _section(page: Page, chosen: Chosen, spec: Section, data: dict[str, Any]) -> dict[str, Any]:
    assert chosen.options is not None
    name = spec.chart
    period = chosen.options.cohort_period
    drawn = figures.chart_data(page, data, period)
    if name in ("engagement", "content") and not any(_sent(data)):
        drawn = None
    empty = {
        "text": page.gettext(spec.empty) if spec.empty else "",
        "link": spec.link,
        "link_text": page.gettext(spec.link_text) if spec.link_text else "",
    }
    return {
        "name": name,
        "title": page.gettext(spec.title),
        "note": page.gettext(spec.note),
        "data": drawn,
        "table": figures.table(page, data, period),
        "empty": None if drawn else empty,
        "tall": name in TALL,
        "downloads": {fmt: f"/api/v1/board/charts/{name}?{chosen.export_query(fmt)}" for fmt in ("csv", "xlsx")},
    }


def _sent(data: dict[str, Any]) -> list[Any]:
    at = data["columns"].index("sent")
    return [row[at] for row in data["rows"]]


def _tiers(page: Page, distribution: dict[str, Any]) -> dict[str, Any]:
    flows = tiers_service.lifecycle_flows(_lake(page), page.workspace.id, FLOW_DAYS)
    rows = _labelled(page, distribution.get("threshold", {}), TIER_LABELS["threshold"])
    return {
        "grid": rfm_grid(page, distribution.get("rfm_grid", [])),
        "tier_rows": rows,
        "tier_chart": _bars(rows, TIER_COLOURS),
        "sankey": lifecycle_sankey(page, flows),
        "as_of": (distribution.get("as_of") or "")[:16].replace("T", " "),
    }


def _board_page(page: Page, chosen: Chosen, notice: str = "") -> Response:
    unavailable: list[str] = []
    context: dict[str, Any] = {"groups": [], "sections": [], "tiers": None, "refreshed": True, "result": None}
    if not chosen.errors:
        with vocabulary.analytics(page, unavailable):
            distribution = tiers_service.distribution(_lake(page), page.workspace.id)
            context["refreshed"] = bool(distribution.get("as_of"))
            if context["refreshed"]:
                assert chosen.filters is not None
                result = service.board(page.session, _lake(page), chosen.filters)
                cards = [figures.kpi_card(page, k) for k in result["kpis"]]
                assert chosen.options is not None
                names = tuple(spec.chart for spec in SECTIONS)
                tables = service.charts(page.session, _lake(page), names, chosen.filters, chosen.options)
                context.update(
                    result=result,
                    groups=[
                        {
                            "id": g,
                            "label": page.gettext(figures.GROUP_LABELS[g]),
                            "cards": [c for c in cards if c["group"] == g],
                        }
                        for g in service.GROUPS
                    ],
                    sections=[_section(page, chosen, spec, tables[spec.chart]) for spec in SECTIONS],
                    tiers=_tiers(page, distribution),
                )
    return render(
        page,
        "board.html",
        422 if chosen.errors else 200,
        chosen=chosen,
        errors=chosen.errors,
        choices=_choices(page),
        unavailable=unavailable,
        can_manage=page.can(P.segments_manage),
        notice=NOTICES.get(notice),
        funnel_default=", ".join(service.DEFAULT_FUNNEL),
        **context,
    )


@router.get("/board")
def board(page: BoardReader, request: Request, notice: Annotated[str, Query(max_length=32)] = "") -> Response:
    return _board_page(page, choose(page, _raw(request)), notice)


@router.post("/board/refresh")
def refresh(page: BoardManager) -> Response:
    request_refresh(page.session, page.workspace.id, mode="full")
    return RedirectResponse("/board?notice=refresh_queued", status_code=303)


# --- the health check --------------------------------------------------------------------------------


@router.get("/board/health")
def health(page: BoardReader, request: Request) -> Response:
    # the health check has no charts: their options are not its business
    chosen = choose(page, {k: v for k, v in _raw(request).items() if k not in OPTION_FIELDS})
    unavailable: list[str] = []
    result: dict[str, Any] | None = None
    if not chosen.errors:
        assert chosen.filters is not None
        with vocabulary.analytics(page, unavailable):
            result = service.health_check(page.session, _lake(page), chosen.filters)
    findings, passing, no_data = [], [], []
    if result is not None:
        units = {k.id: k.unit for k in service.KPIS}
        settings = service.settings_of(page.session)
        for finding in result["findings"]:
            status, reason, action = finding["status"], finding["reason"], finding["action"]
            limits = figures.threshold_text(page, finding["unit"], finding["threshold"])
            findings.append(
                {
                    **finding,
                    "label": figures.kpi_label(page, finding["kpi"]),
                    "shown": figures.kpi_value(page, finding["unit"], finding["value"]),
                    "limits": limits,
                    "badge_label": page.gettext(figures.STATUS_LABELS[status]),
                    "reason_text": page.gettext(reason) if reason else "",
                    "action_text": page.gettext(action or N_("Open the board")),
                }
            )
        for kpi in result["passing"]:
            threshold = settings.threshold(kpi)
            passing.append(
                {
                    "kpi": kpi,
                    "label": figures.kpi_label(page, kpi),
                    "limits": figures.threshold_text(page, units[kpi], threshold.model_dump() if threshold else None),
                }
            )
        no_data = [{"kpi": k, "label": figures.kpi_label(page, k)} for k in result["no_data"]]
    return render(
        page,
        "board_health.html",
        422 if chosen.errors else 200,
        chosen=chosen,
        errors=chosen.errors,
        result=result,
        findings=findings,
        passing=passing,
        no_data=no_data,
        unavailable=unavailable,
        total=len(findings) + len(passing),
    )


# --- the thresholds ----------------------------------------------------------------------------------

THRESHOLD_KPIS: Final = tuple(k for k in service.KPIS)


def _form_values(page: Page) -> dict[str, str]:
    """The stored thresholds as the form shows them: rates in percent, blank for no threshold."""
    settings = service.settings_of(page.session)
    values: dict[str, str] = {"promotion_content_types": ", ".join(settings.promotion_content_types)}
    for kpi in THRESHOLD_KPIS:
        threshold = settings.threshold(kpi.id)
        scale = 100 if kpi.unit == "rate" else 0.01 if kpi.unit == "fen" else 1
        values[f"{kpi.id}.good"] = "" if threshold is None else _number(threshold.good * scale)
        values[f"{kpi.id}.warn"] = "" if threshold is None else _number(threshold.warn * scale)
        values[f"{kpi.id}.direction"] = threshold.direction if threshold else "higher"
    return values


def _number(value: float) -> str:
    return f"{round(value, 6):g}"


def _settings_page(page: Page, values: dict[str, str], errors: FormErrors, notice: str = "") -> Response:
    rows = [
        {
            "id": kpi.id,
            "label": figures.kpi_label(page, kpi.id),
            "unit": kpi.unit,
            "default": DEFAULT_THRESHOLDS.get(kpi.id) is not None,
        }
        for kpi in THRESHOLD_KPIS
    ]
    return render(
        page,
        "board_settings.html",
        422 if errors else 200,
        rows=rows,
        values=values,
        errors=errors,
        notice=NOTICES.get(notice),
    )


@router.get("/board/settings")
def settings_form(page: BoardManagerPage, notice: Annotated[str, Query(max_length=32)] = "") -> Response:
    return _settings_page(page, _form_values(page), FormErrors(), notice)


@router.post("/board/settings")
async def save_settings(page: BoardManager, request: Request) -> Response:
    form = await request.form()
    values = {k: str(v)[:200].strip() for k, v in form.items() if k != "csrf_token"}
    errors = FormErrors()
    thresholds: dict[str, Any] = {}
    for kpi in THRESHOLD_KPIS:
        good, warn = values.get(f"{kpi.id}.good", ""), values.get(f"{kpi.id}.warn", "")
        direction = "lower" if values.get(f"{kpi.id}.direction") == "lower" else "higher"
        if not good and not warn:
            thresholds[kpi.id] = None
            continue
        numbers = {}
        for name, text in (("good", good), ("warn", warn)):
            try:
                numbers[name] = float(text)
            except ValueError:
                errors.add(f"{kpi.id}.{name}", page.gettext(N_("Enter a number")))
        if len(numbers) == 2:
            scale = 0.01 if kpi.unit == "rate" else 100 if kpi.unit == "fen" else 1
            thresholds[kpi.id] = {k: round(v * scale, 6) for k, v in numbers.items()} | {"direction": direction}
            try:  # each row checked on its own, so that every bad row is marked at once
                Threshold.model_validate(thresholds[kpi.id])
            except ValidationError as exc:
                first = exc.errors()[0]
                part = next((str(p) for p in first["loc"] if p in ("good", "warn")), "good")
                errors.add(f"{kpi.id}.{part}", _settings_reason(page, first["msg"]))
    types = [t.strip() for t in values.get("promotion_content_types", "").replace("，", ",").split(",") if t.strip()]
    if not errors:
        try:
            service.put_settings(page.session, page.auth, {"thresholds": thresholds, "promotion_content_types": types})
        except InvalidInput as exc:
            page.discard_changes()
            for problem in exc.errors or []:
                errors.add(_settings_field(problem.field), _settings_reason(page, problem.reason))
            if not exc.errors:
                errors.add(None, exc.detail)
    if errors:
        return _settings_page(page, values, errors)
    return RedirectResponse("/board/settings?notice=thresholds_saved", status_code=303)


def _settings_field(field_path: str) -> str:
    """``thresholds.open_rate.good`` → the form field ``open_rate.good``; a whole threshold → its good field."""
    parts = field_path.split(".")
    if parts[0] == "thresholds" and len(parts) >= 2:
        return f"{parts[1]}.{parts[2] if len(parts) > 2 and parts[2] in ('good', 'warn') else 'good'}"
    return parts[0]


def _settings_reason(page: Page, reason: str) -> str:
    if "warn must not be above good" in reason:
        return page.gettext(N_("The warning level must not be above the target when higher is better"))
    if "warn must not be below good" in reason:
        return page.gettext(N_("The warning level must not be below the target when lower is better"))
    if "greater than or equal to 0" in reason:
        return page.gettext(N_("Must not be negative"))
    if "at least 1 item" in reason:
        return page.gettext(N_("Name at least one content type"))
    return reason
