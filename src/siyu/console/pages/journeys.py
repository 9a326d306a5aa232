"""Journeys (自动化旅程): the list with the seeds' templates, a journey's graph with live counts per node,
its YAML editor (validated on save), publishing and pausing, the dry-run report; the delivery ledger with
its block reasons (and settling ``unknown`` messages); staff tasks with the overdue ones first.

Reading needs ``workspace:read``; changing anything needs ``journeys:manage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, Form, Query, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select

from siyu.auth.permissions import Permission
from siyu.console.access import Page, PageAccess
from siyu.console.forms import FormErrors, from_service
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, pager, render
from siyu.dispatch import calling, channels
from siyu.errors import SiyuError
from siyu.journey import audiences, dryrun, service, templates
from siyu.journey import definition as jd
from siyu.kit.inputs import NO_NUL, RowId, RowOffset
from siyu.kit.time import utcnow
from siyu.models import Delivery, Journey, JourneyRun, Workspace

router = console_router()
P = Permission

Reader = Annotated[Page, Depends(PageAccess(P.workspace_read, form=False))]
Manager = Annotated[Page, Depends(PageAccess(P.journeys_manage, form=True))]

PAGE_SIZE = 50
TEXT_MAX = 200_000
NOTICES: Final = {
    "installed": N_("Template installed as a draft. Read it, adjust it, then publish it."),
    "saved": N_("Draft saved."),
    "published": N_("Published: new entrants follow this version; contacts already in it stay on theirs."),
    "pause": N_("Journey paused: nobody enters and nobody moves on until it is resumed."),
    "resume": N_("Journey resumed."),
    "archive": N_("Journey archived."),
    "restore": N_("Journey restored."),
    "resolved": N_("Delivery settled."),
    "completed": N_("Task marked done."),
}
STATUS_LABELS: Final = {
    "draft": N_("Draft"),
    "active": N_("Active"),
    "paused": N_("Paused"),
    "archived": N_("Archived"),
}
RUN_LABELS: Final = {
    "waiting": N_("In progress"),
    "done": N_("Finished"),
    "exited": N_("Exited"),
    "converted": N_("Reached the goal"),
    "holdout": N_("Held out"),
}
DELIVERY_STATUSES: Final = ("queued", "sending", "sent", "failed", "blocked", "unknown")
BOX_W, BOX_H, GAP_X, GAP_Y = 180, 64, 28, 44


@dataclass(frozen=True)
class Box:
    id: str
    type: str
    label: str
    x: int
    y: int
    here: int
    ended: int


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    label: str


def layout(definition: jd.Journey, here: dict[str, int], ended: dict[str, int]) -> dict[str, Any]:
    """Nodes in rows by their distance from the start, edges between them: an SVG the page draws."""
    depth = {definition.start: 0}
    order = [definition.start]
    for node_id in order:
        for _, follower in jd.successors(definition.nodes[node_id]):
            if follower not in depth:
                depth[follower] = depth[node_id] + 1
                order.append(follower)
    rows: dict[int, list[str]] = {}
    for node_id in order:
        rows.setdefault(depth[node_id], []).append(node_id)
    widest = max(len(r) for r in rows.values())
    width = widest * (BOX_W + GAP_X) + GAP_X
    where: dict[str, tuple[int, int]] = {}
    boxes = []
    for level, ids in rows.items():
        offset = (width - len(ids) * (BOX_W + GAP_X) + GAP_X) // 2
        for i, node_id in enumerate(ids):
            x, y = offset + i * (BOX_W + GAP_X), GAP_Y // 2 + level * (BOX_H + GAP_Y)
            where[node_id] = (x, y)
            node = definition.nodes[node_id]
            label = getattr(node, "label", None) or node_id
            boxes.append(Box(node_id, node.type, label, x, y, here.get(node_id, 0), ended.get(node_id, 0)))
    edges = []
    for node_id in order:
        x, y = where[node_id]
        for path, follower in jd.successors(definition.nodes[node_id]):
            fx, fy = where[follower]
            branch = "" if path == "next" else path.split(".")[0]
            edges.append(Edge(x + BOX_W // 2, y + BOX_H, fx + BOX_W // 2, fy, branch))
    return {"boxes": boxes, "edges": edges, "width": width, "height": len(rows) * (BOX_H + GAP_Y)}


def live_counts(page: Page, journey_id: int) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Per node: runs waiting there now, runs that ended there; and runs by status."""
    here: dict[str, int] = {}
    ended: dict[str, int] = {}
    statuses: dict[str, int] = {}
    rows = page.session.execute(
        select(JourneyRun.node, JourneyRun.status, func.count())
        .where(JourneyRun.journey_id == journey_id)
        .group_by(JourneyRun.node, JourneyRun.status)
    )
    for node, status, n in rows:
        statuses[status] = statuses.get(status, 0) + n
        target = here if status == "waiting" else ended
        if node is not None:
            target[node] = target.get(node, 0) + n
    return here, ended, statuses


