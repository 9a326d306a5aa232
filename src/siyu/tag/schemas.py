"""API shapes of tags."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.kit.inputs import RowId, Text


class TagSource(StrEnum):
    manual = "manual"  # an operator in the console
    api = "api"  # an integration
    import_ = "import"  # a file import
    rule = "rule"  # an auto-tag rule
    wecom = "wecom"  # a WeCom corp tag (channels)


class TagGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    description: Text | None = Field(None, max_length=500)
    exclusive: bool = Field(False, description="A contact holds at most one tag of the group (e.g. 肤质).")


class TagGroupOut(BaseModel):
    id: int
    name: str
    description: str | None
    exclusive: bool
    tags: int


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_id: RowId
    name: Text = Field(min_length=1, max_length=100)
    description: Text | None = Field(None, max_length=500)
    rule: dict[str, Any] | None = Field(
        None, description="A segment filter tree: the analytics refresh adds the tag where it holds (auto-tag)."
    )
    remove_when_false: bool = Field(True, description="Auto-tags: take the tag off where the rule stops holding.")


class TagPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, min_length=1, max_length=100)
    description: Text | None = Field(None, max_length=500)
    rule: dict[str, Any] | None = None
    remove_when_false: bool | None = None
    clear_rule: bool = Field(False, description="Turn an auto-tag back into a manual tag.")


class TagOut(BaseModel):
    id: int
    group_id: int
    group: str
    name: str
    description: str | None
    kind: str = Field(description="`manual` or `rule` (auto-tag).")
    rule: dict[str, Any] | None
    remove_when_false: bool
    broken_reason: str | None
    contacts: int
    created_at: datetime


class TaggingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_ids: list[RowId] = Field(min_length=1, max_length=10_000)


class TaggingOut(BaseModel):
    tag_id: int
    changed: int = Field(description="Contacts whose tags changed.")
    unchanged: int = Field(description="Contacts that already had (or did not have) the tag.")
    not_found: list[int] = Field(default_factory=list, description="Ids that name no live contact here.")


class ContactTagOut(BaseModel):
    tag_id: int
    tag: str
    group: str
    source: str
    created_at: datetime
