from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from siyu.auth.permissions import Permission, Role
from siyu.kit.inputs import RowId, Text


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Text = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=200)
    workspace_id: RowId | None = Field(default=None, description="Workspace to open; the first one if omitted.")


class SwitchWorkspaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace_id: RowId


class WorkspaceChoice(BaseModel):
    id: int
    slug: str
    name: str
    role: Role


class MeOut(BaseModel):
    operator_id: int | None
    token_id: int | None
    label: str
    workspace_id: int
    role: Role | None
    permissions: list[Permission]
    csrf_token: str | None = Field(
        default=None, description="Send it in the X-CSRF-Token header with cookie-authenticated writes."
    )
    workspaces: list[WorkspaceChoice] = []
