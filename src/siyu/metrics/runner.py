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
    Funnel,
    LtvCurve,
    NewContacts,
    Period,
    Repurchase30d,
    Retention7d,
    compile_metric,
)

Rows = Callable[[exp.Expr], list[tuple[Any, ...]]]


def _label(key: int, period: Period | str) -> str:
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
    elif isinstance(query, Retention7d):
        cohort, kept = result[0]
        out.update(cohort=int(cohort), retained=int(kept), rate=_rate(kept, cohort))
    elif isinstance(query, Repurchase30d):
        cohort, again = result[0]
        out.update(cohort=int(cohort), repurchased=int(again), rate=_rate(again, cohort))
    elif isinstance(query, CohortRetention):
        sizes: dict[int, int] = {}
        cells: dict[int, dict[int, int]] = {}
        for cohort_key, offset, n in result:
            cells.setdefault(int(cohort_key), {})[int(offset)] = int(n)
            if int(offset) == 0:
                sizes[int(cohort_key)] = int(n)
        out["rows"] = [
            {
                "cohort": _label(k, query.period),
                "size": sizes.get(k, 0),
                "counts": [cells[k].get(i, 0) for i in range(query.periods + 1)],
                "rates": [_rate(cells[k].get(i, 0), sizes.get(k, 0)) for i in range(query.periods + 1)],
            }
            for k in sorted(cells)
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
    return out
