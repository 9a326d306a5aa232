"""API shapes of journeys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.kit.inputs import Text


class JourneyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    description: Text | None = Field(None, max_length=1000)
    definition: dict[str, Any] | None = Field(
        None, description="The journey graph as JSON (or give `yaml`). Saved as a draft even when incomplete."
    )
    yaml: str | None = Field(None, max_length=200_000, description="The journey graph as YAML, instead of JSON.")


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | None = None
    yaml: str | None = Field(None, max_length=200_000)


class JourneyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    description: Text | None = Field(None, max_length=1000)


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(min_length=1, max_length=64)
    name: Text | None = Field(None, min_length=1, max_length=100)


class Problem(BaseModel):
    field: str
    reason: str


class JourneyOut(BaseModel):
    id: int
    name: str
    description: str | None
    status: str = Field(description="draft, active, paused or archived")
    published_version: int = Field(description="0 until first published")
    draft: dict[str, Any]
    problems: list[Problem] = Field(description="What keeps the draft from being published (empty: nothing).")
    template: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime | None


class InstalledOut(BaseModel):
    journey: JourneyOut
    notices: list[str] = Field(description="Steps of the template left out, and why.")


class VersionOut(BaseModel):
    version: int
    definition: dict[str, Any]
    published_by: str
    published_at: datetime


class TemplateOut(BaseModel):
    key: str
    name: str
    description: str
    definition: dict[str, Any]


class ValidationOut(BaseModel):
    valid: bool
    problems: list[Problem]