def _graph(page: Page, journey: Journey) -> dict[str, Any] | None:
    number = journey.published_version
    raw = service.version(page.session, journey.id, number).definition if number else journey.draft
    try:
        definition = jd.parse(raw)
    except SiyuError:
        return None
    here, ended, statuses = live_counts(page, journey.id)
    return {**layout(definition, here, ended), "statuses": statuses, "version": number}


def _channels(page: Page) -> list[str]:
    workspace = page.session.get(Workspace, page.auth.workspace_id)
    assert workspace is not None
    return sorted(channels.configured(workspace))


@router.get("/journeys")
def journeys(page: Reader, archived: bool = False, notice: str | None = None) -> Response:
    rows = service.journeys(page.session, include_archived=archived)
    shown = [j for j in rows if (j.status == "archived") == archived]
    counts: dict[int, dict[str, int]] = {}
    for journey_id, status, n in page.session.execute(
        select(JourneyRun.journey_id, JourneyRun.status, func.count()).group_by(
            JourneyRun.journey_id, JourneyRun.status
        )
    ):
        counts.setdefault(journey_id, {})[status] = n
    return render(
        page,
        "journeys.html",
        journeys=shown,
        counts=counts,
        archived=archived,
        templates=templates.all_templates(),
        channels=_channels(page),
        status_labels=STATUS_LABELS,
        can_manage=page.can(P.journeys_manage),
        notice=NOTICES.get(notice or ""),
    )


@router.post("/journeys/install")
def install(
    page: Manager,
    template: Annotated[str, Form(max_length=64)] = "",
    channel: Annotated[str, Form(max_length=32)] = "outbox",
) -> Response:
    journey, _notices = service.install_template(page.session, page.auth, template, channel=channel or None)
    return RedirectResponse(f"/journeys/{journey.id}?notice=installed", status_code=303)


def _detail(
    page: Page,
    journey: Journey,
    *,
    status_code: int = 200,
    text: str | None = None,
    errors: FormErrors | None = None,
    report: dict[str, Any] | None = None,
    notice: str | None = None,
) -> Response:
    return render(
        page,
        "journeys_detail.html",
        status_code,
        journey=journey,
        graph=_graph(page, journey),
        text=text if text is not None else jd.to_yaml(journey.draft or {}),
        problems=journey.draft_problems or [],
        errors=errors or FormErrors(),
        versions=service.versions(page.session, journey.id),
        report=report,
        run_labels=RUN_LABELS,
        status_labels=STATUS_LABELS,
        can_manage=page.can(P.journeys_manage),
        notice=NOTICES.get(notice or ""),
    )


@router.get("/journeys/{journey_id}")
def journey_page(page: Reader, journey_id: RowId, notice: str | None = None) -> Response:
    return _detail(page, service.get(page.session, journey_id), notice=notice)


@router.get("/journeys/{journey_id}/graph")
def journey_graph(page: Reader, journey_id: RowId) -> Response:
    """The graph alone, for the page to refresh its counts."""
    journey = service.get(page.session, journey_id)
    graph = _graph(page, journey)
    return render(page, "partials/journey_graph.html", journey=journey, graph=graph, run_labels=RUN_LABELS)


@router.post("/journeys/{journey_id}/draft")
def save_draft(
    page: Manager, journey_id: RowId, text: Annotated[str, Form(max_length=TEXT_MAX), NO_NUL] = ""
) -> Response:
    journey = service.get(page.session, journey_id)
    try:
        draft = jd.load_yaml(text, "yaml")
        journey = service.save_draft(page.session, page.auth, journey_id, draft)
    except SiyuError as exc:
        page.discard_changes()
        journey = service.get(page.session, journey_id)
        return _detail(
            page, journey, status_code=exc.status, text=text, errors=from_service(page, exc, default_field="yaml")
        )
    if journey.draft_problems:
        return _detail(page, journey, status_code=422, text=text)  # kept, with its problems listed
    return RedirectResponse(f"/journeys/{journey_id}?notice=saved", status_code=303)


