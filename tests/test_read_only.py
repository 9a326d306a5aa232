"""A read-only transaction (exports, reports) does not hold writers up, on SQLite as on PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import read_only, transaction
from siyu.models import Workspace
from siyu.workspace import service
from siyu.workspace.schemas import WorkspaceCreate


def test_a_long_read_does_not_block_a_writer(session_factory: sessionmaker[Session]) -> None:
    reader = session_factory()
    try:
        read_only(reader)
        assert reader.scalar(select(func.count()).select_from(Workspace)) == 0  # transaction open, snapshot taken
        finished = threading.Event()

        def write() -> None:
            with transaction(session_factory) as session:
                service.create_workspace(session, WorkspaceCreate(slug="written", name="w"), actor_label="t")
            finished.set()

        writer = threading.Thread(target=write)
        writer.start()
        # With BEGIN IMMEDIATE on the reader this would wait for the 30 s busy timeout.
        assert finished.wait(5), "the writer was blocked by a read-only transaction"
        writer.join()
        assert reader.scalar(select(func.count()).select_from(Workspace)) == 0  # the reader keeps its snapshot
    finally:
        reader.rollback()
        reader.close()
    with transaction(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 1
