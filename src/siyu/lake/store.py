"""Opening the analytics store (one DuckDB file beside the operational store).

DuckDB lets one process open a file for writing, or several processes open it read-only, never both.
siyu's processes therefore open it only for the work at hand and close it after: a refresh (the job
worker, or ``siyu segments refresh``) opens it for writing; a console page or an API call opens it
read-only. A process that finds the file held by another waits, up to ``wait_seconds``, then gets
:class:`LakeBusy` (HTTP 503). Inside one process, readers and the writer share one DuckDB instance
(DuckDB's own MVCC keeps them apart), and writers take turns.

The store is derived data: when its schema version is older than this code's, its tables are dropped
and the next sync copies everything again.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from siyu.config import Settings
from siyu.errors import SiyuError
from siyu.lake import schema


class LakeBusy(SiyuError):
    status = 503
    code = "analytics_busy"
    title = "The analytics store is busy"


@dataclass
class _Instance:
    """This process's open DuckDB instance of one file, and who is using it."""

    lock: threading.Condition = field(default_factory=threading.Condition)
    writer: threading.Lock = field(default_factory=threading.Lock)
    connection: duckdb.DuckDBPyConnection | None = None
    writable: bool = False
    users: int = 0
    writers_waiting: int = 0


_INSTANCES: dict[str, _Instance] = {}
READ_WAIT_SECONDS = 5.0  # a page or API read gives up sooner than a refresh: 503 and "try again"
_REGISTRY = threading.Lock()
_LOCK_MESSAGES = ("Could not set lock", "Conflicting lock", "database is locked", "being used by another process")


class Lake:
    """The analytics store at ``path`` (``None``: an in-memory store, for tests and one-off work)."""

    def __init__(
        self, path: Path | None, *, memory_limit: str = "2GB", threads: int = 0, wait_seconds: float = 60.0
    ) -> None:
        self.path = path
        self.memory_limit = memory_limit
        self.threads = threads or (os.cpu_count() or 1)
        self.wait_seconds = wait_seconds
        if path is None:  # a store in memory is this object's own (an id could be reused once it is gone)
            self._instance = _Instance()
            return
        with _REGISTRY:
            self._instance = _INSTANCES.setdefault(str(path.resolve()), _Instance())

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on a consistent snapshot of the store. While another process holds the file (a
        refresh), a reader waits at most :data:`READ_WAIT_SECONDS` before :class:`LakeBusy`."""
        inst = self._instance
        with inst.lock:
            while inst.writers_waiting and inst.connection is not None and not inst.writable:
                inst.lock.wait()  # a writer of this process is waiting for readers to finish
            if inst.connection is None:
                self._open(inst, writable=self.path is None, wait=min(self.wait_seconds, READ_WAIT_SECONDS))
            inst.users += 1
            assert inst.connection is not None
            cursor = inst.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
            self._leave(inst)

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor that may write. Writers of this process take turns; callers open their own
        transactions (``BEGIN`` … ``COMMIT``) so that a killed refresh leaves the store as it was."""
        inst = self._instance
        if not inst.writer.acquire(timeout=self.wait_seconds):
            raise LakeBusy("another refresh of the analytics store is running in this process")
        try:
            with inst.lock:
                inst.writers_waiting += 1
                try:
                    while inst.connection is not None and not inst.writable:
                        if inst.users == 0:
                            inst.connection.close()
                            inst.connection = None
                        else:
                            inst.lock.wait()
                    if inst.connection is None:
                        self._open(inst, writable=True)
                finally:
                    inst.writers_waiting -= 1
                inst.users += 1
                assert inst.connection is not None
                cursor = inst.connection.cursor()
            try:
                yield cursor
            finally:
                try:
                    _stamp(cursor)
                finally:
                    cursor.close()
                    self._leave(inst)
        finally:
            inst.writer.release()

    def _leave(self, inst: _Instance) -> None:
        with inst.lock:
            inst.users -= 1
            if inst.users == 0 and self.path is not None and inst.connection is not None:
                # Close so that other processes can open the file.
                inst.connection.close()
                inst.connection = None
            inst.lock.notify_all()

    def _open(self, inst: _Instance, *, writable: bool, wait: float | None = None) -> None:
        """Open the file (creating it and its tables when needed), waiting while another process holds it."""
        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": self.memory_limit,
            "threads": str(self.threads),
        }
        target = ":memory:" if self.path is None else str(self.path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not writable and not self.path.exists():
                writable = True  # the first reader creates the store
        waiting = self.wait_seconds if wait is None else wait
        deadline = time.monotonic() + waiting
        pause = 0.02
        while True:
            try:
                connection = duckdb.connect(target, read_only=not writable, config=config)
                break
            except duckdb.IOException as exc:
                if not any(m in str(exc) for m in _LOCK_MESSAGES) or time.monotonic() > deadline:
                    if any(m in str(exc) for m in _LOCK_MESSAGES):
                        raise LakeBusy(
                            f"the analytics store {self.path} is held by another process (a refresh?); "
                            f"waited {waiting:.0f} s; try again shortly"
                        ) from exc
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
        try:
            # Times without a zone are read as UTC when cast to TIMESTAMPTZ (ICU is built in).
            connection.execute("SET TimeZone = 'UTC'")
            if writable:
                schema.ensure(connection)
            else:
                schema.check(connection)
        except BaseException:
            connection.close()
            raise
        inst.connection, inst.writable = connection, writable


GENERATION_KEY = "generation"


def _stamp(cursor: duckdb.DuckDBPyConnection) -> None:
    """After every write (kept or not), a new generation: what was computed from the store before is stale
    (the metric cache keys on it, in every process that reads the file)."""
    try:
        cursor.execute(
            "INSERT OR REPLACE INTO lake_meta (key, value) VALUES (?, ?)", [GENERATION_KEY, uuid.uuid4().hex]
        )
    except duckdb.Error:
        # a writer that left its transaction aborted: end it, then stamp (what it wrote may have been kept)
        with contextlib.suppress(duckdb.Error):
            cursor.execute("ROLLBACK")
        cursor.execute(
            "INSERT OR REPLACE INTO lake_meta (key, value) VALUES (?, ?)", [GENERATION_KEY, uuid.uuid4().hex]
        )


def generation(connection: duckdb.DuckDBPyConnection) -> str:
    """The store's generation: it changes with every write."""
    row = first_row(connection.execute("SELECT value FROM lake_meta WHERE key = ?", [GENERATION_KEY]))
    return str(row[0]) if row else ""


def lake_for(settings: Settings) -> Lake:
    """The analytics store the settings name."""
    return Lake(
        settings.analytics_path,
        memory_limit=settings.lake_memory_limit,
        threads=settings.lake_threads,
        wait_seconds=settings.lake_wait_seconds,
    )


def first_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of an executed query, with the result finished: DuckDB 2 keeps a result open after
    ``fetchone()`` until a fetch returns nothing, and an open result blocks ``register()`` on the connection."""
    rows = result.fetchall()
    return rows[0] if rows else None