@router.post("/journeys/{journey_id}/publish")
def publish(page: Manager, journey_id: RowId) -> Response:
    try:
        service.publish(page.session, page.auth, journey_id)
    except SiyuError as exc:
        page.discard_changes()
        journey = service.get(page.session, journey_id)
        return _detail(page, journey, status_code=exc.status, errors=from_service(page, exc, default_field="yaml"))
    return RedirectResponse(f"/journeys/{journey_id}?notice=published", status_code=303)


@router.post("/journeys/{journey_id}/dry-run")
def dry_run(page: Manager, journey_id: RowId) -> Response:
    journey = service.get(page.session, journey_id)
    try:
        conditions = audiences.lake_conditions(page.session, page.request.app.state.lake)
        report = dryrun.dry_run(page.session, journey_id, utcnow(), conditions=conditions).as_dict()
    except SiyuError as exc:
        return _detail(page, journey, status_code=exc.status, errors=from_service(page, exc, default_field="yaml"))
    return _detail(page, service.get(page.session, journey_id), report=report)


@router.post("/journeys/{journey_id}/{move}")
def move(page: Manager, journey_id: RowId, move: str) -> Response:
    service.change_status(page.session, page.auth, journey_id, move)
    return RedirectResponse(f"/journeys/{journey_id}?notice={move}", status_code=303)


@router.get("/deliveries")
def deliveries(
    page: Reader,
    status: Annotated[str, Query(max_length=16)] = "",
    channel: Annotated[str, Query(max_length=32)] = "",
    rule: Annotated[str, Query(max_length=32)] = "",
    source: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[RowOffset, Query()] = 0,
    notice: str | None = None,
) -> Response:
    rows, total = service.deliveries(
        page.session,
        status=status or None,
        rule=rule or None,
        source=source or None,
        channel=channel or None,
        contact_id=None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    by_status = dict(page.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    by_rule = dict(
        page.session.execute(
            select(Delivery.rule, func.count()).where(Delivery.status == "blocked").group_by(Delivery.rule)
        ).all()
    )
    filters = {"status": status, "channel": channel, "rule": rule, "source": source}
    return render(
        page,
        "deliveries.html",
        rows=rows,
        total=total,
        filters=filters,
        statuses=DELIVERY_STATUSES,
        by_status=by_status,
        by_rule=by_rule,
        channels=_channels(page),
        can_manage=page.can(P.journeys_manage),
        pager=pager("/deliveries", filters, offset, total, PAGE_SIZE),
        notice=NOTICES.get(notice or ""),
    )


@router.post("/deliveries/{delivery_id}/resolve")
def resolve(page: Manager, delivery_id: RowId, outcome: Annotated[str, Form(max_length=16)] = "") -> Response:
    calling.resolve(page.session, delivery_id, outcome, utcnow())
    return RedirectResponse("/deliveries?status=unknown&notice=resolved", status_code=303)


@router.get("/tasks")
def staff_tasks(
    page: Reader,
    show: Annotated[str, Query(pattern="^(open|overdue|done|all)$")] = "open",
    offset: Annotated[RowOffset, Query()] = 0,
    notice: str | None = None,
) -> Response:
    now = utcnow()
    rows, total = service.tasks(
        page.session,
        status={"open": "open", "overdue": "open", "done": "done"}.get(show),
        overdue_at=now if show == "overdue" else None,
        assignee=None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    _, overdue = service.tasks(page.session, status="open", overdue_at=now, assignee=None, limit=1, offset=0)
    return render(
        page,
        "tasks.html",
        rows=rows,
        total=total,
        show=show,
        overdue=overdue,
        now=now,
        can_manage=page.can(P.journeys_manage),
        pager=pager("/tasks", {"show": show}, offset, total, PAGE_SIZE),
        notice=NOTICES.get(notice or ""),
    )


@router.post("/tasks/{task_id}/complete")
def complete(page: Manager, task_id: RowId) -> Response:
    service.complete_task(page.session, page.auth, task_id, utcnow())
    return RedirectResponse("/tasks?notice=completed", status_code=303)
