"""Alembic environment: runs migrations on the URL given by ``siyu.migrations.alembic_config``.

SQLite cannot alter most of a table in place, so Alembic's batch mode copies it into a new table and
drops the old one. With foreign keys enforced, dropping a parent table (``workspace``) deletes every
row that refers to it, through ``ON DELETE CASCADE``: every contact, event and segment of the store.
Migrations therefore run with foreign keys off on SQLite, and the references are checked afterwards
(``PRAGMA foreign_key_check``): a migration that broke one fails and rolls back.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, pool

from siyu.kit.db import make_engine
from siyu.models import Base

config = context.config
target_metadata = Base.metadata


class BrokenReferences(RuntimeError):
    """A migration left rows that refer to rows that do not exist."""


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Straight to the driver, outside any transaction: inside one, SQLite ignores the pragma (and
            # SQLAlchemy would begin one, see siyu.kit.db).
            _driver_pragma(connection, "foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise BrokenReferences(f"the migration left {len(broken)} broken references, e.g. {broken[:3]}")
        if sqlite:
            _driver_pragma(connection, "foreign_keys=ON")
    engine.dispose()


def _driver_pragma(connection: Connection, pragma: str) -> None:
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA {pragma}")


run_migrations_online()
