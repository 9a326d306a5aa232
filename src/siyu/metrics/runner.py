"""Running a metric query on an engine (DuckDB, or Spark through :class:`siyu.lake.portable.SparkRunner`)
and shaping its rows: period keys become dates or months, counts become rates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel
from sqlglot import exp

from siyu.metrics.queries import (
    EPOCH,
    ActiveRate,
    CohortRetention,
    Commerce,
    Follows,
    Funnel,
    Groups,
    LtvCurve,
    Messages,
    NewContacts,
    Period,
    Repurchase30d,
    Retention7d,
    Retention30d,
    VisitConversion,
    compile_metric,
)

Rows = Callable[[exp.Expr], list[tuple[Any, ...]]]


def _label(key: int, period: Period | str) -> str:
    if period == Period.total:
        return "total"
    if period == Period.day:
        return (EPOCH + timedelta(days=int(key))).isoformat()
    if period == Period.week:
        return (EPOCH + timedelta(days=int(key) * 7 - 3)).isoformat()  # the Monday the week starts on
    year, month = divmod(int(key), 12)
    return f"{year:04d}-{month + 1:02d}"


def _rate(part: int | float, whole: int | float) -> float | None:
    return None if not whole else round(float(part) / float(whole), 6)


def _div(part: int | float, whole: int | float) -> float | None:
    return None if not whole else round(float(part) / float(whole), 2)


def run_metric(
    rows: Rows, query: BaseModel, workspace_id: int, as_of: date, engagement: tuple[str, ...]
) -> dict[str, Any]:
    as_of_day = (as_of - EPOCH).days
    result = rows(compile_metric(query, workspace_id, as_of_day, engagement))
    kind = str(query.kind)  # type: ignore[attr-defined]
    out: dict[str, Any] = {"kind": kind}
    if isinstance(query, Commerce):
        out["rows"] = [
            {
                "period": _label(p, query.period),
                "gmv_fen": int(g),
                "refunded_fen": int(r),
                "net_fen": int(g) - int(r),
                "orders": int(o),
                "buyers": int(b),
                "contacts": int(c),
                "aov_fen": _div(g, o),
                "arpu_fen": _div(g, c),
                "arppu_fen": _div(g, b),
            }
            for p, g, r, o, b, c in result
        ]
    elif isinstance(query, NewContacts):
        out["rows"] = [{"day": _label(d, Period.day), "key": k, "contacts": int(n)} for d, k, n in result]
    elif isinstance(query, ActiveRate):
        out["rows"] = [
            {"period": _label(p, query.period), "active": int(a), "contacts": int(c), "rate": _rate(a, c)}
            for p, a, c in result
        ]
    elif isinstance(query, Retention7d | Retention30d | Repurchase30d):
        part = "repurchased" if isinstance(query, Repurchase30d) else "retained"
        cohorts = [(int(p), int(c), int(k)) for p, c, k in result]
        cohort, kept = sum(r[1] for r in cohorts), sum(r[2] for r in cohorts)
        out.update({"cohort": cohort, part: kept, "rate": _rate(kept, cohort)})
        if query.period != Period.total:
            out["rows"] = [
                {"period": _label(p, query.period), "cohort": c, part: k, "rate": _rate(k, c)} for p, c, k in cohorts
            ]
    elif isinstance(query, CohortRetention):
        sizes: dict[int, int] = {}
        cells: dict[int, dict[int, int]] = {}
        for cohort_key, offset, n in result:  # offset -1: the cohort's size (everybody in it, active or not)
            if int(offset) < 0:
                sizes[int(cohort_key)] = int(n)
            else:
                cells.setdefault(int(cohort_key), {})[int(offset)] = int(n)
        out["rows"] = [
            {
                "cohort": _label(k, query.period),
                "size": sizes.get(k, 0),
                "counts": [cells.get(k, {}).get(i, 0) for i in range(query.periods + 1)],
                "rates": [_rate(cells.get(k, {}).get(i, 0), sizes.get(k, 0)) for i in range(query.periods + 1)],
            }
            for k in sorted(sizes)
        ]
    elif isinstance(query, Funnel):
        counts = [int(n) for n in result[0]]
        out["steps"] = [
            {
                "event": name,
                "contacts": n,
                "of_first": _rate(n, counts[0]),
                "of_previous": _rate(n, counts[i - 1] if i else n),
            }
            for i, (name, n) in enumerate(zip(query.steps, counts, strict=True))
        ]
    elif isinstance(query, LtvCurve):
        out["points"] = [
            {"days": int(d), "buyers": int(b), "net_fen": int(v), "ltv_fen": _div(v, b)} for d, b, v in result
        ]
    elif isinstance(query, Follows):
        out["rows"] = [
            {
                "period": _label(p, query.period),
                "contact_added": int(a),
                "contact_deleted": int(d),
                "subscribed": int(s),
                "unsubscribed": int(u),
                "net": int(a) + int(s) - int(d) - int(u),
            }
            for p, a, d, s, u in result
        ]
    elif isinstance(query, Messages):
        out["rows"] = [_message_row(query, row) for row in result]
        totals = [sum(int(r[i] or 0) for r in result) for i in (4, 5, 6, 7)]
        out["total"] = _message_counts(*totals)
    elif isinstance(query, Groups):
        groups = [(str(k), n, int(m), int(s), int(mem), int(lurk)) for k, n, m, s, mem, lurk in result if k is not None]
        if query.by == "group":
            out["rows"] = [
                {
                    "group_id": k,
                    "group_name": n or k,
                    "messages": m,
                    "speakers": s,
                    "members": mem,
                    "lurkers": lurk,
                    "speaker_ratio": _rate(mem - lurk, mem),  # members who spoke / members
                }
                for k, n, m, s, mem, lurk in groups
            ]
        else:
            roster = next((r for r in groups if r[0] == "members"), None)
            talk = [r for r in groups if r[0] != "members"]
            members, lurkers = (roster[4], roster[5]) if roster else (0, 0)
            messages = sum(r[2] for r in talk)
            out["rows"] = [
                {"period": _label(int(k), query.period), "messages": m, "speakers": s} for k, _, m, s, _, _ in talk
            ]
            speakers = members - lurkers
            out.update(messages=messages, speakers=speakers, members=members, lurkers=lurkers)
            out["speaker_ratio"] = _rate(speakers, members)
    elif isinstance(query, VisitConversion):
        visitors, buyers, orders, gmv = (int(v) for v in result[0])
        out.update(visitors=visitors, buyers=buyers, orders=orders, gmv_fen=gmv, rate=_rate(buyers, visitors))
    return out


def _message_counts(sent: int, opened: int, clicked: int, replied: int) -> dict[str, Any]:
    return {
        "sent": sent,
        "opened": opened,
        "clicked": clicked,
        "replied": replied,
        "open_rate": _rate(opened, sent),
        "click_rate": _rate(clicked, sent),
        "click_through": _rate(clicked, opened),
        "reply_rate": _rate(replied, sent),
    }


def _message_row(query: Messages, row: tuple[Any, ...]) -> dict[str, Any]:
    key, content_type, channel, first_day, sent, opened, clicked, replied = row
    counts = _message_counts(int(sent), int(opened or 0), int(clicked or 0), int(replied or 0))
    if query.by == "period":
        return {"period": _label(int(key), query.period), **counts}
    if query.by == "content":
        return {
            "content_id": key,
            "content_type": content_type,
            "channel": channel,
            "first_sent": _label(int(first_day), Period.day),
            **counts,
        }
    return {query.by: key, **counts}
