"""How a journey asks about contacts: event properties against the filter language's property tests
(triggers, goals, ``wait_event``), and conditions and schedule audiences decided by the analytics store
with the segment compiler (as fresh as its last sync)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from siyu.journey import definition as jd
from siyu.kit.db import WORKSPACE_KEY

log = logging.getLogger("siyu.journeys")

# (definition, node id, runs at that condition) → the ids of the runs for which it holds
Condition = Callable[[jd.Journey, str, Sequence[Any]], set[int]]
Audience = Callable[[Any], list[int]]  # a filter tree → the live contacts it holds for


def matches(test: Any, properties: dict[str, Any]) -> bool:
    """A property filter of a trigger or goal against an event's properties, as the analytics store's
    compiler reads it: a missing property matches only ``is_not_set``, numbers compare as numbers."""
    value = properties.get(test.key)
    cmp, wanted = test.cmp.value, test.value
    if cmp == "is_set":
        return value is not None
    if cmp == "is_not_set":
        return value is None
    if value is None:
        return False
    if cmp == "eq":
        return bool(value == wanted)
    if cmp == "ne":
        return bool(value != wanted)
    if cmp == "in":
        return value in (wanted or [])
    if cmp == "not_in":
        return value not in (wanted or [])
    if cmp == "starts_with":
        return isinstance(value, str) and value.startswith(str(wanted))
    if cmp == "contains":
        return isinstance(value, str | list) and wanted in value
    number = _number(value)
    if cmp == "between":
        low, high = (_number(v) for v in wanted)
        return None not in (number, low, high) and low <= number <= high  # type: ignore[operator]
    other = _number(wanted)
    if number is None or other is None:
        return False
    return {"gt": number > other, "gte": number >= other, "lt": number < other, "lte": number <= other}.get(cmp, False)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def lake_conditions(session: Session, lake: Any) -> Condition:
    """Conditions decided by the analytics store, with the segment compiler (one query per condition
    node and batch)."""
    import pyarrow as pa

    from siyu.filters.compiler import DefinitionProblem, compile_segment, render
    from siyu.filters.context import load_context
    from siyu.filters.definition import Definition

    context = load_context(session, int(session.info[WORKSPACE_KEY]))

    def evaluate(definition: jd.Journey, node_id: str, runs: Sequence[Any]) -> set[int]:
        node = definition.nodes[node_id]
        assert isinstance(node, jd.Condition)
        try:
            query = compile_segment(Definition(version=1, root=node.if_), context)
        except DefinitionProblem as problem:
            # A tag, segment or property it names is gone since publishing: the condition holds for nobody
            # (it cannot), and the journey goes on rather than stopping every journey of the workspace.
            log.warning("journey condition cannot be evaluated", extra={"node": node_id, "reason": problem.detail})
            return set()
        sql = render(query, "duckdb")
        ids = pa.table({"contact_id": pa.array(sorted({r.contact_id for r in runs}), type=pa.int64())})
        with lake.read() as con:
            con.register("condition_contacts", ids)
            try:
                found = con.execute(
                    f"SELECT contact_id FROM ({sql}) AS q "  # noqa: S608 - compiled by us
                    "WHERE contact_id IN (SELECT contact_id FROM condition_contacts)"
                ).fetchall()
            finally:
                con.unregister("condition_contacts")
        holding = {int(r[0]) for r in found}
        return {r.id for r in runs if r.contact_id in holding}

    return evaluate


def lake_audience(session: Session, lake: Any) -> Audience:
    """Schedule audiences decided by the analytics store (as fresh as its last sync)."""
    from siyu.filters.compiler import compile_segment, render
    from siyu.filters.context import load_context
    from siyu.filters.definition import Definition

    context = load_context(session, int(session.info[WORKSPACE_KEY]))

    def members(tree: Any) -> list[int]:
        sql = render(compile_segment(Definition(version=1, root=tree), context), "duckdb")
        with lake.read() as con:
            return sorted(int(r[0]) for r in con.execute(f"SELECT contact_id FROM ({sql}) AS q").fetchall())  # noqa: S608

    return members
