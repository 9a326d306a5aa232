from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit.types import BigIntPK, UTCDateTime
from siyu.models.base import Base, IdMixin, TimestampMixin, WorkspaceScoped


class ConsoleSession(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A signed-in console session. The cookie holds a secret whose digest is stored here."""

    __tablename__ = "console_session"

    session_digest: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    operator_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("operator.id", ondelete="CASCADE"), index=True, nullable=False
    )
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
