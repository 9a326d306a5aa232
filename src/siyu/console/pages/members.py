"""Members and roles (成员与角色): who works in the workspace; adding, re-roling and removing members."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from siyu.auth.permissions import Permission, Role
from siyu.console.access import Page, PageAccess
from siyu.console.forms import FormErrors, from_service, from_validation
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, render
from siyu.errors import SiyuError
from siyu.kit.inputs import NO_NUL, RowId
from siyu.workspace import service
from siyu.workspace.schemas import MemberCreate, MemberUpdate

router = console_router()
P = Permission

MembersReader = Annotated[Page, Depends(PageAccess(P.members_read, form=False))]
MembersManager = Annotated[Page, Depends(PageAccess(P.members_manage, form=True))]

NOTICES = {
    "added": N_("Member added."),
    "updated": N_("Role changed."),
    "removed": N_("Member removed."),
}


def assignable_roles(page: Page) -> list[Role]:
    """Roles the caller may hand out (only owners make owners)."""
    return [r for r in Role if r is not Role.owner or page.auth.role is Role.owner]


def _members_page(
    page: Page,
    *,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
    row_errors: dict[int, str] | None = None,
    notice: str | None = None,
) -> Response:
    return render(
        page,
        "members.html",
        status_code,
        members=service.list_members(page.session),
        can_manage=page.can(P.members_manage),
        can_grant_pii=page.can(P.pii_unmask),
        roles=assignable_roles(page),
        caller_is_owner=page.auth.role is Role.owner,
        form=form or {"role": Role.analyst.value},
        errors=errors or FormErrors(),
        row_errors=row_errors or {},
        notice=NOTICES.get(notice or ""),
    )


@router.get("/members")
def members(page: MembersReader, notice: str | None = None) -> Response:
    return _members_page(page, notice=notice)


@router.post("/members")
def add_member(
    page: MembersManager,
    email: Annotated[str, Form(max_length=320), NO_NUL] = "",
    display_name: Annotated[str, Form(max_length=200), NO_NUL] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=200), NO_NUL] = "",
    can_unmask_pii: Annotated[bool, Form()] = False,
) -> Response:
    form = {"email": email, "display_name": display_name, "role": role, "can_unmask_pii": can_unmask_pii}
    try:
        data = MemberCreate(
            email=email,
            display_name=display_name.strip(),
            role=role,
            can_unmask_pii=can_unmask_pii,
            password=password or None,
        )
        service.add_member(page.session, page.auth, data)
    except ValidationError as exc:
        return _members_page(page, status_code=422, form=form, errors=from_validation(page, exc))
    except SiyuError as exc:
        page.discard_changes()
        errors = from_service(page, exc, default_field="role")
        return _members_page(page, status_code=exc.status, form=form, errors=errors)
    return RedirectResponse("/members?notice=added", status_code=303)


@router.post("/members/{member_id}/role")
def change_role(page: MembersManager, member_id: RowId, role: Annotated[str, Form(max_length=32)] = "") -> Response:
    try:
        service.update_member(page.session, page.auth, member_id, MemberUpdate(role=role))
    except ValidationError as exc:
        return _members_page(page, status_code=422, row_errors={member_id: from_validation(page, exc).summary()})
    except SiyuError as exc:
        page.discard_changes()
        return _members_page(page, status_code=exc.status, row_errors={member_id: from_service(page, exc).summary()})
    return RedirectResponse("/members?notice=updated", status_code=303)


@router.post("/members/{member_id}/remove")
def remove_member(page: MembersManager, member_id: RowId) -> Response:
    try:
        service.remove_member(page.session, page.auth, member_id)
    except SiyuError as exc:
        page.discard_changes()
        return _members_page(page, status_code=exc.status, row_errors={member_id: from_service(page, exc).summary()})
    return RedirectResponse("/members?notice=removed", status_code=303)
