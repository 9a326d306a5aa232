"""API shapes of segments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.kit.inputs import Text


class SegmentKind(StrEnum):
    dynamic = "dynamic"  # recomputed at every analytics refresh
    static = "static"  # keeps the members it had when it was saved (or snapshotted again)


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    description: Text | None = Field(None, max_length=1000)
    kind: SegmentKind = SegmentKind.dynamic
    definition: dict[str, Any] = Field(description='The filter tree: {"version": 1, "root": {...}}.')


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, min_length=1, max_length=100)
    kind: SegmentKind | None = None
    description: Text | None = Field(None, max_length=1000)
    definition: dict[str, Any] | None = None
    archived: bool | None = None


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]


class PreviewOut(BaseModel):
    count: int = Field(description="Live contacts the definition holds for, as of the last analytics sync.")
    total: int = Field(description="Live contacts in the analytics store.")
    as_of: datetime = Field(description="The workspace's local time the windows were computed from.")
    synced_at: datetime | None = Field(description="When the analytics store last copied new data (UTC).")
    sql: str = Field(description="The query that was run (DuckDB dialect).")


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str | None
    kind: SegmentKind
    definition: dict[str, Any]
    version: int
    archived: bool
    size: int
    refresh_no: int
    refreshed_at: datetime | None
    broken_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime | None


class SegmentVersionOut(BaseModel):
    version: int
    definition: dict[str, Any]
    created_by: str
    created_at: datetime


class SizePoint(BaseModel):
    refresh_no: int
    size: int
    entered: int
    left: int
    definition_version: int
    refreshed_at: datetime


class SegmentDetail(SegmentOut):
    versions: list[SegmentVersionOut]
    history: list[SizePoint]


class MemberOut(BaseModel):
    contact_id: int
    since_refresh: int
    entered_at: datetime


class LeafExplanation(BaseModel):
    path: str = Field(description="Where the node sits in the tree, e.g. `root.children[1]`.")
    op: str
    holds: bool
    summary: str = Field(description="What was tested, in words.")
    observed: Any = Field(None, description="What the contact has: the value, count or amount compared.")


class Explanation(BaseModel):
    segment_id: int | None
    contact_id: int
    member: bool = Field(description="Whether the definition holds for the contact now (in the analytics store).")
    stored_member: bool | None = Field(
        None, description="Whether the contact is in the segment's materialized membership (last refresh)."
    )
    as_of: datetime
    nodes: list[LeafExplanation] = Field(description="Every node, parents first, with whether it holds.")
