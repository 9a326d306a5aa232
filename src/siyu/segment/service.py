"""Segments: saving versioned definitions (validated, no reference cycles), previewing counts and
explaining membership against the analytics store. Membership itself is written by the refresh
(:mod:`siyu.segment.flows`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.errors import Conflict, FieldProblem, InvalidInput, NotFound
from siyu.filters.compiler import BrokenReference, Context, compile_segment, live_contacts, render
from siyu.filters.context import load_context
from siyu.filters.definition import Definition, parse, references
from siyu.kit.db import WORKSPACE_KEY
from siyu.lake.jobs import request_refresh
from siyu.lake.store import Lake, first_row
from siyu.models import Contact, Segment, SegmentVersion
from siyu.segment import repository
from siyu.segment.explain import explain_contact
from siyu.segment.schemas import Explanation, PreviewOut, SegmentIn, SegmentPatch


def _workspace(session: Session) -> int:
    return int(session.info[WORKSPACE_KEY])


def validate(session: Session, raw: dict[str, Any], *, segment_id: int | None = None) -> Definition:
    """Parse and compile ``raw`` against the workspace as it is now, and refuse reference cycles."""
    definition = parse(raw)
    context = load_context(session, _workspace(session))
    compile_segment(definition, context)
    if segment_id is not None:
        _refuse_cycles(session, segment_id, definition)
    return definition


def _refuse_cycles(session: Session, segment_id: int, definition: Definition) -> None:
    graph: dict[int, set[int]] = {}
    for seg in repository.segments(session):
        try:
            graph[seg.id] = set(references(parse(seg.definition))["segments"])
        except InvalidInput:  # a stored definition that no longer parses names nothing
            graph[seg.id] = set()
    graph[segment_id] = set(references(definition)["segments"])
    path = _cycle_from(segment_id, graph)
    if path:
        shown = " → ".join(str(s) for s in path)
        problem = FieldProblem("definition", f"segments may not include each other in a circle: {shown}")
        raise BrokenReference(detail=problem.reason, errors=[problem])


def _cycle_from(start: int, graph: dict[int, set[int]]) -> list[int] | None:
    stack: list[tuple[int, list[int]]] = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [*path, start]
            if nxt not in path:
                stack.append((nxt, [*path, nxt]))
    return None


def _stored(definition: Definition) -> dict[str, Any]:
    return definition.model_dump(mode="json")


def create_segment(session: Session, ctx: AuthContext, data: SegmentIn) -> Segment:
    if repository.by_name(session, data.name) is not None:
        raise Conflict(f"a segment named {data.name!r} exists already", extra={"field": "name"})
    definition = validate(session, data.definition)
    segment = Segment(
        name=data.name,
        description=data.description,
        kind=data.kind.value,
        definition=_stored(definition),
        version=1,
        created_by=ctx.label,
    )
    session.add(segment)
    session.flush()
    session.add(SegmentVersion(segment_id=segment.id, version=1, definition=segment.definition, created_by=ctx.label))
    audit.record(session, ctx, "segment.created", "segment", segment.id, after=_state(segment))
    request_refresh(session, segment.workspace_id, segments=[segment.id])
    return segment


def update_segment(session: Session, ctx: AuthContext, segment_id: int, data: SegmentPatch) -> Segment:
    segment = get(session, segment_id)
    before = _state(segment)
    if data.name is not None and data.name != segment.name:
        if repository.by_name(session, data.name) is not None:
            raise Conflict(f"a segment named {data.name!r} exists already", extra={"field": "name"})
        segment.name = data.name
    if data.description is not None:
        segment.description = data.description
    if data.kind is not None and data.kind.value != segment.kind:
        segment.kind = data.kind.value
        request_refresh(session, segment.workspace_id, segments=[segment.id], snapshot=True)
    if data.archived is not None and data.archived != segment.archived:
        segment.archived = data.archived
        if data.archived:
            _flag_dependents(session, segment.id, f"includes segment {segment.id} ({segment.name}), which was archived")
    if data.definition is not None:
        definition = _stored(validate(session, data.definition, segment_id=segment.id))
        if definition != segment.definition:
            segment.version += 1
            segment.definition = definition
            segment.broken_reason = None
            session.add(
                SegmentVersion(
                    segment_id=segment.id, version=segment.version, definition=definition, created_by=ctx.label
                )
            )
            request_refresh(session, segment.workspace_id, segments=[segment.id])
    session.flush()
    audit.record(session, ctx, "segment.updated", "segment", segment.id, before=before, after=_state(segment))
    return segment


def snapshot(session: Session, ctx: AuthContext, segment_id: int) -> Segment:
    """Recompute a static segment's members at the next refresh (dynamic ones are recomputed anyway)."""
    segment = get(session, segment_id)
    request_refresh(session, segment.workspace_id, segments=[segment.id], snapshot=True)
    audit.record(session, ctx, "segment.snapshot_requested", "segment", segment.id)
    return segment


