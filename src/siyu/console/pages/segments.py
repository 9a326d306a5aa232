"""Segments (分群): the list, the segment builder (a visual editor for the filter tree with a live count),
a segment's page (size over time, members, explaining one contact, versions) and its actions.

Reading needs ``analytics:read``; saving, refreshing, archiving and deleting need ``segments:manage``.
Counts and explanations read the analytics store, which may be busy (a refresh in another process) or
empty (never refreshed): the pages say so instead of failing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Depends, Form, Query, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from siyu.auth.permissions import Permission
from siyu.console import definition_problems, vocabulary
from siyu.console.access import Page, PageAccess
from siyu.console.definition_problems import NodeProblem
from siyu.console.forms import FormErrors, from_service, from_validation
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, local_time, pager, render
from siyu.console.vocabulary import Catalogue
from siyu.errors import Conflict, InvalidInput, SiyuError
from siyu.filters.definition import parse, walk
from siyu.kit.inputs import BIGINT_MAX, NO_NUL, RowId, RowOffset
from siyu.lake.jobs import request_refresh
from siyu.lake.store import Lake
from siyu.models import Segment
from siyu.segment import repository, service
from siyu.segment.schemas import PreviewOut, SegmentIn, SegmentPatch

router = console_router()
P = Permission

SegmentsReader = Annotated[Page, Depends(PageAccess(P.analytics_read, form=False))]
SegmentsReaderForm = Annotated[Page, Depends(PageAccess(P.analytics_read, form=True))]
SegmentsEditor = Annotated[Page, Depends(PageAccess(P.segments_manage, form=False))]
SegmentsManager = Annotated[Page, Depends(PageAccess(P.segments_manage, form=True))]

MEMBERS_PAGE = 50
DEFINITION_MAX = 200_000  # characters of JSON a form may send (the tree has at most 200 nodes)
EMPTY_DEFINITION: Final[dict[str, Any]] = {"version": 1, "root": {"op": "and", "children": []}}

NOTICES: Final = {
    "refresh_queued": N_("A refresh is queued: the background worker copies new data and recomputes the segments."),
    "created": N_("Segment saved. Its members are computed by the refresh that was just queued."),
    "saved": N_("Saved as a new version. The members are recomputed by the refresh that was just queued."),
    "unchanged": N_("Saved. The conditions did not change, so there is no new version."),
    "snapshot": N_("A refresh of this segment is queued."),
    "archived": N_("Segment archived. It is no longer refreshed or offered in other segments."),
    "restored": N_("Segment restored."),
    "deleted": N_("Segment deleted."),
}

KIND_LABELS: Final = {"dynamic": N_("Dynamic"), "static": N_("Static")}
KIND_HINTS: Final = {
    "dynamic": N_("Recomputed at every refresh: contacts enter and leave as their data changes."),
    "static": N_("Keeps the members it had when saved, until you take a new snapshot."),
}
CHART_COLOURS: Final = {"size": "#0f766e", "entered": "#3b82f6", "left": "#ef4444"}


def _labels() -> dict[str, Any]:
    return {"kind_labels": KIND_LABELS, "kind_hints": KIND_HINTS}


def _lake(page: Page) -> Lake:
    lake: Lake = page.request.app.state.lake
    return lake


def _op_first(value: Any) -> Any:
    """A filter tree with each node's ``op`` first, the way people read and write it."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (k not in ("version", "op"), k != "version"))
        return {k: _op_first(value[k]) for k in keys}
    if isinstance(value, list):
        return [_op_first(v) for v in value]
    return value


def pretty(definition: object) -> str:
    return json.dumps(_op_first(definition), ensure_ascii=False, indent=2)


# --- the list ---------------------------------------------------------------------------------


