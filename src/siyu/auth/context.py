"""Who is making a request, in which workspace, with which permissions."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.auth.permissions import Permission, Role


@dataclass(frozen=True)
class AuthContext:
    workspace_id: int
    permissions: frozenset[Permission]
    operator_id: int | None = None
    token_id: int | None = None
    role: Role | None = None
    label: str = ""
    session_id: int | None = None
    csrf_token: str | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def can_unmask_pii(self) -> bool:
        return Permission.pii_unmask in self.permissions
