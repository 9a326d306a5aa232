from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    action: str
    entity_type: str
    entity_id: str | None
    actor_label: str
    actor_operator_id: int | None
    actor_token_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
