"""The worker loop: tick the scheduler, claim a due job, run it in one transaction with its
completion, and record failures with back-off. Several processes may run it against PostgreSQL;
against SQLite one runs in-process beside the API."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings
from siyu.kit.db import transaction
from siyu.worker import queue, registry, scheduler
from siyu.worker.registry import JobInfo, JobTakenOver, LongJob, PermanentJobError

log = logging.getLogger("siyu.worker")


class Worker:
    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], name: str | None = None) -> None:
        self.settings = settings
        self.factory = session_factory
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self._wake = threading.Event()
        self._stop = threading.Event()
        queue.install_listeners(session_factory)
        self._unsubscribe = queue.on_enqueue_committed(self._wake.set)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_forever(self) -> None:
        log.info("worker %s started", self.id)
        for name, fn in registry.loops().items():
            threading.Thread(
                target=fn, args=(self.settings, self.factory, self._stop), name=f"siyu-{name}", daemon=True
            ).start()
        try:
            while not self._stop.is_set():
                worked = self.run_once()
                if not worked:
                    self._wake.wait(self.settings.worker_poll_seconds)
                    self._wake.clear()
        finally:
            self._unsubscribe()
            log.info("worker %s stopped", self.id)

    def run_once(self) -> bool:
        """One pass: enqueue due schedules, then run at most one job. True if a job ran."""
        try:
            with transaction(self.factory) as session:
                scheduler.tick(session, max_attempts=self.settings.job_max_attempts)
            with transaction(self.factory) as session:
                ids = queue.claim(session, self.id, self.lease, limit=1)
        except Exception:
            # A poll failure (say, the database restarting) must not end the loop.
            log.exception("worker %s could not poll the queue", self.id)
            return False
        for job_id in ids:
            self.run_job(job_id)
        return bool(ids)

    def drain(self, max_jobs: int = 10_000) -> int:
        """Run due jobs until none is left (tests and the CLI's ``--once``). Returns how many ran."""
        ran = 0
        while ran < max_jobs and self.run_once():
            ran += 1
        return ran

    def run_job(self, job_id: int) -> None:
        try:
            with transaction(self.factory) as session:
                job = queue.lock_owned(session, job_id, self.id)
                if job is None:
                    return
                spec = registry.get(job.name)
                if spec is None:
                    raise PermanentJobError(f"no handler registered for job {job.name!r}")
                info = JobInfo(job.id, job.name, dict(job.payload), job.workspace_id, job.attempts)
                if not spec.long:
                    if job.workspace_id is not None:
                        session.info["workspace_id"] = job.workspace_id
                    spec.handler(session, info)
                    session.info.pop("workspace_id", None)
                    queue.mark_done(job)
            if spec.long:
                self._run_long(spec, info)
            log.info("job %s %s done (attempt %s)", job_id, info.name, info.attempt)
        except Exception as exc:  # noqa: BLE001 - every handler failure is recorded on the job
            self._record_failure(job_id, exc)

    def _run_long(self, spec: registry.TaskSpec, info: JobInfo) -> None:
        """A long job holds no transaction; its lease is renewed at every heartbeat instead."""

        def heartbeat() -> None:
            with transaction(self.factory) as session:
                if not queue.renew_lease(session, info.id, self.id, self.lease):
                    raise JobTakenOver(f"job {info.id} was taken over by another worker")

        spec.handler(LongJob(info, self.factory, self.settings, heartbeat))
        with transaction(self.factory) as session:
            job = queue.lock_owned(session, info.id, self.id)
            if job is None:
                raise JobTakenOver(f"job {info.id} was taken over by another worker")
            queue.mark_done(job)

    def _record_failure(self, job_id: int, exc: Exception) -> None:
        permanent = isinstance(exc, PermanentJobError)
        error = "".join(traceback.format_exception(exc))
        try:
            with transaction(self.factory) as session:
                failed = queue.mark_failed(
                    session,
                    job_id,
                    self.id,
                    error,
                    permanent=permanent,
                    base=self.settings.job_backoff_seconds,
                    cap=self.settings.job_backoff_max_seconds,
                )
                state = failed.status if failed else "taken over"
        except Exception:
            # The lease will expire and another attempt will be made; the loop goes on.
            log.exception("job %s failed and its failure could not be recorded", job_id)
            return
        log.warning("job %s failed (%s): %s", job_id, state, exc)


def start_in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run_forever, name=f"siyu-worker-{worker.id}", daemon=True)
    thread.start()
    return thread
