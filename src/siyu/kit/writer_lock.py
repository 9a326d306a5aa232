"""One queue for SQLite's single writer.

SQLite lets one transaction write at a time. A writer that finds the file locked waits in SQLite's busy
handler, which sleeps in steps of 1, 2, 5, 10 … 100 ms and looks again: under steady load from several
threads or processes the lock is often free while every waiter is still asleep (measured on batch
ingestion: the lock sat idle about 30 % of the time). So write transactions queue here instead, before
``BEGIN IMMEDIATE``:

* threads of one process queue on a :class:`threading.Lock`, which hands over at once;
* the thread at the head of that queue then takes an advisory ``flock`` on a file beside the
  database, so processes (``siyu serve``'s HTTP processes, workers, the CLI) take turns too. The
  kernel drops the ``flock`` of a process that dies, so a killed process never leaves the store locked.

The lock is released right after ``COMMIT`` or ``ROLLBACK`` has run. Waiting is bounded like SQLite's
own: after ``timeout`` seconds the writer gets ``sqlite3.OperationalError("database is locked")``.
Programs that do not use this queue (the ``sqlite3`` shell) are still kept out by SQLite's own lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

HELD = "siyu_writer_lock_held"
_FIRST_PAUSE = 0.000_05
_LONGEST_PAUSE = 0.001


class WriterLock:
    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError("database is locked (waited for the writer queue)")
        try:
            self._lock_file(deadline)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        # One descriptor per process: a forked child must not share its parent's lock.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def _lock_file(self, deadline: float) -> None:
        fd = self._file()
        pause = _FIRST_PAUSE
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked (another process is writing)") from None
                # Only the head of this process's queue waits here, so the pauses can be short.
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)


def lock_path(database: str | None) -> Path | None:
    """The lock file of a SQLite database file (None for in-memory and URI databases)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + ".writer-lock")


def install(engine: Engine, lock: WriterLock, *, begin_sql: Any) -> None:
    """Queue the engine's write transactions on ``lock``. ``begin_sql(conn)`` says which BEGIN a
    transaction needs: only ``BEGIN IMMEDIATE`` (a writer) queues; read-only snapshots do not."""

    def begin(conn: Any) -> None:
        sql = begin_sql(conn)
        if sql != "BEGIN IMMEDIATE":
            conn.exec_driver_sql(sql)
            return
        lock.acquire()
        try:
            conn.exec_driver_sql(sql)
        except BaseException:
            lock.release()
            raise
        conn.connection.info[HELD] = True

    def finish(driver: Any, info: dict[str, Any], sql: str) -> None:
        """End the transaction on ``driver`` with ``sql`` if it holds the lock, then free the lock."""
        if not info.get(HELD):
            return
        if sql == "COMMIT":
            driver.execute(sql)  # a failed COMMIT keeps the lock until the rollback that follows
        elif driver.in_transaction:
            # A failed ROLLBACK still frees the lock: the driver's own rollback runs next.
            with contextlib.suppress(sqlite3.Error):
                driver.execute(sql)
        info[HELD] = False
        lock.release()

    def end(conn: Any, sql: str) -> None:
        finish(conn.connection.driver_connection, conn.connection.info, sql)

    def free(dbapi_connection: Any, record: Any) -> None:
        # A connection going back to the pool (or away) still inside a transaction: end it, free the lock.
        finish(dbapi_connection, record.info, "ROLLBACK")

    def on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        free(dbapi_connection, connection_record)

    def on_close(dbapi_connection: Any, connection_record: Any) -> None:
        free(dbapi_connection, connection_record)

    def on_invalidate(dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        free(dbapi_connection, connection_record)

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", lambda conn: end(conn, "COMMIT"))
    event.listen(engine, "rollback", lambda conn: end(conn, "ROLLBACK"))
    event.listen(engine.pool, "reset", on_reset)
    event.listen(engine.pool, "close", on_close)
    event.listen(engine.pool, "invalidate", on_invalidate)
