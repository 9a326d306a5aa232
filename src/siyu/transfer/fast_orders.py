"""The fast path for CSV order files on SQLite: the same data and the same rejections as the generic
path (``files.read_records`` → ``msgspec.convert`` → ``orders.ingest``), worked out column by column.

- **Reading**: the same CSV reader, blank-row skipping, line numbers and chunk boundaries as the
  generic path; rows become columns 200 at a time (so that few objects live through a garbage-collector
  pass: its full passes would otherwise cost more than the checks).
- **Checks**: each column is checked against a *strict* form the generic path certainly accepts with
  the same value: canonical integers; ``YYYY-MM-DD HH:MM:SS[.ffffff][Z|±HH:MM]`` times; known sales
  channels and currencies; ``items`` decoded by msgspec straight into structs that carry the generic
  limits as constraints and encoded back in the generic path's key order (msgspec writes every string as
  orjson does). Repeated cells are worked out once (per-import memos). A row that misses any strict form
  is *not* rejected here: the generic code itself (``ColumnMap.record``, ``convert``,
  ``orders.validate``) decides it, so it is stored or rejected with exactly the generic field and reason.
  A chunk where such a row brings refunds or a ``contact_id`` is handed whole to ``orders.ingest``.
- **Identity**: a per-import cache, per identity column, value → (identity id, contact id), loaded in
  one query at the first chunk (when the workspace holds a sane number of such keys; otherwise filled
  chunk by chunk). While nobody else writes to the store between chunks (``PRAGMA data_version`` and the
  connection's change count tell) the cache stays exact; once someone has, every chunk checks the
  cached identities it uses against the store in one query, inside its transaction, so merges, unmerges
  and deletions by other writers are seen. A row whose keys are all cached and name one contact goes to
  that contact (its highest-ranked key's identity): what the resolver decides for such a row, which
  creates and merges nothing. All other rows go through :class:`~siyu.identity.resolver.Resolver` in
  file order, as in the generic path; rows the cache gave to a contact that call merged away follow the
  merge to the survivor.
- **Storing**: one ``executemany`` of ready tuples per chunk (SQLite text for times and JSON),
  ``ON CONFLICT (workspace_id, order_id) DO NOTHING``; the rowcount gives the duplicates.

PostgreSQL, JSONL and XLSX files and ``--emit-events`` imports take the generic path.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import compress, islice
from operator import itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.identity.keys import PERSONAL, IdentityKey, parse_name
from siyu.identity.resolver import Resolver
from siyu.ingestion import orders
from siyu.ingestion.context import BatchContext
from siyu.ingestion.records import RecordProblem, convert, rejection
from siyu.ingestion.schemas import BatchResult, OrderIn, Rejection
from siyu.kit.bulk import (
    all_identities,
    count_identities,
    insert_tuples,
    lookup_identities,
    moved_identities,
    sqlite_datetime,
    store_marker,
)
from siyu.models import MergeRecord, SalesOrder
from siyu.transfer.files import CellProblem, ColumnMap, csv_rows
from siyu.transfer.order_cells import (
    _BAD,
    _BATCH,
    CHANNELS,
    FAST_FIELDS,
    REQUIRED,
    _currency,
    _identity_cell,
    _Memo,
    _paid_text,
    _plain_cell,
    amount,
    items_text,
    paid_utc,
)


@dataclass
class Chunk:
    """A chunk's rows as columns (one list per header column), after the checks that need no store.
    Where ``fast[i]`` is False the row's values in the typed columns mean nothing."""

    lines: list[int]
    cells: list[list[str]]
    fast: list[bool] = field(default_factory=list)
    order_ids: list[Any] = field(default_factory=list)
    amounts: list[Any] = field(default_factory=list)
    currencies: list[Any] = field(default_factory=list)
    channels: list[Any] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)
    keys: list[list[str | None]] = field(default_factory=list)  # one normalized value list per identity column

    def row(self, i: int) -> list[str]:
        return [column[i] for column in self.cells]


