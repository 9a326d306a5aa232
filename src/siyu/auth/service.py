"""Signing in and out, and turning a cookie or bearer token into an :class:`AuthContext`.

Services flush, never commit: the request or CLI command around them owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.auth import repository
from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission, Role, permissions_for
from siyu.errors import NotAuthenticated, PermissionDenied
from siyu.kit.security import digest, hash_password, new_secret, verify_password
from siyu.kit.time import utcnow
from siyu.models import ConsoleSession, Operator

TOKEN_PREFIX = "siyu_"  # noqa: S105 - a public marker, not a secret
# A hash to verify against when the e-mail is unknown, so timing does not reveal which e-mails exist.
_DUMMY_HASH = hash_password("not-a-real-password")


@dataclass(frozen=True)
class StartedSession:
    secret: str
    record: ConsoleSession
    context: AuthContext


def check_password(session: Session, email: str, password: str) -> Operator:
    operator = repository.operator_by_email(session, email)
    if operator is None:
        verify_password(_DUMMY_HASH, password)
        raise NotAuthenticated("e-mail or password is wrong")
    if not verify_password(operator.password_hash, password) or operator.disabled:
        raise NotAuthenticated("e-mail or password is wrong")
    return operator


def context_for_member(session: Session, operator: Operator, workspace_id: int, **extra: object) -> AuthContext:
    member = repository.membership(session, operator.id, workspace_id)
    if member is None:
        raise PermissionDenied("you are not a member of this workspace")
    role = Role(member.role)
    return AuthContext(
        workspace_id=workspace_id,
        permissions=permissions_for(role, can_unmask_pii=member.can_unmask_pii),
        operator_id=operator.id,
        role=role,
        label=operator.email,
        **extra,  # type: ignore[arg-type]
    )


def start_session(
    session: Session, operator: Operator, ttl: timedelta, workspace_id: int | None = None
) -> StartedSession:
    if workspace_id is None:
        memberships = repository.memberships_of(session, operator.id)
        if not memberships:
            raise PermissionDenied("this operator belongs to no workspace yet")
        workspace_id = memberships[0][1].id
    context = context_for_member(session, operator, workspace_id)
    secret = new_secret()
    now = utcnow()
    record = ConsoleSession(
        workspace_id=workspace_id,
        operator_id=operator.id,
        session_digest=digest(secret),
        csrf_token=new_secret(24),
        expires_at=now + ttl,
    )
    session.add(record)
    operator.last_login_at = now
    session.flush()
    context = replace(context, session_id=record.id, csrf_token=record.csrf_token)
    return StartedSession(secret=secret, record=record, context=context)


def resolve_session(session: Session, secret: str, ttl: timedelta) -> AuthContext | None:
    record = repository.session_by_digest(session, digest(secret))
    now = utcnow()
    if record is None or record.ended_at is not None or record.expires_at <= now:
        return None
    operator = session.get(Operator, record.operator_id)
    if operator is None or operator.disabled:
        return None
    try:
        context = context_for_member(
            session, operator, record.workspace_id, session_id=record.id, csrf_token=record.csrf_token
        )
    except PermissionDenied:
        return None
    # Sliding expiry, written at most about once per tenth of the lifetime.
    if record.expires_at - now < ttl - ttl / 10:
        record.expires_at = now + ttl
    return context


def end_session(session: Session, session_id: int) -> None:
    record = session.get(ConsoleSession, session_id)
    if record is not None and record.ended_at is None:
        record.ended_at = utcnow()
        session.flush()


def resolve_token(session: Session, secret: str) -> AuthContext | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = repository.token_by_digest(session, digest(secret))
    now = utcnow()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return AuthContext(
        workspace_id=token.workspace_id,
        permissions=frozenset(Permission(s) for s in token.scopes if s in Permission._value2member_map_),
        token_id=token.id,
        label=f"token:{token.prefix}…({token.name})",
    )


def new_token_secret() -> str:
    return TOKEN_PREFIX + new_secret(32)
