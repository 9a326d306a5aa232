"""Every ORM table, one module per table, re-exported here for Alembic and for callers."""

from siyu.models.api_token import ApiToken
from siyu.models.audit_event import AuditEvent
from siyu.models.base import Base, WorkspaceScoped
from siyu.models.callback_receipt import CallbackReceipt
from siyu.models.channel_code import ChannelCode
from siyu.models.consent import ConsentRecord
from siyu.models.console_session import ConsoleSession
from siyu.models.contact import Contact
from siyu.models.customer_group import CustomerGroup, CustomerGroupMember, GroupMessage
from siyu.models.event import Event
from siyu.models.identity import Identity
from siyu.models.import_run import ImportRun
from siyu.models.job import Job
from siyu.models.journey import Delivery, Journey, JourneyRun, JourneyVersion, StaffTask
from siyu.models.membership import Membership
from siyu.models.merge_record import MergeRecord
from siyu.models.operator import Operator
from siyu.models.order import OrderRefund, SalesOrder
from siyu.models.property_definition import PropertyDefinition
from siyu.models.schedule import Schedule
from siyu.models.segment import Segment, SegmentMember, SegmentRefresh, SegmentVersion
from siyu.models.staff_member import StaffMember, StaffRelation
from siyu.models.tag import ContactTag, Tag, TagGroup
from siyu.models.workspace import Workspace

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "CallbackReceipt",
    "ChannelCode",
    "ConsentRecord",
    "ConsoleSession",
    "Contact",
    "ContactTag",
    "CustomerGroup",
    "CustomerGroupMember",
    "Delivery",
    "Event",
    "GroupMessage",
    "Identity",
    "ImportRun",
    "Job",
    "Journey",
    "JourneyRun",
    "JourneyVersion",
    "Membership",
    "MergeRecord",
    "Operator",
    "OrderRefund",
    "PropertyDefinition",
    "SalesOrder",
    "Schedule",
    "Segment",
    "SegmentMember",
    "SegmentRefresh",
    "SegmentVersion",
    "StaffMember",
    "StaffRelation",
    "StaffTask",
    "Tag",
    "TagGroup",
    "Workspace",
    "WorkspaceScoped",
]
