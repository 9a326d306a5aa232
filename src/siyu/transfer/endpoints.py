from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import FileResponse

from siyu.auth.context import AuthContext
from siyu.auth.dependencies import DbSession, require
from siyu.auth.permissions import Permission
from siyu.errors import NotFound
from siyu.kit.inputs import RowId
from siyu.transfer import service
from siyu.transfer.schemas import ImportKind, ImportRunOut

router = APIRouter(prefix="/api/v1/imports", tags=["import"])
Importer = Annotated[AuthContext, Depends(require(Permission.ingest_write))]


@router.post("", response_model=ImportRunOut, status_code=202, summary="Upload a CSV, JSONL or XLSX file to import")
def upload(
    request: Request,
    session: DbSession,
    ctx: Importer,
    kind: Annotated[ImportKind, Query(description="What the file holds.")],
    file: Annotated[UploadFile, File(description="A .csv, .jsonl or .xlsx file.")],
) -> ImportRunOut:
    uploads = Path(request.app.state.settings.data_dir) / "uploads"
    run = service.start_import(session, ctx, kind, file.filename or "upload", file.file, uploads)
    return service.out(run)


@router.get("", response_model=list[ImportRunOut], summary="Recent imports")
def list_imports(session: DbSession, _ctx: Importer) -> list[ImportRunOut]:
    return [service.out(r) for r in service.list_runs(session)]


@router.get("/{run_id}", response_model=ImportRunOut, summary="An import's progress and outcome")
def get_import(run_id: RowId, session: DbSession, _ctx: Importer) -> ImportRunOut:
    return service.out(service.get_run(session, run_id))


@router.get("/{run_id}/errors", response_class=FileResponse, summary="Download the error report (CSV)")
def error_report(run_id: RowId, session: DbSession, _ctx: Importer) -> FileResponse:
    run = service.get_run(session, run_id)
    if not run.error_report or not Path(run.error_report).exists():
        raise NotFound("this import has no error report")
    return FileResponse(run.error_report, media_type="text/csv", filename=f"{Path(run.filename).stem}-errors.csv")
