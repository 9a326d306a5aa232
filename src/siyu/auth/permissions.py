"""Roles and what each may do. The one table of record: routes name a permission, roles grant them.

Seeing unmasked personal data (``pii:unmask``) is granted per member, never implied by a role other
than owner (SPEC C0, C12).
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    workspace_read = "workspace:read"
    workspace_manage = "workspace:manage"
    members_read = "members:read"
    members_manage = "members:manage"
    tokens_manage = "tokens:manage"
    audit_read = "audit:read"
    jobs_read = "jobs:read"
    jobs_manage = "jobs:manage"
    contacts_read = "contacts:read"
    contacts_write = "contacts:write"
    ingest_write = "ingest:write"
    tags_manage = "tags:manage"
    segments_manage = "segments:manage"
    journeys_manage = "journeys:manage"
    content_manage = "content:manage"
    campaigns_manage = "campaigns:manage"
    community_manage = "community:manage"
    inbox_handle = "inbox:handle"
    analytics_read = "analytics:read"
    channels_manage = "channels:manage"
    pii_unmask = "pii:unmask"


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    community_manager = "community_manager"
    content_editor = "content_editor"
    service_agent = "service_agent"
    analyst = "analyst"


P = Permission

_EVERYTHING_BUT_PII = frozenset(p for p in Permission if p is not P.pii_unmask)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.owner: frozenset(Permission),
    Role.admin: _EVERYTHING_BUT_PII,
    Role.community_manager: frozenset(
        {
            P.workspace_read,
            P.members_read,
            P.contacts_read,
            P.tags_manage,
            P.community_manage,
            P.campaigns_manage,
            P.analytics_read,
        }
    ),
    Role.content_editor: frozenset({P.workspace_read, P.members_read, P.content_manage, P.analytics_read}),
    Role.service_agent: frozenset({P.workspace_read, P.members_read, P.contacts_read, P.inbox_handle}),
    Role.analyst: frozenset({P.workspace_read, P.members_read, P.contacts_read, P.segments_manage, P.analytics_read}),
}

ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.owner: "Owns the workspace: everything, including unmasked personal data.",
    Role.admin: "Configures channels, members, tokens and rules; sees masked personal data unless granted.",
    Role.community_manager: "群主 / 社群运营: groups, tags, activities and campaigns.",
    Role.content_editor: "内容官: writes and schedules content.",
    Role.service_agent: "客服: answers customers in the inbox.",
    Role.analyst: "数据分析师: dashboards, segments and experiments.",
}


def permissions_for(role: Role, *, can_unmask_pii: bool = False) -> frozenset[Permission]:
    granted = ROLE_PERMISSIONS[role]
    if can_unmask_pii:
        granted = granted | {P.pii_unmask}
    return granted


def parse_scopes(raw: list[str]) -> list[Permission]:
    """Token scopes are permission names; unknown names raise ``ValueError`` naming the first one."""
    out: list[Permission] = []
    for name in raw:
        try:
            out.append(Permission(name))
        except ValueError:
            raise ValueError(f"unknown scope {name!r}") from None
    return out
