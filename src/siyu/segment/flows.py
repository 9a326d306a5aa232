"""The analytics refresh of a workspace: copy what changed into the analytics store, rescore the
built-in tiers, apply auto-tags, recompute segments and write their membership back.

* **full**: every contact is rescored and every dynamic segment recomputed as of now, so that windows
  ("the last 30 days", "90 days without a purchase") move on for everybody. Scheduled daily.
* **incremental**: only the contacts the sync touched (new events or orders, changed, merged) are
  rescored and re-evaluated, less those whose only new events are ones that no tier, auto-tag or segment
  reads (such as the ``segment_entered`` events of the last refresh); everybody else keeps their place
  until the next full refresh. RFM scores of the touched contacts are placed against the distribution of
  the last full refresh, and their CLV predictions use its fitted parameters. Scheduled every few
  minutes, and queued when a segment is saved.

Each step commits on its own (see :mod:`siyu.segment.membership` for why a refresh killed at any point
leaves the previous membership intact and the next refresh completes it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.errors import InvalidInput
from siyu.filters.compiler import BrokenReference, Context, DefinitionProblem, compile_segment, render
from siyu.filters.context import load_context, local_now
from siyu.filters.definition import event_window_days, parse, references
from siyu.kit.db import refresh_planner_statistics, transaction
from siyu.kit.time import utcnow
from siyu.lake.derived import RELATION_EVENTS
from siyu.lake.scope import drop_scope, scope_tables
from siyu.lake.store import Lake, first_row
from siyu.lake.sync import SyncStats, sync_into
from siyu.models import Segment, Tag, Workspace
from siyu.segment import membership, repository
from siyu.tag import service as tagging
from siyu.tiers import refresh as tiers
from siyu.tiers.scores import day_number, event_horizon_days
from siyu.tiers.settings import TierSettings, parse_settings

Progress = Callable[[str, int, int], None]
SCOPE_MEMBERS = "scope_segment_members"  # an incremental refresh's copy of the touched contacts' memberships
MODES = ("full", "incremental")


@dataclass
class SegmentOutcome:
    segment_id: int
    name: str
    refresh_no: int
    size: int
    entered: int = 0
    left: int = 0
    skipped: str | None = None


@dataclass
class TagOutcome:
    tag_id: int
    name: str
    added: int = 0
    removed: int = 0
    skipped: str | None = None


@dataclass
class RefreshReport:
    workspace_id: int
    mode: str
    as_of: datetime
    sync: SyncStats
    tiers: tiers.TierReport | None = None
    tags: list[TagOutcome] = field(default_factory=list)
    segments: list[SegmentOutcome] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    # Of the touched contacts, those rescored and re-evaluated (None: everybody, a full refresh).
    refreshed: set[int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "mode": self.mode,
            "as_of": self.as_of.isoformat(),
            "synced": self.sync.copied,
            "touched_contacts": len(self.sync.touched),
            "refreshed_contacts": None if self.refreshed is None else len(self.refreshed),
            "contacts_scored": self.tiers.contacts if self.tiers else 0,
            "clv": None
            if self.tiers is None
            else {
                "fitted": self.tiers.clv.fitted,
                "reason": self.tiers.clv.reason,
                **self.tiers.clv.bgnbd,
                **self.tiers.clv.gamma_gamma,
            },
            "tags": [t.__dict__ for t in self.tags],
            "segments": [s.__dict__ for s in self.segments],
            "recovered": self.recovered,
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "seconds": round(self.seconds, 3),
        }


def refresh_workspace(
    factory: sessionmaker[Session],
    lake: Lake,
    workspace_id: int,
    *,
    mode: str = "full",
    as_of: datetime | None = None,
    segment_ids: Collection[int] = (),
    snapshot: bool = False,
    progress: Progress | None = None,
) -> RefreshReport:
    if mode not in MODES:
        raise ValueError(f"mode is one of {', '.join(MODES)}")
    started = time.perf_counter()
    phase_started = started
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        nonlocal phase_started
        now = time.perf_counter()
        phases[name] = now - phase_started
        phase_started = now

    with lake.write() as con:  # one opening of the store for the sync and the rest
        stats = sync_into(con, factory, workspace_id)
        phase("sync")
        with transaction(factory, workspace_id=workspace_id) as session:
            workspace = session.get(Workspace, workspace_id)
            assert workspace is not None
            settings = parse_settings(workspace.tier_settings)
            moment = as_of or local_now(workspace.timezone)
            context = load_context(session, workspace_id, as_of=moment)
            lookback, read = _events_read(session, settings) if mode == "incremental" else (None, None)
        report = RefreshReport(workspace_id, mode, moment, stats, phases=phases)
        incremental = mode == "incremental" and _has_scores(con, workspace_id)
        dirty: set[int] | None = stats.touched_for(read) if incremental else None
        report.refreshed = dirty
        since = None if lookback is None else day_number(moment) - lookback
        tables = scope_tables(con, workspace_id, dirty, events_from_day=since) if dirty else None
        phase("scope")
        try:
            if dirty is None or dirty:
                con.execute("BEGIN")
                try:
                    report.tiers = tiers.compute(con, workspace_id, moment, settings, tables=tables)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            phase("tiers")
            if progress:
                progress("tiers", 1, 1)
            scoped = _context_for(context, "definition", tables or {})
            report.tags = _auto_tags(factory, con, workspace_id, scoped, dirty, moment)
            phase("tags")
            report.segments, report.recovered = _segments(
                factory, con, workspace_id, context, scoped, dirty, set(segment_ids), snapshot, mode, progress
            )
            phase("segments")
        finally:
            if tables:
                drop_scope(con, tables)
    with transaction(factory, workspace_id=workspace_id) as session:
        refresh_planner_statistics(session)  # the refresh wrote memberships, tags and events
    report.seconds = time.perf_counter() - started
    return report


def _events_read(session: Session, settings: TierSettings) -> tuple[int | None, set[str]]:
    """What the tiers, the auto-tags and the segments read of the events: how many days back (None: all
    of them) and which names."""
    longest: int | None = event_horizon_days(settings)
    names = {*settings.engagement_events, *RELATION_EVENTS}
    definitions = list(session.scalars(select(Segment.definition)))
    definitions += list(session.scalars(select(Tag.rule).where(Tag.rule.is_not(None))))
    for raw in definitions:
        try:
            definition = parse(raw)
        except InvalidInput:  # flagged when compiled; it reads nothing
            continue
        names |= references(definition)["events"]
        days = event_window_days(definition)
        longest = None if days is None or longest is None else max(longest, days)
    return longest, names


def _has_scores(con: duckdb.DuckDBPyConnection, ws: int) -> bool:
    row = first_row(con.execute("SELECT count(*) FROM contact_scores WHERE workspace_id = ?", [ws]))
    return bool(row and row[0])


def _lake_ids(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> set[int]:
    return {int(v) for v in con.execute(sql, params or []).fetchnumpy()["contact_id"].tolist()}


def _with_dirty(con: duckdb.DuckDBPyConnection, dirty: set[int] | None) -> str:
    """A SQL condition limiting contact ids to ``dirty`` (registered as a table), or nothing."""
    if dirty is None:
        return ""
    con.register("refresh_dirty", pa.table({"contact_id": pa.array(sorted(dirty), type=pa.int64())}))
    return " AND contact_id IN (SELECT contact_id FROM refresh_dirty)"


def _auto_tags(
    factory: sessionmaker[Session],
    con: duckdb.DuckDBPyConnection,
    ws: int,
    context: Context,
    dirty: set[int] | None,
    now_local: datetime,
) -> list[TagOutcome]:
    with transaction(factory, workspace_id=ws) as session:
        rules = [
            (t.id, t.name, t.rule, t.remove_when_false)
            for t in session.scalars(select(Tag).where(Tag.rule.is_not(None)))
        ]
    outcomes: list[TagOutcome] = []
    if dirty is not None and not dirty:
        return [TagOutcome(tag_id, name, skipped="unchanged") for tag_id, name, _, _ in rules]
    scope = _with_dirty(con, dirty)
    for tag_id, name, rule, remove_when_false in rules:
        outcome = TagOutcome(tag_id, name)
        outcomes.append(outcome)
        try:
            query = compile_segment(parse(rule, "rule"), _context_for(context, "rule", context.tables))
        except DefinitionProblem as problem:
            outcome.skipped = problem.detail
            with transaction(factory, workspace_id=ws) as session:
                found = session.get(Tag, tag_id)
                if found is not None:
                    found.broken_reason = problem.detail[:500]
            continue
        members = _lake_ids(con, f"SELECT contact_id FROM ({render(query)}) AS q WHERE TRUE{scope}")  # noqa: S608
        holders = _lake_ids(
            con,
            f"SELECT contact_id FROM contact_tags WHERE workspace_id = ? AND tag_id = ? AND source = 'rule'{scope}",  # noqa: S608
            [ws, tag_id],
        )
        others = _lake_ids(
            con,
            f"SELECT contact_id FROM contact_tags WHERE workspace_id = ? AND tag_id = ? AND source <> 'rule'{scope}",  # noqa: S608
            [ws, tag_id],
        )
        add = sorted(members - holders - others)
        remove = sorted(holders - members) if remove_when_false else []
        if not add and not remove:
            continue
        now = utcnow()
        with transaction(factory, workspace_id=ws) as session:
            tag = session.get(Tag, tag_id)
            if tag is None:
                continue
            if add:
                outcome.added = tagging.apply(session, tag, add, source="rule", now=now).changed
            if remove:
                outcome.removed = tagging.unapply(
                    session, tag, remove, source="rule", only_source="rule", now=now
                ).changed
        con.execute("BEGIN")
        try:
            con.register("tag_add", pa.table({"contact_id": pa.array(add, type=pa.int64())}))
            con.register("tag_remove", pa.table({"contact_id": pa.array(remove, type=pa.int64())}))
            con.execute(
                "DELETE FROM contact_tags WHERE workspace_id = ? AND tag_id = ? AND source = 'rule' "
                "AND contact_id IN (SELECT contact_id FROM tag_remove)",
                [ws, tag_id],
            )
            con.execute("INSERT INTO contact_tags SELECT ?, contact_id, ?, 'rule' FROM tag_add", [ws, tag_id])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("tag_add")
            con.unregister("tag_remove")
    if dirty is not None:
        con.unregister("refresh_dirty")
    return outcomes


def _context_for(context: Context, prefix: str, tables: Mapping[str, str]) -> Context:
    return replace(context, field_prefix=prefix, tables=dict(tables))


def _order(segments: list[Segment]) -> list[Segment]:
    """Segments that include others come after them (definitions are saved without cycles)."""
    by_id = {s.id: s for s in segments}
    needs: dict[int, set[int]] = {}
    for seg in segments:
        try:
            needs[seg.id] = {r for r in references(parse(seg.definition))["segments"] if r in by_id}
        except InvalidInput:  # an unparsable definition is flagged when compiled
            needs[seg.id] = set()
    ordered: list[Segment] = []
    done: set[int] = set()
    while len(ordered) < len(segments):
        ready = [s for s in segments if s.id not in done and needs[s.id] <= done]
        if not ready:  # a cycle saved before the check existed: go on in id order
            ready = [min((s for s in segments if s.id not in done), key=lambda s: s.id)]
        for seg in sorted(ready, key=lambda s: s.id):
            ordered.append(seg)
            done.add(seg.id)
    return ordered


def _segments(
    factory: sessionmaker[Session],
    con: duckdb.DuckDBPyConnection,
    ws: int,
    context: Context,
    scoped: Context,
    dirty: set[int] | None,
    requested: set[int],
    snapshot: bool,
    mode: str,
    progress: Progress | None,
) -> tuple[list[SegmentOutcome], list[str]]:
    """All segments in three transactions, whatever their number: the changes of every segment in the
    analytics store, their write-back to the operational store (the commit point), then applying them
    in the store (see :mod:`siyu.segment.membership`). Segments that include others read the others'
    new membership (``refresh_members``), so they are computed in dependency order."""
    with transaction(factory, workspace_id=ws) as session:
        segments = _order(repository.segments(session))
        for seg in segments:
            session.expunge(seg)
        recovered = []
        for seg in segments:
            note = membership.recover(con, session, ws, seg.id, seg.refresh_no)
            if note:
                recovered.append(f"segment {seg.id}: {note}")
    outcomes: list[SegmentOutcome] = []
    changes: list[tuple[Segment, membership.Change]] = []
    broken: dict[int, str] = {}
    with_new = _context_tables(context, {"segment_members": "refresh_members"})
    scoped_new = _context_tables(scoped, {"segment_members": "refresh_members"})
    membership.open_next_view(con)
    con.execute("BEGIN")
    try:
        if dirty:
            membership.scope_members(con, ws, dirty, SCOPE_MEMBERS)
            sizes = membership.sizes(con, ws)
        for done, seg in enumerate(segments, 1):
            outcome = SegmentOutcome(seg.id, seg.name, seg.refresh_no, seg.size)
            outcomes.append(outcome)
            first = seg.refresh_no == 0
            if seg.kind == "static" and not first and not (snapshot and seg.id in requested):
                outcome.skipped = "static"
                continue
            whole = first or seg.id in requested or dirty is None
            if not whole and not dirty:
                outcome.skipped = "unchanged"
                continue
            try:
                query = compile_segment(parse(seg.definition), with_new if whole else scoped_new)
            except (BrokenReference, DefinitionProblem) as problem:
                outcome.skipped = problem.detail
                broken[seg.id] = problem.detail[:500]
                continue
            if whole:
                change = membership.stage_changes(con, ws, seg.id, query, seg.refresh_no + 1)
            else:
                change = membership.stage_changes(
                    con,
                    ws,
                    seg.id,
                    query,
                    seg.refresh_no + 1,
                    only=dirty,
                    members=SCOPE_MEMBERS,
                    size=sizes.get(seg.id, 0),
                )
            if not change.entered and not change.left and not first and mode == "incremental":
                membership.unstage(con, ws, seg.id)
                outcome.skipped = "unchanged"
                continue
            changes.append((seg, change))
            if progress:
                progress("segments", done, len(segments))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {SCOPE_MEMBERS}")
    now = utcnow()
    written: set[int] = set()
    with transaction(factory, workspace_id=ws) as session:
        for seg, change in changes:
            if membership.write_back(
                session,
                ws,
                change,
                expected_refresh_no=seg.refresh_no,
                definition_version=seg.version,
                segment_name=seg.name,
                now=now,
                emit_events=seg.refresh_no > 0 or seg.kind == "dynamic",
            ):
                written.add(seg.id)
        for seg in segments:
            found = repository.segment(session, seg.id) if seg.id in broken or seg.broken_reason else None
            if found is not None:
                found.broken_reason = (
                    broken.get(seg.id) if seg.id in broken else (None if seg.id in written else found.broken_reason)
                )
    con.execute("BEGIN")
    try:
        for seg, change in changes:
            if seg.id in written:
                membership.promote(con, ws, seg.id, change.refresh_no)
            else:
                membership.unstage(con, ws, seg.id)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    by_id = {o.segment_id: o for o in outcomes}
    for seg, change in changes:
        outcome = by_id[seg.id]
        if seg.id not in written:
            outcome.skipped = "refreshed by another process meanwhile"
            continue
        outcome.refresh_no, outcome.size = change.refresh_no, change.size
        outcome.entered, outcome.left = len(change.entered), len(change.left)
    return outcomes, recovered


def _context_tables(context: Context, extra: dict[str, str]) -> Context:
    return _context_for(context, context.field_prefix, {**context.tables, **extra})
