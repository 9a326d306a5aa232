"""``INSERT … ON CONFLICT DO NOTHING`` for the dialect of a session (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring(session: Session, model: Any, conflict_columns: list[str]) -> Any:
    dialect = session.get_bind().dialect.name
    stmt = postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
    return stmt.on_conflict_do_nothing(index_elements=conflict_columns)
