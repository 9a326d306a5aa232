"""Batch ingestion endpoints. The body is read and decoded here (orjson + msgspec) rather than by
FastAPI, so that a bad record is rejected alone instead of failing the whole request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.ingestion import contacts, events, orders
from siyu.ingestion.context import BatchContext
from siyu.ingestion.records import typed_records
from siyu.ingestion.schemas import MAX_BATCH, BatchResult, ContactIn, EventIn, OrderIn
from siyu.kit.db import read_only

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
    return await _ingest(request, session, ctx, "events", EventIn, events.ingest, events.prepare, events.look_ahead)


@router.post(
    "/orders/batch",
    response_model=BatchResult,
    summary="Ingest up to 10,000 orders",
    description=(
        "Money is integer fen. Idempotent by `order_id`; refunds by `refund_id` (sending an order again "
        "with a new refund adds only the refund). Each new order also records an `order_paid` event and "
        "each refund an `order_refunded` event."
    ),
    openapi_extra=_body_schema(OrderIn, "orders"),
)
async def ingest_orders(request: Request, session: DbSession, ctx: Ingestor) -> BatchResult:
    return await _ingest(request, session, ctx, "orders", OrderIn, orders.ingest)


@router.post(
    "/contacts/batch",
    response_model=BatchResult,
    summary="Create or update up to 10,000 contacts",
    description=(
        "Each record names its contact by identity keys (created when unknown) or `contact_id`. Fields "
        "given are set; `source` and `channel_code` only fill a contact's first touch. Custom `properties` "
        "must be declared in the property catalogue (`null` clears one). `consent` entries are appended to "
        "the consent ledger when they change the current state."
    ),
    openapi_extra=_body_schema(ContactIn, "contacts"),
)
async def upsert_contacts(request: Request, session: DbSession, ctx: Ingestor) -> BatchResult:
    return await _ingest(request, session, ctx, "contacts", ContactIn, contacts.ingest)


async def _ingest(
    request: Request,
    session: Session,
    ctx: AuthContext,
    key: str,
    record_type: type[Any],
    ingest: Callable[[Session, BatchContext, Any], BatchResult],
    prepare: Callable[[Any], Any] | None = None,
    look_ahead: Callable[[Session, BatchContext, Any], None] | None = None,
) -> BatchResult:
    body = await request.body()

    def work() -> BatchResult:
        # Decode and check first: no transaction is open yet, so other writers are not held up.
        records = typed_records(body, key, record_type)
        checked = prepare(records) if prepare is not None else records
        if look_ahead is not None and session.get_bind().dialect.name == "sqlite":
            # What can be read ahead is read from a snapshot, outside SQLite's single-writer queue.
            read_only(session)
            batch = BatchContext.open(session, ctx.workspace_id, ctx.label)
            look_ahead(session, batch, checked)
            session.commit()
        else:
            batch = BatchContext.open(session, ctx.workspace_id, ctx.label)
        result = ingest(session, batch, checked)
        # Commit here, on this thread: handing back to the event loop first would keep the write lock
        # (SQLite's single writer) held while the loop serves other requests.
        session.commit()
        return result

    # The database work is blocking: keep it off the event loop.
    return await run_in_threadpool(work)
