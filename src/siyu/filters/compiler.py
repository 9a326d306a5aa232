"""The segment compiler: a filter tree (:mod:`siyu.filters.definition`) becomes one SQL query over the
analytics store that selects the ids of the live contacts it holds for.

It is a pure function of the definition and a :class:`Context` (the workspace, the time the segment is
computed "as of", the property catalogue, the tags and segments that exist): it never queries while
compiling, so the SQL it produces is snapshot-tested and the same definition gives the same SQL on every
run. The query is built as a sqlglot tree and rendered for DuckDB (the embedded store) or Spark (the
same definitions on a cluster); windows are computed here as timestamp literals, so no engine's interval
arithmetic is involved.

The workspace filter is added here, to every table the query reads, in one place (:func:`_rows`).

Semantics worth knowing (also in docs/segments.md):
* ``ne`` and ``not_in`` hold for contacts without the field or property ("is not 敏感肌" includes
  contacts whose skin type is unknown); use ``is_set`` with it to exclude them.
* An order aggregate compared so that zero passes (``count lt 1``, ``amount_fen lte 0``) holds for
  contacts with no orders in the window.
* ``within_days`` on a time is "in the last N days"; on ``birthday`` it is "birthday in the next N days"
  (the birthday-benefit journey).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlglot import exp

from siyu.errors import FieldProblem, InvalidInput
from siyu.filters.definition import (
    ATTRIBUTE_TYPES,
    DAYS,
    NO_VALUE,
    NUMERIC_ONLY,
    And,
    Attribute,
    AttributeField,
    ClvMeasure,
    ClvTest,
    Cmp,
    Definition,
    EventTest,
    LifecycleTest,
    Node,
    Not,
    Or,
    OrderMeasure,
    OrdersTest,
    Property,
    PropertyFilter,
    RfmTest,
    SegmentTest,
    TagTest,
    TierModel,
    TierTest,
    is_date_text,
)

DIALECTS = ("duckdb", "spark")


class DefinitionProblem(InvalidInput):
    """The definition is well-formed but cannot be compiled here (a wrong value type, …)."""

    code = "invalid_definition"

    @classmethod
    def at(cls, path: str, reason: str) -> DefinitionProblem:
        return cls(detail=f"{path}: {reason}", errors=[FieldProblem(path, reason)])


class BrokenReference(DefinitionProblem):
    """The definition names a property, tag or segment that does not exist (any more)."""

    code = "broken_reference"


@dataclass(frozen=True)
class Context:
    """Everything the compiler needs. ``as_of`` is the workspace's local wall-clock time (naive), like
    every time in the analytics store. ``tags`` / ``segments`` of None skip the existence checks."""

    workspace_id: int
    as_of: datetime
    properties: Mapping[str, str] = field(default_factory=dict)  # catalogue: key → type
    tags: Collection[int] | None = None
    segments: Collection[int] | None = None
    field_prefix: str = "definition"
    # Read another table in place of a store table (``{"events": "refresh_events"}``): an incremental
    # refresh points the big tables at copies holding only the contacts it re-evaluates.
    tables: Mapping[str, str] = field(default_factory=dict)

    def table(self, name: str) -> exp.Table:
        return exp.to_table(self.tables.get(name, name))


# --- SQL building blocks ----------------------------------------------------------------------------


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


_TIMESTAMP = exp.DataType.build("TIMESTAMP", dialect="duckdb")


def _lit(value: Any) -> exp.Expr:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        # The store's times have no zone: DuckDB's TIMESTAMP, Spark's TIMESTAMP_NTZ.
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ", timespec="seconds")), _TIMESTAMP)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    return exp.Literal.string(str(value))


def _rows(table: str, ctx: Context, *conditions: exp.Expr, select: str = "contact_id") -> exp.Select:
    """``SELECT <select> FROM <table> WHERE workspace_id = <ws> AND …``: the one place the tenant filter is added."""
    where: exp.Expr = exp.EQ(this=_col("workspace_id"), expression=exp.Literal.number(ctx.workspace_id))
    for condition in conditions:
        where = exp.and_(where, condition)
    return exp.select(_col(select)).from_(ctx.table(table)).where(where)


def _member_of(query: exp.Select) -> exp.Expr:
    return exp.In(this=_col("contact_id", "c"), query=exp.Subquery(this=query))


def _not(condition: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Paren(this=condition))


def _compare(column: exp.Expr, cmp: Cmp, value: Any) -> exp.Expr:
    """``column <cmp> value`` for the comparisons that map to one operator."""
    if cmp is Cmp.eq:
        return exp.EQ(this=column, expression=_lit(value))
    if cmp is Cmp.ne:
        return exp.NEQ(this=column, expression=_lit(value))
    if cmp is Cmp.gt:
        return exp.GT(this=column, expression=_lit(value))
    if cmp is Cmp.gte:
        return exp.GTE(this=column, expression=_lit(value))
    if cmp is Cmp.lt:
        return exp.LT(this=column, expression=_lit(value))
    if cmp is Cmp.lte:
        return exp.LTE(this=column, expression=_lit(value))
    if cmp is Cmp.between:
        return exp.Between(this=column, low=_lit(value[0]), high=_lit(value[1]))
    if cmp is Cmp.in_:
        return exp.In(this=column, expressions=[_lit(v) for v in value])
    if cmp is Cmp.contains:
        return exp.GT(this=exp.StrPosition(this=column, substr=_lit(value)), expression=exp.Literal.number(0))
    if cmp is Cmp.starts_with:
        return exp.StartsWith(this=column, expression=_lit(value))
    raise AssertionError(f"no single operator for {cmp}")


def _positive(cmp: Cmp) -> Cmp:
    """The comparison whose complement ``cmp`` is (``ne`` → ``eq``), for "not" semantics that include unset."""
    return {Cmp.ne: Cmp.eq, Cmp.not_in: Cmp.in_}.get(cmp, cmp)


# --- value checks --------------------------------------------------------------------------------------


def _check_type(kind: str, cmp: Cmp, value: Any, path: str) -> Any:
    """Check ``value`` against the field's ``kind`` (string, number, bool, date, time, enum, list);
    returns the value in the form the SQL needs (dates as :class:`date`, times as :class:`datetime`)."""
    if cmp in NO_VALUE:
        return None
    if cmp in DAYS:
        if kind not in {"date", "time"}:
            raise DefinitionProblem.at(path, f"{cmp.value} needs a date or time field, not a {kind}")
        return value
    if cmp in NUMERIC_ONLY and kind in {"string", "enum", "list", "bool"}:
        raise DefinitionProblem.at(path, f"{cmp.value} compares numbers or dates, not a {kind}")
    if cmp in {Cmp.starts_with, Cmp.contains} and kind not in {"string", "enum", "list"}:
        raise DefinitionProblem.at(path, f"{cmp.value} needs a text field, not a {kind}")
    if cmp is Cmp.starts_with and kind == "list":
        raise DefinitionProblem.at(path, "starts_with needs a text field, not a list (use contains)")
    values = value if isinstance(value, list) else [value]
    out = [_coerce(kind, v, path) for v in values]
    return out if isinstance(value, list) else out[0]


def _coerce(kind: str, value: Any, path: str) -> Any:
    if kind in {"string", "enum", "list"}:
        if not isinstance(value, str):
            raise DefinitionProblem.at(f"{path}.value", f"a text value is needed for a {kind}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DefinitionProblem.at(f"{path}.value", "a number is needed")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise DefinitionProblem.at(f"{path}.value", "true or false is needed")
        return value
    if kind == "date":
        if not is_date_text(value):
            raise DefinitionProblem.at(f"{path}.value", "a date (YYYY-MM-DD) is needed")
        return date.fromisoformat(value)
    if kind == "time":
        try:
            stamp = datetime.fromisoformat(str(value))
        except ValueError:
            raise DefinitionProblem.at(f"{path}.value", "a date or time (YYYY-MM-DD[THH:MM]) is needed") from None
        if stamp.tzinfo is not None:
            raise DefinitionProblem.at(f"{path}.value", "give the workspace's local time, without a zone")
        return stamp
    raise AssertionError(kind)


def _day_start(ctx: Context, days_ago: int) -> datetime:
    return ctx.as_of - timedelta(days=days_ago)


# --- leaves --------------------------------------------------------------------------------------------


def _attribute(node: Attribute, ctx: Context, path: str) -> exp.Expr:
    kind = ATTRIBUTE_TYPES[node.field]
    value = _check_type(kind, node.cmp, node.value, path)
    column = _col(node.field.value, "c")
    if node.cmp is Cmp.is_set:
        return exp.Not(this=exp.Is(this=column, expression=exp.Null()))
    if node.cmp is Cmp.is_not_set:
        return exp.Is(this=column, expression=exp.Null())
    if node.cmp in DAYS:
        if node.field is AttributeField.birthday:
            return _birthday_within(column, node.cmp, int(node.value), ctx, path)  # type: ignore[arg-type]
        since = _day_start(ctx, int(node.value))  # type: ignore[arg-type]
        if node.cmp is Cmp.within_days:
            return exp.and_(
                exp.GTE(this=column, expression=_lit(since)), exp.LTE(this=column, expression=_lit(ctx.as_of))
            )
        return exp.LT(this=column, expression=_lit(since))
    if node.cmp in {Cmp.ne, Cmp.not_in}:
        held = _compare(column, _positive(node.cmp), value)
        return exp.or_(exp.Is(this=column, expression=exp.Null()), _not(held))
    return _compare(column, node.cmp, value)


def _birthday_within(column: exp.Expr, cmp: Cmp, days: int, ctx: Context, path: str) -> exp.Expr:
    if cmp is not Cmp.within_days:
        raise DefinitionProblem.at(path, "birthday takes within_days (birthday in the next N days), not before_days")
    if days > 366:
        raise DefinitionProblem.at(f"{path}.value", "birthdays come round every year: at most 366 days")
    start = ctx.as_of.date()
    keys: set[int] = set()
    for offset in range(days):
        day = start + timedelta(days=offset)
        keys.add(day.month * 100 + day.day)
        if day.month == 2 and day.day == 28 and not _leap(day.year):
            keys.add(229)  # born on 29 February: celebrated on the 28th in other years
    month_day = exp.Add(
        this=exp.Mul(this=exp.Month(this=column), expression=exp.Literal.number(100)),
        expression=exp.Day(this=column),
    )
    return exp.In(this=month_day, expressions=[exp.Literal.number(k) for k in sorted(keys)])


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_VALUE_COLUMN = {
    "string": "text_value",
    "enum": "text_value",
    "list": "text_value",
    "number": "number_value",
    "bool": "bool_value",
    "date": "date_value",
}


def _property(node: Property, ctx: Context, path: str) -> exp.Expr:
    kind = ctx.properties.get(node.key)
    if kind is None:
        raise BrokenReference.at(f"{path}.key", f"no property {node.key!r} in the catalogue (deleted?)")
    value = _check_type(kind, node.cmp, node.value, path)
    key = exp.EQ(this=_col("key"), expression=_lit(node.key))
    if node.cmp is Cmp.is_set:
        return _member_of(_rows("contact_properties", ctx, key))
    if node.cmp is Cmp.is_not_set:
        return _not(_member_of(_rows("contact_properties", ctx, key)))
    column = _col(_VALUE_COLUMN[kind])
    if node.cmp in DAYS:
        since = _day_start(ctx, int(node.value)).date()  # type: ignore[arg-type]
        if node.cmp is Cmp.within_days:
            held: exp.Expr = exp.Between(this=column, low=_lit(since), high=_lit(ctx.as_of.date()))
        else:
            held = exp.LT(this=column, expression=_lit(since))
        return _member_of(_rows("contact_properties", ctx, key, held))
    if node.cmp is Cmp.contains and kind == "list":
        return _member_of(_rows("contact_properties", ctx, key, _compare(column, Cmp.eq, value)))
    if node.cmp in {Cmp.ne, Cmp.not_in}:
        held = _compare(column, _positive(node.cmp), value)
        return _not(_member_of(_rows("contact_properties", ctx, key, held)))
    return _member_of(_rows("contact_properties", ctx, key, _compare(column, node.cmp, value)))


def _tag(node: TagTest, ctx: Context, path: str) -> exp.Expr:
    if ctx.tags is not None and node.tag_id not in ctx.tags:
        raise BrokenReference.at(f"{path}.tag_id", f"no tag {node.tag_id} (deleted?)")
    query = _rows("contact_tags", ctx, exp.EQ(this=_col("tag_id"), expression=_lit(node.tag_id)))
    return _member_of(query) if node.has else _not(_member_of(query))


def _json_text(key: str) -> exp.Expr:
    path = exp.JSONPath(expressions=[exp.JSONPathRoot(), exp.JSONPathKey(this=key)])
    return exp.JSONExtractScalar(this=_col("properties"), expression=path)


def _event_filter(item: PropertyFilter, path: str) -> exp.Expr:
    text = _json_text(item.key)
    if item.cmp is Cmp.is_set:
        return exp.Not(this=exp.Is(this=text, expression=exp.Null()))
    if item.cmp is Cmp.is_not_set:
        return exp.Is(this=text, expression=exp.Null())
    values = item.value if isinstance(item.value, list) else [item.value]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if item.cmp in NUMERIC_ONLY and not numeric:
        raise DefinitionProblem.at(f"{path}.value", f"{item.cmp.value} compares numbers")
    if item.cmp in {Cmp.contains, Cmp.starts_with} and not all(isinstance(v, str) for v in values):
        raise DefinitionProblem.at(f"{path}.value", f"{item.cmp.value} needs text")
    if numeric:
        # safe=True: a TRY_CAST on Spark too (ANSI mode raises on a plain CAST of a non-number).
        column: exp.Expr = exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"), safe=True)
        value: Any = item.value
    else:
        column = text
        # JSON booleans read back as 'true' / 'false'.
        value = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        value = value if isinstance(item.value, list) else value[0]
    if item.cmp in {Cmp.ne, Cmp.not_in}:
        return exp.or_(exp.Is(this=text, expression=exp.Null()), _not(_compare(column, _positive(item.cmp), value)))
    return _compare(column, item.cmp, value)


def _window(column: str, days: int | None, ctx: Context) -> list[exp.Expr]:
    if days is None:
        return [exp.LTE(this=_col(column), expression=_lit(ctx.as_of))]
    return [exp.Between(this=_col(column), low=_lit(_day_start(ctx, days)), high=_lit(ctx.as_of))]


def _event_conditions(node: EventTest, ctx: Context, path: str) -> list[exp.Expr]:
    conditions: list[exp.Expr] = [exp.EQ(this=_col("name"), expression=_lit(node.name))]
    conditions += _window("occurred_at", node.within_days, ctx)
    conditions += [_event_filter(item, f"{path}.where[{i}]") for i, item in enumerate(node.where)]
    return conditions


def _event(node: EventTest, ctx: Context, path: str) -> exp.Expr:
    conditions = _event_conditions(node, ctx, path)
    count = exp.Count(this=exp.Star())
    having: exp.Expr = exp.GTE(this=count, expression=_lit(node.min_count))
    if node.max_count is not None:
        having = exp.and_(having, exp.LTE(this=count.copy(), expression=_lit(node.max_count)))
    query = _rows("events", ctx, *conditions).group_by(_col("contact_id")).having(having)
    return _member_of(query)


def _order_aggregate(measure: OrderMeasure) -> exp.Expr:
    if measure is OrderMeasure.count_:
        return exp.Count(this=exp.Star())
    if measure is OrderMeasure.amount_fen:
        return exp.Sum(this=_col("amount_fen"))
    if measure is OrderMeasure.average_fen:
        return exp.Avg(this=_col("amount_fen"))
    return exp.Sub(
        this=exp.Sum(this=_col("amount_fen")),
        expression=exp.Coalesce(this=exp.Sum(this=_col("refunded_fen")), expressions=[exp.Literal.number(0)]),
    )


def _orders_source(node: OrdersTest, ctx: Context) -> exp.Expr:
    """The orders the aggregate runs over; with the net measure, each with its refunded total."""
    if node.measure is not OrderMeasure.net_amount_fen:
        return ctx.table("orders")
    refunded = (
        exp.select(_col("order_pk"), exp.alias_(exp.Sum(this=_col("amount_fen")), "refunded_fen"))
        .from_(ctx.table("refunds"))
        .where(exp.EQ(this=_col("workspace_id"), expression=exp.Literal.number(ctx.workspace_id)))
        .group_by(_col("order_pk"))
    )
    joined = (
        exp.select(_col("workspace_id", "o"), _col("contact_id", "o"), _col("amount_fen", "o"))
        .select(_col("paid_at", "o"), _col("sales_channel", "o"), _col("refunded_fen", "r"))
        .from_(exp.alias_(ctx.table("orders"), "o", table=True))
        .join(exp.alias_(exp.Subquery(this=refunded), "r", table=True), on="r.order_pk = o.order_pk", join_type="left")
    )
    return exp.alias_(exp.Subquery(this=joined), "orders_net", table=True)


def holds_for_zero(cmp: Cmp, value: Any) -> bool:
    """Whether an aggregate of 0 (no orders) passes the comparison."""
    if cmp is Cmp.between:
        return bool(value[0] <= 0 <= value[1])
    checks: dict[Cmp, Callable[[Any], bool]] = {
        Cmp.eq: lambda v: v == 0,
        Cmp.ne: lambda v: v != 0,
        Cmp.gt: lambda v: v < 0,
        Cmp.gte: lambda v: v <= 0,
        Cmp.lt: lambda v: v > 0,
        Cmp.lte: lambda v: v >= 0,
    }
    return checks[cmp](value)


def _orders_where(node: OrdersTest, ctx: Context) -> exp.Expr:
    conditions = _window("paid_at", node.within_days, ctx)
    if node.sales_channels:
        conditions.append(exp.In(this=_col("sales_channel"), expressions=[_lit(c.value) for c in node.sales_channels]))
    where: exp.Expr = exp.EQ(this=_col("workspace_id"), expression=exp.Literal.number(ctx.workspace_id))
    for condition in conditions:
        where = exp.and_(where, condition)
    return where


def _orders(node: OrdersTest, ctx: Context, path: str) -> exp.Expr:
    where = _orders_where(node, ctx)
    held = _compare(_order_aggregate(node.measure), node.cmp, node.value)
    zero_passes = node.measure is not OrderMeasure.average_fen and holds_for_zero(node.cmp, node.value)
    query = exp.select(_col("contact_id")).from_(_orders_source(node, ctx)).where(where).group_by(_col("contact_id"))
    if zero_passes:
        # Contacts without orders pass too: everyone except those whose aggregate fails.
        return _not(_member_of(query.having(_not(held))))
    return _member_of(query.having(held))


def _segment(node: SegmentTest, ctx: Context, path: str) -> exp.Expr:
    if ctx.segments is not None and node.segment_id not in ctx.segments:
        raise BrokenReference.at(f"{path}.segment_id", f"no segment {node.segment_id} (deleted?)")
    return _member_of(_rows("segment_members", ctx, exp.EQ(this=_col("segment_id"), expression=_lit(node.segment_id))))


def _scores(ctx: Context, condition: exp.Expr) -> exp.Expr:
    return _member_of(_rows("contact_scores", ctx, condition))


def _rfm(node: RfmTest, ctx: Context, path: str) -> exp.Expr:
    parts: list[exp.Expr] = []
    if node.cells:
        parts.append(exp.In(this=_col("rfm_cell"), expressions=[_lit(c) for c in node.cells]))
    for name in ("r", "f", "m"):
        scores = getattr(node, name)
        if scores:
            parts.append(exp.In(this=_col(f"{name}_score"), expressions=[_lit(s) for s in scores]))
    condition = parts[0]
    for part in parts[1:]:
        condition = exp.and_(condition, part)
    return _scores(ctx, condition)


_TIER_COLUMN = {
    TierModel.threshold: "threshold_tier",
    TierModel.value: "value_tier",
    TierModel.activity: "activity_tier",
}


def _tier(node: TierTest, ctx: Context, path: str) -> exp.Expr:
    return _scores(ctx, exp.In(this=_col(_TIER_COLUMN[node.model]), expressions=[_lit(t) for t in node.tiers]))


def _lifecycle(node: LifecycleTest, ctx: Context, path: str) -> exp.Expr:
    return _scores(ctx, exp.In(this=_col("lifecycle_stage"), expressions=[_lit(s) for s in node.stages]))


_CLV_COLUMN = {
    ClvMeasure.value_fen: "clv_value_fen",
    ClvMeasure.purchases: "clv_purchases",
    ClvMeasure.p_alive: "clv_p_alive",
}


def _clv(node: ClvTest, ctx: Context, path: str) -> exp.Expr:
    return _scores(ctx, _compare(_col(_CLV_COLUMN[node.measure]), node.cmp, node.value))


_LEAVES: dict[type[Any], Callable[[Any, Context, str], exp.Expr]] = {
    Attribute: _attribute,
    Property: _property,
    TagTest: _tag,
    EventTest: _event,
    OrdersTest: _orders,
    SegmentTest: _segment,
    RfmTest: _rfm,
    TierTest: _tier,
    LifecycleTest: _lifecycle,
    ClvTest: _clv,
}


def predicate(node: Node, ctx: Context, path: str = "root") -> exp.Expr:
    """The condition a contact row ``c`` must meet for ``node`` to hold."""
    if isinstance(node, And | Or):
        parts = [predicate(child, ctx, f"{path}.children[{i}]") for i, child in enumerate(node.children)]
        combined = parts[0]
        for part in parts[1:]:
            combined = exp.and_(combined, part) if isinstance(node, And) else exp.or_(combined, part)
        return exp.Paren(this=combined) if len(parts) > 1 else combined
    if isinstance(node, Not):
        return _not(predicate(node.child, ctx, f"{path}.child"))
    return _LEAVES[type(node)](node, ctx, path)


def measure(node: Node, ctx: Context, path: str = "root") -> exp.Expr | None:
    """For explanations: a scalar subquery (on the contact row ``c``) giving what an event or orders leaf
    compares — the count of matching events, the order aggregate — or None for other nodes."""
    mine = exp.EQ(this=_col("contact_id"), expression=_col("contact_id", "c"))
    if isinstance(node, EventTest):
        query = _rows("events", ctx, *_event_conditions(node, ctx, path), mine)
        query.set("expressions", [exp.Count(this=exp.Star())])
        return exp.Subquery(this=query)
    if isinstance(node, OrdersTest):
        query = exp.select(_order_aggregate(node.measure)).from_(_orders_source(node, ctx))
        query = query.where(exp.and_(_orders_where(node, ctx), mine))
        return exp.Subquery(this=query)
    return None


def _prefixed(ctx: Context, path: str) -> str:
    return f"{ctx.field_prefix}.{path}" if ctx.field_prefix else path


def compile_segment(definition: Definition, ctx: Context) -> exp.Select:
    """``SELECT c.contact_id FROM contacts AS c WHERE …``: the live contacts the definition holds for."""
    try:
        condition = predicate(definition.root, ctx)
    except DefinitionProblem as problem:
        raise type(problem)(
            detail=f"{ctx.field_prefix}.{problem.detail}" if ctx.field_prefix else problem.detail,
            errors=[FieldProblem(_prefixed(ctx, e.field), e.reason) for e in problem.errors],
        ) from None
    return live_contacts(ctx).where(condition, append=True)


def live_contacts(ctx: Context) -> exp.Select:
    return (
        exp.select(_col("contact_id", "c"))
        .from_(exp.alias_(ctx.table("contacts"), "c", table=True))
        .where(exp.EQ(this=_col("workspace_id", "c"), expression=exp.Literal.number(ctx.workspace_id)))
        .where(exp.Is(this=_col("merged_into_id", "c"), expression=exp.Null()))
    )


def render(query: exp.Expr, dialect: str = "duckdb", *, pretty: bool = False) -> str:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")
    return query.sql(dialect=dialect, pretty=pretty)


__all__ = [
    "BrokenReference",
    "Context",
    "DefinitionProblem",
    "compile_segment",
    "live_contacts",
    "measure",
    "predicate",
    "render",
]
