"""The ``transfer.import`` job: runs an uploaded file's import in chunks, recording progress on its
:class:`ImportRun`. Resumable (checkpoints), so a worker that dies mid-file hands it over cleanly."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import ImportRun
from siyu.transfer.files import FileProblem
from siyu.transfer.imports import run_import
from siyu.worker.registry import JobTakenOver, LongJob, PermanentJobError, long_task

IMPORT_JOB = "transfer.import"
IMPORT_ATTEMPTS = 5


def _set(job: LongJob, run_id: int, **values: object) -> None:
    with transaction(job.factory, workspace_id=job.info.workspace_id) as session:
        session.execute(update(ImportRun).where(ImportRun.id == run_id).values(**values))


@long_task(IMPORT_JOB, max_attempts=IMPORT_ATTEMPTS)
def import_file(job: LongJob) -> None:
    run_id = int(job.info.payload["import_run_id"])
    workspace_id = job.info.workspace_id
    assert workspace_id is not None
    with transaction(job.factory, workspace_id=workspace_id) as session:
        run = session.get(ImportRun, run_id)
        if run is None:
            raise PermanentJobError(f"import run {run_id} is gone")
        kind, path, label = run.kind, Path(run.stored_path), f"import:{run.filename}"
    _set(job, run_id, status="running", error=None)

    def progress(done: int, total: int) -> None:
        job.heartbeat()
        _set(job, run_id, done=done, total=total)

    state_dir = Path(job.settings.data_dir) / "imports"
    try:
        summary = run_import(
            job.factory,
            workspace_id,
            kind,
            path,
            state_dir=state_dir,
            actor_label=label,
            error_report=state_dir / f"run-{run_id}.errors.csv",
            progress=progress,
        )
    except FileProblem as exc:
        _set(job, run_id, status="failed", error=str(exc), finished_at=utcnow())
        raise PermanentJobError(str(exc)) from None
    except JobTakenOver:
        raise  # another worker carries on with the run
    except Exception as exc:
        # Retried with back-off (resuming from the checkpoint); after the last attempt the run has failed.
        final = job.info.attempt >= IMPORT_ATTEMPTS
        _set(
            job,
            run_id,
            status="failed" if final else "retrying",
            error=f"{type(exc).__name__}: {exc}",
            finished_at=utcnow() if final else None,
        )
        raise
    _set(
        job,
        run_id,
        status="done",
        done=summary.total,
        total=summary.total,
        accepted=summary.accepted,
        duplicates=summary.duplicates,
        rejected=summary.rejected,
        contacts_created=summary.contacts_created,
        error_report=str(summary.error_report) if summary.error_report else None,
        finished_at=utcnow(),
    )
