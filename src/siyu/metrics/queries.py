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
RELATION_NAMES = ("contact_added", "contact_deleted", "subscribed", "unsubscribed")
MAX_DAYS = 3660


def day(value: date) -> int:
    return (value - EPOCH).days


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    total = "total"  # the whole range as one period


SCOPED_TABLES = ("contacts", "events", "orders", "refunds", "message_sends", "group_moves")
TEXT = r"^[^\x00]{1,64}$"  # quoted into the SQL (quotes doubled)


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date
    end: date
    segment_id: int | None = Field(None, ge=1, description="Only the current members of this segment.")
    source: str | None = Field(None, pattern=TEXT, description="Only contacts whose first source is this.")
    channel_code: str | None = Field(
        None, pattern=TEXT, description="Only contacts who joined through this channel code (渠道活码)."
    )

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
    period: Period = Field(Period.total, description="Also split by the period of joining.")


class Retention30d(_Query):
    """Share of contacts who joined between start and end that interacted on days 24–30 after (still there
    in the last week of their first month)."""

    kind: Literal["retention_30d"] = "retention_30d"
    period: Period = Field(Period.total, description="Also split by the period of joining.")


class Repurchase30d(_Query):
    """Share of first-time buyers (first order between start and end) who bought again within 30 days."""

    kind: Literal["repurchase_30d"] = "repurchase_30d"
    period: Period = Field(Period.total, description="Also split by the period of the first order.")


class Follows(_Query):
    """Relations started and ended per day: WeCom friends added and deleted, 公众号 follows and unfollows."""

    kind: Literal["follows"] = "follows"
    period: Period = Period.day


class Messages(_Query):
    """Messages sent (``message_sent``) in the range and the share of them opened, clicked and answered by
    their recipient — per period, content, content type or channel."""

    kind: Literal["messages"] = "messages"
    by: Literal["period", "content", "content_type", "channel"] = "period"
    period: Period = Period.day
    within_days: int = Field(7, ge=1, le=60, description="Opens and clicks count this many days after the send.")
    reply_hours: int = Field(48, ge=1, le=720, description="A message from the contact this soon is an answer.")
    content_types: list[Annotated[str, Field(pattern=TEXT)]] | None = Field(
        None, max_length=20, description="Only messages of these content types (e.g. promotions)."
    )


class Groups(_Query):
    """Customer groups (社群): messages, speakers, members at the end of the range, lurkers — per period or
    per group."""

    kind: Literal["groups"] = "groups"
    by: Literal["period", "group"] = "period"
    period: Period = Period.day


class VisitConversion(_Query):
    """Visitors (contacts with a visit event, e.g. a 小程序 ``page_view``) and those of them who ordered on a
    sales channel in the range."""

    kind: Literal["visit_conversion"] = "visit_conversion"
    visit_event: str = Field("page_view", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    visit_source: str | None = Field("miniprogram", pattern=TEXT)
    sales_channel: str | None = Field("miniprogram", pattern=TEXT)


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
    Commerce
    | NewContacts
    | ActiveRate
    | Retention7d
    | Retention30d
    | Repurchase30d
    | CohortRetention
    | Funnel
    | LtvCurve
    | Follows
    | Messages
    | Groups
    | VisitConversion,
    Field(discriminator="kind"),
]

# Funnel steps that are not event names: the contact joining (first step only) and any interaction.
JOINED = "joined"
ANY_INTERACTION = "any_interaction"


