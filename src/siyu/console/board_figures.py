"""The board's figures as the console shows them: a KPI card's value, change and threshold in words, a
label for every chart column and series, table cells formatted by what they hold (percent, yuan), and the
ECharts data that console.js draws from each chart table of :func:`siyu.board.service.chart`."""

from __future__ import annotations

import re
from typing import Any, Final

from siyu.console.access import Page
from siyu.console.i18n import N_
from siyu.console.pages.tiers import _bars
from siyu.console.vocabulary import yuan

GROUP_LABELS: Final[dict[str, str]] = {
    "traffic": N_("Traffic"),
    "engagement": N_("Engagement"),
    "commerce": N_("Commerce"),
    "retention": N_("Retention"),
}

KPI_LABELS: Final[dict[str, str]] = {
    "new_contacts": N_("New contacts per day"),
    "follows": N_("Follows per day"),
    "deletions": N_("Unfollows and deletions per day"),
    "open_rate": N_("Message open rate"),
    "promotion_open_rate": N_("Promotion open rate"),
    "group_messages": N_("Group messages per day"),
    "active_rate": N_("Active rate"),
    "speaker_ratio": N_("Group speaker ratio"),
    "gmv": N_("GMV"),
    "gmv_growth": N_("GMV growth"),
    "aov": N_("Average order value"),
    "arpu": N_("Revenue per contact (ARPU)"),
    "retention_7d": N_("7-day retention"),
    "retention_30d": N_("30-day retention"),
    "repurchase_30d": N_("30-day repurchase rate"),
}

STATUS_LABELS: Final[dict[str, str]] = {
    "green": N_("Healthy"),
    "amber": N_("Watch"),
    "red": N_("Needs work"),
    "no_data": N_("No data yet"),
    "none": N_("No threshold"),
}

COLUMN_LABELS: Final[dict[str, str]] = {
    "day": N_("Day"),
    "new_contacts": N_("New contacts"),
    "contact_added": N_("Added on WeCom"),
    "contact_deleted": N_("Deleted on WeCom"),
    "subscribed": N_("Followed the official account"),
    "unsubscribed": N_("Unfollowed the official account"),
    "source": N_("Source"),
    "channel_code": N_("Channel code"),
    "sent": N_("Sent"),
    "opened": N_("Opened"),
    "open_rate": N_("Open rate"),
    "clicked": N_("Clicked"),
    "group_messages": N_("Group messages"),
    "speakers": N_("Members who spoke"),
    "content_id": N_("Content"),
    "content_type": N_("Content type"),
    "channel": N_("Channel"),
    "first_sent": N_("First sent"),
    "click_through": N_("Click-through rate"),
    "replied": N_("Replied"),
    "reply_rate": N_("Reply rate"),
    "group_id": N_("Group ID"),
    "group_name": N_("Group"),
    "members": N_("Members"),
    "messages": N_("Messages"),
    "lurkers": N_("Lurkers"),
    "speaker_ratio": N_("Speaker ratio"),
    "touchpoint": N_("Touchpoint"),
    "numerator": N_("Numerator"),
    "denominator": N_("Denominator"),
    "rate": N_("Rate"),
    "gmv_fen": N_("GMV"),
    "refunded_fen": N_("Refunded"),
    "net_fen": N_("Net"),
    "orders": N_("Orders"),
    "buyers": N_("Buyers"),
    "aov_fen": N_("Average order value"),
    "arpu_fen": N_("Revenue per contact"),
    "cohort": N_("Cohort"),
    "size": N_("Cohort size"),
    "step": N_("Step"),
    "event": N_("Event"),
    "contacts": N_("Contacts"),
    "of_first": N_("Of the first step"),
    "of_previous": N_("Of the previous step"),
    "name": N_("Name"),
    "total": N_("Total"),
    "queued": N_("Queued"),
    "sending": N_("Sending"),
    "handed_to_staff": N_("Handed to staff"),
    "delivered": N_("Delivered"),
    "failed": N_("Failed"),
    "blocked": N_("Blocked"),
    "unknown": N_("Unknown"),
}
_PERIOD_COLUMN = re.compile(r"^k(\d+)$")
PERIOD_LABELS: Final = {"week": N_("Week %(n)s"), "month": N_("Month %(n)s")}
RATE_COLUMNS: Final = frozenset({"open_rate", "click_through", "reply_rate", "speaker_ratio", "rate", "of_first",
                                 "of_previous"})  # fmt: skip

TOUCHPOINT_LABELS: Final[dict[str, str]] = {
    "mp_click_through": N_("Official account: opened → clicked"),
    "mini_program_conversion": N_("Mini program: visited → bought"),
    "group_participation": N_("Customer groups: members who spoke"),
    "one_to_one_response": N_("One-to-one messages: replied"),
}
EVENT_LABELS: Final[dict[str, str]] = {
    "joined": N_("Joined"),
    "any_interaction": N_("Any interaction"),
    "order_paid": N_("Order paid"),
    "message_opened": N_("Opened a message"),
    "group_message": N_("Spoke in a group"),
}

