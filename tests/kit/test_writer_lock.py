"""SQLite's writers queue on one lock (siyu.kit.writer_lock): held exactly from BEGIN IMMEDIATE to the end
of the transaction, shared by threads and processes, freed when a holder dies, and bounded in waiting."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from siyu import migrations
from siyu.kit import writer_lock
from siyu.kit.db import make_engine, make_sessionmaker, read_only, transaction
from siyu.models import Workspace
from siyu.workspace import service
from siyu.workspace.schemas import WorkspaceCreate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, Engine, sessionmaker[Session]]]:
    db = tmp_path / "siyu.db"
    migrations.upgrade(f"sqlite:///{db}")
    engine = make_engine(f"sqlite:///{db}")
    yield db, engine, make_sessionmaker(engine)
    engine.dispose()


def lock_is_free(db: Path) -> bool:
    """Try the lock from a descriptor of our own, as another process would."""
    fd = os.open(writer_lock.lock_path(str(db)), os.O_RDWR | os.O_CREAT)  # type: ignore[arg-type]
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_write_transaction_holds_the_lock_until_it_commits_or_rolls_back(
    store: tuple[Path, Engine, sessionmaker[Session]],
) -> None:
    db, _engine, factory = store
    assert lock_is_free(db)
    session = factory()
    session.execute(text("SELECT 1"))  # the transaction begins: BEGIN IMMEDIATE
    assert not lock_is_free(db)
    session.commit()
    assert lock_is_free(db)

    held_inside: list[bool] = []

    def failing_unit_of_work() -> None:
        with transaction(factory) as session:
            service.create_workspace(session, WorkspaceCreate(slug="gone", name="g"), actor_label="t")
            session.flush()
            held_inside.append(not lock_is_free(db))
            raise RuntimeError("the unit of work fails")

    with pytest.raises(RuntimeError):
        failing_unit_of_work()
    assert held_inside == [True]
    assert lock_is_free(db)
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 0  # rolled back


def test_a_connection_returned_to_the_pool_mid_transaction_frees_the_lock(
    store: tuple[Path, Engine, sessionmaker[Session]],
) -> None:
    db, engine, _factory = store
    connection = engine.connect()
    connection.execute(text("SELECT 1"))
    assert not lock_is_free(db)
    connection.close()  # no commit, no rollback by the caller
    assert lock_is_free(db)


def test_read_only_transactions_do_not_queue(store: tuple[Path, Engine, sessionmaker[Session]]) -> None:
    db, _engine, factory = store
    session = factory()
    read_only(session)
    session.execute(text("SELECT 1"))
    assert lock_is_free(db)
    session.rollback()
    session.close()


def test_threads_take_turns_and_every_write_lands(store: tuple[Path, Engine, sessionmaker[Session]]) -> None:
    """Eight threads, read-modify-write each: with the queue every increment survives and no thread
    meets "database is locked"."""
    _db, _engine, factory = store
    with transaction(factory) as session:
        service.create_workspace(session, WorkspaceCreate(slug="counter", name="0"), actor_label="t")
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(25):
                with transaction(factory) as session:
                    ws = session.scalars(select(Workspace)).one()
                    ws.name = str(int(ws.name) + 1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with transaction(factory) as session:
        assert session.scalars(select(Workspace.name)).one() == "200"


HOLDER = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import text
    from siyu.kit.db import make_engine, make_sessionmaker
    session = make_sessionmaker(make_engine(sys.argv[1]))()
    session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: holds the writer lock
    print("holding", flush=True)
    time.sleep(600)
    """
)


def test_another_process_waits_its_turn_and_a_killed_holder_frees_the_lock(
    store: tuple[Path, Engine, sessionmaker[Session]],
) -> None:
    db, _engine, factory = store
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"sqlite:///{db}"], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        assert not lock_is_free(db)
        done = threading.Event()

        def write() -> None:
            with transaction(factory) as session:
                service.create_workspace(session, WorkspaceCreate(slug="after", name="a"), actor_label="t")
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(1.0), "the writer went ahead while another process held the lock"
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert done.wait(10), "the lock of a killed process was not freed"
        writer.join()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
    with transaction(factory) as session:
        assert session.scalars(select(Workspace.slug)).all() == ["after"]


def test_waiting_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "x.writer-lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process's turn
    try:
        lock = writer_lock.WriterLock(path, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            lock.acquire()
        assert time.monotonic() - started >= 0.3
        fcntl.flock(fd, fcntl.LOCK_UN)
        lock.acquire()  # free again: the failed wait left nothing behind
        lock.release()
    finally:
        os.close(fd)


def test_only_database_files_get_a_lock_file() -> None:
    assert writer_lock.lock_path("/data/siyu.db") == Path("/data/siyu.db.writer-lock")
    assert writer_lock.lock_path(":memory:") is None
    assert writer_lock.lock_path(None) is None
    assert writer_lock.lock_path("file:x?mode=memory") is None
