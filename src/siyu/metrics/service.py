"""Running metric queries for a workspace on its analytics store, as of today (the workspace's date);
results are cached until the store changes (:mod:`siyu.metrics.cache`).

:func:`reading` opens the store once for many queries (a board runs about twenty): the workspace, its
settings and the store's generation are read once, and every cache hit then costs no store access.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu.filters.context import local_now
from siyu.kit.db import WORKSPACE_KEY
from siyu.lake.store import Lake, generation
from siyu.metrics.cache import CACHE
from siyu.metrics.runner import run_metric
from siyu.models import Workspace
from siyu.tiers.settings import parse_settings


class Reader:
    """Runs metric queries on one open cursor of the store, for one workspace."""

    def __init__(self, session: Session, lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
        workspace = session.get(Workspace, session.info[WORKSPACE_KEY])
        assert workspace is not None
        self.workspace_id = workspace.id
        self.today = local_now(workspace.timezone).date()
        self.engagement = tuple(parse_settings(workspace.tier_settings).engagement_events)
        self.con = con
        self.key = (str(lake.path), workspace.id, self.today, self.engagement, generation(con))

    def run(self, query: BaseModel) -> dict[str, Any]:
        result = CACHE.get_or_run(
            (*self.key, query.model_dump_json()),
            lambda: run_metric(
                lambda q: [tuple(r) for r in self.con.execute(q.sql(dialect="duckdb")).fetchall()],
                query,
                self.workspace_id,
                self.today,
                self.engagement,
            ),
        )
        result["as_of"] = self.today.isoformat()
        return result


@contextmanager
def reading(session: Session, lake: Lake) -> Iterator[Reader]:
    with lake.read() as con:
        yield Reader(session, lake, con)


def run(session: Session, lake: Lake, query: BaseModel) -> dict[str, Any]:
    with reading(session, lake) as reader:
        return reader.run(query)
