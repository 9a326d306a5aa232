"""Metrics API: one endpoint that runs a typed metric query (``kind``) on the analytics store."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.lake.dependencies import LakeDep
from siyu.metrics import service
from siyu.metrics.queries import MetricQuery

router = APIRouter(prefix="/api/v1", tags=["metrics"])
Reader = Annotated[AuthContext, Depends(require(Permission.analytics_read))]


@router.post(
    "/metrics",
    summary="Run a metric: commerce (GMV, AOV, ARPU), new contacts, active rate, 7-day retention, 30-day "
    "repurchase, cohort retention, funnel or LTV curve",
    description="Definitions of every metric: docs/metrics.md. Dates are the workspace's local dates.",
)
def run_metric(session: DbSession, ctx: Reader, lake: LakeDep, query: Annotated[MetricQuery, Body()]) -> dict[str, Any]:
    return service.run(session, lake, query)
