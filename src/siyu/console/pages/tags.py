"""Tags (标签): tag groups and their tags, with how many contacts hold each; adding and deleting groups
and tags, and auto-tags (a tag with a rule, a segment filter tree the analytics refresh applies).

Reading needs ``contacts:read``; changing groups and tags needs ``tags:manage``.
"""

from __future__ import annotations

import json
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
from siyu.console.rendering import console_router, render
from siyu.errors import Conflict, InvalidInput, SiyuError
from siyu.filters.compiler import compile_segment
from siyu.filters.context import load_context
from siyu.filters.definition import parse
from siyu.kit.inputs import NO_NUL, RowId
from siyu.segment import service as segment_service
from siyu.segment.schemas import PreviewOut
from siyu.tag import repository, service
from siyu.tag.schemas import TagGroupIn, TagIn

router = console_router()
P = Permission

TagsReader = Annotated[Page, Depends(PageAccess(P.contacts_read, form=False))]
TagsManager = Annotated[Page, Depends(PageAccess(P.tags_manage, form=True))]

RULE_MAX = 200_000

NOTICES: Final = {
    "group_created": N_("Tag group added."),
    "group_deleted": N_("Tag group deleted, with its tags."),
    "tag_created": N_("Tag added."),
    "auto_tag_created": N_("Auto-tag added. The next analytics refresh puts it on the contacts its rule holds for."),
    "tag_deleted": N_("Tag deleted: it is taken off every contact."),
}


