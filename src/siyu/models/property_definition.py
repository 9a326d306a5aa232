from __future__ import annotations

from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import JSONType
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class PropertyDefinition(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A custom contact property declared in the workspace's catalogue; values are validated on write."""

    __tablename__ = "property_definition"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    key: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    options: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
