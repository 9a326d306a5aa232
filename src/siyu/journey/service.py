"""Journeys: drafts that may be incomplete, validated against the workspace; publishing freezes a
draft as the next immutable version; pausing, resuming and archiving; installing the seeds' templates.

A draft is kept whatever is wrong with it (an editor must not lose work): its problems are stored
beside it and shown. Publishing refuses a draft with any problem, naming every one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.contact.properties import PropertyValueError, validate_property_value
from siyu.dispatch.channels import configured
from siyu.errors import Conflict, FieldProblem, InvalidInput, NotFound
from siyu.filters.compiler import BrokenReference, compile_segment
from siyu.filters.context import load_context
from siyu.filters.definition import Definition
from siyu.journey import definition as jd
from siyu.journey import templates
from siyu.journey.engine import entry_problems
from siyu.journey.triggers import start_watermark
from siyu.kit.db import WORKSPACE_KEY
from siyu.kit.time import utcnow
from siyu.models import (
    Contact,
    Delivery,
    Journey,
    JourneyVersion,
    PropertyDefinition,
    Segment,
    StaffMember,
    StaffTask,
    Tag,
    Workspace,
)

# A journey may send through the channels that deliver in its workspace (siyu.dispatch.channels: the
# outbox, and the webhook and e-mail once set up; WeCom, 公众号, 小程序 and SMS come later). Another channel
# cannot be published: its messages would wait in the ledger for ever, using up the contacts' caps.
STATUSES = ("draft", "active", "paused", "archived")


def problems_of(session: Session, raw: object) -> list[FieldProblem]:
    """Everything that keeps ``raw`` from being published in this workspace (empty: it can be)."""
    try:
        journey = jd.parse(raw)
    except InvalidInput as exc:
        return list(exc.errors)
    return _workspace_problems(session, journey) + jd.unavailable_actions(journey) + entry_problems(journey)


def _workspace_problems(session: Session, journey: jd.Journey) -> list[FieldProblem]:
    """References to tags, segments, properties and channels that do not exist here, and conditions
    that do not compile against the workspace's catalogue."""
    problems: list[FieldProblem] = []
    refs = jd.references(journey)
    tags = set(session.scalars(select(Tag.id).where(Tag.id.in_(refs["tags"])))) if refs["tags"] else set()
    for tag_id in sorted(refs["tags"] - tags):
        problems.append(FieldProblem("definition", f"no tag {tag_id} in this workspace"))
    segments = (
        set(session.scalars(select(Segment.id).where(Segment.id.in_(refs["segments"])))) if refs["segments"] else set()
    )
    for segment_id in sorted(refs["segments"] - segments):
        problems.append(FieldProblem("definition", f"no segment {segment_id} in this workspace"))
    workspace = session.get(Workspace, int(session.info[WORKSPACE_KEY]))
    assert workspace is not None
    available = sorted(configured(workspace))
    for node_id, node in journey.nodes.items():
        if isinstance(node, jd.Webhook) and "webhook" not in available:
            problems.append(
                FieldProblem(
                    f"definition.nodes.{node_id}", "set up the webhook channel first: its secret signs the call"
                )
            )
        if isinstance(node, jd.Send) and node.channel not in available:
            problems.append(
                FieldProblem(
                    f"definition.nodes.{node_id}.channel",
                    f"channel {node.channel!r} is not available; use one of {', '.join(available)}",
                )
            )
        if isinstance(node, jd.SetProperty):
            known = session.scalar(select(PropertyDefinition).where(PropertyDefinition.key == node.key))
            if known is None:
                problems.append(
                    FieldProblem(f"definition.nodes.{node_id}.key", f"no property {node.key!r} in the catalogue")
                )
            elif node.value is not None:
                try:
                    validate_property_value(known, node.value)
                except PropertyValueError as exc:
                    problems.append(FieldProblem(f"definition.nodes.{node_id}.value", f"{node.key}: {exc}"))
    context = load_context(session, int(session.info[WORKSPACE_KEY]))
    for path, tree in jd.filter_trees(journey):
        try:
            compile_segment(Definition(version=1, root=tree), context)
        except (BrokenReference, InvalidInput) as exc:
            inner = [
                FieldProblem(p.field.replace("definition.root", f"definition.{path}", 1), p.reason) for p in exc.errors
            ]
            problems += inner or [FieldProblem(f"definition.{path}", exc.detail)]
    return problems


def get(session: Session, journey_id: int) -> Journey:
    journey = session.get(Journey, journey_id)
    if journey is None:
        raise NotFound(f"no journey {journey_id}")
    return journey


def journeys(session: Session, *, include_archived: bool = False) -> list[Journey]:
    query = select(Journey).order_by(Journey.id)
    if not include_archived:
        query = query.where(Journey.status != "archived")
    return list(session.scalars(query))


def versions(session: Session, journey_id: int) -> list[JourneyVersion]:
    query = select(JourneyVersion).where(JourneyVersion.journey_id == journey_id).order_by(JourneyVersion.version)
    return list(session.scalars(query))


