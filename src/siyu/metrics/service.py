"""Running a metric query for a workspace on its analytics store, as of today (the workspace's date);
results are cached until the store changes (:mod:`siyu.metrics.cache`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu.filters.context import local_now
from siyu.kit.db import WORKSPACE_KEY
from siyu.lake.store import Lake, generation
from siyu.metrics.cache import CACHE
from siyu.metrics.runner import run_metric
from siyu.models import Workspace
from siyu.tiers.settings import parse_settings


def run(session: Session, lake: Lake, query: BaseModel) -> dict[str, Any]:
    workspace = session.get(Workspace, session.info[WORKSPACE_KEY])
    assert workspace is not None
    settings = parse_settings(workspace.tier_settings)
    today = local_now(workspace.timezone).date()
    engagement = tuple(settings.engagement_events)
    with lake.read() as con:
        key = (str(lake.path), workspace.id, query.model_dump_json(), today, engagement, generation(con))
        result = CACHE.get_or_run(
            key,
            lambda: run_metric(
                lambda q: [tuple(r) for r in con.execute(q.sql(dialect="duckdb")).fetchall()],
                query,
                workspace.id,
                today,
                engagement,
            ),
        )
    result["as_of"] = today.isoformat()
    return result
