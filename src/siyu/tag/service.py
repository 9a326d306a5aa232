"""Tag groups, tags and tagging. Every change to a contact's tags touches the contact (so the analytics
store copies it again) and records a ``tag_added`` / ``tag_removed`` event that journeys can start from."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.errors import Conflict, NotFound
from siyu.filters.compiler import compile_segment
from siyu.filters.context import load_context
from siyu.filters.definition import parse
from siyu.kit.bulk import insert_batches, insert_rows
from siyu.kit.db import WORKSPACE_KEY, add_unique
from siyu.kit.time import utcnow
from siyu.models import ContactTag, Event, Tag, TagGroup
from siyu.models.event import EVENT_KEY, system_events
from siyu.tag import repository
from siyu.tag.schemas import TaggingOut, TagGroupIn, TagIn, TagPatch

# --- groups ---------------------------------------------------------------------------------------------


def create_group(session: Session, ctx: AuthContext, data: TagGroupIn) -> TagGroup:
    group = TagGroup(name=data.name, description=data.description, exclusive=data.exclusive)
    if not add_unique(session, group):
        raise Conflict(f"a tag group {data.name!r} exists already", extra={"field": "name"})
    audit.record(session, ctx, "tag_group.created", "tag_group", group.id, after=data.model_dump())
    return group


def delete_group(session: Session, ctx: AuthContext, group_id: int) -> None:
    group = repository.group(session, group_id)
    if group is None:
        raise NotFound(f"no tag group {group_id}")
    tags = repository.tags(session, group_id)
    for tag in tags:
        delete_tag(session, ctx, tag.id)
    session.delete(group)
    session.flush()
    audit.record(session, ctx, "tag_group.deleted", "tag_group", group_id, before={"name": group.name})


# --- tags -----------------------------------------------------------------------------------------------


def _check_rule(session: Session, rule: dict[str, Any] | None, tag_id: int | None = None) -> dict[str, Any] | None:
    if rule is None:
        return None
    workspace_id = session.info[WORKSPACE_KEY]
    definition = parse(rule, "rule")
    compile_segment(definition, load_context(session, workspace_id, field_prefix="rule"))
    return definition.model_dump(mode="json", exclude_defaults=False)


def create_tag(session: Session, ctx: AuthContext, data: TagIn) -> Tag:
    if repository.group(session, data.group_id) is None:
        raise NotFound(f"no tag group {data.group_id}", extra={"field": "group_id"})
    tag = Tag(
        group_id=data.group_id,
        name=data.name,
        description=data.description,
        rule=_check_rule(session, data.rule),
        remove_when_false=data.remove_when_false,
    )
    if not add_unique(session, tag):
        raise Conflict(f"the group already has a tag {data.name!r}", extra={"field": "name"})
    audit.record(session, ctx, "tag.created", "tag", tag.id, after=data.model_dump(mode="json"))
    return tag


def update_tag(session: Session, ctx: AuthContext, tag_id: int, data: TagPatch) -> Tag:
    tag = repository.tag(session, tag_id)
    if tag is None:
        raise NotFound(f"no tag {tag_id}")
    before = {"name": tag.name, "rule": tag.rule, "remove_when_false": tag.remove_when_false}
    if data.name is not None:
        tag.name = data.name
    if data.description is not None:
        tag.description = data.description
    if data.clear_rule:
        tag.rule = None
    elif data.rule is not None:
        tag.rule = _check_rule(session, data.rule, tag.id)
    if data.remove_when_false is not None:
        tag.remove_when_false = data.remove_when_false
    tag.broken_reason = None
    session.flush()
    after = {"name": tag.name, "rule": tag.rule, "remove_when_false": tag.remove_when_false}
    audit.record(session, ctx, "tag.updated", "tag", tag.id, before=before, after=after)
    return tag


def delete_tag(session: Session, ctx: AuthContext, tag_id: int) -> None:
    tag = repository.tag(session, tag_id)
    if tag is None:
        raise NotFound(f"no tag {tag_id}")
    session.delete(tag)  # its contact_tag rows go with it; the analytics sync drops them too
    session.flush()
    audit.record(session, ctx, "tag.deleted", "tag", tag_id, before={"name": tag.name, "group_id": tag.group_id})


IMPORTED_GROUP = "导入标签"


def split_name(name: str) -> tuple[str, str]:
    """``"肤质/敏感肌"`` → group and tag; a bare ``"敏感肌"`` goes to the group of imported tags."""
    group, _, tag = name.partition("/")
    return (group.strip(), tag.strip()) if tag else (IMPORTED_GROUP, group.strip())


def ensure_tags(session: Session, names: Iterable[str], *, actor_label: str) -> dict[str, Tag]:
    """The tags named ``group/tag`` (or ``tag``), creating the groups and tags that do not exist yet
    (imports and integrations name tags by name). Returns name → tag."""
    ws = session.info[WORKSPACE_KEY]
    wanted = {name: split_name(name) for name in dict.fromkeys(names)}
    groups = {g.name: g for g in repository.groups(session)}
    for group_name in {g for g, _ in wanted.values()} - set(groups):
        group = TagGroup(name=group_name, exclusive=False)
        if not add_unique(session, group):
            group = next(g for g in repository.groups(session) if g.name == group_name)
        else:
            audit.record(
                session,
                None,
                "tag_group.created",
                "tag_group",
                group.id,
                after={"name": group_name},
                workspace_id=ws,
                actor_label=actor_label,
            )
        groups[group_name] = group
    out: dict[str, Tag] = {}
    existing = {(t.group_id, t.name): t for t in repository.tags(session)}
    for name, (group_name, tag_name) in wanted.items():
        group = groups[group_name]
        tag = existing.get((group.id, tag_name))
        if tag is None:
            tag = Tag(group_id=group.id, name=tag_name)
            if not add_unique(session, tag):
                tag = next(t for t in repository.tags(session, group.id) if t.name == tag_name)
            else:
                audit.record(
                    session,
                    None,
                    "tag.created",
                    "tag",
                    tag.id,
                    after={"name": name},
                    workspace_id=ws,
                    actor_label=actor_label,
                )
            existing[(group.id, tag_name)] = tag
        out[name] = tag
    return out


# --- tagging --------------------------------------------------------------------------------------------


def _tag_events(
    name: str, tag: Tag, contact_ids: Iterable[int], source: str, ws: int, now: datetime
) -> list[dict[str, Any]]:
    verb = "added" if name == "tag_added" else "removed"
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    props = {"tag_id": tag.id, "tag": tag.name, "source": source}
    return system_events(ws, name, contact_ids, lambda cid: f"tag:{tag.id}:{cid}:{verb}:{stamp}", props, now)


def _events(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_batches(session, Event, rows, skip_conflicts_on=EVENT_KEY)


def apply(
    session: Session, tag: Tag, contact_ids: Iterable[int], *, source: str, now: datetime | None = None
) -> TaggingOut:
    """Put ``tag`` on the contacts (those that have it already are left as they are). In an exclusive
    group the contacts lose the group's other tags."""
    now = now or utcnow()
    ws = session.info[WORKSPACE_KEY]
    wanted = list(dict.fromkeys(contact_ids))
    live = repository.live_contacts(session, wanted)
    have = repository.holders(session, tag.id, live)
    new = [c for c in wanted if c in live and c not in have]
    events: list[dict[str, Any]] = []
    group = session.get(TagGroup, tag.group_id)
    if group is not None and group.exclusive and new:
        siblings = {t.id: t for t in repository.tags(session, group.id) if t.id != tag.id}
        for cid, other in repository.holders_of(session, siblings, new):
            repository.remove(session, other, [cid])
            events += _tag_events("tag_removed", siblings[other], [cid], source, ws, now)
    if new:
        insert_rows(
            session,
            ContactTag,
            [{"workspace_id": ws, "tag_id": tag.id, "contact_id": c, "source": source, "created_at": now} for c in new],
            skip_conflicts_on=["tag_id", "contact_id"],
        )
        repository.touch(session, new, now)
        events += _tag_events("tag_added", tag, new, source, ws, now)
    _events(session, events)
    return TaggingOut(
        tag_id=tag.id, changed=len(new), unchanged=len(live) - len(new), not_found=[c for c in wanted if c not in live]
    )


