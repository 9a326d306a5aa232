"""The durable job queue: after-commit visibility, retries with back-off, dead letters, leases,
de-duplication, schedules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Role
from siyu.config import Settings
from siyu.kit.db import transaction
from siyu.models import AuditEvent, Job, Schedule
from siyu.worker import queue, scheduler
from siyu.worker.runner import Worker
from tests.factories import create_member, create_workspace, login


def effects(factory: sessionmaker[Session], action: str) -> int:
    with transaction(factory) as session:
        return session.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


def job_row(factory: sessionmaker[Session], job_id: int) -> Job:
    with transaction(factory) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_rolled_back_enqueue_leaves_no_job(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)

    def failing_request() -> None:
        with transaction(session_factory) as session:
            queue.enqueue(session, "test.effect", workspace_id=ws.id)
            raise RuntimeError("the request failed after enqueueing")

    with pytest.raises(RuntimeError):
        failing_request()
    assert Worker(settings, session_factory).drain() == 0
    with transaction(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_committed_job_runs_once_and_wakes_worker(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    worker = Worker(settings, session_factory)
    woken: list[bool] = []
    unsubscribe = queue.on_enqueue_committed(lambda: woken.append(True))
    try:
        with transaction(session_factory) as session:
            job_id = queue.enqueue(session, "test.effect", {"n": 1}, workspace_id=ws.id).id
            assert woken == []  # not before commit
        assert woken == [True]
    finally:
        unsubscribe()
    assert worker.drain() == 1
    assert worker.drain() == 0
    assert effects(session_factory, "test.effect") == 1
    job = job_row(session_factory, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("done", 1, worker.id)
    assert job.finished_at is not None


# SQLite has one writer: there a second connection waits for the first transaction instead of reading.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_uncommitted_job_is_invisible_to_other_workers(session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    session = session_factory()
    try:
        queue.enqueue(session, "test.effect", workspace_id=ws.id)
        with transaction(session_factory) as other:
            assert queue.claim(other, "other", timedelta(seconds=30)) == []
        session.commit()
    finally:
        session.close()
    with transaction(session_factory) as other:
        assert len(queue.claim(other, "other", timedelta(seconds=30))) == 1


def test_failures_retry_with_backoff_and_effects_of_failed_attempts_vanish(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    ws = create_workspace(session_factory)
    with transaction(session_factory) as session:
        job_id = queue.enqueue(session, "test.flaky", {"succeed_on": 3}, workspace_id=ws.id).id
    worker = Worker(settings, session_factory)
    run_ats = []
    for _ in range(3):
        deadline = time.monotonic() + 5
        while not worker.run_once():
            assert time.monotonic() < deadline, "the retry never became due"
            time.sleep(0.02)
        job = job_row(session_factory, job_id)
        run_ats.append(job.run_at)
        if job.status == "queued":
            assert job.last_error
            assert "transient failure" in job.last_error
            assert job.run_at > datetime.now(UTC) - timedelta(seconds=1)
    job = job_row(session_factory, job_id)
    assert (job.status, job.attempts) == ("done", 3)
    assert run_ats[0] < run_ats[1]  # each retry was pushed into the future
    assert effects(session_factory, "test.flaky") == 1  # only the successful attempt's effect is kept


def test_backoff_doubles_and_is_capped() -> None:
    delays = [queue.backoff_delay(n, 2.0, 30.0) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        full = min(30.0, 2.0 * 2 ** (n - 1))
        assert full / 2 <= delay <= full
    assert max(delays) <= 30.0


def test_exhausted_job_goes_dead_and_can_be_retried_through_the_api(
    settings: Settings, session_factory: sessionmaker[Session], client: TestClient
) -> None:
    ws = create_workspace(session_factory)
    with transaction(session_factory) as session:
        job_id = queue.enqueue(session, "test.flaky", {"succeed_on": 99}, workspace_id=ws.id, max_attempts=2).id
    worker = Worker(settings, session_factory)
    deadline = time.monotonic() + 5
    while job_row(session_factory, job_id).status != "dead":
        worker.run_once()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert job_row(session_factory, job_id).attempts == 2

    login(client, create_member(session_factory, ws.id, Role.admin))
    dead = client.get("/api/v1/jobs", params={"status": "dead"}).json()
    assert [j["id"] for j in dead["items"]] == [job_id]
    assert client.post(f"/api/v1/jobs/{job_id}/retry").status_code == 200
    assert job_row(session_factory, job_id).status == "queued"
    assert client.post(f"/api/v1/jobs/{job_id}/retry").json()["code"] == "conflict"
    audit = client.get("/api/v1/audit-events", params={"action": "job.retried"}).json()
    assert audit["total"] == 1


def test_permanent_error_and_unknown_job_go_dead_at_once(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        a = queue.enqueue(session, "test.permanent").id
        b = queue.enqueue(session, "nobody.handles_this").id
    Worker(settings, session_factory).drain()
    for job_id, needle in ((a, "retrying cannot help"), (b, "no handler registered")):
        job = job_row(session_factory, job_id)
        assert (job.status, job.attempts) == ("dead", 1)
        assert job.last_error
        assert needle in job.last_error


def test_dedup_key_enqueues_once(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        first = queue.enqueue(session, "test.effect", dedup_key="contact:1:welcome")
    with transaction(session_factory) as session:
        again = queue.enqueue(session, "test.effect", dedup_key="contact:1:welcome")
    assert again.id == first.id
    with transaction(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_expired_lease_is_taken_over_and_the_old_owner_cannot_finish(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    ws = create_workspace(session_factory)
    with transaction(session_factory) as session:
        job_id = queue.enqueue(session, "test.effect", workspace_id=ws.id).id
    with transaction(session_factory) as session:
        assert queue.claim(session, "dead-worker", timedelta(seconds=60)) == [job_id]
    survivor = Worker(settings, session_factory)
    assert survivor.drain() == 0  # lease still held
    with transaction(session_factory) as session:
        session.execute(update(Job).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert survivor.drain() == 1
    job = job_row(session_factory, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("done", 2, survivor.id)
    with transaction(session_factory) as session:
        assert queue.lock_owned(session, job_id, "dead-worker") is None
    assert effects(session_factory, "test.effect") == 1


def test_schedule_enqueues_each_due_time_once(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    with transaction(session_factory) as session:
        sched = scheduler.ensure_schedule(
            session, "test.every5", "*/5 * * * *", "test.effect", timezone="Asia/Shanghai", workspace_id=ws.id
        )
        first_due = sched.next_run_at
    assert first_due.minute % 5 == 0
    assert first_due > datetime.now(UTC)
    later = first_due + timedelta(seconds=1)
    with transaction(session_factory) as session:
        assert scheduler.tick(session, later) == 1
    with transaction(session_factory) as session:
        assert scheduler.tick(session, later) == 0  # moved on: nothing due twice
        sched2 = session.scalar(select(Schedule).where(Schedule.key == "test.every5"))
        assert sched2 is not None
        assert sched2.next_run_at == first_due + timedelta(minutes=5)
    # A long outage collapses into one catch-up run, then the next future slot.
    with transaction(session_factory) as session:
        assert scheduler.tick(session, first_due + timedelta(hours=3, seconds=1)) == 1
        sched3 = session.scalar(select(Schedule).where(Schedule.key == "test.every5"))
        assert sched3 is not None
        assert sched3.next_run_at == first_due + timedelta(hours=3, minutes=5)
    with transaction(session_factory) as session:
        jobs = session.scalars(select(Job).order_by(Job.id)).all()
        assert len(jobs) == 2
        assert len({j.dedup_key for j in jobs}) == 2
    assert Worker(settings, session_factory).drain() == 2
    assert effects(session_factory, "test.effect") == 2


def test_schedule_survives_restart_and_daily_times_follow_the_time_zone(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        scheduler.ensure_schedule(session, "test.nightly", "0 3 * * *", "test.effect", timezone="Asia/Shanghai")
    # A new process sees the same rule (it lives in the database), due at 03:00 Shanghai = 19:00 UTC.
    with transaction(session_factory) as session:
        sched = session.scalar(select(Schedule).where(Schedule.key == "test.nightly"))
        assert sched is not None
        assert (sched.next_run_at.hour, sched.next_run_at.minute) == (19, 0)


def test_bad_cron_is_refused(session_factory: sessionmaker[Session]) -> None:
    from siyu.errors import InvalidInput

    with pytest.raises(InvalidInput) as err, transaction(session_factory) as session:
        scheduler.ensure_schedule(session, "test.bad", "every tuesday", "test.effect")
    assert err.value.errors[0].field == "cron"
