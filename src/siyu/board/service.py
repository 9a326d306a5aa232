"""The board: each KPI read from the metrics library (one definition per figure, cached until new data
lands) for a date range and the same length before it, with its trend and health status; the charts'
data as tables; and the health check (私域体检) that lists what to fix.

Every figure comes from :func:`siyu.metrics.service.run`; this module only picks values out of metric
results and compares them. Dates are the workspace's local dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.board.settings import BoardSettings, parse_settings
from siyu.filters.context import local_now
from siyu.kit.db import WORKSPACE_KEY
from siyu.lake.store import Lake
from siyu.metrics import queries as q
from siyu.metrics import service as metrics
from siyu.models import Delivery, Journey, Workspace

DEFAULT_DAYS: Final = 30
MAX_RANGE_DAYS: Final = 366
TEXT = q.TEXT


class BoardFilters(BaseModel):
    """What the board shows: a date range (default: the 30 days up to yesterday) and optional contact filters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date | None = None
    end: date | None = None
    segment_id: int | None = Field(None, ge=1)
    source: str | None = Field(None, pattern=TEXT)
    channel_code: str | None = Field(None, pattern=TEXT)
    compare: bool = True

    @model_validator(mode="after")
    def _range(self) -> BoardFilters:
        if self.start and self.end:
            if self.end < self.start:
                raise ValueError("end must not be before start")
            if (self.end - self.start).days >= MAX_RANGE_DAYS:
                raise ValueError(f"a range is at most {MAX_RANGE_DAYS} days")
        return self

    def resolved(self, today: date) -> tuple[date, date]:
        end = self.end or (self.start + timedelta(days=DEFAULT_DAYS - 1) if self.start else today - timedelta(days=1))
        start = self.start or end - timedelta(days=DEFAULT_DAYS - 1)
        return start, end

    def scope(self) -> dict[str, Any]:
        return {k: v for k in ("segment_id", "source", "channel_code") if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class Kpi:
    id: str
    group: Literal["traffic", "engagement", "commerce", "retention"]
    unit: Literal["per_day", "rate", "fen", "count"]


KPIS: Final[tuple[Kpi, ...]] = (
    Kpi("new_contacts", "traffic", "per_day"),
    Kpi("follows", "traffic", "per_day"),
    Kpi("deletions", "traffic", "per_day"),
    Kpi("open_rate", "engagement", "rate"),
    Kpi("promotion_open_rate", "engagement", "rate"),
    Kpi("group_messages", "engagement", "per_day"),
    Kpi("active_rate", "engagement", "rate"),
    Kpi("speaker_ratio", "engagement", "rate"),
    Kpi("gmv", "commerce", "fen"),
    Kpi("gmv_growth", "commerce", "rate"),
    Kpi("aov", "commerce", "fen"),
    Kpi("arpu", "commerce", "fen"),
    Kpi("retention_7d", "retention", "rate"),
    Kpi("retention_30d", "retention", "rate"),
    Kpi("repurchase_30d", "retention", "rate"),
)
GROUPS: Final = ("traffic", "engagement", "commerce", "retention")


def _workspace(session: Session) -> Workspace:
    workspace = session.get(Workspace, session.info[WORKSPACE_KEY])
    assert workspace is not None
    return workspace


def today_of(session: Session) -> date:
    return local_now(_workspace(session).timezone).date()


def settings_of(session: Session) -> BoardSettings:
    return parse_settings(_workspace(session).board_settings)


class _Runner:
    """Metric results for one range and scope, each query run once (and cached across requests)."""

    def __init__(self, reader: metrics.Reader, start: date, end: date, scope: dict[str, Any]) -> None:
        self.reader, self.start, self.end, self.scope = reader, start, end, scope

    def __call__(self, query: type[BaseModel], **fields: Any) -> dict[str, Any]:
        built = query.model_validate({"start": self.start, "end": self.end, **self.scope, **fields})
        return self.reader.run(built)


def _days(start: date, end: date) -> int:
    return (end - start).days + 1


def _per_day(total: int | float, days: int) -> float:
    return round(float(total) / days, 2)


# The cohort KPIs, and the days after joining (or a first order) before a member's outcome is known: the
# metric leaves younger members out, so a range ending nearer today than that would read a cohort of a
# few days (the default range, ending yesterday, none at all for 30 days). Such a range reads the latest
# matured cohort of the same length instead — and the previous period the one before it — and the KPI's
# basis says which days (cohort_start, cohort_end).
COHORT_KPIS: Final = {
    "retention_7d": (q.Retention7d, 7),
    "retention_30d": (q.Retention30d, 30),
    "repurchase_30d": (q.Repurchase30d, 30),
}


def cohort_shifts(end: date, today: date) -> dict[str, int]:
    """Days each cohort KPI's range moves back so that its last day has matured by ``today``."""
    return {kpi: max(0, (end - (today - timedelta(days=lag))).days) for kpi, (_, lag) in COHORT_KPIS.items()}


def _values(run: _Runner, settings: BoardSettings, trend: bool, shifts: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each KPI's value (and, when asked, its trend as [label, value] points) for the runner's range (the
    cohort KPIs' ranges moved back by ``shifts``)."""
    days = _days(run.start, run.end)
    period = q.Period.day if trend else q.Period.total
    out: dict[str, dict[str, Any]] = {}

    new = run(q.NewContacts, by="source")
    per_day: dict[str, int] = {}
    for row in new["rows"]:
        per_day[row["day"]] = per_day.get(row["day"], 0) + row["contacts"]
    out["new_contacts"] = {"value": _per_day(sum(per_day.values()), days), "total": sum(per_day.values())}
    if trend:
        out["new_contacts"]["trend"] = sorted(per_day.items())

    follows = run(q.Follows, period=period)["rows"]
    added = sum(r["contact_added"] + r["subscribed"] for r in follows)
    gone = sum(r["contact_deleted"] + r["unsubscribed"] for r in follows)
    out["follows"] = {"value": _per_day(added, days), "total": added}
    out["deletions"] = {"value": _per_day(gone, days), "total": gone}
    if trend:
        out["follows"]["trend"] = [(r["period"], r["contact_added"] + r["subscribed"]) for r in follows]
        out["deletions"]["trend"] = [(r["period"], r["contact_deleted"] + r["unsubscribed"]) for r in follows]

    messages = run(q.Messages, period=period)
    out["open_rate"] = {"value": messages["total"]["open_rate"], "sent": messages["total"]["sent"]}
    if trend:
        out["open_rate"]["trend"] = [(r["period"], r["open_rate"]) for r in messages["rows"]]
    promotions = run(q.Messages, period=q.Period.total, content_types=list(settings.promotion_content_types))
    out["promotion_open_rate"] = {"value": promotions["total"]["open_rate"], "sent": promotions["total"]["sent"]}

    groups = run(q.Groups, period=period)
    out["group_messages"] = {"value": _per_day(groups["messages"], days), "total": groups["messages"]}
    out["speaker_ratio"] = {"value": groups["speaker_ratio"], "members": groups["members"]}
    if trend:
        out["group_messages"]["trend"] = [(r["period"], r["messages"]) for r in groups["rows"]]

    (active,) = run(q.ActiveRate, period=q.Period.total)["rows"] or [{"rate": None, "active": 0}]
    out["active_rate"] = {"value": active["rate"], "active": active["active"]}
    if trend:
        out["active_rate"]["trend"] = [(r["period"], r["rate"]) for r in run(q.ActiveRate, period="week")["rows"]]

    (total,) = run(q.Commerce, period=q.Period.total)["rows"] or [
        {"gmv_fen": 0, "aov_fen": None, "arpu_fen": None, "orders": 0}
    ]
    out["gmv"] = {"value": total["gmv_fen"], "orders": total["orders"]}
    out["aov"] = {"value": total["aov_fen"]}
    out["arpu"] = {"value": total["arpu_fen"]}
    if trend:
        daily = run(q.Commerce, period="day")["rows"]
        out["gmv"]["trend"] = [(r["period"], r["gmv_fen"]) for r in daily]
        out["aov"]["trend"] = [(r["period"], r["aov_fen"]) for r in daily]

    cohorts = q.Period.week if trend else q.Period.total
    for kpi, (query, _) in COHORT_KPIS.items():
        back = timedelta(days=shifts[kpi])
        matured = _Runner(run.reader, run.start - back, run.end - back, run.scope)
        result = matured(query, period=cohorts)
        out[kpi] = {"value": result["rate"], "cohort": result["cohort"], "cohort_start": matured.start.isoformat(),
                    "cohort_end": matured.end.isoformat()}  # fmt: skip
        if trend:
            out[kpi]["trend"] = [(r["period"], r["rate"]) for r in result.get("rows", [])]
    return out


def _change(value: float | None, before: float | None) -> float | None:
    if value is None or before is None or before == 0:
        return None
    return round((value - before) / abs(before), 4)


def board(session: Session, lake: Lake, filters: BoardFilters) -> dict[str, Any]:
    settings = settings_of(session)
    today = today_of(session)
    start, end = filters.resolved(today)
    scope = filters.scope()
    length = _days(start, end)
    p_end = start - timedelta(days=1)
    p_start = p_end - timedelta(days=length - 1)
    shifts = cohort_shifts(end, today)
    with metrics.reading(session, lake) as reader:
        current = _values(_Runner(reader, start, end, scope), settings, True, shifts)
        previous = _values(_Runner(reader, p_start, p_end, scope), settings, False, shifts)
        current["gmv_growth"] = {"value": _change(current["gmv"]["value"], previous["gmv"]["value"])}
        previous["gmv_growth"] = {"value": None}
        if filters.compare:
            before_p = p_start - timedelta(days=length)
            older = _Runner(reader, before_p, p_start - timedelta(days=1), scope)(q.Commerce, period="total")
            older_gmv = older["rows"][0]["gmv_fen"] if older["rows"] else 0
            previous["gmv_growth"] = {"value": _change(previous["gmv"]["value"], older_gmv)}
    kpis = []
    for kpi in KPIS:
        figure = current[kpi.id]
        threshold = settings.threshold(kpi.id)
        before = previous[kpi.id]["value"] if filters.compare else None
        kpis.append(
            {
                "id": kpi.id,
                "group": kpi.group,
                "unit": kpi.unit,
                "value": figure["value"],
                "previous": before,
                "change": _change(figure["value"], before) if kpi.unit != "rate" else _points(figure["value"], before),
                "change_kind": "relative" if kpi.unit != "rate" else "points",
                "trend": [{"period": p, "value": v} for p, v in figure.get("trend", [])],
                "threshold": threshold.model_dump() if threshold else None,
                "status": threshold.status(figure["value"]) if threshold else None,
                "basis": {k: v for k, v in figure.items() if k not in ("value", "trend")},
            }
        )
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "previous": {"start": p_start.isoformat(), "end": p_end.isoformat()} if filters.compare else None,
        "filters": scope,
        "as_of": today.isoformat(),
        "kpis": kpis,
    }


def _points(value: float | None, before: float | None) -> float | None:
    """A rate's change in percentage points (0.05 = five points), not relative."""
    if value is None or before is None:
        return None
    return round(value - before, 4)


# --- the health check (私域体检) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What a KPI below its threshold says, after the seeds, and where the operator can act."""

    seed: str
    reason: str
    action: str
    link: str


def N_(message: str) -> str:  # noqa: N802 - gettext's marker: translated by the console
    return message


RULES: Final[dict[str, Rule]] = {
    "retention_7d": Rule(
        "003",
        N_(
            "7-day retention shows whether the first touch converts. Below 30% the welcome flow is the problem: "
            "a clothing brand at 25% sent a styling handbook first and the coupon after, and reached 58%."
        ),
        N_("Rework the welcome journey"),
        "/journeys",
    ),
    "retention_30d": Rule(
        "003",
        N_(
            "30-day retention shows whether the operating strategy works. Below 20%, the content and the "
            "activities are not attractive enough: add useful, non-commercial content and activities."
        ),
        N_("Plan content and activities"),
        "/journeys",
    ),
    "promotion_open_rate": Rule(
        "004",
        N_(
            "Promotions opened by fewer than 5% of recipients need better copy or a lower frequency: present "
            "them as a personal benefit (“10 coupons kept for you”) rather than a discount."
        ),
        N_("Review the content mix and frequency caps"),
        "/channels",
    ),
    "open_rate": Rule(
        "000",
        N_(
            "Seed 000 expects more than 15% of messages opened. Send each content type at its best hour and "
            "add interactive topics; more than 3 promotions in a row raise unfollows by 40%."
        ),
        N_("Adjust the journeys' send times"),
        "/journeys",
    ),
    "group_messages": Rule(
        "000",
        N_(
            "Seed 000 expects more than 50 group messages a day. Add interactive topics and small group-only "
            "games; answer questions quickly so that members keep talking."
        ),
        N_("Open the customer groups"),
        "/wecom",
    ),
    "new_contacts": Rule(
        "000",
        N_(
            "Seed 000 expects 50–100 new contacts a day for a small or medium business. Improve the paths from "
            "public platforms and design a reason to add you (a 关注诱饵)."
        ),
        N_("Create or review channel codes"),
        "/wecom",
    ),
    "gmv_growth": Rule(
        "000",
        N_(
            "Seed 000 expects GMV to grow more than 20% period on period. Optimise the product mix and design "
            "tiered 满减 discounts for the segments that buy."
        ),
        N_("Build a segment for an offer"),
        "/segments",
    ),
    "repurchase_30d": Rule(
        "000",
        N_(
            "Seed 000 expects more than 25% of first-time buyers to buy again within 30 days. Build a membership "
            "system and push exclusive benefits to each tier."
        ),
        N_("Open the tiers"),
        "/tiers",
    ),
}
SEVERITY: Final = {"red": 0, "amber": 1}


def health_check(session: Session, lake: Lake, filters: BoardFilters) -> dict[str, Any]:
    """The KPIs that miss their threshold, worst first, each with what to do and where; and those that pass."""
    result = board(session, lake, filters)
    findings, passing, unknown = [], [], []
    for kpi in result["kpis"]:
        if kpi["threshold"] is None:
            continue
        if kpi["status"] is None:
            unknown.append(kpi["id"])
            continue
        if kpi["status"] == "green":
            passing.append(kpi["id"])
            continue
        rule = RULES.get(kpi["id"])
        findings.append(
            {
                "kpi": kpi["id"],
                "status": kpi["status"],
                "value": kpi["value"],
                "unit": kpi["unit"],
                "threshold": kpi["threshold"],
                "seed": rule.seed if rule else None,
                "reason": rule.reason if rule else None,
                "action": rule.action if rule else None,
                "link": rule.link if rule else "/board",
            }
        )
    findings.sort(key=lambda f: SEVERITY[f["status"]])
    return {
        "start": result["start"],
        "end": result["end"],
        "filters": result["filters"],
        "findings": findings,
        "passing": passing,
        "no_data": unknown,
        "score": round(100 * len(passing) / max(1, len(passing) + len(findings))),
    }


# --- the charts' data as tables (also for CSV / XLSX) -------------------------------------------------------

CHARTS: Final = (
    "traffic",
    "acquisition_source",
    "acquisition_code",
    "engagement",
    "content",
    "groups",
    "touchpoints",
    "commerce",
    "cohorts",
    "funnel",
    "journeys",
)
DEFAULT_FUNNEL: Final = ("joined", "any_interaction", "order_paid", "order_paid")


class ChartOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cohort_period: Literal["week", "month"] = "week"
    cohort_basis: Literal["activity", "orders"] = "activity"
    cohort_periods: int = Field(8, ge=1, le=24)
    funnel_steps: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]] = Field(
        default_factory=lambda: list(DEFAULT_FUNNEL), min_length=2, max_length=10
    )
    funnel_days: int = Field(30, ge=1, le=365)