def delete_segment(session: Session, ctx: AuthContext, segment_id: int) -> None:
    segment = get(session, segment_id)
    before = _state(segment)
    session.delete(segment)
    session.flush()
    _flag_dependents(session, segment_id, f"includes segment {segment_id} ({before['name']}), which was deleted")
    audit.record(session, ctx, "segment.deleted", "segment", segment_id, before=before)


def _flag_dependents(session: Session, segment_id: int, reason: str) -> None:
    """Segments whose definitions include ``segment_id`` are flagged (they keep their last members)."""
    for other in repository.segments(session, include_archived=True):
        if other.id == segment_id:
            continue
        try:
            names = references(parse(other.definition))["segments"]
        except InvalidInput:  # already broken: nothing to flag
            continue
        if segment_id in names:
            other.broken_reason = reason[:500]
    session.flush()


def get(session: Session, segment_id: int) -> Segment:
    segment = repository.segment(session, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}")
    return segment


def _state(segment: Segment) -> dict[str, Any]:
    return {
        "name": segment.name,
        "kind": segment.kind,
        "version": segment.version,
        "archived": segment.archived,
        "definition": segment.definition,
    }


# --- reading the analytics store --------------------------------------------------------------------------


def _synced_at(lake_con: Any, workspace_id: int) -> datetime | None:
    row = first_row(lake_con.execute("SELECT max(synced_at) FROM sync_state WHERE workspace_id = ?", [workspace_id]))
    return None if row is None else row[0]


def preview(session: Session, lake: Lake, raw: dict[str, Any]) -> PreviewOut:
    """How many live contacts the definition holds for, without saving anything."""
    ws = _workspace(session)
    definition = parse(raw)
    context = load_context(session, ws)
    query = compile_segment(definition, context)
    sql = render(query, "duckdb")
    total_sql = render(live_contacts(context), "duckdb")
    with lake.read() as con:
        count = first_row(con.execute(f"SELECT count(*) FROM ({sql})"))  # noqa: S608 - compiled by us
        total = first_row(con.execute(f"SELECT count(*) FROM ({total_sql})"))  # noqa: S608
        synced = _synced_at(con, ws)
    return PreviewOut(
        count=int(count[0]) if count else 0,
        total=int(total[0]) if total else 0,
        as_of=context.as_of,
        synced_at=synced,
        sql=sql,
    )


def explain(
    session: Session, lake: Lake, contact_id: int, *, segment_id: int | None = None, raw: dict[str, Any] | None = None
) -> Explanation:
    """Why a contact is or is not in a segment (or a definition being edited), leaf by leaf."""
    ws = _workspace(session)
    stored: bool | None = None
    if segment_id is not None:
        segment = get(session, segment_id)
        definition = parse(segment.definition)
        stored = repository.is_member(session, segment_id, contact_id)
    elif raw is not None:
        definition = parse(raw)
    else:
        raise ValueError("explain needs a segment or a definition")
    if session.get(Contact, contact_id) is None:
        raise NotFound(f"no contact {contact_id}")
    context: Context = load_context(session, ws)
    with lake.read() as con:
        nodes, member = explain_contact(con, definition, context, contact_id)
    return Explanation(
        segment_id=segment_id,
        contact_id=contact_id,
        member=member,
        stored_member=stored,
        as_of=context.as_of,
        nodes=nodes,
    )
