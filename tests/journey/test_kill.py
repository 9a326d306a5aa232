"""100,000 contacts through the welcome SOP (its messages by e-mail to a real SMTP server on loopback;
10,000 on PostgreSQL) while the worker is SIGKILLed 20 times at random moments: every contact receives
every message exactly once, counted at the SMTP server and in the ledger; every staff task is made once;
no step is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.config import Settings
from siyu.dispatch import channels
from siyu.journey import service
from siyu.kit.bulk import insert_rows
from siyu.kit.db import transaction
from siyu.models import Contact, Delivery, Event, Identity, JourneyRun, StaffTask
from tests.factories import create_workspace
from tests.mailserver import MailServer

REPO = Path(__file__).resolve().parents[2]
# 100,000 on the embedded default (the figure); 10,000 on PostgreSQL, to keep CI within its time.
CONTACTS = {"sqlite": int(os.environ.get("SIYU_KILL_TEST_CONTACTS", "100000")), "postgresql": 10_000}
KILLS = 20
T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
# The welcome SOP's clock: the welcome and the task now, the recommendation a day later, the survey
# after another day; then past the sending lease, so that the last calls cut short are reconciled.
CLOCK = [
    T0,
    T0 + timedelta(hours=24, minutes=1),
    T0 + timedelta(hours=48, minutes=2),
    T0 + timedelta(hours=48, minutes=9),
]
KILLS_AT = [8, 6, 6, 0]


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer(keep_bodies=False)
    yield server
    server.stop()


def populate(factory: sessionmaker[Session], ws: int, contacts: int) -> None:
    stamp = T0 - timedelta(minutes=1)
    with transaction(factory, workspace_id=ws) as session:
        first = int(session.scalar(select(func.coalesce(func.max(Contact.id), 0)).select_from(Contact)) or 0) + 1
        ids = range(first, first + contacts)
        for start in range(0, contacts, 20_000):
            chunk = ids[start : start + 20_000]
            insert_rows(
                session,
                Contact,
                [
                    {"id": c, "workspace_id": ws, "properties": {}, "created_at": stamp, "updated_at": stamp}
                    for c in chunk
                ],
            )
            insert_rows(
                session,
                Identity,
                [
                    {
                        "workspace_id": ws,
                        "contact_id": c,
                        "kind": "email",
                        "scope": "",
                        "value": f"c{c}@buyers.example",
                        "created_at": stamp,
                    }
                    for c in chunk
                ],
            )


def add_events(factory: sessionmaker[Session], ws: int) -> None:
    stamp = T0 - timedelta(minutes=1)
    with transaction(factory, workspace_id=ws) as session:
        ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
        for start in range(0, len(ids), 20_000):
            insert_rows(
                session,
                Event,
                [
                    {
                        "workspace_id": ws,
                        "contact_id": c,
                        "event_id": f"added-{c}",
                        "name": "contact_added",
                        "occurred_at": stamp,
                        "received_at": stamp,
                        "source": "test",
                        "properties": {},
                    }
                    for c in ids[start : start + 20_000]
                ],
            )


def worker(settings: Settings, ws: int, at: datetime) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.journey.kill_worker", settings.sqlalchemy_url, str(ws), at.isoformat()],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_welcome_sop_survives_twenty_sigkills_and_sends_every_message_once(
    settings: Settings, session_factory: sessionmaker[Session], mail: MailServer
) -> None:
    rng = random.Random(20261202)
    contacts = CONTACTS[session_factory.kw["bind"].dialect.name]
    ws = create_workspace(session_factory).id
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="test")
    populate(session_factory, ws, contacts)
    with transaction(session_factory, workspace_id=ws) as session:
        channels.set_channel(session, ws, "email", mail.settings(per_minute=100_000, lookup_url=mail.lookup_url))
        journey, _ = service.install_template(session, ctx, "welcome_72h", channel="email")
        service.publish(session, ctx, journey.id)
    add_events(session_factory, ws)

    kills, planned, longest = 0, 0, 0.3 + 5.7 * contacts / 100_000
    for at, more in zip(CLOCK, KILLS_AT, strict=True):
        planned += more  # a phase that ended before its kills landed hands them to the next one
        while True:
            process = worker(settings, ws, at)
            if kills < planned:
                time.sleep(rng.uniform(0.3, longest))  # start-up, reading, stepping or sending: anywhere
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(30)
                    kills += 1
                    continue
            _, err = process.communicate(timeout=900)
            assert process.returncode == 0, err.decode()[-3000:]
            break
    assert kills == KILLS

    with transaction(session_factory, workspace_id=ws) as session:
        statuses = Counter(dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()))
        per_contact = Counter(
            n for (n,) in session.execute(select(func.count()).select_from(Delivery).group_by(Delivery.contact_id))
        )
        tasks = session.scalar(select(func.count()).select_from(StaffTask))
        task_contacts = session.scalar(select(func.count(func.distinct(StaffTask.contact_id))))
        runs = Counter(dict(session.execute(select(JourneyRun.status, func.count()).group_by(JourneyRun.status)).all()))
        rows = session.execute(select(Delivery.id, Delivery.dedup_key)).all()
    assert statuses == {"sent": 3 * contacts}, statuses  # nothing failed, blocked, queued or unknown
    assert per_contact == {3: contacts}
    assert (tasks, task_contacts) == (contacts, contacts)
    assert runs == {"exited": contacts}, runs  # every run reached the exit node
    # At the SMTP server: every message exactly once, three per contact.
    received = mail.mailbox.message_ids()
    assert len(received) == 3 * contacts
    assert set(received.values()) == {1}, Counter(received.values())
    assert Counter(Counter(to for _, to in mail.mailbox.received).values()) == {3: contacts}
    from siyu.dispatch.calling import message_id

    assert {f"<{message_id(i, k)}@brand.example>" for i, k in rows} == set(received)