def chart(session: Session, lake: Lake, name: str, filters: BoardFilters, options: ChartOptions) -> dict[str, Any]:
    """One chart's data as ``columns`` and ``rows`` (lists in column order)."""
    return charts(session, lake, (name,), filters, options)[name]


def charts(
    session: Session, lake: Lake, names: tuple[str, ...], filters: BoardFilters, options: ChartOptions
) -> dict[str, dict[str, Any]]:
    """Several charts' tables, read on one open store (a page shows a dozen)."""
    for name in names:
        if name not in CHARTS:
            raise KeyError(name)
    start, end = filters.resolved(today_of(session))
    out: dict[str, dict[str, Any]] = {}
    with metrics.reading(session, lake) as reader:
        run = _Runner(reader, start, end, filters.scope())
        for name in names:
            columns, rows = _deliveries(session, start, end) if name == "journeys" else _table(run, name, options)
            out[name] = {"chart": name, "start": start.isoformat(), "end": end.isoformat(), "columns": columns,
                         "rows": rows}  # fmt: skip
    return out


def _table(run: _Runner, name: str, options: ChartOptions) -> tuple[list[str], list[list[Any]]]:
    start, end = run.start, run.end
    columns: list[str]
    rows: list[list[Any]]
    if name == "traffic":
        new = run(q.NewContacts, by="source")["rows"]
        joined: dict[str, int] = {}
        for row in new:
            joined[row["day"]] = joined.get(row["day"], 0) + row["contacts"]
        follows = {r["period"]: r for r in run(q.Follows)["rows"]}
        columns = ["day", "new_contacts", "contact_added", "contact_deleted", "subscribed", "unsubscribed"]
        rows = []
        for offset in range(_days(start, end)):
            label = (start + timedelta(days=offset)).isoformat()
            f = follows.get(label, {})
            rows.append([label, joined.get(label, 0), *(f.get(c, 0) for c in columns[2:])])
    elif name in ("acquisition_source", "acquisition_code"):
        by = "source" if name == "acquisition_source" else "channel_code"
        counts: dict[str, int] = {}
        for row in run(q.NewContacts, by=by)["rows"]:
            counts[row["key"]] = counts.get(row["key"], 0) + row["contacts"]
        columns = [by, "new_contacts"]
        rows = [[k, n] for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    elif name == "engagement":
        messages = {r["period"]: r for r in run(q.Messages)["rows"]}
        groups = {r["period"]: r for r in run(q.Groups)["rows"]}
        columns = ["day", "sent", "opened", "open_rate", "clicked", "group_messages", "speakers"]
        rows = []
        for offset in range(_days(start, end)):
            label = (start + timedelta(days=offset)).isoformat()
            m, g = messages.get(label, {}), groups.get(label, {})
            rows.append(
                [label, m.get("sent", 0), m.get("opened", 0), m.get("open_rate"), m.get("clicked", 0),
                 g.get("messages", 0), g.get("speakers", 0)]
            )  # fmt: skip
    elif name == "content":
        columns = ["content_id", "content_type", "channel", "first_sent", "sent", "opened", "open_rate", "clicked",
                   "click_through", "replied", "reply_rate"]  # fmt: skip
        found = run(q.Messages, by="content")["rows"]
        rows = [[r[c] for c in columns] for r in sorted(found, key=lambda r: (r["first_sent"], r["content_id"]))]
    elif name == "groups":
        columns = ["group_id", "group_name", "members", "messages", "speakers", "lurkers", "speaker_ratio"]
        found = run(q.Groups, by="group")["rows"]
        rows = [[r[c] for c in columns] for r in sorted(found, key=lambda r: (-r["members"], r["group_id"]))]
    elif name == "touchpoints":
        columns = ["touchpoint", "numerator", "denominator", "rate"]
        channels = {r["channel"]: r for r in run(q.Messages, by="channel")["rows"]}
        mp, wecom = channels.get("mp", {}), channels.get("wecom", {})
        groups_total = run(q.Groups, period="total")
        mini = run(q.VisitConversion)
        rows = [
            ["mp_click_through", mp.get("clicked", 0), mp.get("opened", 0), mp.get("click_through")],
            ["mini_program_conversion", mini["buyers"], mini["visitors"], mini["rate"]],
            ["group_participation", groups_total["speakers"], groups_total["members"], groups_total["speaker_ratio"]],
            ["one_to_one_response", wecom.get("replied", 0), wecom.get("sent", 0), wecom.get("reply_rate")],
        ]
    elif name == "commerce":
        columns = ["day", "gmv_fen", "refunded_fen", "net_fen", "orders", "buyers", "aov_fen", "arpu_fen"]
        rows = [[r[c] if c != "day" else r["period"] for c in columns] for r in run(q.Commerce, period="day")["rows"]]
    elif name == "cohorts":
        result = run(
            q.CohortRetention,
            period=options.cohort_period,
            basis=options.cohort_basis,
            periods=options.cohort_periods,
        )
        columns = ["cohort", "size", *(f"k{i}" for i in range(options.cohort_periods + 1))]
        rows = [[r["cohort"], r["size"], *r["rates"]] for r in result["rows"]]
    elif name == "funnel":
        result = run(q.Funnel, steps=options.funnel_steps, within_days=options.funnel_days)
        columns = ["step", "event", "contacts", "of_first", "of_previous"]
        rows = [
            [i + 1, s["event"], s["contacts"], s["of_first"], s["of_previous"]] for i, s in enumerate(result["steps"])
        ]
    else:
        raise KeyError(name)
    return columns, rows


DELIVERY_STATES: Final = ("queued", "sending", "sent", "handed_to_staff", "delivered", "failed", "blocked", "unknown")


def _deliveries(session: Session, start: date, end: date) -> tuple[list[str], list[list[Any]]]:
    """Journey and broadcast performance from the delivery ledger: messages created in the range by source
    and state (the operational store: the ledger is not copied to the analytics store)."""
    zone = ZoneInfo(_workspace(session).timezone)
    lo = datetime.combine(start, time.min, zone)
    hi = datetime.combine(end + timedelta(days=1), time.min, zone)
    found = session.execute(
        select(Delivery.source, Delivery.status, func.count())
        .where(Delivery.created_at >= lo, Delivery.created_at < hi)
        .group_by(Delivery.source, Delivery.status)
    ).all()
    names = {f"journey:{j.id}": j.name for j in session.scalars(select(Journey))}
    names |= _broadcast_titles(session, lo, hi)
    table: dict[str, dict[str, int]] = {}
    for source, status, n in found:
        table.setdefault(source, {})[status] = int(n)
    columns = ["source", "name", *DELIVERY_STATES, "total"]
    rows = []
    for source in sorted(table):
        counts = table[source]
        label = names.get(source) or (source.split(":", 1)[1] if source.startswith("broadcast:") else source)
        rows.append([source, label, *(counts.get(s, 0) for s in DELIVERY_STATES), sum(counts.values())])
    return columns, rows


def _broadcast_titles(session: Session, lo: datetime, hi: datetime) -> dict[str, str]:
    """Each broadcast's name: its key and the start of its text (from its first ledger row)."""
    first = (
        select(func.min(Delivery.id))
        .where(Delivery.created_at >= lo, Delivery.created_at < hi, Delivery.source.startswith("broadcast:"))
        .group_by(Delivery.source)
    )
    out: dict[str, str] = {}
    for source, content in session.execute(select(Delivery.source, Delivery.content).where(Delivery.id.in_(first))):
        key = source.split(":", 1)[1]
        text = " ".join(str((content or {}).get("text") or "").split())
        out[source] = f"{key} · {text[:40]}{'…' if len(text) > 40 else ''}" if text else key
    return out


def put_settings(session: Session, ctx: Any, raw: dict[str, Any]) -> BoardSettings:
    workspace = _workspace(session)
    before = workspace.board_settings
    settings = parse_settings(raw)
    workspace.board_settings = settings.model_dump(mode="json")
    session.flush()
    audit.record(
        session, ctx, "board.settings_changed", "workspace", workspace.id, before=before, after=workspace.board_settings
    )
    return settings
