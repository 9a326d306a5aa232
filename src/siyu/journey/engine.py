"""The journey engine: contacts enter published versions (:func:`enter`) and are stepped in batches
(:func:`step_due`).

Exactly once, durably: a batch runs in one transaction. Every side effect a step has — a ledger row
for a message (:mod:`siyu.dispatch.ledger`), a staff task, a tag, a property — is a row written in that
transaction with a deterministic key (journey × version × run × node; the graph is acyclic, so a run
passes a node at most once), and the runs' new positions commit with them. A worker killed at any point
leaves either the whole batch or none of it; the next worker steps the same runs again and writes the
same rows once. Messages leave the ledger afterwards, each channel on its own terms.

A step executes nodes until the run waits or ends:

* ``wait`` / ``wait_until`` move the run to the next node and set ``due_at`` (``wait_until`` in the
  workspace's time zone, optionally on given weekdays);
* ``send``, ``task``, ``tag``, ``set_property`` act and go on; ``random`` picks a branch from a hash of
  the run (so a replay picks the same one) and keeps ``holdout`` percent out as the control group;
* ``condition`` is evaluated for all the runs of a batch at that node at once, against the analytics
  store (its copy is as fresh as the last sync, normally minutes);
* ``exit`` (or a node without ``next``) ends the run.

Before a run steps, the journey's goal is checked: a contact who did the goal event since entering ends
``converted`` and gets nothing more. Paused journeys are not stepped; resuming steps each run from where
it stopped, and nothing it did before is done again.

* ``wait_event`` parks the run (``waiting_since``, ``due_at`` = the timeout);
  :func:`siyu.journey.triggers.wake_waiting` makes it due when the contact does the event, and the step
  sends it to ``next`` or, at the timeout, to ``on_timeout``.

* ``webhook`` writes a call to the webhook channel's ledger (signed with its secret, retried and
  reconciled like its messages; service priority, so no cap or quiet hours applies).

Not yet: entry audiences, and date triggers on custom properties; journeys holding them cannot be
published (:func:`entry_problems`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from siyu.dispatch import ledger
from siyu.dispatch.governance import Priority, parse_governance
from siyu.errors import Conflict, FieldProblem, InvalidInput, NotFound
from siyu.journey import definition as jd
from siyu.journey.audiences import Condition, matches
from siyu.kit.bulk import insert_rows
from siyu.kit.db import WORKSPACE_KEY
from siyu.lake.store import LakeBusy
from siyu.models import (
    Contact,
    Event,
    Journey,
    JourneyRun,
    JourneyVersion,
    StaffMember,
    StaffTask,
    Tag,
    Workspace,
)
from siyu.tag import service as tagging

CALL = "call"  # a webhook node's ledger row: {"kind": "call", "url": …, "payload": …} on the webhook channel
CONDITION_RETRY = timedelta(minutes=1)
STEP_LOCK = 0x53_4A_00_00_00  # + the workspace id: PostgreSQL's advisory lock of the workspace's steps
ENDED = ("done", "exited", "converted", "holdout")


@dataclass
class StepReport:
    runs: int = 0
    steps: int = 0
    messages: int = 0
    blocked: int = 0
    tasks: int = 0
    ended: int = 0
    by_node: dict[str, int] = field(default_factory=dict)


def entry_problems(journey: jd.Journey) -> list[FieldProblem]:
    """Why the engine cannot run this journey yet (empty: it can)."""
    found: list[FieldProblem] = []
    if journey.entry.audience is not None:
        found.append(
            FieldProblem("definition.entry.audience", "entry audiences arrive with the next part of the engine")
        )
    if isinstance(journey.trigger, jd.DateTrigger) and journey.trigger.property != "birthday":
        found.append(
            FieldProblem("definition.trigger.property", "date triggers on custom properties arrive later; use birthday")
        )
    return found


def version_definition(
    session: Session, journey_id: int, version: int, cache: dict[tuple[int, int], jd.Journey]
) -> jd.Journey:
    key = (journey_id, version)
    if key not in cache:
        row = session.scalar(
            select(JourneyVersion.definition).where(
                JourneyVersion.journey_id == journey_id, JourneyVersion.version == version
            )
        )
        if row is None:
            raise InvalidInput.on("version", f"journey {journey_id} has no version {version}")
        cache[key] = jd.parse(row)
    return cache[key]


def enter(session: Session, journey_id: int, entries: Iterable[tuple[int, str]], now: datetime) -> int:
    """Enter contacts (with the key of what let each in) into the journey's newest version, as its
    re-entry policy allows. Returns how many entered; a key seen before enters nobody again."""
    journey = session.get(Journey, journey_id)
    if journey is None:
        raise NotFound(f"no journey {journey_id}")
    if journey.status != "active":
        raise Conflict(f"journey {journey_id} is {journey.status}, not active", extra={"field": "journey_id"})
    definition = version_definition(session, journey_id, journey.published_version, {})
    wanted = list(dict.fromkeys(entries))
    if not wanted:
        return 0
    contact_ids = {c for c, _ in wanted}
    live: set[int] = set()
    runs: list[Any] = []
    ordered = sorted(contact_ids)
    for start in range(0, len(ordered), 2000):
        chunk = ordered[start : start + 2000]
        live.update(session.scalars(select(Contact.id).where(Contact.id.in_(chunk), Contact.merged_into_id.is_(None))))
        runs += session.execute(
            select(JourneyRun.contact_id, JourneyRun.status, JourneyRun.ended_at).where(
                JourneyRun.journey_id == journey_id, JourneyRun.contact_id.in_(chunk)
            )
        ).all()
    blocked: set[int] = set()
    policy = definition.entry
    for contact_id, status, ended_at in runs:
        if policy.re_entry is jd.ReEntry.never or (
            policy.re_entry is jd.ReEntry.after_exit
            and (status not in ENDED or ended_at is None or ended_at > now - timedelta(days=policy.cooldown_days))
        ):
            blocked.add(contact_id)
    # Keys seen before enter nobody, and are left out first: a re-read old key must not take the place
    # of a contact's new one.
    keys = sorted({key[:200] for _, key in wanted})
    known: set[str] = set()
    for start in range(0, len(keys), 2000):
        some = keys[start : start + 2000]
        found = select(JourneyRun.entry_key).where(JourneyRun.journey_id == journey_id, JourneyRun.entry_key.in_(some))
        known.update(session.scalars(found))
    ws = int(session.info[WORKSPACE_KEY])
    rows: list[dict[str, Any]] = []
    taken: set[int] = set()
    for contact_id, key in wanted:
        if contact_id not in live or contact_id in blocked or key[:200] in known:
            continue
        if policy.re_entry is not jd.ReEntry.always:
            if contact_id in taken:
                continue
            taken.add(contact_id)
        rows.append(
            {
                "workspace_id": ws,
                "journey_id": journey_id,
                "version": journey.published_version,
                "contact_id": contact_id,
                "entry_key": key[:200],
                "node": definition.start,
                "status": "waiting",
                "due_at": now,
                "steps": 0,
                "entered_at": now,
            }
        )
    insert_rows(session, JourneyRun, rows, skip_conflicts_on=["journey_id", "entry_key"])
    return len(rows)


@dataclass
class Run:
    """A due run as the engine steps it (plain values: the batch writes them back in one statement)."""

    id: int
    journey_id: int
    version: int
    contact_id: int
    node: str | None
    steps: int
    entered_at: datetime
    waiting_since: datetime | None = None
    status: str = "waiting"
    due_at: datetime | None = None
    ended_at: datetime | None = None
    exit_reason: str | None = None


def _due(session: Session, now: datetime, limit: int, journey_id: int | None = None) -> list[Run]:
    query = (
        select(
            JourneyRun.id,
            JourneyRun.journey_id,
            JourneyRun.version,
            JourneyRun.contact_id,
            JourneyRun.node,
            JourneyRun.steps,
            JourneyRun.entered_at,
            JourneyRun.waiting_since,
        )
        .join(Journey, Journey.id == JourneyRun.journey_id)
        .where(JourneyRun.status == "waiting", JourneyRun.due_at <= now, Journey.status == "active")
        .order_by(JourneyRun.due_at, JourneyRun.id)
        .limit(limit)
    )
    if journey_id is not None:
        query = query.where(JourneyRun.journey_id == journey_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=JourneyRun, skip_locked=True)  # several workers share the runs
    return [Run(*row) for row in session.execute(query)]


def _write_back(session: Session, runs: Sequence[Run]) -> None:
    """The runs' new positions, one UPDATE by primary key for the whole batch."""
    session.execute(
        update(JourneyRun),
        [
            {
                "id": r.id,
                "node": r.node,
                "status": r.status,
                "due_at": r.due_at,
                "steps": r.steps,
                "waiting_since": r.waiting_since,
                "ended_at": r.ended_at,
                "exit_reason": r.exit_reason,
            }
            for r in runs
        ],
    )


