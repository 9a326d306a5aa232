from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

ImportKind = Literal["contacts", "events", "orders"]


class ImportRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    filename: str
    status: str
    total: int
    done: int
    accepted: int
    duplicates: int
    rejected: int
    contacts_created: int
    has_error_report: bool
    error: str | None
    created_at: datetime
    finished_at: datetime | None
