"""Declarative base for every table: naming convention, timestamps and the workspace-scoped mixin."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from siyu.kit.time import utcnow
from siyu.kit.types import BigIntPK, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), onupdate=utcnow, nullable=True)


class WorkspaceScoped:
    """Rows that belong to one workspace. Sessions opened for a workspace see and write only its rows
    (enforced in ``siyu.kit.db``)."""

    @declared_attr
    def workspace_id(self) -> Mapped[int]:
        return mapped_column(BigIntPK, ForeignKey("workspace.id", ondelete="CASCADE"), index=True, nullable=False)