PALETTE: Final = ("#2f6fed", "#10b981", "#ef4444", "#a855f7", "#f59e0b", "#64748b", "#14b8a6", "#ec4899")
ACCENT: Final = PALETTE[0]
SPOKE, LURKED = "#10b981", "#cbd5e1"
STATE_COLOURS: Final = {
    "delivered": "#10b981",
    "sent": "#2f6fed",
    "handed_to_staff": "#14b8a6",
    "queued": "#94a3b8",
    "sending": "#60a5fa",
    "failed": "#ef4444",
    "blocked": "#f59e0b",
    "unknown": "#64748b",
}


# --- KPI cards -----------------------------------------------------------------------------------------


def kpi_value(page: Page, unit: str, value: float | None) -> str:
    if value is None:
        return "—"
    if unit == "rate":
        return f"{value * 100:.1f}%"
    if unit == "fen":
        return yuan(value)
    if unit == "per_day":
        return page.gettext(N_("%(n)s /day"), n=f"{value:,.1f}")
    return f"{value:,}"


def kpi_change(page: Page, kind: str, change: float | None) -> str:
    if change is None:
        return "—"
    if kind == "points":
        return page.gettext(N_("%(n)s pp"), n=f"{change * 100:+.1f}")
    return f"{change * 100:+.1f}%"


def threshold_text(page: Page, unit: str, threshold: dict[str, Any] | None) -> dict[str, str] | None:
    """``≥ 15%`` (green) and the amber band, in the KPI's unit."""
    if not threshold:
        return None
    op = "≥" if threshold["direction"] == "higher" else "≤"
    return {
        "good": f"{op} {kpi_value(page, unit, threshold['good'])}",
        "warn": f"{op} {kpi_value(page, unit, threshold['warn'])}",
    }


def kpi_label(page: Page, kpi: str) -> str:
    return page.gettext(KPI_LABELS[kpi])


def kpi_card(page: Page, kpi: dict[str, Any]) -> dict[str, Any]:
    status = kpi["status"] or ("no_data" if kpi["threshold"] else "none")
    trend = [p for p in kpi["trend"] if p["value"] is not None]
    scale = 100 if kpi["unit"] == "rate" else 0.01 if kpi["unit"] == "fen" else 1
    label = kpi_label(page, kpi["id"])
    return {
        **kpi,
        "label": label,
        "shown": kpi_value(page, kpi["unit"], kpi["value"]),
        "previous_shown": kpi_value(page, kpi["unit"], kpi["previous"]),
        "change_shown": kpi_change(page, kpi["change_kind"], kpi["change"]),
        "direction": "flat" if not kpi["change"] else "up" if kpi["change"] > 0 else "down",
        "badge": status,
        "badge_label": page.gettext(STATUS_LABELS[status]),
        "limits": threshold_text(page, kpi["unit"], kpi["threshold"]),
        "cohort_shown": page.gettext("Cohort %(start)s – %(end)s", start=basis["cohort_start"], end=basis["cohort_end"])
        if "cohort_start" in (basis := kpi.get("basis") or {})
        else None,
        "spark": {
            "type": "spark",
            "categories": [p["period"] for p in trend],
            "values": [round(p["value"] * scale, 2) for p in trend],
            "name": label,
        }
        if len(trend) > 1
        else None,
    }


# --- chart tables --------------------------------------------------------------------------------------


def column_label(page: Page, column: str, cohort_period: str = "week") -> str:
    period = _PERIOD_COLUMN.match(column)
    if period:
        return page.gettext(PERIOD_LABELS[cohort_period], n=period.group(1))
    return page.gettext(COLUMN_LABELS[column]) if column in COLUMN_LABELS else column


def _is_rate(column: str) -> bool:
    return column in RATE_COLUMNS or bool(_PERIOD_COLUMN.match(column))


def cell(page: Page, column: str, value: Any) -> str:
    if value is None:
        return "—"
    if _is_rate(column):
        return f"{float(value) * 100:.1f}%"
    if column.endswith("_fen"):
        return yuan(value)
    if column == "touchpoint" and value in TOUCHPOINT_LABELS:
        return page.gettext(TOUCHPOINT_LABELS[value])
    if column == "event":
        return event_label(page, value)
    if isinstance(value, int) and not isinstance(value, bool) and column != "step":
        return f"{value:,}"
    return str(value)


def event_label(page: Page, event: str) -> str:
    return page.gettext(EVENT_LABELS[event]) if event in EVENT_LABELS else event


def table(page: Page, data: dict[str, Any], cohort_period: str = "week") -> dict[str, Any]:
    columns: list[str] = data["columns"]
    return {
        "columns": [
            {"id": c, "label": column_label(page, c, cohort_period), "num": _numeric(data, c)} for c in columns
        ],
        "rows": [[cell(page, c, v) for c, v in zip(columns, row, strict=True)] for row in data["rows"]],
    }


