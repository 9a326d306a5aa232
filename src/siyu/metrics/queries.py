"""The metrics library: typed query objects (each with a ``kind``) and their compilation to one SQL query
over the analytics store, rendered for DuckDB or Spark like the segment compiler's.

Every metric is defined in words in ``docs/metrics.md``; the definitions here are the executable form.
All dates are the workspace's local dates; a period is a day, an ISO week (Monday to Sunday) or a
calendar month; ``start`` and ``end`` are both included.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlglot import exp

EPOCH = date(1970, 1, 1)
MAX_DAYS = 3660


def day(value: date) -> int:
    return (value - EPOCH).days


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date
    end: date

    @model_validator(mode="after")
    def _range(self) -> _Query:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if (self.end - self.start).days > MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days")
        return self


class Commerce(_Query):
    """GMV, refunds, net, orders, buyers, AOV, ARPU and ARPPU per period."""

    kind: Literal["commerce"] = "commerce"
    period: Period = Period.month


class NewContacts(_Query):
    """Contacts who joined per day, by first source or by channel code (渠道活码)."""

    kind: Literal["new_contacts"] = "new_contacts"
    by: Literal["source", "channel_code"] = "source"


class ActiveRate(_Query):
    """Share of the pool with an interaction in each period."""

    kind: Literal["active_rate"] = "active_rate"
    period: Period = Period.week


class Retention7d(_Query):
    """Share of contacts who joined between start and end that interacted in their first 7 days after."""

    kind: Literal["retention_7d"] = "retention_7d"


class Repurchase30d(_Query):
    """Share of first-time buyers (first order between start and end) who bought again within 30 days."""

    kind: Literal["repurchase_30d"] = "repurchase_30d"


class CohortRetention(_Query):
    """Cohorts by the period of the first order (or of joining), and the share active in each later period."""

    kind: Literal["cohort_retention"] = "cohort_retention"
    period: Literal["week", "month"] = "month"
    periods: int = Field(12, ge=1, le=60, description="How many periods after the cohort's own to show.")
    basis: Literal["orders", "activity"] = "orders"


class Funnel(_Query):
    """Contacts reaching each step in order, within ``within_days`` of their first step."""

    kind: Literal["funnel"] = "funnel"
    steps: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]] = Field(min_length=2, max_length=10)
    within_days: int = Field(7, ge=1, le=365)


class LtvCurve(_Query):
    """Mean cumulative net revenue per buyer by days since the first order (buyers seen long enough)."""

    kind: Literal["ltv_curve"] = "ltv_curve"
    days: list[Annotated[int, Field(ge=0, le=3650)]] = Field(default=[0, 7, 30, 60, 90, 180, 365], min_length=1)


MetricQuery = Annotated[
    Commerce | NewContacts | ActiveRate | Retention7d | Repurchase30d | CohortRetention | Funnel | LtvCurve,
    Field(discriminator="kind"),
]


def _names(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + n.replace("'", "''") + "'" for n in names)


def _period_key(column_day: str, column_time: str, period: Period | str) -> str:
    """An integer naming the period of a row: the day number, the Monday-week number, or year × 12 + month."""
    if period == Period.day:
        return column_day
    if period == Period.week:
        return f"({column_day} + 3) // 7"  # 1970-01-01 was a Thursday: week n starts on a Monday
    return f"(YEAR({column_time}) * 12 + MONTH({column_time}) - 1)"


def _period_of_day(day_number: str, period: Period | str) -> str:
    if period == Period.day:
        return day_number
    if period == Period.week:
        return f"({day_number} + 3) // 7"
    raise AssertionError("months are keyed from a time column")


def compile_metric(query: BaseModel, workspace_id: int, as_of_day: int, engagement: tuple[str, ...]) -> exp.Expr:
    """The SQL of a metric query (DuckDB dialect, as a sqlglot tree)."""
    ws = int(workspace_id)
    start, end = day(query.start), day(query.end)  # type: ignore[attr-defined]
    engaged = _names(engagement)
    if isinstance(query, Commerce):
        key_o = _period_key("paid_day", "paid_at", query.period)
        key_r = _period_key("refunded_day", "refunded_at", query.period)
        key_c = _period_key("created_day", "created_at", query.period)
        sql = f"""
        WITH o AS (
            SELECT {key_o} AS period, SUM(amount_fen) AS gmv_fen, COUNT(*) AS orders,
                   COUNT(DISTINCT contact_id) AS buyers
            FROM orders WHERE workspace_id = {ws} AND paid_day BETWEEN {start} AND {end} GROUP BY 1
        ), r AS (
            SELECT {key_r} AS period, SUM(amount_fen) AS refunded_fen
            FROM refunds WHERE workspace_id = {ws} AND refunded_day BETWEEN {start} AND {end} GROUP BY 1
        ), joined AS (
            SELECT {key_c} AS period, COUNT(*) AS joined
            FROM contacts WHERE workspace_id = {ws} AND merged_into_id IS NULL AND created_day <= {end} GROUP BY 1
        ), periods AS (
            SELECT period FROM o UNION SELECT period FROM r
        ), pool AS (
            SELECT p.period, SUM(j.joined) AS contacts FROM periods AS p JOIN joined AS j ON j.period <= p.period
            GROUP BY p.period
        )
        SELECT p.period, COALESCE(o.gmv_fen, 0) AS gmv_fen, COALESCE(r.refunded_fen, 0) AS refunded_fen,
               COALESCE(o.orders, 0) AS orders, COALESCE(o.buyers, 0) AS buyers, COALESCE(pool.contacts, 0) AS contacts
        FROM periods AS p
        LEFT JOIN o ON o.period = p.period
        LEFT JOIN r ON r.period = p.period
        LEFT JOIN pool ON pool.period = p.period
        ORDER BY p.period
        """
    elif isinstance(query, NewContacts):
        column = "first_source" if query.by == "source" else "first_channel_code"
        sql = f"""
        SELECT created_day AS day, COALESCE({column}, '') AS key, COUNT(*) AS contacts
        FROM contacts WHERE workspace_id = {ws} AND merged_into_id IS NULL AND created_day BETWEEN {start} AND {end}
        GROUP BY 1, 2 ORDER BY 1, 2
        """
    elif isinstance(query, ActiveRate):
        key_e = _period_key("occurred_day", "occurred_at", query.period)
        key_c = _period_key("created_day", "created_at", query.period)
        sql = f"""
        WITH a AS (
            SELECT {key_e} AS period, COUNT(DISTINCT e.contact_id) AS active
            FROM events AS e JOIN contacts AS c ON c.workspace_id = e.workspace_id AND c.contact_id = e.contact_id
            WHERE e.workspace_id = {ws} AND c.merged_into_id IS NULL AND e.name IN ({engaged})
              AND e.occurred_day BETWEEN {start} AND {end}
            GROUP BY 1
        ), joined AS (
            SELECT {key_c} AS period, COUNT(*) AS joined
            FROM contacts WHERE workspace_id = {ws} AND merged_into_id IS NULL AND created_day <= {end} GROUP BY 1
        )
        SELECT a.period, a.active, SUM(j.joined) AS contacts
        FROM a JOIN joined AS j ON j.period <= a.period GROUP BY a.period, a.active ORDER BY a.period
        """
    elif isinstance(query, Retention7d):
        last = min(end, as_of_day - 7)
        sql = f"""
        WITH cohort AS (
            SELECT contact_id, created_day FROM contacts
            WHERE workspace_id = {ws} AND merged_into_id IS NULL AND created_day BETWEEN {start} AND {last}
        ), kept AS (
            SELECT DISTINCT c.contact_id FROM cohort AS c JOIN events AS e
              ON e.workspace_id = {ws} AND e.contact_id = c.contact_id
            WHERE e.name IN ({engaged}) AND e.occurred_day BETWEEN c.created_day + 1 AND c.created_day + 7
        )
        SELECT (SELECT COUNT(*) FROM cohort) AS cohort, (SELECT COUNT(*) FROM kept) AS retained
        """
    elif isinstance(query, Repurchase30d):
        last = min(end, as_of_day - 30)
        sql = f"""
        WITH firsts AS (
            SELECT o.contact_id, MIN(o.paid_day) AS first_day FROM orders AS o
            JOIN contacts AS c ON c.workspace_id = o.workspace_id AND c.contact_id = o.contact_id
            WHERE o.workspace_id = {ws} AND c.merged_into_id IS NULL GROUP BY o.contact_id
        ), cohort AS (
            SELECT contact_id, first_day FROM firsts WHERE first_day BETWEEN {start} AND {last}
        ), again AS (
            SELECT DISTINCT f.contact_id FROM cohort AS f JOIN orders AS o
              ON o.workspace_id = {ws} AND o.contact_id = f.contact_id
            WHERE o.paid_day BETWEEN f.first_day + 1 AND f.first_day + 30
        )
        SELECT (SELECT COUNT(*) FROM cohort) AS cohort, (SELECT COUNT(*) FROM again) AS repurchased
        """
    elif isinstance(query, CohortRetention):
        if query.basis == "orders":
            key = _period_key("paid_day", "paid_at", query.period)
            rows = f"""SELECT o.contact_id, {key} AS period FROM orders AS o
                JOIN contacts AS c ON c.workspace_id = o.workspace_id AND c.contact_id = o.contact_id
                WHERE o.workspace_id = {ws} AND c.merged_into_id IS NULL AND o.paid_day <= {as_of_day}"""
            first = "SELECT contact_id, MIN(period) AS cohort FROM activity GROUP BY contact_id"
        else:
            key = _period_key("e.occurred_day", "e.occurred_at", query.period)
            rows = f"""SELECT e.contact_id, {key} AS period FROM events AS e
                JOIN contacts AS c ON c.workspace_id = e.workspace_id AND c.contact_id = e.contact_id
                WHERE e.workspace_id = {ws} AND c.merged_into_id IS NULL AND e.name IN ({engaged})
                  AND e.occurred_day <= {as_of_day}"""
            joined = _period_key("created_day", "created_at", query.period)
            first = f"""SELECT contact_id, {joined} AS cohort FROM contacts
                WHERE workspace_id = {ws} AND merged_into_id IS NULL"""
        s_key = _period_key(str(start), f"DATE '{query.start.isoformat()}'", query.period)
        e_key = _period_key(str(end), f"DATE '{query.end.isoformat()}'", query.period)
        sql = f"""
        WITH activity AS ({rows}), cohorts AS ({first})
        SELECT k.cohort, a.period - k.cohort AS offset, COUNT(DISTINCT a.contact_id) AS contacts
        FROM cohorts AS k JOIN activity AS a ON a.contact_id = k.contact_id
        WHERE k.cohort BETWEEN {s_key} AND {e_key} AND a.period - k.cohort BETWEEN 0 AND {query.periods}
        GROUP BY 1, 2 ORDER BY 1, 2
        """
    elif isinstance(query, Funnel):
        steps = query.steps
        ctes = [
            f"""s1 AS (SELECT e.contact_id, MIN(e.occurred_at) AS at0, MIN(e.occurred_at) AS at1
                FROM events AS e JOIN contacts AS c ON c.workspace_id = e.workspace_id AND c.contact_id = e.contact_id
                WHERE e.workspace_id = {ws} AND c.merged_into_id IS NULL AND e.name = '{steps[0]}'
                  AND e.occurred_day BETWEEN {start} AND {end} GROUP BY e.contact_id)"""
        ]
        for i, name in enumerate(steps[1:], 2):
            ctes.append(
                f"""s{i} AS (SELECT p.contact_id, p.at0, MIN(e.occurred_at) AS at{i}
                FROM s{i - 1} AS p JOIN events AS e ON e.workspace_id = {ws} AND e.contact_id = p.contact_id
                WHERE e.name = '{name}' AND e.occurred_at >= p.at{i - 1}
                  AND e.occurred_at <= p.at0 + INTERVAL {query.within_days} DAY
                GROUP BY p.contact_id, p.at0)"""
            )
        counts = ", ".join(f"(SELECT COUNT(*) FROM s{i}) AS step{i}" for i in range(1, len(steps) + 1))
        sql = f"WITH {', '.join(ctes)} SELECT {counts}"
    elif isinstance(query, LtvCurve):
        marks = ", ".join(f"({d})" for d in sorted(set(query.days)))
        sql = f"""
        WITH refunded AS (
            SELECT order_pk, SUM(amount_fen) AS refunded_fen FROM refunds WHERE workspace_id = {ws} GROUP BY order_pk
        ), paid AS (
            SELECT o.contact_id, o.paid_day, o.amount_fen - COALESCE(r.refunded_fen, 0) AS net_fen
            FROM orders AS o LEFT JOIN refunded AS r ON r.order_pk = o.order_pk
            JOIN contacts AS c ON c.workspace_id = o.workspace_id AND c.contact_id = o.contact_id
            WHERE o.workspace_id = {ws} AND c.merged_into_id IS NULL AND o.paid_day <= {as_of_day}
        ), firsts AS (
            SELECT contact_id, MIN(paid_day) AS first_day FROM paid GROUP BY contact_id
        ), cohort AS (
            SELECT contact_id, first_day FROM firsts WHERE first_day BETWEEN {start} AND {end}
        ), marks AS (
            SELECT * FROM (VALUES {marks}) AS m(d)
        ), seen AS (
            SELECT m.d, k.contact_id, k.first_day FROM marks AS m JOIN cohort AS k ON {as_of_day} - k.first_day >= m.d
        )
        SELECT s.d, COUNT(DISTINCT s.contact_id) AS buyers, COALESCE(SUM(p.net_fen), 0) AS net_fen
        FROM seen AS s LEFT JOIN paid AS p ON p.contact_id = s.contact_id AND p.paid_day - s.first_day <= s.d
        GROUP BY s.d ORDER BY s.d
        """
    else:
        raise TypeError(f"not a metric query: {type(query).__name__}")
    return sqlglot.parse_one(sql, read="duckdb")
