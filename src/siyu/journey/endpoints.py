"""Journey API: drafts (JSON or YAML, kept even when incomplete, with their problems), validation,
publishing immutable versions, pause / resume / archive, and the seeds' templates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.dispatch import calling
from siyu.errors import InvalidInput
from siyu.journey import audiences, dryrun, engine, service, templates
from siyu.journey import definition as jd
from siyu.journey.schemas import (
    DeliveryOut,
    DraftIn,
    DryRunIn,
    DryRunOut,
    EnterIn,
    EnterOut,
    InstalledOut,
    JourneyIn,
    JourneyOut,
    JourneyPatch,
    Problem,
    ResolveIn,
    TaskIn,
    TaskOut,
    TaskPatch,
    TemplateIn,
    TemplateOut,
    ValidationOut,
    VersionOut,
)
from siyu.kit.inputs import RowId, RowOffset
from siyu.kit.pagination import Page
from siyu.kit.time import utcnow
from siyu.lake.dependencies import LakeDep
from siyu.models import Journey, StaffTask

router = APIRouter(prefix="/api/v1", tags=["journeys"])
Reader = Annotated[AuthContext, Depends(require(Permission.workspace_read))]
Manager = Annotated[AuthContext, Depends(require(Permission.journeys_manage))]


def journey_out(j: Journey) -> JourneyOut:
    return JourneyOut(
        id=j.id,
        name=j.name,
        description=j.description,
        status=j.status,
        published_version=j.published_version,
        draft=j.draft,
        problems=[Problem(**p) for p in j.draft_problems or []],
        template=j.template,
        created_by=j.created_by,
        created_at=j.created_at,
        updated_at=j.updated_at,
    )


def _definition(definition: dict[str, Any] | None, text: str | None) -> dict[str, Any]:
    """The draft from JSON or YAML (exactly one). YAML that does not parse is refused: there is nothing
    to keep; YAML that parses is kept as a draft like JSON, whatever its problems."""
    if (definition is None) == (text is None):
        raise InvalidInput.on("definition", "give the journey as definition (JSON) or as yaml, one of them")
    if definition is not None:
        return definition
    assert text is not None
    return jd.load_yaml(text, "yaml")


@router.get("/journeys", response_model=list[JourneyOut], summary="Journeys of the workspace")
def list_journeys(session: DbSession, ctx: Reader, archived: Annotated[bool, Query()] = False) -> list[JourneyOut]:
    return [journey_out(j) for j in service.journeys(session, include_archived=archived)]


@router.post("/journeys", response_model=JourneyOut, status_code=201, summary="Save a new journey as a draft")
def create_journey(data: JourneyIn, session: DbSession, ctx: Manager) -> JourneyOut:
    raw = _definition(data.definition, data.yaml)
    return journey_out(service.create(session, ctx, name=data.name, description=data.description, definition=raw))


@router.post("/journeys/validate", response_model=ValidationOut, summary="Check a definition without saving it")
def validate(data: DraftIn, session: DbSession, ctx: Reader) -> ValidationOut:
    problems = service.problems_of(session, _definition(data.definition, data.yaml))
    return ValidationOut(valid=not problems, problems=[Problem(**p.as_dict()) for p in problems])


@router.get("/journeys/templates", response_model=list[TemplateOut], summary="The seeds' journey templates")
def list_templates(ctx: Reader) -> list[TemplateOut]:
    return [TemplateOut(**t.__dict__) for t in templates.all_templates()]


@router.post("/journeys/templates/install", response_model=InstalledOut, status_code=201, summary="Install a template")
def install_template(data: TemplateIn, session: DbSession, ctx: Manager) -> InstalledOut:
    journey, notices = service.install_template(session, ctx, data.template, name=data.name, channel=data.channel)
    return InstalledOut(journey=journey_out(journey), notices=notices)


@router.get("/journeys/{journey_id}", response_model=JourneyOut, summary="One journey")
def get_journey(journey_id: RowId, session: DbSession, ctx: Reader) -> JourneyOut:
    return journey_out(service.get(session, journey_id))


@router.patch("/journeys/{journey_id}", response_model=JourneyOut, summary="Rename a journey")
def patch_journey(journey_id: RowId, data: JourneyPatch, session: DbSession, ctx: Manager) -> JourneyOut:
    return journey_out(service.rename(session, ctx, journey_id, data.name, data.description))


@router.put("/journeys/{journey_id}/draft", response_model=JourneyOut, summary="Save the draft")
def save_draft(journey_id: RowId, data: DraftIn, session: DbSession, ctx: Manager) -> JourneyOut:
    raw = _definition(data.definition, data.yaml)
    return journey_out(service.save_draft(session, ctx, journey_id, raw))


@router.post("/journeys/{journey_id}/publish", response_model=VersionOut, status_code=201, summary="Publish the draft")
def publish(journey_id: RowId, session: DbSession, ctx: Manager) -> VersionOut:
    v = service.publish(session, ctx, journey_id)
    return VersionOut(
        version=v.version, definition=v.definition, published_by=v.published_by, published_at=v.published_at
    )


@router.get("/journeys/{journey_id}/versions", response_model=list[VersionOut], summary="Published versions")
def list_versions(journey_id: RowId, session: DbSession, ctx: Reader) -> list[VersionOut]:
    service.get(session, journey_id)
    return [
        VersionOut(version=v.version, definition=v.definition, published_by=v.published_by, published_at=v.published_at)
        for v in service.versions(session, journey_id)
    ]


@router.post("/journeys/{journey_id}/enter", response_model=EnterOut, summary="Enter contacts into a journey")
def enter(journey_id: RowId, data: EnterIn, session: DbSession, ctx: Manager) -> EnterOut:
    entries = [(c, f"manual:{data.key}:{c}") for c in data.contact_ids]  # never like a trigger's event:<id>
    return EnterOut(entered=engine.enter(session, journey_id, entries, utcnow()))


@router.post(
    "/journeys/{journey_id}/dry-run", response_model=DryRunOut, summary="What the draft would do, sending nothing"
)
def dry_run(journey_id: RowId, data: DryRunIn, session: DbSession, ctx: Manager, lake: LakeDep) -> DryRunOut:
    conditions = audiences.lake_conditions(session, lake)
    report = dryrun.dry_run(session, journey_id, utcnow(), contact_ids=data.contact_ids, conditions=conditions)
    return DryRunOut(**report.as_dict())


@router.get("/deliveries", response_model=Page[DeliveryOut], summary="The delivery ledger, newest first")
def deliveries(
    session: DbSession,
    ctx: Reader,
    status: Annotated[str | None, Query(max_length=16)] = None,
    rule: Annotated[str | None, Query(max_length=32)] = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    contact_id: Annotated[RowId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[RowOffset, Query()] = 0,
) -> Page[DeliveryOut]:
    rows, total = service.deliveries(
        session,
        status=status,
        rule=rule,
        source=source,
        channel=channel,
        contact_id=contact_id,
        limit=limit,
        offset=offset,
    )
    items = [DeliveryOut.model_validate(r, from_attributes=True) for r in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/tasks", response_model=Page[TaskOut], summary="Staff tasks (overdue=true: open and past due)")
def tasks(
    session: DbSession,
    ctx: Reader,
    status: Annotated[str | None, Query(pattern="^(open|done)$")] = None,
    overdue: Annotated[bool, Query()] = False,
    assignee: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[RowOffset, Query()] = 0,
) -> Page[TaskOut]:
    now = utcnow()
    rows, total = service.tasks(
        session, status=status, overdue_at=now if overdue else None, assignee=assignee, limit=limit, offset=offset
    )
    return Page(items=[_task_out(t, now) for t in rows], total=total, limit=limit, offset=offset)


@router.post("/deliveries/{delivery_id}/resolve", response_model=DeliveryOut, summary="Settle an unknown delivery")
def resolve_delivery(delivery_id: RowId, data: ResolveIn, session: DbSession, ctx: Manager) -> DeliveryOut:
    row = calling.resolve(session, delivery_id, data.outcome, utcnow())
    audit.record(session, ctx, "delivery.resolved", "delivery", row.id, after={"outcome": data.outcome})
    return DeliveryOut.model_validate(row, from_attributes=True)


@router.post("/tasks", response_model=TaskOut, status_code=201, summary="Create a staff task by hand")
def create_task(data: TaskIn, session: DbSession, ctx: Manager) -> TaskOut:
    task = service.create_task(session, ctx, **data.model_dump())
    return _task_out(task, utcnow())


@router.patch("/tasks/{task_id}", response_model=TaskOut, summary="Reassign a staff task or move its due time")
def change_task(task_id: RowId, data: TaskPatch, session: DbSession, ctx: Manager) -> TaskOut:
    return _task_out(service.change_task(session, ctx, task_id, **data.model_dump()), utcnow())


@router.post("/tasks/{task_id}/complete", response_model=TaskOut, summary="Mark a staff task done")
def complete_task(task_id: RowId, session: DbSession, ctx: Manager) -> TaskOut:
    now = utcnow()
    return _task_out(service.complete_task(session, ctx, task_id, now), now)


def _task_out(t: StaffTask, now: datetime) -> TaskOut:
    return TaskOut(
        id=t.id,
        contact_id=t.contact_id,
        source=t.source,
        assignee=t.assignee,
        title=t.title,
        description=t.description,
        status=t.status,
        due_at=t.due_at,
        overdue=t.status == "open" and t.due_at < now,
        created_at=t.created_at,
        completed_at=t.completed_at,
    )


@router.post("/journeys/{journey_id}/{action}", response_model=JourneyOut, summary="Pause, resume, archive, restore")
def change_status(journey_id: RowId, action: str, session: DbSession, ctx: Manager) -> JourneyOut:
    return journey_out(service.change_status(session, ctx, journey_id, action))