def version(session: Session, journey_id: int, number: int) -> JourneyVersion:
    found = session.scalar(
        select(JourneyVersion).where(JourneyVersion.journey_id == journey_id, JourneyVersion.version == number)
    )
    if found is None:
        raise NotFound(f"journey {journey_id} has no version {number}")
    return found


def journey_named(session: Session, name: str) -> Journey | None:
    return session.scalar(select(Journey).where(Journey.name == name))


def unpublishable(journey: Journey) -> InvalidInput:
    problems = [FieldProblem(p["field"], p["reason"]) for p in journey.draft_problems or []]
    first = problems[0]
    return InvalidInput(detail=f"{first.field}: {first.reason}", errors=problems)


def _state(journey: Journey) -> dict[str, Any]:
    return {"name": journey.name, "status": journey.status, "published_version": journey.published_version}


def _draft(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput.on("definition", "a journey is a mapping with version, trigger, start and nodes")
    return raw


def create(
    session: Session,
    ctx: AuthContext,
    *,
    name: str,
    definition: object,
    description: str | None = None,
    template: str | None = None,
) -> Journey:
    if journey_named(session, name) is not None:
        raise Conflict(f"a journey named {name!r} exists already", extra={"field": "name"})
    draft = _draft(definition)
    journey = Journey(
        name=name,
        description=description,
        status="draft",
        draft=draft,
        draft_problems=[p.as_dict() for p in problems_of(session, draft)] or None,
        published_version=0,
        template=template,
        created_by=ctx.label,
    )
    session.add(journey)
    session.flush()
    audit.record(session, ctx, "journey.created", "journey", journey.id, after=_state(journey))
    return journey


def save_draft(session: Session, ctx: AuthContext, journey_id: int, definition: object) -> Journey:
    journey = get(session, journey_id)
    if journey.status == "archived":
        raise Conflict("an archived journey cannot be edited; restore it first", extra={"field": "status"})
    draft = _draft(definition)
    journey.draft = draft
    journey.draft_problems = [p.as_dict() for p in problems_of(session, draft)] or None
    session.flush()
    return journey


def rename(session: Session, ctx: AuthContext, journey_id: int, name: str, description: str | None) -> Journey:
    journey = get(session, journey_id)
    if name != journey.name and journey_named(session, name) is not None:
        raise Conflict(f"a journey named {name!r} exists already", extra={"field": "name"})
    before = _state(journey)
    journey.name = name
    if description is not None:
        journey.description = description
    session.flush()
    audit.record(session, ctx, "journey.updated", "journey", journey.id, before=before, after=_state(journey))
    return journey


def publish(session: Session, ctx: AuthContext, journey_id: int) -> JourneyVersion:
    """Freeze the draft as the next version and make the journey active. Contacts already in the
    journey stay on the version they entered; new entrants follow this one."""
    journey = get(session, journey_id)
    if journey.status == "archived":
        raise Conflict("an archived journey cannot be published; restore it first", extra={"field": "status"})
    problems = problems_of(session, journey.draft)
    journey.draft_problems = [p.as_dict() for p in problems] or None
    if problems:
        raise unpublishable(journey)
    stored = jd.dump(jd.parse(journey.draft))
    latest = versions(session, journey.id)
    if latest and latest[-1].definition == stored:
        raise Conflict(f"version {latest[-1].version} is this draft already", extra={"field": "definition"})
    before = _state(journey)
    number = journey.published_version + 1
    frozen = JourneyVersion(journey_id=journey.id, version=number, definition=stored, published_by=ctx.label)
    session.add(frozen)
    journey.published_version = number
    if journey.status == "draft" or not latest or latest[-1].definition.get("trigger") != stored.get("trigger"):
        # A first version, or a new trigger: the journey starts with the events that follow.
        journey.trigger_watermark = start_watermark(session)
        journey.trigger_fired_at = utcnow()
    journey.status = "active" if journey.status in ("draft", "active") else journey.status
    journey.draft_problems = None
    session.flush()
    audit.record(session, ctx, "journey.published", "journey", journey.id, before=before, after=_state(journey))
    return frozen


_MOVES = {
    "pause": ({"active"}, "paused"),
    "resume": ({"paused"}, "active"),
    "archive": ({"draft", "active", "paused"}, "archived"),
    "restore": ({"archived"}, "paused"),
}


def change_status(session: Session, ctx: AuthContext, journey_id: int, move: str) -> Journey:
    """``pause`` (nobody enters, nobody steps), ``resume``, ``archive``, ``restore`` (to paused: an
    operator resumes it on purpose, or to draft when it was never published)."""
    if move not in _MOVES:
        raise InvalidInput.on("action", f"one of {', '.join(_MOVES)}")
    journey = get(session, journey_id)
    sources, target = _MOVES[move]
    if journey.status not in sources:
        raise Conflict(f"a {journey.status} journey cannot {move}", extra={"field": "status"})
    if move == "restore" and journey.published_version == 0:
        target = "draft"
    before = _state(journey)
    if move == "resume":  # nobody entered while it was paused, and nobody enters for those events now
        journey.trigger_watermark = start_watermark(session)
        journey.trigger_fired_at = utcnow()
    journey.status = target
    session.flush()
    audit.record(session, ctx, f"journey.{move}d", "journey", journey.id, before=before, after=_state(journey))
    return journey


def install_template(
    session: Session, ctx: AuthContext, key: str, *, name: str | None = None, channel: str | None = None
) -> tuple[Journey, list[str]]:
    """A template as a new draft (published separately, once the operator has read it). Returns the
    journey and the notices: actions of capabilities not built yet are left out, and said so. With
    ``channel``, its messages go through that channel instead of the outbox."""
    template = templates.get(key)
    definition, notices = templates.without_unavailable(template)
    if channel is not None:
        workspace = session.get(Workspace, int(session.info[WORKSPACE_KEY]))
        assert workspace is not None
        if channel not in configured(workspace):
            available = ", ".join(sorted(configured(workspace)))
            raise InvalidInput.on("channel", f"channel {channel!r} is not set up; use one of {available}")
        for node in definition["nodes"].values():
            if node["type"] == "send":
                node["channel"] = channel
    journey = create(
        session,
        ctx,
        name=name or template.name,
        definition=definition,
        description=template.description,
        template=template.key,
    )
    return journey, notices


def deliveries(
    session: Session,
    *,
    status: str | None,
    rule: str | None,
    source: str | None,
    contact_id: int | None,
    limit: int,
    offset: int,
    channel: str | None = None,
) -> tuple[list[Delivery], int]:
    query = select(Delivery)
    filters = ((Delivery.status, status), (Delivery.rule, rule), (Delivery.source, source), (Delivery.channel, channel))
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    if contact_id is not None:
        query = query.where(Delivery.contact_id == contact_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Delivery.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total)


def tasks(
    session: Session,
    *,
    status: str | None,
    overdue_at: datetime | None,
    assignee: str | None,
    limit: int,
    offset: int,
) -> tuple[list[StaffTask], int]:
    query = select(StaffTask)
    if overdue_at is not None:
        query = query.where(StaffTask.status == "open", StaffTask.due_at < overdue_at)
    elif status is not None:
        query = query.where(StaffTask.status == status)
    if assignee is not None:
        query = query.where(StaffTask.assignee == assignee)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(StaffTask.due_at, StaffTask.id).limit(limit).offset(offset))
    return list(rows), int(total)


