"""Manual merges of two contacts and their undo, on top of the journaled merge in ``siyu.identity.merge``.

A preview masks personal data (it is for deciding, not reading); a merge and its undo are written to the
audit log as ``contact.merged`` / ``contact.unmerged``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.contact import repository
from siyu.contact.masking import mask_name
from siyu.contact.schemas import MergeOut, MergePair, MergePreview, MergeRequest
from siyu.contact.service import identity_out, live_contact, merge_out, summary
from siyu.errors import Conflict, NotFound
from siyu.identity import merge as merging
from siyu.kit.pagination import Page

MANUAL_RULE = "manual"


def _masked_value(field: str, value: Any) -> Any:
    return mask_name(value) if field == "name" and isinstance(value, str) else value


def preview_merge(session: Session, pair: MergePair) -> MergePreview:
    """What merging would do, with personal data masked (a preview is for deciding, not for reading)."""
    _check_pair(session, pair)
    plan = merging.preview(session, pair.survivor_id, pair.merged_id)
    survivor = live_contact(session, pair.survivor_id)
    merged = live_contact(session, pair.merged_id)
    kinds = repository.identity_kinds(session, [survivor.id, merged.id])
    return MergePreview(
        survivor=summary(survivor, kinds[survivor.id]),
        merged=summary(merged, kinds[merged.id]),
        moves=plan["moves"],
        identities=[identity_out(i, unmask=False) for i in repository.identities_of(session, merged.id)],
        fills={f: _masked_value(f, v) for f, v in plan["fills"].items()},
        properties_added=plan["properties_added"],
        conflicts={
            f: {side: _masked_value(f, v) for side, v in values.items()} for f, values in plan["conflicts"].items()
        },
    )


def _check_pair(session: Session, pair: MergePair) -> None:
    """Both contacts exist and are live, refused as ``contact_merged`` (with the live contact to use
    instead) rather than the identity module's plain conflict."""
    if pair.survivor_id != pair.merged_id:  # merging a contact with itself is refused by the merge itself
        live_contact(session, pair.survivor_id)
        live_contact(session, pair.merged_id)


def merge_contacts(session: Session, ctx: AuthContext, data: MergeRequest) -> MergeOut:
    _check_pair(session, data)
    evidence = {"reason": data.reason} if data.reason else {}
    record = merging.merge(
        session, data.survivor_id, data.merged_id, rule=MANUAL_RULE, evidence=evidence, actor_label=ctx.label
    )
    out = merge_out(record)
    audit.record(
        session,
        ctx,
        "contact.merged",
        "merge_record",
        record.id,
        after={"survivor_id": out.survivor_id, "merged_id": out.merged_id, "rule": out.rule, "moved": out.moved},
    )
    return out


def unmerge_contacts(session: Session, ctx: AuthContext, record_id: int) -> MergeOut:
    record = repository.merge_record(session, record_id)
    if record is None:
        raise NotFound(f"merge {record_id} not found")
    if record.undone_at is None:
        survivor = repository.contact(session, record.survivor_id)
        if survivor is not None and survivor.merged_into_id is not None:
            raise Conflict(
                f"contact {record.survivor_id} was itself merged since; undo that merge first",
                extra={"merged_into_id": survivor.merged_into_id},
            )
    record = merging.unmerge(session, record_id, actor_label=ctx.label)
    out = merge_out(record)
    audit.record(
        session,
        ctx,
        "contact.unmerged",
        "merge_record",
        record.id,
        before={"undone": False},
        after={"survivor_id": out.survivor_id, "merged_id": out.merged_id, "undone": True, "moved": out.moved},
    )
    return out


def list_merges(
    session: Session, *, contact_id: int | None, rule: str | None, limit: int, offset: int
) -> Page[MergeOut]:
    rows, total = repository.merges(session, contact_id=contact_id, rule=rule, limit=limit, offset=offset)
    return Page(items=[merge_out(r) for r in rows], total=total, limit=limit, offset=offset)


def merge_record(session: Session, record_id: int) -> MergeOut:
    record = repository.merge_record(session, record_id)
    if record is None:
        raise NotFound(f"merge {record_id} not found")
    return merge_out(record)
