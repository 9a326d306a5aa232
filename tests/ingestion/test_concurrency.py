"""Eight clients ingest at once through a real server, naming overlapping identities: no event is lost
and no identity gets two contacts (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission
from siyu.kit.db import transaction
from siyu.models import Contact, Event, Identity
from tests.factories import create_token, create_workspace

CLIENTS = 8
BATCHES = 6
PER_BATCH = 150
PEOPLE = 120  # every client names the same people, so new identities race


@pytest.fixture
def live(app: FastAPI) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def person_keys(person: int) -> dict[str, str]:
    # Each person is known by their mini-program openid; every third also by phone (a joining key).
    keys = {"wx_openid@wxmini": f"o-{person:04d}"}
    if person % 3 == 0:
        keys["phone"] = f"139{person:08d}"
    return keys


@pytest.mark.slow
def test_eight_clients_with_overlapping_identities(live: str, session_factory: sessionmaker[Session]) -> None:
    ws = create_workspace(session_factory)
    token = create_token(session_factory, ws.id, [Permission.ingest_write])
    failures: list[str] = []
    barrier = threading.Barrier(CLIENTS)

    def client(c: int) -> None:
        with httpx.Client(base_url=live, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
            barrier.wait()
            for b in range(BATCHES):
                events = [
                    {
                        "event_id": f"c{c}-b{b}-{i}",
                        "name": "page_view",
                        "time": "2026-10-01T12:00:00+08:00",
                        "identities": person_keys((c * 7 + b * 13 + i) % PEOPLE),
                        "properties": {"client": c},
                    }
                    for i in range(PER_BATCH)
                ]
                response = http.post("/api/v1/events/batch", json=events)
                if response.status_code != 200 or response.json()["accepted"] != PER_BATCH:
                    failures.append(response.text[:500])

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with transaction(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Event)) == CLIENTS * BATCHES * PER_BATCH
        live_contacts = session.scalar(select(func.count()).where(Contact.merged_into_id.is_(None)))
        assert live_contacts == PEOPLE
        openids = session.scalar(select(func.count()).where(Identity.kind == "wx_openid"))
        assert openids == PEOPLE
        # Every identity of a person points at one live contact; no contact is left without identities.
        owners = session.execute(select(Identity.contact_id, func.count()).group_by(Identity.contact_id)).all()
        assert len(owners) == PEOPLE
        orphans = session.scalar(
            select(func.count()).where(Contact.merged_into_id.is_(None), ~Contact.id.in_(select(Identity.contact_id)))
        )
        assert orphans == 0
        # Events follow their person: all events of one openid sit on one contact.
        spread = session.execute(
            select(Event.identity_id, func.count(func.distinct(Event.contact_id))).group_by(Event.identity_id)
        ).all()
        assert all(n == 1 for _, n in spread)