def _pick(unit: str, node_id: str, weights: Sequence[int]) -> int:
    """A branch index from a hash of the contact in the journey and the node: the same on every replay,
    and on every entry of the contact (a re-entering contact stays in their branch)."""
    digest = hashlib.blake2b(f"{unit}:{node_id}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % sum(weights)
    for index, weight in enumerate(weights):
        if point < weight:
            return index
        point -= weight
    return len(weights) - 1


def _holdout(unit: str, node_id: str, percent: int) -> bool:
    digest = hashlib.blake2b(f"holdout:{unit}:{node_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100 < percent


def next_time_of_day(now: datetime, at: str, weekdays: Sequence[int] | None, tz: ZoneInfo) -> datetime:
    """The first local ``at`` (HH:MM) strictly after ``now`` on one of ``weekdays`` (1 = Monday)."""
    wall = jd.clock_time(at)
    local = now.astimezone(tz)
    for offset in range(0, 8):
        day = local.date() + timedelta(days=offset)
        if weekdays and day.isoweekday() not in weekdays:
            continue
        candidate = datetime.combine(day, wall, tzinfo=tz)
        # A wall time skipped by a DST change resolves forward (fold 0 of a missing time lands after it).
        instant = candidate.astimezone(ZoneInfo("UTC"))
        if instant > now:
            return instant
    raise AssertionError("a week always holds a matching day")


def _goal_reached(session: Session, definition: jd.Journey, runs: Sequence[Run]) -> set[int]:
    goal = definition.goal
    if goal is None or not runs:
        return set()
    earliest = min(r.entered_at for r in runs)
    rows = session.execute(
        select(Event.contact_id, Event.occurred_at, Event.properties).where(
            Event.name == goal.event,
            Event.contact_id.in_({r.contact_id for r in runs}),
            Event.occurred_at >= earliest,
        )
    ).all()
    reached: set[int] = set()
    by_contact: dict[int, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    for contact_id, occurred_at, properties in rows:
        if all(matches(f, properties or {}) for f in goal.where):
            by_contact[contact_id].append((occurred_at, properties))
    for run in runs:
        limit = run.entered_at + timedelta(days=goal.within_days) if goal.within_days else None
        if any(at >= run.entered_at and (limit is None or at <= limit) for at, _ in by_contact.get(run.contact_id, [])):
            reached.add(run.id)
    return reached


def step_due(
    session: Session,
    now: datetime,
    *,
    limit: int = 5000,
    conditions: Condition | None = None,
    journey_id: int | None = None,
) -> StepReport:
    """Step the runs that are due (at most ``limit``; of one journey with ``journey_id``) in the caller's
    transaction."""
    report = StepReport()
    workspace_id = int(session.info[WORKSPACE_KEY])
    if session.get_bind().dialect.name == "postgresql":
        # One batch at a time per workspace: two at once could each read a contact's history before the
        # other's messages and both pass a daily cap. (SQLite has one writer anyway.)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STEP_LOCK + workspace_id})
    runs = _due(session, now, limit, journey_id)
    if not runs:
        return report
    report.runs = len(runs)
    ws = session.get(Workspace, workspace_id)
    assert ws is not None
    tz = ZoneInfo(ws.timezone)
    governance = parse_governance(ws.governance or None)
    cache: dict[tuple[int, int], jd.Journey] = {}
    groups: dict[tuple[int, int], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.journey_id, run.version)].append(run)
    messages: list[ledger.Message] = []
    tasks: list[dict[str, Any]] = []
    tags: dict[tuple[int, str], list[int]] = defaultdict(list)  # (tag id, add/remove) → contacts
    for (journey_id, version), group in groups.items():
        definition = version_definition(session, journey_id, version, cache)
        converted = _goal_reached(session, definition, group)
        active = []
        for run in group:
            if run.id in converted:
                _end(run, "converted", now, "goal reached")
                report.ended += 1
            else:
                active.append(run)
        waiting_on = _resolve_waits(session, definition, [r for r in active if r.waiting_since is not None], now)
        active = [r for r in active if r.id not in waiting_on]
        # Waves: each executes one node of every run still moving; conditions are decided per wave.
        while active:
            moving: list[Run] = []
            at_condition: dict[str, list[Run]] = defaultdict(list)
            for run in active:
                node_id = run.node
                if node_id is None:
                    _end(run, "done", now, None)
                    report.ended += 1
                    continue
                node = definition.nodes[node_id]
                if isinstance(node, jd.Condition):
                    at_condition[node_id].append(run)
                    continue
                run.steps += 1
                report.steps += 1
                report.by_node[node_id] = report.by_node.get(node_id, 0) + 1
                source = f"journey:{journey_id}"
                key = f"journey:{journey_id}:v{version}:run:{run.id}:{node_id}"
                if isinstance(node, jd.Wait):
                    run.node, run.due_at = node.next, now + timedelta(seconds=jd.duration_seconds(node.duration))
                    if node.next is None:
                        _end(run, "done", now, None)
                        report.ended += 1
                    continue
                if isinstance(node, jd.WaitUntil):
                    run.node, run.due_at = node.next, next_time_of_day(now, node.time, node.weekdays, tz)
                    if node.next is None:
                        _end(run, "done", now, None)
                        report.ended += 1
                    continue
                if isinstance(node, jd.WaitEvent):
                    # Waits here from now; an event moves it on (see _resolve_waits), else the timeout does.
                    run.waiting_since = now
                    run.due_at = now + timedelta(seconds=jd.duration_seconds(node.timeout))
                    continue
                if isinstance(node, jd.Exit):
                    _end(run, "exited", now, node.reason)
                    report.ended += 1
                    continue
                if isinstance(node, jd.RandomSplit):
                    unit = f"{journey_id}:{run.contact_id}"
                    if node.holdout and _holdout(unit, node_id, node.holdout):
                        _end(run, "holdout", now, f"control group of {node_id}")
                        report.ended += 1
                        continue
                    branch = node.branches[_pick(unit, node_id, [b.weight for b in node.branches])]
                    run.node = branch.next
                    moving.append(run)
                    continue
                if isinstance(node, jd.Send):
                    content = node.content.model_dump(mode="json", exclude_none=True)
                    messages.append(
                        ledger.Message(
                            run.contact_id, key, source, node.channel, content, node.priority, node.promotional
                        )
                    )
                elif isinstance(node, jd.Task):
                    tasks.append(
                        {
                            "workspace_id": ws.id,
                            "contact_id": run.contact_id,
                            "dedup_key": key,
                            "source": source,
                            "assignee": node.assignee,
                            "title": node.title,
                            "description": node.description,
                            "status": "open",
                            "due_at": now + timedelta(seconds=jd.duration_seconds(node.due_in)),
                            "created_at": now,
                        }
                    )
                elif isinstance(node, jd.TagAction):
                    for tag_id in node.add:
                        tags[(tag_id, "add")].append(run.contact_id)
                    for tag_id in node.remove:
                        tags[(tag_id, "remove")].append(run.contact_id)
                elif isinstance(node, jd.SetProperty):
                    contact = session.get(Contact, run.contact_id)
                    if contact is not None:
                        contact.properties = {**(contact.properties or {}), node.key: node.value}
                        contact.updated_at = now
                elif isinstance(node, jd.Webhook):
                    # A call, not a message to the contact: through the webhook channel's ledger and state
                    # machine (signed, retried, reconciled by its key), outside the governance of messages.
                    call = {"kind": CALL, "url": node.url, "payload": node.payload}
                    messages.append(ledger.Message(run.contact_id, key, source, "webhook", call, Priority.service))
                else:
                    raise InvalidInput.on(f"nodes.{node_id}", f"{node.type} nodes are not run by this engine yet")
                run.node = node.next
                moving.append(run)
            for node_id, waiting in at_condition.items():
                node = definition.nodes[node_id]
                assert isinstance(node, jd.Condition)
                try:
                    holds = conditions(definition, node_id, waiting) if conditions else set()
                except LakeBusy:  # a refresh holds the analytics store: these runs try again shortly
                    for run in waiting:
                        run.due_at = now + CONDITION_RETRY
                    continue
                for run in waiting:
                    run.steps += 1
                    report.steps += 1
                    report.by_node[node_id] = report.by_node.get(node_id, 0) + 1
                    run.node = node.then if run.id in holds else node.else_
                    moving.append(run)
            for run in moving:
                if run.node is None:
                    _end(run, "done", now, None)
                    report.ended += 1
            active = [r for r in moving if r.node is not None and r.status == "waiting"]
    _write_back(session, runs)
    decisions = ledger.queue(session, messages, governance, ws.timezone, now)
    report.messages = sum(1 for d in decisions if d.action != "block")
    report.blocked = sum(1 for d in decisions if d.action == "block")
    _assign_owners(session, tasks)
    insert_rows(session, StaffTask, tasks, skip_conflicts_on=["workspace_id", "dedup_key"])
    report.tasks = len(tasks)
    _apply_tags(session, tags, now)
    session.flush()
    return report


def _resolve_waits(session: Session, definition: jd.Journey, runs: Sequence[Run], now: datetime) -> set[int]:
    """Runs that were waiting at a ``wait_event`` node and are due go on to ``next`` when the contact did
    the event since the wait began, or to ``on_timeout`` (or the end) when the timeout has come. Returns
    the others (woken early by an event its filters refuse): they wait on."""
    by_node: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.node is not None and isinstance(definition.nodes.get(run.node), jd.WaitEvent):
            by_node[run.node].append(run)
    waiting_on: set[int] = set()
    for node_id, waiting in by_node.items():
        node = definition.nodes[node_id]
        assert isinstance(node, jd.WaitEvent)
        happened = did_event(session, node.event, node.where, waiting)
        timeout = timedelta(seconds=jd.duration_seconds(node.timeout))
        for run in waiting:
            since = run.waiting_since
            assert since is not None
            if run.id in happened:
                run.node, run.waiting_since = node.next, None
            elif now >= since + timeout:
                run.node, run.waiting_since = node.on_timeout, None
            else:
                run.due_at = since + timeout
                waiting_on.add(run.id)
    return waiting_on


def did_event(session: Session, name: str, where: Sequence[Any], runs: Sequence[Run]) -> set[int]:
    """Of ``runs``, those whose contact did event ``name`` (matching ``where``) since the run began waiting."""
    found: set[int] = set()
    earliest = min(r.waiting_since for r in runs if r.waiting_since is not None)
    by_contact: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        by_contact[run.contact_id].append(run)
    contacts = sorted(by_contact)
    for start in range(0, len(contacts), 2000):
        rows = session.execute(
            select(Event.contact_id, Event.occurred_at, Event.properties).where(
                Event.name == name,
                Event.contact_id.in_(contacts[start : start + 2000]),
                Event.occurred_at >= earliest,
            )
        )
        for contact_id, occurred_at, properties in rows:
            if not all(matches(test, properties or {}) for test in where):
                continue
            for run in by_contact[contact_id]:
                if run.waiting_since is not None and occurred_at >= run.waiting_since:
                    found.add(run.id)
    return found


def _assign_owners(session: Session, tasks: list[dict[str, Any]]) -> None:
    """Tasks without an assignee go to the contact's owner (the staff member's userid), when it has one."""
    unassigned = sorted({t["contact_id"] for t in tasks if t["assignee"] is None})
    owners: dict[int, str] = {}
    for start in range(0, len(unassigned), 2000):
        rows = session.execute(
            select(Contact.id, StaffMember.userid)
            .join(StaffMember, StaffMember.id == Contact.owner_staff_id)
            .where(Contact.id.in_(unassigned[start : start + 2000]))
        )
        owners.update({int(c): str(u) for c, u in rows})
    for task in tasks:
        if task["assignee"] is None:
            task["assignee"] = owners.get(task["contact_id"])


def _apply_tags(session: Session, tags: dict[tuple[int, str], list[int]], now: datetime) -> None:
    for (tag_id, verb), contact_ids in sorted(tags.items()):
        tag = session.get(Tag, tag_id)
        if tag is None:  # deleted since the journey was published: the step does nothing
            continue
        if verb == "add":
            tagging.apply(session, tag, contact_ids, source="journey", now=now)
        else:
            tagging.unapply(session, tag, contact_ids, source="journey", now=now)


def _end(run: Run, status: str, now: datetime, reason: str | None) -> None:
    run.status, run.ended_at, run.due_at = status, now, None
    run.exit_reason = reason[:200] if reason else None
