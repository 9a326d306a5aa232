"""Importing a file in chunks through the same checks as the HTTP API.

Each chunk is one transaction. After it commits, a checkpoint records the next line, so an import
that was killed resumes where it stopped; and since every record is idempotent (event_id or content,
order_id, refund_id, contact keys), re-reading a chunk whose checkpoint was lost stores nothing twice.
Either way the data ends up as after one clean run. Rejected records go to an error report (CSV:
line, field, reason) and never stop the others.

CSV order files on SQLite take a column-wise fast path (:mod:`siyu.transfer.fast_orders`) that stores
the same data and reports the same rejections; ``fast=False`` forces the generic path.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from siyu.ingestion import contacts, events, orders
from siyu.ingestion.context import BatchContext
from siyu.ingestion.records import RecordProblem, convert
from siyu.ingestion.schemas import BatchResult, ContactIn, EventIn, OrderIn
from siyu.kit.db import transaction
from siyu.transfer.fast_orders import Chunk, FastOrderImport
from siyu.transfer.files import CellProblem, count_records, file_format, read_records

KINDS: dict[str, tuple[type[Any], Callable[..., BatchResult]]] = {
    "events": (EventIn, events.ingest),
    "orders": (OrderIn, orders.ingest),
    "contacts": (ContactIn, contacts.ingest),
}
DEFAULT_CHUNK = 5000


@dataclass
class ImportSummary:
    kind: str
    total: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    contacts_created: int = 0
    resumed_from_line: int | None = None
    error_report: Path | None = None
    errors: list[tuple[int, str, str]] = field(default_factory=list)


def write_checkpoint(checkpoint: Path, next_line: int) -> None:
    """Atomically: a process killed while writing leaves the previous checkpoint, never half a file."""
    partial = checkpoint.with_name(checkpoint.name + ".partial")
    partial.write_text(json.dumps({"next_line": next_line}))
    os.replace(partial, checkpoint)


def read_checkpoint(checkpoint: Path) -> int:
    """The line to resume from; 0 without a (readable) checkpoint: records are idempotent, so starting
    again from the top stores nothing twice."""
    try:
        return int(json.loads(checkpoint.read_text())["next_line"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def checkpoint_path(state_dir: Path, workspace_id: int, kind: str, path: Path) -> Path:
    stat = path.stat()
    key = f"{workspace_id}:{kind}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return state_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def run_import(
    factory: sessionmaker[Session],
    workspace_id: int,
    kind: str,
    path: Path,
    *,
    state_dir: Path,
    actor_label: str,
    fmt: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    error_report: Path | None = None,
    emit_order_events: bool = False,
    progress: Callable[[int, int], None] | None = None,
    fast: bool = True,
) -> ImportSummary:
    """Import ``path`` into the workspace. ``progress(done, total)`` is called after every chunk.
    ``fast=False`` takes the generic path even where the fast one applies (same results, slower)."""
    record_type, ingest = KINDS[kind]
    fmt = file_format(path, fmt)
    total = count_records(path, fmt)
    summary = ImportSummary(kind=kind, total=total)
    state_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint_path(state_dir, workspace_id, kind, path)
    start_line = read_checkpoint(checkpoint)
    if start_line:
        summary.resumed_from_line = start_line
    report = error_report or path.with_name(path.name + ".errors.csv")
    done = 0
    extra = {"emit_events": emit_order_events} if kind == "orders" else {}

    def generic(raws: list[dict[str, Any] | CellProblem]) -> Callable[[Session], BatchResult]:
        records: list[Any] = []
        for raw in raws:
            if isinstance(raw, CellProblem):
                records.append(RecordProblem(raw.field, raw.reason))
                continue
            try:
                records.append(convert(raw, record_type))
            except RecordProblem as problem:
                records.append(problem)
        return lambda session: ingest(session, BatchContext.open(session, workspace_id, actor_label), records, **extra)

    chunks: Iterator[tuple[list[int], Callable[[], Callable[[Session], BatchResult]]]]
    if fast and kind == "orders" and fmt == "csv" and not emit_order_events and _dialect(factory) == "sqlite":
        importer = FastOrderImport(path, workspace_id, actor_label, total)
        chunks = (
            (chunk.lines, functools.partial(_fast_chunk, importer, chunk)) for chunk in importer.chunks(chunk_size)
        )
    else:
        chunks = (
            ([line for line, _ in chunk], functools.partial(generic, [raw for _, raw in chunk]))
            for chunk in _chunks(read_records(path, fmt), chunk_size)
        )
    for lines, prepare in chunks:
        done += len(lines)
        if lines[-1] < start_line:
            if progress:
                progress(done, total)
            continue
        run = prepare()  # checks that need no database, outside the transaction
        with transaction(factory, workspace_id=workspace_id) as session:
            result = run(session)
        write_checkpoint(checkpoint, lines[-1] + 1)
        summary.accepted += result.accepted
        summary.duplicates += result.duplicates
        summary.contacts_created += result.contacts_created
        summary.rejected += len(result.rejected)
        summary.errors.extend((lines[r.index], r.field, r.reason) for r in result.rejected)
        if progress:
            progress(done, total)
    checkpoint.unlink(missing_ok=True)
    if summary.errors:
        with report.open("w", newline="", encoding="utf-8-sig") as f:
            writer = csv.writer(f)
            writer.writerow(["line", "field", "reason"])
            writer.writerows(summary.errors)
        summary.error_report = report
    return summary


def _dialect(factory: sessionmaker[Session]) -> str:
    bind = factory.kw.get("bind")
    return str(bind.dialect.name) if bind is not None else ""


def _fast_chunk(importer: FastOrderImport, chunk: Chunk) -> Callable[[Session], BatchResult]:
    prepared = importer.prepare(chunk)
    return lambda session: importer.ingest(session, prepared)


def _chunks(
    items: Iterator[tuple[int, dict[str, Any] | CellProblem]], size: int
) -> Iterator[list[tuple[int, dict[str, Any] | CellProblem]]]:
    chunk: list[tuple[int, dict[str, Any] | CellProblem]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
