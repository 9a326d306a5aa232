"""Wire formats of ingestion records (msgspec: decoding and validating 10,000 records a request must
cost microseconds each) and the batch result (Pydantic, as every API response)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import msgspec
from pydantic import BaseModel, Field

MAX_BATCH = 10_000
SalesChannel = Literal["miniprogram", "taobao", "tmall", "douyin", "jd", "pdd", "youzan", "store", "wecom", "other"]
Gender = Literal["male", "female", "unknown"]


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    time: datetime
    identities: dict[str, str | int] = {}
    contact_id: int | None = None
    event_id: str | None = None
    source: str | None = None
    properties: dict[str, Any] = {}


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    purpose: str
    granted: bool
    channel: str | None = None
    source: str | None = None
    time: datetime | None = None


class ContactIn(msgspec.Struct, forbid_unknown_fields=True):
    identities: dict[str, str | int] = {}
    contact_id: int | None = None
    nickname: str | None = None
    name: str | None = None
    gender: Gender | None = None
    birthday: date | None = None
    region: str | None = None
    source: str | None = None
    channel_code: str | None = None
    owner_staff: str | None = None
    properties: dict[str, Any] = {}
    consent: list[ConsentIn] = []
    # Tags to put on the contact, as "group/tag" (or "tag": the group of imported tags); missing ones are
    # created. Tags are only added, never removed, by an upsert.
    tags: list[str] = []


class ItemIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: str
    qty: int
    price_fen: int
    category: str | None = None
    name: str | None = None


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    refund_id: str
    amount_fen: int
    time: datetime
    reason: str | None = None


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    order_id: str
    amount_fen: int
    paid_at: datetime
    sales_channel: SalesChannel
    identities: dict[str, str | int] = {}
    contact_id: int | None = None
    currency: str = "CNY"
    items: list[ItemIn] = []
    refunds: list[RefundIn] = []


class Rejection(BaseModel):
    index: int = Field(description="Position of the record in the batch (from 0), or its line in a file.")
    field: str = Field(description="The field at fault, dotted (e.g. `identities.phone`).")
    reason: str


class BatchResult(BaseModel):
    accepted: int = Field(description="Records stored by this request.")
    duplicates: int = Field(
        0, description="Records already stored earlier (same event_id / order_id); not stored again."
    )
    rejected: list[Rejection] = Field(default_factory=list)
    contacts_created: int = 0
    merges: list[int] = Field(default_factory=list, description="Merge records created by identity resolution.")
    conflicts: int = Field(0, description="Records whose keys named different contacts that the rules do not join.")