def _numeric(data: dict[str, Any], column: str) -> bool:
    """Right-aligned: a column of numbers (a missing one included)."""
    return column not in ("step",) and all(isinstance(v, (int, float)) or v is None for v in _values(data, column))


def _values(data: dict[str, Any], column: str) -> list[Any]:
    at = data["columns"].index(column)
    return [row[at] for row in data["rows"]]


def _lines(page: Page, data: dict[str, Any], columns: list[str], scale: float = 1) -> dict[str, Any]:
    return {
        "type": "lines",
        "categories": _values(data, data["columns"][0]),
        "series": [
            {
                "name": column_label(page, c),
                "values": [None if v is None else round(v * scale, 2) for v in _values(data, c)],
                "color": PALETTE[i % len(PALETTE)],
            }
            for i, c in enumerate(columns)
        ],
    }


def _stacked(categories: list[str], series: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "stacked", "categories": categories, "series": series}


def _counted_bars(labels: list[str], values: list[Any], colour: str = ACCENT) -> dict[str, Any]:
    """Bars through the tiers page's helper (one colour)."""
    rows = [
        {"key": str(i), "label": label, "contacts": value}
        for i, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    return _bars(rows, {r["key"]: colour for r in rows})


def chart_data(page: Page, data: dict[str, Any], cohort_period: str = "week") -> dict[str, Any] | None:
    """The ECharts data for one chart table; None when there is nothing to draw."""
    name, rows = data["chart"], data["rows"]
    if not rows:
        return None
    if name == "traffic":
        return _lines(page, data, ["new_contacts", "contact_added", "contact_deleted", "subscribed", "unsubscribed"])
    if name in ("acquisition_source", "acquisition_code"):
        none = page.gettext(N_("(none)"))
        return _counted_bars([r[0] or none for r in rows], [r[1] for r in rows])
    if name == "engagement":
        return _lines(page, data, ["sent", "opened", "group_messages"])
    if name == "content":
        rates = [None if r is None else round(r * 100, 1) for r in _values(data, "open_rate")]
        return {**_counted_bars([str(c) for c in _values(data, "content_id")], rates), "unit": "%"}
    if name == "groups":
        return _stacked(
            [str(g or i) for g, i in zip(_values(data, "group_name"), _values(data, "group_id"), strict=True)],
            [
                {"name": column_label(page, "speakers"), "values": _values(data, "speakers"), "color": SPOKE},
                {"name": column_label(page, "lurkers"), "values": _values(data, "lurkers"), "color": LURKED},
            ],
        )
    if name == "touchpoints":
        labels = [cell(page, "touchpoint", t) for t in _values(data, "touchpoint")]
        rates = [None if r is None else round(r * 100, 1) for r in _values(data, "rate")]
        return {**_counted_bars(labels, rates), "unit": "%"}
    if name == "commerce":
        return _lines(page, data, ["gmv_fen", "aov_fen"], scale=0.01)
    if name == "cohorts":
        return _cohort_heatmap(page, data, cohort_period)
    if name == "funnel":
        return {
            "type": "funnel",
            "items": [{"name": f"{r[0]}. {event_label(page, r[1])}", "value": r[2]} for r in rows],
        }
    if name == "journeys":
        states = [c for c in data["columns"][2:-1] if any(v for v in _values(data, c))]
        # axis labels: a broadcast by its key (its text is in the table), a journey by its name
        labels = [
            str(source).removeprefix("broadcast:") if str(source).startswith("broadcast:") else str(name)
            for source, name in zip(_values(data, "source"), _values(data, "name"), strict=True)
        ]
        return _stacked(
            labels,
            [
                {"name": column_label(page, s), "values": _values(data, s), "color": STATE_COLOURS.get(s, ACCENT)}
                for s in states
            ],
        )
    return None


def _cohort_heatmap(page: Page, data: dict[str, Any], cohort_period: str) -> dict[str, Any]:
    periods = [c for c in data["columns"] if _PERIOD_COLUMN.match(c)]
    cohorts = [str(r[0]) for r in data["rows"]]
    points = []
    for y, row in enumerate(data["rows"]):
        for x, rate in enumerate(row[2:]):
            if rate is not None:
                points.append([x, y, round(rate * 100, 1), f"{row[1]:,}"])
    return {
        "type": "heatmap",
        "x": [column_label(page, c, cohort_period) for c in periods],
        "y": cohorts,
        "x_name": page.gettext(N_("Periods since joining")),
        "y_name": page.gettext(N_("Cohort")),
        "points": points,
        "max": 100,
        "labels": {"contacts": page.gettext(N_("Retained (%)")), "mean": page.gettext(N_("Cohort size"))},
    }
