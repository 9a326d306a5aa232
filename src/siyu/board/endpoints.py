"""Board API: the KPIs (``GET /api/v1/board``), the health check, each chart's data as JSON, CSV or XLSX,
and the per-workspace thresholds."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import ValidationError

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.board import service
from siyu.board.exports import MEDIA, table_file
from siyu.errors import InvalidInput, NotFound
from siyu.kit.validation import invalid_input
from siyu.lake.dependencies import LakeDep

router = APIRouter(prefix="/api/v1/board", tags=["board"])
Reader = Annotated[AuthContext, Depends(require(Permission.analytics_read))]
Manager = Annotated[AuthContext, Depends(require(Permission.segments_manage))]


def _problem(error: ValidationError) -> InvalidInput:
    return invalid_input(error, "", (), tag_name="kind", tag_values=lambda _: "")


def filters(
    start: Annotated[date | None, Query(description="First day (local); default: 30 days before end")] = None,
    end: Annotated[date | None, Query(description="Last day (local); default: yesterday")] = None,
    segment_id: Annotated[int | None, Query(description="Only the current members of this segment")] = None,
    source: Annotated[str | None, Query(description="Only contacts with this first source")] = None,
    channel_code: Annotated[str | None, Query(description="Only contacts who joined through this 渠道活码")] = None,
    compare: Annotated[bool, Query(description="Compare with the same number of days before")] = True,
) -> service.BoardFilters:
    if start and end and end < start:
        raise InvalidInput.on("end", "must not be before start")
    if start and end and (end - start).days >= service.MAX_RANGE_DAYS:
        raise InvalidInput.on("start", f"a range is at most {service.MAX_RANGE_DAYS} days")
    try:
        return service.BoardFilters(
            start=start, end=end, segment_id=segment_id, source=source or None, channel_code=channel_code or None,
            compare=compare,
        )  # fmt: skip
    except ValidationError as error:
        raise _problem(error) from error


Filters = Annotated[service.BoardFilters, Depends(filters)]


@router.get("", summary="The three-level board: every KPI with its value, trend, previous period and health")
def board(session: DbSession, ctx: Reader, lake: LakeDep, chosen: Filters) -> dict[str, Any]:
    return service.board(session, lake, chosen)


@router.get("/health", summary="The health check (私域体检): KPIs below their thresholds and what to do")
def health(session: DbSession, ctx: Reader, lake: LakeDep, chosen: Filters) -> dict[str, Any]:
    return service.health_check(session, lake, chosen)


@router.get(
    "/charts/{name}",
    summary="One chart's data as a table: JSON, or a CSV / XLSX download",
    description="Charts: " + ", ".join(service.CHARTS) + ". Tier charts are under /api/v1/tiers.",
)
def chart(
    name: str,
    session: DbSession,
    ctx: Reader,
    lake: LakeDep,
    chosen: Filters,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
    cohort_period: Annotated[Literal["week", "month"], Query()] = "week",
    cohort_basis: Annotated[Literal["activity", "orders"], Query()] = "activity",
    cohort_periods: Annotated[int, Query(ge=1, le=24)] = 8,
    funnel_steps: Annotated[str | None, Query(description="Comma-separated steps")] = None,
    funnel_days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> Any:
    if name not in service.CHARTS:
        raise NotFound(f"no chart {name!r}; charts: {', '.join(service.CHARTS)}")
    try:
        options = service.ChartOptions(
            cohort_period=cohort_period,
            cohort_basis=cohort_basis,
            cohort_periods=cohort_periods,
            funnel_steps=[s.strip() for s in funnel_steps.split(",")] if funnel_steps else list(service.DEFAULT_FUNNEL),
            funnel_days=funnel_days,
        )
        table = service.chart(session, lake, name, chosen, options)
    except ValidationError as error:
        raise _problem(error) from error
    if format == "json":
        return table
    filename = f"siyu-{name}-{table['start']}-{table['end']}.{format}"
    return Response(
        table_file(table, format),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/settings", summary="The board's thresholds and promotion content types (defaults from the seeds)")
def get_settings(session: DbSession, ctx: Reader) -> dict[str, Any]:
    return service.settings_of(session).model_dump(mode="json")


@router.put("/settings", summary="Change thresholds (KPIs left out keep their default; null = no threshold)")
def put_settings(session: DbSession, ctx: Manager, settings: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return service.put_settings(session, ctx, settings).model_dump(mode="json")
