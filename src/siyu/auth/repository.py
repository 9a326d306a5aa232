"""Look-ups that happen before a workspace is known (sign-in, token and session resolution)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.kit.db import across_workspaces
from siyu.models import ApiToken, ConsoleSession, Membership, Operator, Workspace


def operator_by_email(session: Session, email: str) -> Operator | None:
    return session.scalar(select(Operator).where(Operator.email == email.strip().lower()))


def membership(session: Session, operator_id: int, workspace_id: int) -> Membership | None:
    with across_workspaces(session):
        return session.scalar(
            select(Membership).where(Membership.operator_id == operator_id, Membership.workspace_id == workspace_id)
        )


def memberships_of(session: Session, operator_id: int) -> list[tuple[Membership, Workspace]]:
    with across_workspaces(session):
        rows = session.execute(
            select(Membership, Workspace)
            .join(Workspace, Workspace.id == Membership.workspace_id)
            .where(Membership.operator_id == operator_id)
            .order_by(Workspace.id)
        )
        return [(m, w) for m, w in rows]


def session_by_digest(session: Session, digest: str) -> ConsoleSession | None:
    with across_workspaces(session):
        return session.scalar(select(ConsoleSession).where(ConsoleSession.session_digest == digest))


def token_by_digest(session: Session, digest: str) -> ApiToken | None:
    with across_workspaces(session):
        return session.scalar(select(ApiToken).where(ApiToken.token_digest == digest))
