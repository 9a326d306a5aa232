"""Writing generated rows fast: the driver's ``executemany`` on SQLite, ``COPY`` on PostgreSQL, with values
already in the form SQLAlchemy's column types store (UTC text / timestamptz, JSON text, booleans), and ids
reserved so that no concurrent writer can take them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, PrimaryKeyConstraint, Table, UniqueConstraint, text

from siyu.models import Base

# Tables of a workspace that the demo fills and --reset empties: every workspace-scoped table except
# people, access and bookkeeping.
KEEP: Final = frozenset(
    {"workspace", "operator", "membership", "api_token", "console_session", "audit_event", "job", "schedule"}
)
SQLITE_CACHE_KIB: Final = 262_144  # 256 MiB page cache while generating (index inserts stay in memory)


class Sink:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def prepare(self) -> None:
        if self.sqlite:
            self.conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")

    def times(self, seconds: NDArray[np.int64]) -> list[str]:
        """Epoch seconds as the text SQLAlchemy's UTC DateTime stores on SQLite, or timestamptz text."""
        text_ = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
        suffix = ".000000" if self.sqlite else "+00:00"
        return [t.replace("T", " ") + suffix for t in text_.tolist()]

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value

    def reserve(self, table: str, count: int) -> int:
        """First of ``count`` consecutive ids no other writer will use. Call inside a write transaction."""
        if self.sqlite:  # BEGIN IMMEDIATE holds the only write lock; ids are max(rowid) + 1.
            top = self.conn.exec_driver_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table}").scalar_one()  # noqa: S608
            return int(top) + 1
        seq = self.conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
        self.conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        top = self.conn.exec_driver_sql(
            f"SELECT GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), (SELECT last_value FROM {seq}))"  # noqa: S608
        ).scalar_one()
        self.conn.execute(text("SELECT setval(:s, :v)"), {"s": seq, "v": int(top) + count})
        return int(top) + 1

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = ", ".join(columns)
        if self.sqlite:
            marks = ", ".join("?" * len(columns))
            self.conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
            return
        raw: Any = self.conn.connection.dbapi_connection  # psycopg 3: COPY is its fastest way in
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def count_contacts(conn: Connection, workspace_id: int) -> int:
    found = conn.execute(text("SELECT COUNT(*) FROM contact WHERE workspace_id = :w"), {"w": workspace_id})
    return int(found.scalar_one())


def clear(conn: Connection, workspace_id: int) -> None:
    """Delete the workspace's generated data (everything workspace-scoped but people, access and logs).

    Children go first, in bulk by ``workspace_id``. A foreign-key action looks rows up by the referencing
    column alone; where no index starts with it (``contact.merged_into_id``, ``event.contact_id`` …) each
    deleted parent row would scan the child table, so such columns get an index for the length of this
    transaction only: it is dropped before commit and the schema is unchanged."""
    tables = [t for t in reversed(Base.metadata.sorted_tables) if "workspace_id" in t.c and t.name not in KEEP]
    helpers: list[str] = []
    for table in tables:
        for child in Base.metadata.sorted_tables:
            for fk in child.foreign_keys:
                column = fk.parent
                if fk.column.table is not table or _leading_index(child, column.name):
                    continue
                name = f"tmp_demo_clear_{child.name}_{column.name}"
                if name not in helpers:
                    conn.exec_driver_sql(f"CREATE INDEX {name} ON {child.name} ({column.name})")
                    helpers.append(name)
        conn.execute(table.delete().where(table.c.workspace_id == workspace_id))
    for name in helpers:
        conn.exec_driver_sql(f"DROP INDEX {name}")


def _leading_index(table: Table, column: str) -> bool:
    return any(next(iter(ix.columns)).name == column for ix in table.indexes) or any(
        isinstance(c, UniqueConstraint | PrimaryKeyConstraint) and next(iter(c.columns)).name == column
        for c in table.constraints
    )