@router.get("/segments")
def segments(
    page: SegmentsReader,
    archived: Annotated[bool, Query()] = False,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    everything = repository.segments(page.session, include_archived=True)
    shown = [s for s in everything if s.archived == archived]
    return render(
        page,
        "segments.html",
        segments=shown,
        archived=archived,
        counts={"active": sum(not s.archived for s in everything), "archived": sum(s.archived for s in everything)},
        can_manage=page.can(P.segments_manage),
        notice=NOTICES.get(notice),
        **_labels(),
    )


@router.post("/segments/refresh")
def refresh_now(page: SegmentsManager) -> Response:
    request_refresh(page.session, page.workspace.id, mode="incremental")
    return RedirectResponse("/segments?notice=refresh_queued", status_code=303)


# --- the builder ------------------------------------------------------------------------------


def _builder_page(
    page: Page,
    *,
    form: dict[str, str],
    segment: Segment | None = None,
    problems: list[NodeProblem] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    catalogue = vocabulary.load_catalogue(page.session)
    return render(
        page,
        "segments_form.html",
        status_code,
        segment=segment,
        form=form,
        problems=problems or [],
        errors=errors or FormErrors(),
        config=vocabulary.builder_config(page, catalogue, segment_id=segment.id if segment else None),
        **_labels(),
    )


def _refused(page: Page, exc: SiyuError) -> tuple[FormErrors, list[NodeProblem]]:
    """A refused save as form errors (name, kind …) and problems with the definition (by node path)."""
    if isinstance(exc, Conflict) and exc.extra.get("field") == "name":
        errors = FormErrors()
        errors.add("name", page.gettext(N_("A segment with this name exists already")))
        return errors, []
    if isinstance(exc, InvalidInput) and (not exc.errors or any(p.field.startswith("definition") for p in exc.errors)):
        return FormErrors(), definition_problems.node_problems(page, exc)
    return from_service(page, exc), []


def _form(name: str, description: str, kind: str, definition: str) -> dict[str, str]:
    return {"name": name, "description": description, "kind": kind, "definition": definition}


@router.get("/segments/new")
def new_segment(page: SegmentsEditor) -> Response:
    return _builder_page(page, form=_form("", "", "dynamic", pretty(EMPTY_DEFINITION)))


@router.post("/segments/new")
def create_segment(
    page: SegmentsManager,
    name: Annotated[str, Form(max_length=200), NO_NUL] = "",
    description: Annotated[str, Form(max_length=2000), NO_NUL] = "",
    kind: Annotated[str, Form(max_length=16)] = "dynamic",
    definition: Annotated[str, Form(max_length=DEFINITION_MAX), NO_NUL] = "",
) -> Response:
    form = _form(name, description, kind, definition)
    raw, problems = definition_problems.parse_json_object(page, definition)
    if raw is None:
        return _builder_page(page, form=form, problems=problems, status_code=422)
    try:
        data = SegmentIn(name=name.strip(), description=description.strip() or None, kind=kind, definition=raw)
        segment = service.create_segment(page.session, page.auth, data)
    except ValidationError as exc:
        return _builder_page(page, form=form, errors=from_validation(page, exc), status_code=422)
    except SiyuError as exc:
        page.discard_changes()
        errors, problems = _refused(page, exc)
        return _builder_page(page, form=form, errors=errors, problems=problems, status_code=exc.status)
    return RedirectResponse(f"/segments/{segment.id}?notice=created", status_code=303)


@router.post("/segments/preview")
def preview(
    page: SegmentsReaderForm,
    definition: Annotated[str, Form(max_length=DEFINITION_MAX), NO_NUL] = "",
) -> Response:
    """The live count of the builder: a small fragment with the count, or the problems by node path."""
    raw, problems = definition_problems.parse_json_object(page, definition)
    result: PreviewOut | None = None
    unavailable: list[str] = []
    if raw is not None:
        try:
            with vocabulary.analytics(page, unavailable):
                result = service.preview(page.session, _lake(page), raw)
        except InvalidInput as exc:
            problems = definition_problems.node_problems(page, exc)
    return render(
        page,
        "partials/segment_preview.html",
        result=result,
        problems=problems,
        unavailable=unavailable,
        as_of=_wall_clock(result.as_of) if result else "",
    )


def _wall_clock(value: datetime) -> str:
    """A time the analytics store keeps as the workspace's local wall-clock time (no zone)."""
    return value.strftime("%Y-%m-%d %H:%M")


# --- a segment --------------------------------------------------------------------------------


def _contact_number(text: str) -> int | None:
    text = text.strip().lstrip("#")
    if text.isdigit() and 1 <= int(text) <= BIGINT_MAX:
        return int(text)
    return None


def _explanation(page: Page, segment: Segment, contact_id: int, catalogue: Catalogue) -> dict[str, Any]:
    """Why a contact is or is not in the segment, node by node, in the page's language."""
    out: dict[str, Any] = {"contact_id": contact_id, "rows": [], "problem": None, "unavailable": []}
    if not repository.live_contact_ids(page.session, [contact_id]):
        out["problem"] = page.gettext(N_("No contact has this number"))
        return out
    try:
        with vocabulary.analytics(page, out["unavailable"]):
            explanation = service.explain(page.session, _lake(page), contact_id, segment_id=segment.id)
            nodes = {path: node for path, node, _ in walk(parse(segment.definition).root)}
            out["member"] = explanation.member
            out["stored_member"] = explanation.stored_member
            out["as_of"] = _wall_clock(explanation.as_of)
            for item in explanation.nodes:
                node = nodes.get(item.path)
                out["rows"].append(
                    {
                        "path": item.path,
                        "depth": vocabulary.depth_of(item.path),
                        "holds": item.holds,
                        "text": vocabulary.describe(page, node, catalogue) if node is not None else item.summary,
                        "summary": item.summary,
                        "observed": vocabulary.observed_text(page, node, item.observed, catalogue) if node else "",
                    }
                )
    except InvalidInput as exc:
        out["problem"] = "; ".join(p.message for p in definition_problems.node_problems(page, exc))
    return out


def _conditions(page: Page, segment: Segment, catalogue: Catalogue) -> list[dict[str, Any]]:
    """The definition in words, parents first (empty when the stored definition no longer parses)."""
    try:
        definition = parse(segment.definition)
    except InvalidInput:
        return []
    return [
        {"path": path, "depth": vocabulary.depth_of(path), "text": vocabulary.describe(page, node, catalogue)}
        for path, node, _ in walk(definition.root)
    ]


def size_chart(page: Page, segment: Segment) -> dict[str, Any] | None:
    history = repository.refreshes(page.session, segment.id)
    if not history:
        return None
    timezone = page.workspace.timezone
    return {
        "type": "lines",
        "categories": [local_time(r.refreshed_at, timezone) for r in history],
        "series": [
            {"name": page.gettext(N_("Members")), "values": [r.size for r in history], "color": CHART_COLOURS["size"]},
            {
                "name": page.gettext(N_("Entered")),
                "values": [r.entered for r in history],
                "color": CHART_COLOURS["entered"],
            },
            {"name": page.gettext(N_("Left")), "values": [r.left for r in history], "color": CHART_COLOURS["left"]},
        ],
    }


@router.get("/segments/{segment_id}")
def segment_page(
    page: SegmentsReader,
    segment_id: RowId,
    offset: Annotated[RowOffset, Query()] = 0,
    contact: Annotated[str, Query(max_length=24)] = "",
    notice: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    segment = service.get(page.session, segment_id)
    catalogue = vocabulary.load_catalogue(page.session)
    members, total = repository.member_page(page.session, segment_id, limit=MEMBERS_PAGE, offset=offset)
    explanation = None
    explain_error = None
    if contact.strip():
        contact_id = _contact_number(contact)
        if contact_id is None:
            explain_error = page.gettext(N_("Enter a contact number, e.g. 1024"))
        else:
            explanation = _explanation(page, segment, contact_id, catalogue)
    versions = list(reversed(repository.versions(page.session, segment_id)))
    return render(
        page,
        "segments_detail.html",
        422 if explain_error else 200,
        segment=segment,
        members=members,
        pager=pager(f"/segments/{segment_id}", {}, offset, total, MEMBERS_PAGE),
        chart=size_chart(page, segment),
        conditions=_conditions(page, segment, catalogue),
        definition_json=pretty(segment.definition),
        versions=[
            {
                "version": v.version,
                "created_by": v.created_by,
                "created_at": v.created_at,
                "definition": pretty(v.definition),
            }
            for v in versions
        ],
        contact=contact.strip(),
        explanation=explanation,
        explain_error=explain_error,
        can_manage=page.can(P.segments_manage),
        can_read_contacts=page.can(P.contacts_read),
        notice=NOTICES.get(notice),
        **_labels(),
    )


@router.get("/segments/{segment_id}/edit")
def edit_segment(page: SegmentsEditor, segment_id: RowId) -> Response:
    segment = service.get(page.session, segment_id)
    form = _form(segment.name, segment.description or "", segment.kind, pretty(segment.definition))
    return _builder_page(page, form=form, segment=segment)


@router.post("/segments/{segment_id}/edit")
def save_segment(
    page: SegmentsManager,
    segment_id: RowId,
    name: Annotated[str, Form(max_length=200), NO_NUL] = "",
    description: Annotated[str, Form(max_length=2000), NO_NUL] = "",
    definition: Annotated[str, Form(max_length=DEFINITION_MAX), NO_NUL] = "",
) -> Response:
    segment = service.get(page.session, segment_id)
    form = _form(name, description, segment.kind, definition)
    raw, problems = definition_problems.parse_json_object(page, definition)
    if raw is None:
        return _builder_page(page, form=form, segment=segment, problems=problems, status_code=422)
    before = segment.version
    try:
        data = SegmentPatch(name=name.strip(), description=description.strip(), definition=raw)
        service.update_segment(page.session, page.auth, segment_id, data)
    except ValidationError as exc:
        return _builder_page(page, form=form, segment=segment, errors=from_validation(page, exc), status_code=422)
    except SiyuError as exc:
        page.discard_changes()
        segment = service.get(page.session, segment_id)
        errors, problems = _refused(page, exc)
        return _builder_page(page, form=form, segment=segment, errors=errors, problems=problems, status_code=exc.status)
    notice = "saved" if segment.version != before else "unchanged"
    return RedirectResponse(f"/segments/{segment_id}?notice={notice}", status_code=303)


@router.post("/segments/{segment_id}/refresh")
def refresh_segment(page: SegmentsManager, segment_id: RowId) -> Response:
    service.snapshot(page.session, page.auth, segment_id)
    return RedirectResponse(f"/segments/{segment_id}?notice=snapshot", status_code=303)


@router.post("/segments/{segment_id}/archive")
def archive_segment(page: SegmentsManager, segment_id: RowId, archived: Annotated[bool, Form()] = True) -> Response:
    service.update_segment(page.session, page.auth, segment_id, SegmentPatch(archived=archived))
    return RedirectResponse(f"/segments/{segment_id}?notice={'archived' if archived else 'restored'}", status_code=303)


@router.post("/segments/{segment_id}/delete")
def delete_segment(page: SegmentsManager, segment_id: RowId) -> Response:
    service.delete_segment(page.session, page.auth, segment_id)
    return RedirectResponse("/segments?notice=deleted", status_code=303)
