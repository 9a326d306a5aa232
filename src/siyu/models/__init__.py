"""Every ORM table, one module per table, re-exported here for Alembic and for callers."""

from siyu.models.api_token import ApiToken
from siyu.models.audit_event import AuditEvent
from siyu.models.base import Base, WorkspaceScoped
from siyu.models.console_session import ConsoleSession
from siyu.models.job import Job
from siyu.models.membership import Membership
from siyu.models.operator import Operator
from siyu.models.schedule import Schedule
from siyu.models.workspace import Workspace

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "ConsoleSession",
    "Job",
    "Membership",
    "Operator",
    "Schedule",
    "Workspace",
    "WorkspaceScoped",
]