def _names(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(_quote(n) for n in names)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _merged(ws: int) -> str:
    """The workspace's merged contacts: few, so excluding them is cheaper than joining every live contact."""
    return f"SELECT contact_id FROM contacts WHERE workspace_id = {ws} AND merged_into_id IS NOT NULL"


def _json(column: str, key: str) -> str:
    return f"json_extract_string({column}, '$.{key}')"


def _period_key(column_day: str, column_time: str, period: Period | str) -> str:
    """An integer naming the period of a row: the day number, the Monday-week number, or year × 12 + month."""
    if period == Period.day:
        return column_day
    if period == Period.week:
        return f"({column_day} + 3) // 7"  # 1970-01-01 was a Thursday: week n starts on a Monday
    if period == Period.total:
        return "CAST(0 AS INTEGER)"  # an expression: a bare 0 in GROUP BY would mean the first column
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
            FROM events AS e
            WHERE e.workspace_id = {ws} AND e.contact_id NOT IN ({_merged(ws)}) AND e.name IN ({engaged})
              AND e.occurred_day BETWEEN {start} AND {end}
            GROUP BY 1
        ), joined AS (
            SELECT {key_c} AS period, COUNT(*) AS joined
            FROM contacts WHERE workspace_id = {ws} AND merged_into_id IS NULL AND created_day <= {end} GROUP BY 1
        )
        SELECT a.period, a.active, SUM(j.joined) AS contacts
        FROM a JOIN joined AS j ON j.period <= a.period GROUP BY a.period, a.active ORDER BY a.period
        """
    elif isinstance(query, Retention7d | Retention30d):
        since, last_offset = (1, 7) if isinstance(query, Retention7d) else (24, 30)
        last = min(end, as_of_day - last_offset)
        key = _period_key("created_day", "created_at", query.period)
        sql = f"""
        WITH cohort AS (
            SELECT contact_id, created_day, {key} AS period FROM contacts
            WHERE workspace_id = {ws} AND merged_into_id IS NULL AND created_day BETWEEN {start} AND {last}
        ), kept AS (
            SELECT DISTINCT c.contact_id FROM cohort AS c JOIN events AS e
              ON e.workspace_id = {ws} AND e.contact_id = c.contact_id
            WHERE e.name IN ({engaged})
              AND e.occurred_day BETWEEN c.created_day + {since} AND c.created_day + {last_offset}
        )
        SELECT c.period, COUNT(*) AS cohort, COUNT(k.contact_id) AS retained
        FROM cohort AS c LEFT JOIN kept AS k ON k.contact_id = c.contact_id GROUP BY c.period ORDER BY c.period
        """
    elif isinstance(query, Repurchase30d):
        last = min(end, as_of_day - 30)
        key = _period_key("first_day", "first_at", query.period)
        sql = f"""
        WITH firsts AS (
            SELECT o.contact_id, MIN(o.paid_day) AS first_day, MIN(o.paid_at) AS first_at FROM orders AS o
            JOIN contacts AS c ON c.workspace_id = o.workspace_id AND c.contact_id = o.contact_id
            WHERE o.workspace_id = {ws} AND c.merged_into_id IS NULL GROUP BY o.contact_id
        ), cohort AS (
            SELECT contact_id, first_day, {key} AS period FROM firsts WHERE first_day BETWEEN {start} AND {last}
        ), again AS (
            SELECT DISTINCT f.contact_id FROM cohort AS f JOIN orders AS o
              ON o.workspace_id = {ws} AND o.contact_id = f.contact_id
            WHERE o.paid_day BETWEEN f.first_day + 1 AND f.first_day + 30
        )
        SELECT f.period, COUNT(*) AS cohort, COUNT(a.contact_id) AS repurchased
        FROM cohort AS f LEFT JOIN again AS a ON a.contact_id = f.contact_id GROUP BY f.period ORDER BY f.period
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
        SELECT k.cohort, -1 AS offset, COUNT(*) AS contacts FROM cohorts AS k
        WHERE k.cohort BETWEEN {s_key} AND {e_key} GROUP BY 1
        UNION ALL
        SELECT k.cohort, a.period - k.cohort AS offset, COUNT(DISTINCT a.contact_id) AS contacts
        FROM cohorts AS k JOIN activity AS a ON a.contact_id = k.contact_id
        WHERE k.cohort BETWEEN {s_key} AND {e_key} AND a.period - k.cohort BETWEEN 0 AND {query.periods}
        GROUP BY 1, 2 ORDER BY 1, 2
        """
    elif isinstance(query, Funnel):
        steps = query.steps

        def named(name: str) -> str:
            return f"e.name IN ({engaged})" if name == ANY_INTERACTION else f"e.name = {_quote(name)}"

        if steps[0] == JOINED:
            first_step = f"""s1 AS (SELECT contact_id, MIN(created_at) AS at0, MIN(created_at) AS at1
                FROM contacts WHERE workspace_id = {ws} AND merged_into_id IS NULL
                  AND created_day BETWEEN {start} AND {end} GROUP BY contact_id)"""
        else:
            first_step = f"""s1 AS (SELECT e.contact_id, MIN(e.occurred_at) AS at0, MIN(e.occurred_at) AS at1
                FROM events AS e JOIN contacts AS c ON c.workspace_id = e.workspace_id AND c.contact_id = e.contact_id
                WHERE e.workspace_id = {ws} AND c.merged_into_id IS NULL AND {named(steps[0])}
                  AND e.occurred_day BETWEEN {start} AND {end} GROUP BY e.contact_id)"""
        ctes = [first_step]
        for i, name in enumerate(steps[1:], 2):
            # the same step twice (a repeat order) needs a later event, not the same one again
            after = ">" if name == steps[i - 2] else ">="
            ctes.append(
                f"""s{i} AS (SELECT p.contact_id, p.at0, MIN(e.occurred_at) AS at{i}
                FROM s{i - 1} AS p JOIN events AS e ON e.workspace_id = {ws} AND e.contact_id = p.contact_id
                WHERE {named(name)} AND e.occurred_at {after} p.at{i - 1}
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
    elif isinstance(query, Follows):
        key = _period_key("e.occurred_day", "e.occurred_at", query.period)
        counts = ", ".join(f"SUM(CASE WHEN e.name = '{name}' THEN 1 ELSE 0 END) AS {name}" for name in RELATION_NAMES)
        sql = f"""
        SELECT {key} AS period, {counts}
        FROM events AS e
        WHERE e.workspace_id = {ws} AND e.contact_id NOT IN ({_merged(ws)}) AND e.name IN ({_names(RELATION_NAMES)})
          AND e.occurred_day BETWEEN {start} AND {end}
        GROUP BY 1 ORDER BY 1
        """
    elif isinstance(query, Messages):
        key = {
            "period": _period_key("s.sent_day", "s.sent_at", query.period),
            "content": "s.content_id",
            "content_type": "COALESCE(s.content_type, '')",
            "channel": "COALESCE(s.channel, '')",
        }[query.by]
        only = f"AND s.content_type IN ({_names(query.content_types)})" if query.content_types else ""
        # message_sends (siyu.lake.derived) holds each send with its first open, click and answer after it
        sql = f"""
        SELECT {key} AS k, MIN(s.content_type), MIN(s.channel), MIN(s.sent_day) AS day, COUNT(*) AS sent,
               SUM(CASE WHEN s.opened_at <= s.sent_at + INTERVAL {query.within_days} DAY THEN 1 ELSE 0 END),
               SUM(CASE WHEN s.clicked_at <= s.sent_at + INTERVAL {query.within_days} DAY THEN 1 ELSE 0 END),
               SUM(CASE WHEN s.answered_at <= s.sent_at + INTERVAL {query.reply_hours} HOUR THEN 1 ELSE 0 END)
        FROM message_sends AS s
        WHERE s.workspace_id = {ws} AND s.sent_day BETWEEN {start} AND {end}
          AND s.contact_id NOT IN ({_merged(ws)}) {only}
        GROUP BY 1 ORDER BY 1
        """
    elif isinstance(query, Groups):
        group = _json("e.properties", "group_id")
        if query.by == "group":
            talk_key, member_key = group, "m.group_id"
        else:
            talk_key, member_key = _period_key("e.occurred_day", "e.occurred_at", query.period), "'members'"
        moves = f"""SELECT m.contact_id, m.group_id, m.moved_at AS occurred_at, m.group_name, m.name
            FROM group_moves AS m
            WHERE m.workspace_id = {ws} AND m.contact_id NOT IN ({_merged(ws)}) AND m.moved_day <= {end}"""
        sql = f"""
        WITH moves AS ({moves}), latest AS (
            SELECT contact_id, group_id, MAX(group_name) AS group_name,
                   MAX_BY(name, occurred_at) AS last_move
            FROM moves GROUP BY contact_id, group_id
        ), members AS (
            SELECT contact_id, group_id, group_name FROM latest WHERE last_move = 'group_joined'
        ), talk AS (
            SELECT e.contact_id, {group} AS group_id, {talk_key} AS k
            FROM events AS e
            WHERE e.workspace_id = {ws} AND e.contact_id NOT IN ({_merged(ws)}) AND e.name = 'group_message'
              AND e.occurred_day BETWEEN {start} AND {end}
        ), by_key AS (
            SELECT CAST(k AS VARCHAR) AS k, COUNT(*) AS messages, COUNT(DISTINCT contact_id) AS speakers
            FROM talk GROUP BY 1
        ), spoke AS (
            SELECT DISTINCT contact_id, group_id FROM talk
        ), roster AS (
            SELECT CAST({member_key} AS VARCHAR) AS k, MAX(m.group_name) AS name,
                   COUNT(DISTINCT m.contact_id) AS members,
                   COUNT(DISTINCT CASE WHEN s.contact_id IS NULL THEN m.contact_id END) AS lurkers
            FROM members AS m LEFT JOIN spoke AS s ON s.contact_id = m.contact_id
              AND {"s.group_id = m.group_id" if query.by == "group" else "TRUE"}
            GROUP BY 1
        )
        SELECT COALESCE(b.k, r.k) AS k, r.name, COALESCE(b.messages, 0), COALESCE(b.speakers, 0),
               COALESCE(r.members, 0), COALESCE(r.lurkers, 0)
        FROM by_key AS b FULL OUTER JOIN roster AS r ON r.k = b.k
        ORDER BY 1
        """
    elif isinstance(query, VisitConversion):
        visit_source = f"AND e.source = {_quote(query.visit_source)}" if query.visit_source else ""
        channel = f"AND o.sales_channel = {_quote(query.sales_channel)}" if query.sales_channel else ""
        sql = f"""
        WITH visitors AS (
            SELECT DISTINCT e.contact_id FROM events AS e
            JOIN contacts AS c ON c.workspace_id = e.workspace_id AND c.contact_id = e.contact_id
            WHERE e.workspace_id = {ws} AND c.merged_into_id IS NULL AND e.name = {_quote(query.visit_event)}
              {visit_source} AND e.occurred_day BETWEEN {start} AND {end}
        ), bought AS (
            SELECT o.contact_id, COUNT(*) AS orders, SUM(o.amount_fen) AS gmv_fen FROM orders AS o
            WHERE o.workspace_id = {ws} {channel} AND o.paid_day BETWEEN {start} AND {end} GROUP BY o.contact_id
        )
        SELECT COUNT(*) AS visitors, COUNT(b.contact_id) AS buyers, COALESCE(SUM(b.orders), 0),
               COALESCE(SUM(b.gmv_fen), 0)
        FROM visitors AS v LEFT JOIN bought AS b ON b.contact_id = v.contact_id
        """
    else:
        raise TypeError(f"not a metric query: {type(query).__name__}")
    return _scoped(sqlglot.parse_one(sql, read="duckdb"), query, ws)


def _scoped(tree: exp.Expr, query: BaseModel, ws: int) -> exp.Expr:
    """The query restricted to the contacts its filters name (segment, first source, channel code): every
    read of contacts, events, orders and refunds goes through a filtered copy, so each metric keeps its one
    definition. Unfiltered queries are left as they are."""
    conditions = []
    segment_id = getattr(query, "segment_id", None)
    if segment_id is not None:
        conditions.append(
            f"contact_id IN (SELECT contact_id FROM segment_members WHERE workspace_id = {ws} "
            f"AND segment_id = {int(segment_id)})"
        )
    if getattr(query, "source", None) is not None:
        conditions.append(f"first_source = {_quote(query.source)}")  # type: ignore[attr-defined]
    if getattr(query, "channel_code", None) is not None:
        conditions.append(f"first_channel_code = {_quote(query.channel_code)}")  # type: ignore[attr-defined]
    if not conditions:
        return tree
    for table in list(tree.find_all(exp.Table)):
        if table.name in SCOPED_TABLES and not table.args.get("db"):
            alias = table.alias or table.name
            table.set("this", exp.to_identifier(f"scoped_{table.name}"))
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    scope = f"""WITH scoped_contacts AS (
            SELECT * FROM contacts WHERE workspace_id = {ws} AND {" AND ".join(conditions)}
        ), scoped_events AS (
            SELECT * FROM events WHERE workspace_id = {ws} AND contact_id IN (SELECT contact_id FROM scoped_contacts)
        ), scoped_orders AS (
            SELECT * FROM orders WHERE workspace_id = {ws} AND contact_id IN (SELECT contact_id FROM scoped_contacts)
        ), scoped_message_sends AS (
            SELECT * FROM message_sends WHERE workspace_id = {ws}
              AND contact_id IN (SELECT contact_id FROM scoped_contacts)
        ), scoped_group_moves AS (
            SELECT * FROM group_moves WHERE workspace_id = {ws}
              AND contact_id IN (SELECT contact_id FROM scoped_contacts)
        ), scoped_refunds AS (
            SELECT * FROM refunds WHERE workspace_id = {ws} AND order_pk IN (SELECT order_pk FROM scoped_orders)
        ) SELECT 1"""
    prefix = sqlglot.parse_one(scope, read="duckdb")
    key = "with_" if "with_" in type(tree).arg_types else "with"
    ctes = list(prefix.args[key].expressions)
    existing = tree.args.get(key)
    if existing is not None:
        ctes.extend(existing.expressions)
    tree.set(key, exp.With(expressions=ctes))
    return tree
