"""API shapes of journeys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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
    channel: str | None = Field(None, max_length=32, description="Send its messages through this channel.")


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


class EnterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_ids: list[int] = Field(min_length=1, max_length=100_000)
    key: str = Field("manual", min_length=1, max_length=100, description="Names this entry: the same key enters once.")


class EnterOut(BaseModel):
    entered: int = Field(description="Contacts that entered (others were in it already, or may not re-enter).")


class DeliveryOut(BaseModel):
    id: int
    contact_id: int
    source: str
    channel: str
    priority: str
    promotional: bool
    content: dict[str, Any]
    status: str = Field(description="queued, sending, sent, handed_to_staff, delivered, failed, blocked, unknown")
    rule: str | None = Field(description="The governance rule that blocked it.")
    reason: str | None
    not_before: datetime | None = Field(description="Deferred by quiet hours until then (UTC).")
    created_at: datetime
    sent_at: datetime | None


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text = Field(min_length=1, max_length=200)
    due_at: AwareDatetime
    contact_id: int | None = Field(None, ge=1)
    assignee: str | None = Field(
        None, min_length=1, max_length=128, description="A staff userid; default: the contact's owner."
    )
    description: Text | None = Field(None, max_length=2000)


class TaskPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str | None = Field(None, min_length=1, max_length=128)
    due_at: AwareDatetime | None = None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["sent", "resend"] = Field(description="sent: the contact got it; resend: send it again.")


class TaskOut(BaseModel):
    id: int
    contact_id: int | None
    source: str
    assignee: str | None
    title: str
    description: str | None
    status: str
    due_at: datetime
    overdue: bool
    created_at: datetime
    completed_at: datetime | None


class DryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_ids: list[int] | None = Field(
        None, max_length=100_000, description="Try these contacts (default: who the trigger would let in now)."
    )


class DryRunOut(BaseModel):
    pool: int = Field(description="Contacts the dry run started from.")
    entered: int = Field(description="Of those, the ones the entry rules let in.")
    nodes: dict[str, int] = Field(description="Contacts through each node.")
    messages: int = Field(description="Messages that would be queued (deferred ones included).")
    deferred: int = Field(description="Of those, held back by quiet hours.")
    blocked: dict[str, int] = Field(description="Messages blocked, by rule.")
    tasks: int = Field(description="Staff tasks the journey would create.")
    ended: dict[str, int] = Field(description="How the runs end: done, exited, converted, holdout.")
    notes: list[str]