def create_task(
    session: Session,
    ctx: AuthContext,
    *,
    title: str,
    due_at: datetime,
    contact_id: int | None,
    assignee: str | None,
    description: str | None,
) -> StaffTask:
    """A task made by hand; without an assignee it goes to the contact's owner, as a journey's would."""
    if contact_id is not None and session.get(Contact, contact_id) is None:
        raise InvalidInput.on("contact_id", f"no contact {contact_id}")
    if assignee is not None and session.scalar(select(StaffMember.id).where(StaffMember.userid == assignee)) is None:
        raise InvalidInput.on("assignee", f"no staff member with userid {assignee!r}")
    if assignee is None and contact_id is not None:
        assignee = session.scalar(
            select(StaffMember.userid)
            .join(Contact, Contact.owner_staff_id == StaffMember.id)
            .where(Contact.id == contact_id)
        )
    task = StaffTask(
        contact_id=contact_id,
        dedup_key=f"manual:{uuid.uuid4().hex}",
        source="manual",
        assignee=assignee,
        title=title,
        description=description,
        status="open",
        due_at=due_at,
        created_at=utcnow(),
    )
    session.add(task)
    session.flush()
    audit.record(session, ctx, "task.created", "staff_task", task.id, after={"title": title, "assignee": assignee})
    return task


def change_task(
    session: Session, ctx: AuthContext, task_id: int, *, assignee: str | None, due_at: datetime | None
) -> StaffTask:
    """Reassign a task or move its due time."""
    found = session.get(StaffTask, task_id)
    if found is None:
        raise NotFound(f"no task {task_id}")
    if assignee is not None:
        if session.scalar(select(StaffMember.id).where(StaffMember.userid == assignee)) is None:
            raise InvalidInput.on("assignee", f"no staff member with userid {assignee!r}")
        found.assignee = assignee
    if due_at is not None:
        found.due_at = due_at
    session.flush()
    audit.record(session, ctx, "task.changed", "staff_task", found.id, after={"assignee": found.assignee})
    return found


def complete_task(session: Session, ctx: AuthContext, task_id: int, now: datetime) -> StaffTask:
    found = session.get(StaffTask, task_id)
    if found is None:
        raise NotFound(f"no task {task_id}")
    if found.status != "done":
        found.status, found.completed_at = "done", now
        session.flush()
        audit.record(session, ctx, "task.completed", "staff_task", found.id, after={"title": found.title})
    return found
