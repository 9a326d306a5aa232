"""Why a contact is or is not in a segment: every node of the tree evaluated for that one contact in the
analytics store, with what the contact has for each leaf (the value, count or amount it was compared with)."""

from __future__ import annotations

from typing import Any

import duckdb
from sqlglot import exp

from siyu.filters.compiler import Context, measure, predicate, render
from siyu.filters.definition import (
    And,
    Attribute,
    ClvTest,
    Definition,
    EventTest,
    LifecycleTest,
    Not,
    Or,
    OrdersTest,
    Property,
    RfmTest,
    SegmentTest,
    TagTest,
    TierTest,
    walk,
)
from siyu.lake.store import first_row
from siyu.segment.schemas import LeafExplanation

_SCORE_COLUMNS = (
    "rfm_cell",
    "r_score",
    "f_score",
    "m_score",
    "threshold_tier",
    "value_tier",
    "activity_tier",
    "lifecycle_stage",
    "clv_value_fen",
    "clv_purchases",
    "clv_p_alive",
)


def summary(node: Any) -> str:
    """The node in words (English; the console translates the op names)."""
    if isinstance(node, And):
        return f"all of {len(node.children)} conditions"
    if isinstance(node, Or):
        return f"any of {len(node.children)} conditions"
    if isinstance(node, Not):
        return "not the condition below"
    if isinstance(node, Attribute):
        return (
            f"{node.field.value} {node.cmp.value} {node.value!r}"
            if node.value is not None
            else f"{node.field.value} {node.cmp.value}"
        )
    if isinstance(node, Property):
        return (
            f"property {node.key} {node.cmp.value} {node.value!r}"
            if node.value is not None
            else f"property {node.key} {node.cmp.value}"
        )
    if isinstance(node, TagTest):
        return f"{'has' if node.has else 'has not'} tag {node.tag_id}"
    if isinstance(node, EventTest):
        window = f" in the last {node.within_days} days" if node.within_days else ""
        most = f" and at most {node.max_count}" if node.max_count else ""
        where = f" where {len(node.where)} property conditions hold" if node.where else ""
        return f"did {node.name} at least {node.min_count}{most} times{window}{where}"
    if isinstance(node, OrdersTest):
        window = f" in the last {node.within_days} days" if node.within_days else ""
        return f"orders {node.measure.value}{window} {node.cmp.value} {node.value!r}"
    if isinstance(node, SegmentTest):
        return f"member of segment {node.segment_id}"
    if isinstance(node, RfmTest):
        parts = [f"cell in {node.cells}"] if node.cells else []
        parts += [f"{n} score in {getattr(node, n)}" for n in ("r", "f", "m") if getattr(node, n)]
        return "RFM " + " and ".join(parts)
    if isinstance(node, TierTest):
        return f"{node.model.value} tier in {node.tiers}"
    if isinstance(node, LifecycleTest):
        return f"lifecycle stage in {node.stages}"
    if isinstance(node, ClvTest):
        return f"CLV {node.measure.value} {node.cmp.value} {node.value!r}"
    return type(node).__name__


def explain_contact(
    con: duckdb.DuckDBPyConnection, definition: Definition, ctx: Context, contact_id: int
) -> tuple[list[LeafExplanation], bool]:
    nodes = walk(definition.root)
    columns: list[exp.Expr] = []
    for i, (path, node, _) in enumerate(nodes):
        columns.append(exp.alias_(exp.Coalesce(this=predicate(node, ctx, path), expressions=[exp.false()]), f"h{i}"))
        counted = measure(node, ctx, path)
        if counted is not None:
            columns.append(exp.alias_(counted, f"m{i}"))
    query = (
        exp.select(*columns)
        .from_(exp.alias_(ctx.table("contacts"), "c", table=True))
        .where(f"c.workspace_id = {int(ctx.workspace_id)} AND c.contact_id = {int(contact_id)}")
    )
    cursor = con.execute(render(query, "duckdb"))
    names = [d[0] for d in cursor.description] if cursor.description else []
    row = first_row(cursor)
    values: dict[str, Any] = dict(zip(names, row, strict=True)) if row else {}
    contact = _contact_row(con, ctx.workspace_id, contact_id)
    properties = _properties(con, ctx.workspace_id, contact_id)
    scores = _scores(con, ctx.workspace_id, contact_id)
    out = []
    for i, (path, node, _) in enumerate(nodes):
        holds = bool(values.get(f"h{i}", False))
        observed: Any = values.get(f"m{i}")
        if isinstance(node, Attribute):
            observed = contact.get(node.field.value)
        elif isinstance(node, Property):
            observed = properties.get(node.key)
        elif isinstance(node, TagTest | SegmentTest):
            observed = holds if not isinstance(node, TagTest) or node.has else not holds
        elif isinstance(node, RfmTest):
            observed = {k: scores.get(k) for k in ("rfm_cell", "r_score", "f_score", "m_score")}
        elif isinstance(node, TierTest):
            observed = scores.get(f"{node.model.value}_tier")
        elif isinstance(node, LifecycleTest):
            observed = scores.get("lifecycle_stage")
        elif isinstance(node, ClvTest):
            observed = scores.get(
                {"value_fen": "clv_value_fen", "purchases": "clv_purchases"}.get(node.measure.value, "clv_p_alive")
            )
        out.append(
            LeafExplanation(path=path, op=node.op, holds=holds, summary=summary(node), observed=_plain(observed))
        )
    member = bool(values.get("h0", False)) and not contact.get("merged_into_id")
    return out, member


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _contact_row(con: duckdb.DuckDBPyConnection, ws: int, contact_id: int) -> dict[str, Any]:
    cursor = con.execute("SELECT * FROM contacts WHERE workspace_id = ? AND contact_id = ?", [ws, contact_id])
    names = [d[0] for d in cursor.description] if cursor.description else []
    row = first_row(cursor)
    if row is None:
        return {}
    return dict(zip(names, row, strict=True))


def _properties(con: duckdb.DuckDBPyConnection, ws: int, contact_id: int) -> dict[str, Any]:
    rows = con.execute(
        "SELECT key, text_value, number_value, bool_value, date_value FROM contact_properties "
        "WHERE workspace_id = ? AND contact_id = ? ORDER BY key",
        [ws, contact_id],
    ).fetchall()
    out: dict[str, Any] = {}
    for key, text, number, flag, day in rows:
        value = day if day is not None else flag if flag is not None else number if number is not None else text
        if key in out:
            out[key] = [*out[key], value] if isinstance(out[key], list) else [out[key], value]
        else:
            out[key] = value
    return out


def _scores(con: duckdb.DuckDBPyConnection, ws: int, contact_id: int) -> dict[str, Any]:
    row = first_row(
        con.execute(
            f"SELECT {', '.join(_SCORE_COLUMNS)} FROM contact_scores WHERE workspace_id = ? AND contact_id = ?",  # noqa: S608
            [ws, contact_id],
        )
    )
    return dict(zip(_SCORE_COLUMNS, row, strict=True)) if row else {}
