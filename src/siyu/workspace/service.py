"""Workspace settings, members and API tokens. Every change is written to the audit log.

Services flush and never commit; the caller (request, CLI command, job) owns the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission, Role
from siyu.auth.service import new_token_secret
from siyu.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from siyu.kit.db import WORKSPACE_KEY
from siyu.kit.security import digest, hash_password
from siyu.kit.time import utcnow
from siyu.models import ApiToken, Membership, Operator, Workspace
from siyu.workspace import repository
from siyu.workspace.schemas import (
    MemberCreate,
    MemberOut,
    MemberUpdate,
    TokenCreate,
    WorkspaceCreate,
    WorkspaceUpdate,
)


def _workspace_state(ws: Workspace) -> dict[str, Any]:
    return {"slug": ws.slug, "name": ws.name, "timezone": ws.timezone, "locale": ws.locale}


def _member_state(m: Membership, o: Operator) -> dict[str, Any]:
    return {"email": o.email, "role": m.role, "can_unmask_pii": m.can_unmask_pii}


def member_out(m: Membership, o: Operator) -> MemberOut:
    return MemberOut(
        id=m.id,
        operator_id=o.id,
        email=o.email,
        display_name=o.display_name,
        role=Role(m.role),
        can_unmask_pii=m.can_unmask_pii,
        disabled=o.disabled,
        created_at=m.created_at,
    )


# --- workspaces -------------------------------------------------------------------------------


def create_workspace(session: Session, data: WorkspaceCreate, *, actor_label: str) -> Workspace:
    if repository.workspace_by_slug(session, data.slug) is not None:
        raise Conflict(f"a workspace with slug {data.slug!r} exists", extra={"field": "slug"})
    ws = Workspace(slug=data.slug, name=data.name, timezone=data.timezone, locale=data.locale)
    session.add(ws)
    session.flush()
    audit.record(
        session,
        None,
        "workspace.created",
        "workspace",
        ws.id,
        after=_workspace_state(ws),
        workspace_id=ws.id,
        actor_label=actor_label,
    )
    return ws


def get_workspace(session: Session, ctx: AuthContext) -> Workspace:
    ws = session.get(Workspace, ctx.workspace_id)
    if ws is None:
        raise NotFound("workspace not found")
    return ws


def update_workspace(session: Session, ctx: AuthContext, data: WorkspaceUpdate) -> Workspace:
    ws = get_workspace(session, ctx)
    before = _workspace_state(ws)
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise InvalidInput.on(key, "may not be null")
        setattr(ws, key, value)
    session.flush()
    audit.record(session, ctx, "workspace.updated", "workspace", ws.id, before=before, after=_workspace_state(ws))
    return ws


# --- operators and members --------------------------------------------------------------------


def create_operator(session: Session, email: str, display_name: str, password: str) -> Operator:
    if len(password) < 10:
        raise InvalidInput.on("password", "must be at least 10 characters")
    operator = Operator(email=email.strip().lower(), display_name=display_name, password_hash=hash_password(password))
    session.add(operator)
    session.flush()
    return operator


def add_member(
    session: Session,
    ctx: AuthContext | None,
    data: MemberCreate,
    *,
    workspace_id: int | None = None,
    actor_label: str | None = None,
) -> MemberOut:
    """Add an operator to the workspace, creating the operator when the e-mail is new."""
    ws_id = ctx.workspace_id if ctx else workspace_id
    if ws_id is None or session.info.get(WORKSPACE_KEY) != ws_id:
        raise RuntimeError("add_member needs a session scoped to the workspace")
    if ctx is not None:
        _check_can_grant(ctx, data.role, data.can_unmask_pii)
    operator = repository.operator_by_email(session, str(data.email))
    if operator is None:
        if data.password is None:
            raise InvalidInput.on("password", "required for a new operator")
        operator = create_operator(session, str(data.email), data.display_name, data.password)
    elif repository.membership_of(session, operator.id) is not None:
        raise Conflict(f"{operator.email} is already a member", extra={"field": "email"})
    member = Membership(
        workspace_id=ws_id, operator_id=operator.id, role=data.role.value, can_unmask_pii=data.can_unmask_pii
    )
    session.add(member)
    session.flush()
    audit.record(
        session,
        ctx,
        "member.added",
        "member",
        member.id,
        after=_member_state(member, operator),
        workspace_id=ws_id,
        actor_label=actor_label,
    )
    return member_out(member, operator)


def _check_can_grant(ctx: AuthContext, role: Role | None, can_unmask_pii: bool | None) -> None:
    if role is Role.owner and ctx.role is not Role.owner:
        raise PermissionDenied("only an owner can make owners")
    if can_unmask_pii and not ctx.can(Permission.pii_unmask):
        raise PermissionDenied("only someone who may see unmasked personal data can grant it")


def list_members(session: Session) -> list[MemberOut]:
    return [member_out(m, o) for m, o in repository.members(session)]


def update_member(session: Session, ctx: AuthContext, member_id: int, data: MemberUpdate) -> MemberOut:
    found = repository.member(session, member_id)
    if found is None:
        raise NotFound(f"member {member_id} not found")
    member, operator = found
    before = _member_state(member, operator)
    _check_can_grant(ctx, data.role, data.can_unmask_pii)
    if member.role == Role.owner.value and ctx.role is not Role.owner:
        raise PermissionDenied("only an owner can change an owner")
    demoting_owner = data.role is not None and data.role is not Role.owner and member.role == Role.owner.value
    if demoting_owner and repository.owner_count(session) <= 1:
        raise Conflict("a workspace keeps at least one owner", extra={"field": "role"})
    if data.role is not None:
        member.role = data.role.value
    if data.can_unmask_pii is not None:
        member.can_unmask_pii = data.can_unmask_pii
    session.flush()
    audit.record(
        session, ctx, "member.updated", "member", member.id, before=before, after=_member_state(member, operator)
    )
    return member_out(member, operator)


def remove_member(session: Session, ctx: AuthContext, member_id: int) -> None:
    found = repository.member(session, member_id)
    if found is None:
        raise NotFound(f"member {member_id} not found")
    member, operator = found
    if member.role == Role.owner.value:
        if ctx.role is not Role.owner:
            raise PermissionDenied("only an owner can remove an owner")
        if repository.owner_count(session) <= 1:
            raise Conflict("a workspace keeps at least one owner")
    before = _member_state(member, operator)
    session.delete(member)
    session.flush()
    audit.record(session, ctx, "member.removed", "member", member_id, before=before)


# --- API tokens -------------------------------------------------------------------------------


def _token_state(t: ApiToken) -> dict[str, Any]:
    return {"name": t.name, "prefix": t.prefix, "scopes": list(t.scopes), "revoked": t.revoked_at is not None}


def create_token(
    session: Session,
    ctx: AuthContext | None,
    data: TokenCreate,
    *,
    workspace_id: int | None = None,
    actor_label: str | None = None,
) -> tuple[ApiToken, str]:
    """Returns the token row and its secret (shown once)."""
    if ctx is not None:
        beyond = [s.value for s in data.scopes if not ctx.can(s)]
        if beyond:
            raise PermissionDenied(f"a token cannot have scopes you lack: {', '.join(beyond)}")
    if data.expires_at is not None:
        if data.expires_at.tzinfo is None:
            raise InvalidInput.on("expires_at", "must include a time zone")
        if data.expires_at <= utcnow():
            raise InvalidInput.on("expires_at", "must be in the future")
    ws_id = ctx.workspace_id if ctx else workspace_id
    assert ws_id is not None
    secret = new_token_secret()
    token = ApiToken(
        workspace_id=ws_id,
        name=data.name,
        token_digest=digest(secret),
        prefix=secret[:12],
        scopes=sorted({s.value for s in data.scopes}),
        created_by_id=ctx.operator_id if ctx else None,
        expires_at=data.expires_at,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        ctx,
        "token.created",
        "api_token",
        token.id,
        after=_token_state(token),
        workspace_id=ws_id,
        actor_label=actor_label,
    )
    return token, secret


def list_tokens(session: Session) -> list[ApiToken]:
    return repository.tokens(session)


def revoke_token(session: Session, ctx: AuthContext, token_id: int) -> ApiToken:
    token = repository.token(session, token_id)
    if token is None:
        raise NotFound(f"token {token_id} not found")
    before = _token_state(token)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
        audit.record(session, ctx, "token.revoked", "api_token", token.id, before=before, after=_token_state(token))
    return token