def _tags_page(
    page: Page,
    *,
    group_form: dict[str, Any] | None = None,
    group_errors: FormErrors | None = None,
    tag_form: dict[str, Any] | None = None,
    tag_errors: FormErrors | None = None,
    rule_problems: list[NodeProblem] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    session = page.session
    groups = repository.groups(session)
    tags = repository.tags(session)
    by_group: dict[int, list[Any]] = {g.id: [] for g in groups}
    for tag in tags:
        by_group.setdefault(tag.group_id, []).append(tag)
    return render(
        page,
        "tags.html",
        status_code,
        groups=groups,
        tags_by_group=by_group,
        counts=repository.tag_counts(session),
        rules={t.id: json.dumps(t.rule, ensure_ascii=False, indent=2) for t in tags if t.rule},
        can_manage=page.can(P.tags_manage),
        can_read_segments=page.can(P.analytics_read),
        group_form=group_form or {"name": "", "description": "", "exclusive": False},
        group_errors=group_errors or FormErrors(),
        tag_form=tag_form or {"group_id": "", "name": "", "description": "", "rule": "", "remove_when_false": True},
        tag_errors=tag_errors or FormErrors(),
        rule_problems=rule_problems or [],
        notice=NOTICES.get(notice or ""),
    )


@router.get("/tags")
def tags(page: TagsReader, notice: Annotated[str, Query(max_length=32)] = "") -> Response:
    return _tags_page(page, notice=notice)


@router.post("/tags/groups")
def create_group(
    page: TagsManager,
    name: Annotated[str, Form(max_length=200), NO_NUL] = "",
    description: Annotated[str, Form(max_length=1000), NO_NUL] = "",
    exclusive: Annotated[bool, Form()] = False,
) -> Response:
    form = {"name": name, "description": description, "exclusive": exclusive}
    try:
        data = TagGroupIn(name=name.strip(), description=description.strip() or None, exclusive=exclusive)
        service.create_group(page.session, page.auth, data)
    except ValidationError as exc:
        return _tags_page(page, group_form=form, group_errors=from_validation(page, exc), status_code=422)
    except SiyuError as exc:
        page.discard_changes()
        errors = FormErrors()
        if isinstance(exc, Conflict):
            errors.add("name", page.gettext(N_("A tag group with this name exists already")))
        else:
            errors = from_service(page, exc, default_field="name")
        return _tags_page(page, group_form=form, group_errors=errors, status_code=exc.status)
    return RedirectResponse("/tags?notice=group_created", status_code=303)


@router.post("/tags/groups/{group_id}/delete")
def delete_group(page: TagsManager, group_id: RowId) -> Response:
    service.delete_group(page.session, page.auth, group_id)
    return RedirectResponse("/tags?notice=group_deleted", status_code=303)


def _rule(page: Page, text: str) -> tuple[dict[str, Any] | None, list[NodeProblem]]:
    """The rule field: empty (a manual tag), or a filter tree as JSON."""
    if not text.strip():
        return None, []
    return definition_problems.parse_json_object(page, text)


@router.post("/tags")
def create_tag(
    page: TagsManager,
    group_id: Annotated[str, Form(max_length=24)] = "",
    name: Annotated[str, Form(max_length=200), NO_NUL] = "",
    description: Annotated[str, Form(max_length=1000), NO_NUL] = "",
    rule: Annotated[str, Form(max_length=RULE_MAX), NO_NUL] = "",
    remove_when_false: Annotated[bool, Form()] = False,
) -> Response:
    form = {
        "group_id": group_id,
        "name": name,
        "description": description,
        "rule": rule,
        "remove_when_false": remove_when_false,
    }
    raw, problems = _rule(page, rule)
    if problems:
        return _tags_page(page, tag_form=form, rule_problems=problems, status_code=422)
    try:
        data = TagIn(
            group_id=group_id.strip() or 0,
            name=name.strip(),
            description=description.strip() or None,
            rule=raw,
            remove_when_false=remove_when_false,
        )
        service.create_tag(page.session, page.auth, data)
    except ValidationError as exc:
        errors = from_validation(page, exc)
        if "group_id" in errors.fields:
            errors.fields["group_id"] = page.gettext(N_("Choose a tag group"))
        return _tags_page(page, tag_form=form, tag_errors=errors, status_code=422)
    except SiyuError as exc:
        page.discard_changes()
        errors = FormErrors()
        if isinstance(exc, Conflict):
            errors.add("name", page.gettext(N_("The group already has a tag with this name")))
        elif exc.extra.get("field") == "group_id":
            errors.add("group_id", page.gettext(N_("Choose a tag group")))
        elif isinstance(exc, InvalidInput) and exc.errors and all(p.field.startswith("rule") for p in exc.errors):
            problems = definition_problems.node_problems(page, exc, prefix="rule")
            return _tags_page(page, tag_form=form, rule_problems=problems, status_code=exc.status)
        else:
            errors = from_service(page, exc)
        return _tags_page(page, tag_form=form, tag_errors=errors, status_code=exc.status)
    return RedirectResponse(f"/tags?notice={'auto_tag_created' if raw else 'tag_created'}", status_code=303)


@router.post("/tags/rule-check")
def check_rule(
    page: TagsManager,
    rule: Annotated[str, Form(max_length=RULE_MAX), NO_NUL] = "",
) -> Response:
    """Live validation of an auto-tag rule (HTMX): the problems by node path, or how many contacts it holds for."""
    raw, problems = _rule(page, rule)
    result: PreviewOut | None = None
    unavailable: list[str] = []
    if raw is not None and not problems:
        try:
            definition = parse(raw, "rule")
            compile_segment(definition, load_context(page.session, page.workspace.id, field_prefix="rule"))
            if page.can(P.analytics_read):
                with vocabulary.analytics(page, unavailable):
                    result = segment_service.preview(page.session, page.request.app.state.lake, raw)
        except InvalidInput as exc:
            problems = definition_problems.node_problems(page, exc, prefix="rule")
    return render(
        page,
        "partials/rule_check.html",
        empty=raw is None and not problems,
        valid=raw is not None and not problems,
        result=result,
        problems=problems,
        unavailable=unavailable,
    )


@router.post("/tags/{tag_id}/delete")
def delete_tag(page: TagsManager, tag_id: RowId) -> Response:
    service.delete_tag(page.session, page.auth, tag_id)
    return RedirectResponse("/tags?notice=tag_deleted", status_code=303)
