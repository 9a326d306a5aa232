"""Engines and sessions for the operational store, and the workspace guard.

The guard is the one place that scopes rows to a workspace: a session opened for a workspace
(``session.info["workspace_id"]``) adds ``workspace_id = :ws`` to every ORM SELECT, UPDATE and DELETE of a
workspace-scoped model, and refuses to flush a scoped row that belongs to another workspace.
Code that works across workspaces (the job worker, the CLI) opens an unscoped session on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria
from sqlalchemy.pool import ConnectionPoolEntry

from siyu.kit import writer_lock
from siyu.kit.orm import WorkspaceScoped

WORKSPACE_KEY = "workspace_id"
SQLITE_BUSY_SECONDS = 30.0  # how long a SQLite writer waits for the lock before "database is locked"


class CrossWorkspaceWrite(RuntimeError):
    """A session scoped to one workspace tried to write a row of another. Always a bug."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so a write transaction
        # starts with BEGIN IMMEDIATE and never fails on lock upgrade (one writer per file), after
        # queueing for the writer lock (see siyu.kit.writer_lock).
        path = writer_lock.lock_path(engine.url.database)
        if path is None:
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(_begin_sql(conn)))
        else:
            writer_lock.install(engine, writer_lock.WriterLock(path, timeout=SQLITE_BUSY_SECONDS), begin_sql=_begin_sql)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
    cursor.close()


READ_ONLY = "siyu_read_only"


def _begin_sql(conn: Any) -> str:
    # Read-only work (exports, reports) reads a WAL snapshot without taking the write lock.
    return "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"


def read_only(session: Session) -> None:
    """Make the session's next transaction a read-only snapshot: every statement sees the data as of
    its start (an export's pages agree with each other), and on SQLite it does not queue writers
    behind it. Call before the transaction's first statement; a write in it is a bug."""
    options: dict[str, Any] = {READ_ONLY: True}
    if session.get_bind().dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    session.connection(execution_options=options)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session], workspace_id: int | None = None) -> Iterator[Session]:
    """A unit of work at the edge: commit on success, roll back on any exception."""
    session = factory()
    if workspace_id is not None:
        session.info[WORKSPACE_KEY] = workspace_id
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def scope_to_workspace(session: Session, workspace_id: int) -> None:
    session.info[WORKSPACE_KEY] = workspace_id


@contextmanager
def across_workspaces(session: Session) -> Iterator[Session]:
    """Lift the workspace guard for a block. Only for look-ups that must see every workspace
    (sign-in, choosing a workspace); never for domain data."""
    saved = session.info.pop(WORKSPACE_KEY, None)
    try:
        yield session
    finally:
        if saved is not None:
            session.info[WORKSPACE_KEY] = saved


@event.listens_for(Session, "do_orm_execute")
def _add_workspace_criteria(state: ORMExecuteState) -> None:
    workspace_id = state.session.info.get(WORKSPACE_KEY)
    if workspace_id is None:
        return
    if state.is_insert or state.is_update:
        _check_statement_workspace(state, workspace_id)
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                WorkspaceScoped,
                lambda cls: cls.workspace_id == workspace_id,
                include_aliases=True,
            )
        )


def _check_statement_workspace(state: ORMExecuteState, workspace_id: int) -> None:
    """ORM INSERT/UPDATE statements bypass the flush guard; check the ``workspace_id`` they write."""
    mapper = state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, WorkspaceScoped):
        return
    written: list[object] = []
    statement = state.statement
    for values in [getattr(statement, "_values", None) or {}, *(getattr(statement, "_multi_values", None) or ())]:
        rows = values if isinstance(values, list) else [values]
        for row in rows:
            for key, value in dict(row).items():
                if getattr(key, "key", key) == "workspace_id":
                    written.append(getattr(value, "value", value))
    params = state.parameters
    param_rows: list[Mapping[str, Any]] = []
    if isinstance(params, Mapping):
        param_rows = [params] if params else []
    elif params:
        param_rows = list(params)
    written += [row["workspace_id"] for row in param_rows if "workspace_id" in row]
    if state.is_insert and param_rows and any("workspace_id" not in row for row in param_rows):
        raise CrossWorkspaceWrite(f"an INSERT of {mapper.class_.__name__} rows without workspace_id")
    foreign = {w for w in written if w != workspace_id}
    if foreign:
        raise CrossWorkspaceWrite(
            f"statement writes {mapper.class_.__name__} rows of workspace {sorted(map(str, foreign))} "
            f"in a session of workspace {workspace_id}"
        )


@event.listens_for(Session, "before_flush")
def _refuse_cross_workspace_writes(session: Session, _ctx: Any, _instances: Any) -> None:
    workspace_id = session.info.get(WORKSPACE_KEY)
    if workspace_id is None:
        return
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, WorkspaceScoped):
            continue
        if obj.workspace_id is None and obj in session.new:
            obj.workspace_id = workspace_id
        elif obj.workspace_id != workspace_id:
            raise CrossWorkspaceWrite(
                f"{type(obj).__name__} of workspace {obj.workspace_id} written in a session of workspace {workspace_id}"
            )


def refresh_planner_statistics(session: Session) -> None:
    """SQLite: update the query planner's statistics (``ANALYZE``, sampled: a few milliseconds even on
    millions of rows). Without them SQLite takes every ``workspace_id = ?`` for selective and may search
    a workspace's whole index instead of a primary key. PostgreSQL keeps its own (autovacuum).

    A sample of a thousand index entries cannot tell how many rows share one ``workspace_id`` (all it
    saw did), so the statistics of the workspace indexes are set from the number of workspaces: with one
    workspace, ``workspace_id = ?`` selects every row, and a delete of 2,000 members by primary key
    is no longer planned as a search of the workspace's millions (1.1 s → milliseconds)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = session.connection()
    connection.exec_driver_sql("PRAGMA analysis_limit=1000")
    connection.exec_driver_sql("ANALYZE")
    workspaces = max(1, int(connection.exec_driver_sql("SELECT count(*) FROM workspace").scalar() or 0))
    rows = connection.exec_driver_sql(
        "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE idx LIKE 'ix!_%!_workspace!_id' ESCAPE '!'"
    ).all()
    for table, index, stat in rows:
        total = int(str(stat).split()[0])
        connection.exec_driver_sql(
            "UPDATE sqlite_stat1 SET stat = ? WHERE tbl = ? AND idx = ?",
            (f"{total} {max(1, total // workspaces)}", table, index),
        )
    if rows:
        connection.exec_driver_sql("ANALYZE sqlite_schema")  # reload the statistics


def add_unique(session: Session, row: Any) -> bool:
    """Insert ``row`` in a savepoint; False when a unique key already holds it (also one inserted
    concurrently), leaving the rest of the transaction as it was."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True
