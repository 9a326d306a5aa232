"""Uploaded imports: store the file, record the run, enqueue the job (in the same transaction)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.errors import InvalidInput, NotFound
from siyu.models import ImportRun
from siyu.transfer.files import FileProblem, file_format
from siyu.transfer.schemas import ImportRunOut
from siyu.transfer.tasks import IMPORT_ATTEMPTS, IMPORT_JOB
from siyu.worker import queue


def start_import(
    session: Session, ctx: AuthContext, kind: str, filename: str, content: BinaryIO, uploads: Path
) -> ImportRun:
    try:
        suffix = file_format(Path(filename))
    except FileProblem:
        raise InvalidInput.on("file", "upload a .csv, .jsonl or .xlsx file") from None
    uploads.mkdir(parents=True, exist_ok=True)
    stored = uploads / f"{uuid.uuid4().hex}.{suffix}"
    with stored.open("wb") as out:
        shutil.copyfileobj(content, out, 1 << 20)
    if stored.stat().st_size == 0:
        stored.unlink()
        raise InvalidInput.on("file", "the file is empty")
    run = ImportRun(
        workspace_id=ctx.workspace_id,
        kind=kind,
        filename=Path(filename).name[:255],
        stored_path=str(stored),
        operator_id=ctx.operator_id,
    )
    session.add(run)
    session.flush()
    queue.enqueue(
        session, IMPORT_JOB, {"import_run_id": run.id}, workspace_id=ctx.workspace_id, max_attempts=IMPORT_ATTEMPTS
    )
    audit.record(session, ctx, "import.started", "import_run", run.id, after={"kind": kind, "file": run.filename})
    return run


def out(run: ImportRun) -> ImportRunOut:
    fields = {name: getattr(run, name) for name in ImportRunOut.model_fields if name != "has_error_report"}
    return ImportRunOut(**fields, has_error_report=bool(run.error_report))


def get_run(session: Session, run_id: int) -> ImportRun:
    run = session.scalar(select(ImportRun).where(ImportRun.id == run_id))
    if run is None:
        raise NotFound(f"import {run_id} not found")
    return run


def list_runs(session: Session, limit: int = 50) -> list[ImportRun]:
    return list(session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)))