class FastOrderImport:
    """One CSV order file: :meth:`chunks` reads it, :meth:`prepare` checks a chunk outside the
    transaction, :meth:`ingest` stores it inside one."""

    def __init__(self, path: Path, workspace_id: int, actor_label: str, expected_rows: int) -> None:
        self.path = path
        self.workspace_id = workspace_id
        self.actor_label = actor_label
        # More stored keys than this per identity column are looked up chunk by chunk instead.
        self.preload_limit = min(1_000_000, 2 * expected_rows + 50_000)
        self.columns = ColumnMap([])
        self.width = 0
        self.field_at: dict[str, int] = {}
        self.items_at: int | None = None
        self.identity_at: list[int] = []
        self.identity_kinds: list[tuple[str, str]] = []
        self.other_at: list[int] = []  # columns only the generic path reads (refunds, contact_id, …)
        self._times = _Memo(str)
        self._times_tz: ZoneInfo | None = None
        self._items = _Memo(items_text)
        self._amounts = _Memo(amount)
        self._currencies = _Memo(_currency)
        self._cells: list[_Memo] = []  # per identity column: cell → normalized value
        self._known: list[dict[str, tuple[int, int]]] = []  # per identity column: value → (identity, contact)
        self._complete: list[bool] = []  # the column's cache holds every stored key of its kind
        self._loaded = False
        # Whether every cache entry is still what the store holds, and the store as last seen: while
        # nobody else changes the store between chunks, cached keys need no checking.
        self._trusted = False
        self._marker: tuple[object, int, int] | None = None

    # --- reading ----------------------------------------------------------------------------

    def chunks(self, size: int) -> Iterator[Chunk]:
        """Chunks of ``size`` records, numbered and skipped exactly as ``files.read_records`` does
        (lines count CSV records from the header; blank rows are skipped)."""
        rows = csv_rows(self.path)
        try:
            header = next(rows)
        except StopIteration:
            return
        self._header([str(h or "") for h in header])
        width = self.width
        chunk = Chunk([], [[] for _ in range(width)])
        line = 2
        # Never a row past the chunk's last before the chunk is handed over: a file that turns out
        # unreadable further on fails after the same chunks as on the generic path.
        while batch := list(islice(rows, min(_BATCH, size - len(chunk.lines)))):
            lines = list(range(line, line + len(batch)))
            line += len(batch)
            if not all(map(any, batch)):  # blank rows are skipped
                lines = [n for n, cells in zip(lines, batch, strict=True) if any(cells)]
                batch = [cells for cells in batch if any(cells)]
            if set(map(len, batch)) != {width}:
                # As ColumnMap.record: missing cells are absent, extra cells ignored.
                batch = [(cells + [""] * width)[:width] for cells in batch]
            chunk.lines.extend(lines)
            if width and batch:
                for column, values in zip(chunk.cells, zip(*batch, strict=True), strict=True):
                    column.extend(values)
            if len(chunk.lines) >= size:
                yield chunk
                chunk = Chunk([], [[] for _ in range(width)])
        if chunk.lines:
            yield chunk

    def _header(self, header: list[str]) -> None:
        self.columns = ColumnMap(header)
        self.width = len(header)
        for at, (kind, name) in enumerate(self.columns.kinds):
            if kind == "field" and name in FAST_FIELDS:
                self.field_at[name] = at
            elif kind == "json" and name == "items":
                self.items_at = at
            elif kind == "identity":
                parsed, scope = parse_name(name)
                self.identity_at.append(at)
                self.identity_kinds.append((parsed.value, scope))
                normalize = _identity_cell if parsed in PERSONAL else _plain_cell
                self._cells.append(_Memo(functools.partial(normalize, name)))
                self._known.append({})
                self._complete.append(False)
            else:
                self.other_at.append(at)

    # --- checks without the store -------------------------------------------------------------

    def prepare(self, chunk: Chunk) -> Chunk:
        n = len(chunk.lines)
        cells = chunk.cells
        usable = bool(self.identity_at) and all(f in self.field_at for f in REQUIRED)
        fast = [usable] * n
        absent = [""] * n

        def column(name: str) -> list[str]:
            at = self.field_at.get(name)
            return cells[at] if at is not None else absent

        def failing(values: list[Any], bad: Any = None) -> None:
            if bad in values:
                for i, v in enumerate(values):
                    if v == bad:
                        fast[i] = False

        # Whole-column checks first (C speed); row by row only where a column has a bad cell.
        ids = column("order_id")
        if ids and min(map(len, ids)) > 0 and max(map(len, ids)) <= 128 and "\x00" not in "".join(ids):
            chunk.order_ids = list(map(str.strip, ids))
            if chunk.order_ids != ids:  # surrounding spaces: the generic path strips, then checks
                chunk.order_ids = [s if s == t else None for s, t in zip(ids, chunk.order_ids, strict=True)]
        else:
            chunk.order_ids = [s if 0 < len(s) <= 128 and "\x00" not in s and s.strip() == s else None for s in ids]
        failing(chunk.order_ids)
        chunk.amounts = self._amounts.column(column("amount_fen"))
        failing(chunk.amounts)
        channels = column("sales_channel")
        chunk.channels = (
            list(channels) if CHANNELS.issuperset(channels) else [s if s in CHANNELS else None for s in channels]
        )
        failing(chunk.channels)
        chunk.currencies = self._currencies.column(column("currency")) if "currency" in self.field_at else ["CNY"] * n
        failing(chunk.currencies)
        chunk.items = self._items.column(cells[self.items_at]) if self.items_at is not None else ["[]"] * n
        failing(chunk.items)
        named: list[bool] | None = None
        for memo, at in zip(self._cells, self.identity_at, strict=True):
            values = memo.column(cells[at])
            failing(values, _BAD)
            chunk.keys.append(values)
            if None in values:
                named = (
                    [v is not None for v in values]
                    if named is None
                    else [a or v is not None for a, v in zip(named, values, strict=True)]
                )
            else:
                named = [True] * n
        if named is not None and not all(named):
            fast = [f and a for f, a in zip(fast, named, strict=True)]  # nobody named: the generic path says so
        for at in self.other_at:
            if any(cells[at]):
                fast = [f and not s for f, s in zip(fast, cells[at], strict=True)]
        chunk.fast = fast
        return chunk

    # --- the chunk's transaction ----------------------------------------------------------------

    def ingest(self, session: Session, chunk: Chunk) -> BatchResult:
        ctx = BatchContext.open(session, self.workspace_id, self.actor_label)
        n = len(chunk.lines)
        # paid_at: read in the workspace's time zone; no more than a day ahead, not before 2000.
        if self._times_tz != ctx.tz:
            self._times, self._times_tz = _Memo(functools.partial(_paid_text, tz=ctx.tz)), ctx.tz
        paid = self._times.column(self._column(chunk, "paid_at"))
        latest = sqlite_datetime(ctx.now + timedelta(days=1))
        fast = chunk.fast
        if None in paid or min(paid) < "2000" or max(paid) > latest:
            fast = [f and p is not None and "2000" <= p <= latest for f, p in zip(fast, paid, strict=True)]

        # Rows the strict forms did not cover: the generic code decides them.
        rejected: list[Rejection] = []
        slow: dict[int, orders.ValidOrder] = {}
        keep = fast
        if not all(fast):
            keep = list(fast)
            for i in [i for i, f in enumerate(fast) if not f]:
                try:
                    order = orders.validate(self._record(chunk.row(i)), i, ctx)
                except RecordProblem as problem:
                    rejected.append(rejection(i, problem))
                    continue
                if order.refunds or order.record.contact_id is not None:
                    return self._generic(session, ctx, chunk)
                slow[i] = order
                keep[i] = True
                rec = order.record
                chunk.order_ids[i] = rec.order_id
                chunk.amounts[i] = rec.amount_fen
                chunk.currencies[i] = rec.currency
                chunk.channels[i] = rec.sales_channel
                paid[i] = sqlite_datetime(order.paid_at)
                items = [
                    {"sku": t.sku, "category": t.category, "name": t.name, "qty": t.qty, "price_fen": t.price_fen}
                    for t in rec.items
                ]
                chunk.items[i] = orjson.dumps(items).decode()

        owners = self._owners(session, ctx, chunk, keep, fast, slow, paid)
        kept = sum(keep)
        # Values the same on every row are written into the statement rather than bound row by row.
        constants: dict[str, int | str] = {"refunded_fen": 0, "created_at": sqlite_datetime(ctx.now)}
        named: dict[str, list[Any]] = {
            "contact_id": owners.contact_ids,
            "identity_id": owners.identity_ids,
            "order_id": chunk.order_ids,
            "amount_fen": chunk.amounts,
            "currency": chunk.currencies,
            "paid_at": paid,
            "sales_channel": chunk.channels,
            "items": chunk.items,
        }
        if "currency" not in self.field_at:
            del named["currency"]
            constants["currency"] = "CNY"  # the default of every order without one
        columns = list(named.values())
        rows = zip(*columns, strict=True) if kept == n else zip(*(compress(c, keep) for c in columns), strict=True)
        inserted = insert_tuples(
            session,
            SalesOrder,
            self.workspace_id,
            list(named),
            rows,
            constants=constants,
            skip_conflicts_on=["workspace_id", "order_id"],
        )
        self._marker = store_marker(session)
        rejected.sort(key=lambda r: r.index)
        return BatchResult(
            accepted=inserted,
            duplicates=owners.duplicates + kept - inserted,
            rejected=rejected,
            contacts_created=owners.created,
            merges=owners.merges,
            conflicts=owners.conflicts,
        )

    def _column(self, chunk: Chunk, name: str) -> list[str]:
        at = self.field_at.get(name)
        return chunk.cells[at] if at is not None else [""] * len(chunk.lines)

    def _record(self, cells: list[str]) -> OrderIn:
        """A row typed as the generic path types it (raising the same :class:`RecordProblem`)."""
        try:
            raw = self.columns.record(cells)
        except CellProblem as problem:
            raise RecordProblem(problem.field, problem.reason) from None
        return convert(raw, OrderIn)

    def _generic(self, session: Session, ctx: BatchContext, chunk: Chunk) -> BatchResult:
        """The whole chunk through ``orders.ingest`` (refunds, contact ids). What it changes in the
        store (keys, merges) the cache learns through its checks in the next chunks."""
        records: list[OrderIn | RecordProblem] = []
        for i in range(len(chunk.lines)):
            try:
                records.append(self._record(chunk.row(i)))
            except RecordProblem as problem:
                records.append(problem)
        self._trusted = False  # it may merge contacts
        return orders.ingest(session, ctx, records, emit_events=False)

    # --- owners ---------------------------------------------------------------------------------

    def _owners(
        self,
        session: Session,
        ctx: BatchContext,
        chunk: Chunk,
        keep: list[bool],
        fast: list[bool],
        slow: dict[int, orders.ValidOrder],
        paid: list[Any],
    ) -> _Owners:
        """(contact, identity) of every kept row, as the resolver decides them."""
        if not self._loaded:
            self._load(session)
            self._trusted = True
        else:
            marker = store_marker(session)
            if self._marker is None or marker[0] is not self._marker[0] or marker[1:] != self._marker[1:]:
                # Someone else wrote since the last chunk: from now on, cached keys are checked before use.
                self._trusted = False
        n = len(keep)
        cached = [k and f for k, f in zip(keep, fast, strict=True)]  # rows the cache may answer
        per_column = [
            self._exact(session, c, values, cached, check=not self._trusted) for c, values in enumerate(chunk.keys)
        ]
        if len(per_column) == 1:
            hits = per_column[0]
        else:
            hits = [self._hit(chunk, per_column, i, ctx) if cached[i] else None for i in range(n)]
        if None in hits:
            contact_ids = [0 if h is None else h[1] for h in hits]
            identity_ids: list[int | None] = [None if h is None else h[0] for h in hits]
        else:
            contact_ids = list(map(itemgetter(1), hits))  # type: ignore[arg-type]
            identity_ids = list(map(itemgetter(0), hits))  # type: ignore[arg-type]
        unresolved: list[int] = []
        duplicates = 0
        if slow or None in compress(hits, cached):
            # Only the first order of an order_id in the chunk is stored, and only its keys are resolved
            # (as in the generic path). Where nothing is resolved, the INSERT's ON CONFLICT skips the
            # later ones all the same, and they count as duplicates all the same.
            seen: set[str] = set()
            for i in range(n):
                if keep[i]:
                    if chunk.order_ids[i] in seen:
                        keep[i] = False
                        duplicates += 1
                    seen.add(chunk.order_ids[i])
            unresolved = [i for i in range(n) if keep[i] and (not cached[i] or hits[i] is None)]
        if not unresolved:
            return _Owners(contact_ids, identity_ids, duplicates=duplicates)

        resolver = Resolver(session, self.workspace_id, ctx.rules, actor_label=self.actor_label)
        records: list[list[IdentityKey]] = []
        defaults: list[dict[str, Any]] = []
        paid_cells = self._column(chunk, "paid_at")
        for i in unresolved:
            if i in slow:
                order = slow[i]
                records.append(order.keys)
                defaults.append({"first_source": order.record.sales_channel, "last_seen_at": order.paid_at})
            else:
                records.append(self._keys(chunk, i))
                defaults.append({"first_source": chunk.channels[i], "last_seen_at": paid_utc(paid_cells[i], ctx.tz)})
        resolutions = resolver.resolve(records, defaults=defaults, now=ctx.now)
        for i, res in zip(unresolved, resolutions, strict=True):
            assert res is not None
            contact_ids[i], identity_ids[i] = res.contact_id, res.identity_id
        if resolver.merges:
            self._trusted = False  # keys of the merged contacts moved
            # Rows the cache gave to a contact this call merged away belong to its survivor.
            into = dict(
                session.execute(
                    select(MergeRecord.merged_id, MergeRecord.survivor_id).where(MergeRecord.id.in_(resolver.merges))
                ).all()
            )
            for i, contact_id in enumerate(contact_ids):
                while contact_id in into:
                    contact_id = into[contact_id]
                contact_ids[i] = contact_id
        self._learn(session, records)
        return _Owners(
            contact_ids,
            identity_ids,
            duplicates=duplicates,
            created=resolver.created,
            merges=list(resolver.merges),
            conflicts=sum(1 for r in resolutions if r is not None and r.conflicts),
        )

    def _keys(self, chunk: Chunk, i: int) -> list[IdentityKey]:
        """A fast row's keys in column order (the order the generic path builds them in)."""
        return [
            IdentityKey(kind, scope, value)
            for (kind, scope), values in zip(self.identity_kinds, chunk.keys, strict=True)
            if (value := values[i]) is not None
        ]

    def _hit(
        self, chunk: Chunk, per_column: list[list[tuple[int, int] | None]], i: int, ctx: BatchContext
    ) -> tuple[int, int] | None:
        """With several identity columns: the (identity, contact) the resolver gives row ``i`` when all
        its keys are cached and name one contact; else None."""
        hits: dict[IdentityKey, tuple[int, int] | None] = {}
        for c, (kind, scope) in enumerate(self.identity_kinds):
            value = chunk.keys[c][i]
            if value is not None:
                hits[IdentityKey(kind, scope, value)] = per_column[c][i]
        found = [h for h in hits.values() if h is not None]
        if len(found) != len(hits) or len({h[1] for h in found}) != 1:
            return None
        # The resolver's primary key: the highest-ranked (ties as its own sort leaves them).
        ranked = list(hits)
        rules = ctx.rules
        primary = ranked[0] if len(ranked) == 1 else sorted(set(ranked), key=lambda k: rules.rank(k.kind))[0]
        return hits[primary]

    # --- the key cache ----------------------------------------------------------------------------

    def _load(self, session: Session) -> None:
        """At the first chunk: load every stored key of the file's identity columns, unless there are
        too many (those columns are then looked up chunk by chunk)."""
        if self._loaded:
            return
        self._loaded = True
        for c, (kind, scope) in enumerate(self.identity_kinds):
            if count_identities(session, self.workspace_id, kind, scope) <= self.preload_limit:
                self._known[c] = {
                    value: (ident_id, contact_id)
                    for value, ident_id, contact_id in all_identities(session, self.workspace_id, kind, scope)
                }
                self._complete[c] = True

    def _exact(
        self, session: Session, c: int, values: list[str | None], used: list[bool], *, check: bool
    ) -> list[tuple[int, int] | None]:
        """Per row, (identity, contact) of its key in identity column ``c`` as the store holds it now
        (None: no such key), exact for the ``used`` rows: keys not cached are looked up (columns not
        fully loaded), and with ``check`` cached ones are checked against the store in one query —
        another writer may have moved them (merge, unmerge) or removed them since they were cached."""
        known = self._known[c]
        get = known.get
        hits = list(map(get, values))  # type: ignore[arg-type]  # None (absent key): None
        if not self._complete[c]:
            if len(known) > self.preload_limit:
                known.clear()
                hits = [None] * len(values)
            missing = {v for v, h, u in zip(values, hits, used, strict=True) if u and h is None and v is not None}
            if missing:
                self._lookup(session, c, missing)
                hits = [get(v) for v in values]  # type: ignore[arg-type]
        moved = (
            moved_identities(session, self.workspace_id, dict(filter(None, compress(hits, used)))) if check else None
        )
        if moved:
            stale = {v for v, h in zip(values, hits, strict=True) if v is not None and h is not None and h[0] in moved}
            for value in stale:
                del known[value]
            self._lookup(session, c, stale)  # where they are now, if anywhere
            hits = [get(v) for v in values]  # type: ignore[arg-type]
        return hits

    def _lookup(self, session: Session, c: int, values: set[str] | set[str | None]) -> None:
        kind, scope = self.identity_kinds[c]
        batch = sorted(v for v in values if v is not None)
        for start in range(0, len(batch), 2000):
            for value, ident_id, contact_id in lookup_identities(
                session, self.workspace_id, kind, scope, batch[start : start + 2000]
            ):
                self._known[c][value] = (ident_id, contact_id)

    def _learn(self, session: Session, records: list[list[IdentityKey]]) -> None:
        """Cache what the resolver created or found for the file's identity columns."""
        for c, (kind, scope) in enumerate(self.identity_kinds):
            self._lookup(session, c, {k.value for keys in records for k in keys if k.kind == kind and k.scope == scope})


@dataclass
class _Owners:
    """Per row of a chunk: contact and identity (meaningful where the row is kept); what resolving did."""

    contact_ids: list[int]
    identity_ids: list[int | None]
    duplicates: int = 0  # later rows of an order_id the chunk already has
    created: int = 0
    merges: list[int] = field(default_factory=list)
    conflicts: int = 0
