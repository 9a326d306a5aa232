"""What the console calls roles, permissions and job states (msgids, translated when a page renders)."""

from __future__ import annotations

from typing import Final

from siyu.auth.permissions import Permission, Role
from siyu.console.i18n import N_

P = Permission

ROLE_LABELS: Final[dict[str, str]] = {
    Role.owner.value: N_("Owner"),
    Role.admin.value: N_("Administrator"),
    Role.community_manager.value: N_("Community manager"),
    Role.content_editor.value: N_("Content editor"),
    Role.service_agent.value: N_("Service agent"),
    Role.analyst.value: N_("Analyst"),
}

PERMISSION_LABELS: Final[dict[str, str]] = {
    P.workspace_read.value: N_("View the workspace"),
    P.workspace_manage.value: N_("Change workspace settings"),
    P.members_read.value: N_("View members"),
    P.members_manage.value: N_("Manage members and roles"),
    P.tokens_manage.value: N_("Manage API tokens"),
    P.audit_read.value: N_("Read the audit log"),
    P.jobs_read.value: N_("View background jobs"),
    P.jobs_manage.value: N_("Retry background jobs"),
    P.contacts_read.value: N_("View contacts"),
    P.contacts_write.value: N_("Edit contacts"),
    P.ingest_write.value: N_("Send data in (ingestion)"),
    P.tags_manage.value: N_("Manage tags"),
    P.segments_manage.value: N_("Manage segments"),
    P.journeys_manage.value: N_("Manage journeys"),
    P.content_manage.value: N_("Manage content"),
    P.campaigns_manage.value: N_("Manage campaigns"),
    P.community_manage.value: N_("Manage communities"),
    P.inbox_handle.value: N_("Answer customers in the inbox"),
    P.analytics_read.value: N_("View analytics"),
    P.channels_manage.value: N_("Manage channels"),
    P.pii_unmask.value: N_("See unmasked personal data"),
}

JOB_STATUSES: Final[tuple[str, ...]] = ("queued", "running", "done", "dead")

JOB_STATUS_LABELS: Final[dict[str, str]] = {
    "queued": N_("Queued"),
    "running": N_("Running"),
    "done": N_("Done"),
    "dead": N_("Failed for good"),
}

# Audit actions (``audit.record(...)`` across the code); an action missing here shows as its code.
AUDIT_ACTION_LABELS: Final[dict[str, str]] = {
    "workspace.created": N_("Workspace created"),
    "workspace.updated": N_("Workspace settings changed"),
    "member.added": N_("Member added"),
    "member.updated": N_("Member changed"),
    "member.removed": N_("Member removed"),
    "token.created": N_("API token created"),
    "token.revoked": N_("API token revoked"),
    "job.retried": N_("Job retried"),
    "contact.merged": N_("Contacts merged"),
    "contact.unmerged": N_("Contact merge undone"),
    "pii.viewed": N_("Personal data viewed in full"),
    "property.created": N_("Custom property declared"),
    "property.deleted": N_("Custom property deleted"),
    "channel_code.created": N_("Channel code created"),
    "staff.created": N_("Staff member added"),
    "import.started": N_("Import started"),
    "data.exported": N_("Data exported"),
    "demo.generated": N_("Demo data generated"),
    "segment.created": N_("Segment created"),
    "segment.updated": N_("Segment changed"),
    "segment.deleted": N_("Segment deleted"),
    "segment.snapshot_requested": N_("Segment refresh requested"),
    "tag_group.created": N_("Tag group created"),
    "tag_group.deleted": N_("Tag group deleted"),
    "tag.created": N_("Tag created"),
    "tag.updated": N_("Tag changed"),
    "tag.deleted": N_("Tag deleted"),
    "tag.applied": N_("Tag put on contacts"),
    "tag.removed": N_("Tag taken off contacts"),
    "tiers.settings_changed": N_("Tier settings changed"),
}

LANGUAGE_NAMES: Final[dict[str, str]] = {"zh_CN": "简体中文", "en": "English"}