def unapply(
    session: Session,
    tag: Tag,
    contact_ids: Iterable[int],
    *,
    source: str,
    only_source: str | None = None,
    now: datetime | None = None,
) -> TaggingOut:
    """Take ``tag`` off the contacts (with ``only_source``, only where that source put it)."""
    now = now or utcnow()
    ws = session.info[WORKSPACE_KEY]
    wanted = list(dict.fromkeys(contact_ids))
    have = repository.holders(session, tag.id, wanted)
    gone = [c for c in wanted if c in have and (only_source is None or have[c] == only_source)]
    if gone:
        repository.remove(session, tag.id, gone, source=only_source)
        repository.touch(session, gone, now)
        _events(session, _tag_events("tag_removed", tag, gone, source, ws, now))
    return TaggingOut(tag_id=tag.id, changed=len(gone), unchanged=len(wanted) - len(gone))


def tag_contacts(session: Session, ctx: AuthContext, tag_id: int, contact_ids: list[int], *, add: bool) -> TaggingOut:
    """Manual and bulk tagging from the console or the API (audited)."""
    tag = repository.tag(session, tag_id)
    if tag is None:
        raise NotFound(f"no tag {tag_id}")
    source = "manual" if ctx.operator_id is not None else "api"
    out = apply(session, tag, contact_ids, source=source) if add else unapply(session, tag, contact_ids, source=source)
    audit.record(
        session,
        ctx,
        "tag.applied" if add else "tag.removed",
        "tag",
        tag_id,
        after={"contacts": len(contact_ids), "changed": out.changed},
    )
    return out
