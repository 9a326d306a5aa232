"""Batch ingestion endpoints. The body is read and decoded here (orjson + msgspec) rather than by
FastAPI, so that a bad record is rejected alone instead of failing the whole request."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.ingestion import events
from siyu.ingestion.context import BatchContext
from siyu.ingestion.records import decode_batch
from siyu.ingestion.schemas import MAX_BATCH, BatchResult, EventIn

router = APIRouter(prefix="/api/v1", tags=["ingestion"])
Ingestor = Annotated[AuthContext, Depends(require(Permission.ingest_write))]


def _inline(schema: Any, components: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(components[schema["$ref"].rsplit("/", 1)[-1]], components)
        return {k: _inline(v, components) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, components) for v in schema]
    return schema


def _body_schema(record: type[Any], key: str) -> dict[str, Any]:
    """OpenAPI request body for ``[record, …]`` or ``{key: [record, …]}``, from the msgspec model."""
    (ref,), components = msgspec.json.schema_components([record])
    array = {"type": "array", "items": _inline(ref, components), "maxItems": MAX_BATCH}
    either = {"oneOf": [array, {"type": "object", "properties": {key: array}, "required": [key]}]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": either}}}}


@router.post(
    "/events/batch",
    response_model=BatchResult,
    summary="Ingest up to 10,000 events",
    description=(
        'Each record names its contact by identity keys (`{"wx_openid@wx123": "o_…", "phone": "138…"}`) '
        "or `contact_id`. Records are validated one by one: invalid ones are listed in `rejected` with "
        "index, field and reason, valid ones are stored. Sending the same events again stores nothing "
        "twice (by `event_id`, or by content when `event_id` is absent). Naive times are read in the "
        "workspace's time zone."
    ),
    openapi_extra=_body_schema(EventIn, "events"),
)
async def ingest_events(request: Request, session: DbSession, ctx: Ingestor) -> BatchResult:
    body = await request.body()

    def work() -> BatchResult:
        raws = decode_batch(body, "events")
        return events.ingest(session, BatchContext.open(session, ctx.workspace_id, ctx.label), raws)

    # The database work is blocking: keep it off the event loop.
    return await run_in_threadpool(work)
