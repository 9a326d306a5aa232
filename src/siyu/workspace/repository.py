"""SQL of the workspace domain. Scoped sessions add the workspace filter (``siyu.kit.db``)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.models import ApiToken, Membership, Operator, Workspace


def members(session: Session) -> list[tuple[Membership, Operator]]:
    rows = session.execute(
        select(Membership, Operator).join(Operator, Operator.id == Membership.operator_id).order_by(Membership.id)
    )
    return [(m, o) for m, o in rows]


def member(session: Session, member_id: int) -> tuple[Membership, Operator] | None:
    row = session.execute(
        select(Membership, Operator)
        .join(Operator, Operator.id == Membership.operator_id)
        .where(Membership.id == member_id)
    ).first()
    return None if row is None else (row[0], row[1])


def owner_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(Membership.role == "owner")) or 0


def operator_by_email(session: Session, email: str) -> Operator | None:
    return session.scalar(select(Operator).where(Operator.email == email.lower()))


def membership_of(session: Session, operator_id: int) -> Membership | None:
    return session.scalar(select(Membership).where(Membership.operator_id == operator_id))


def tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def token(session: Session, token_id: int) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.id == token_id))


def workspace_by_slug(session: Session, slug: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.slug == slug))
