"""A refresh process SIGKILLed at random moments, on both databases: after every kill each segment's
membership in the operational store is either the one before the refresh or the one after it, never a
mix, and the next refresh completes to exactly what the definitions say, each change announced once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.context import AuthContext
from siyu.auth.permissions import Permission
from siyu.config import Settings
from siyu.filters.compiler import compile_segment, render
from siyu.filters.context import load_context
from siyu.filters.definition import parse
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.lake.store import lake_for
from siyu.models import Contact, Event, PropertyDefinition, Segment, SegmentMember, SegmentRefresh
from siyu.segment import service
from siyu.segment.flows import refresh_workspace
from siyu.segment.schemas import SegmentIn
from tests.contact.factories import add_order
from tests.factories import create_workspace

REPO = Path(__file__).resolve().parents[2]
CONTACTS = 1500
SEGMENTS = {
    "敏感肌": {"op": "property", "key": "skin_type", "cmp": "eq", "value": "敏感肌"},
    "油皮": {"op": "property", "key": "skin_type", "cmp": "eq", "value": "油皮"},
    "买过": {"op": "orders", "cmp": "gte", "value": 1, "measure": "count"},
    "高消费": {"op": "orders", "cmp": "gte", "value": 30_000},
    "敏感肌买过": {"op": "and", "children": [{"op": "segment", "segment_id": 1}, {"op": "segment", "segment_id": 3}]},
}


def members(factory: sessionmaker[Session], ws: int) -> dict[int, frozenset[int]]:
    with transaction(factory, workspace_id=ws) as session:
        rows = session.execute(select(SegmentMember.segment_id, SegmentMember.contact_id)).all()
    out: dict[int, set[int]] = {}
    for sid, cid in rows:
        out.setdefault(int(sid), set()).add(int(cid))
    return {sid: frozenset(cids) for sid, cids in out.items()}


def change_data(factory: sessionmaker[Session], ws: int, rng: random.Random) -> None:
    """Flip skin types and add orders, so that every segment changes."""
    with transaction(factory, workspace_id=ws) as session:
        contacts = list(session.scalars(select(Contact).order_by(Contact.id)))
        for contact in rng.sample(contacts, len(contacts) // 3):
            skin = contact.properties.get("skin_type")
            contact.properties = {"skin_type": "油皮" if skin == "敏感肌" else "敏感肌"}
        for i, contact in enumerate(rng.sample(contacts, len(contacts) // 4)):
            add_order(
                session, contact, f"K-{rng.random()}-{i}", rng.choice([5_000, 40_000]), utcnow() - timedelta(days=1)
            )


def refresh_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        SIYU_DATABASE_URL=settings.sqlalchemy_url,
        SIYU_DATA_DIR=str(settings.data_dir),
        PYTHONPATH=str(REPO),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "siyu.cli.entry", "segments", "refresh", "-w", "acme", "--mode", "full"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_refresh_killed_at_random_moments_leaves_old_or_new_membership_and_then_completes(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    rng = random.Random(20261201)
    ws = create_workspace(session_factory).id
    with transaction(session_factory, workspace_id=ws) as session:
        session.add(PropertyDefinition(key="skin_type", type="enum", label="肤质", options=["敏感肌", "油皮"]))
        session.add_all(Contact(properties={"skin_type": rng.choice(["敏感肌", "油皮"])}) for _ in range(CONTACTS))
    ctx = AuthContext(workspace_id=ws, permissions=frozenset(Permission), label="test")
    with transaction(session_factory, workspace_id=ws) as session:
        for name, root in SEGMENTS.items():
            service.create_segment(session, ctx, SegmentIn(name=name, definition={"version": 1, "root": root}))
    lake = lake_for(settings)
    refresh_workspace(session_factory, lake, ws, mode="full")

    started = time.monotonic()
    clean = refresh_process(settings)
    assert clean.wait(120) == 0
    duration = time.monotonic() - started

    kills = 0
    for round_ in range(12):  # until four kills landed (a refresh that finished first is not counted)
        if kills >= 4:
            break
        change_data(session_factory, ws, rng)
        before = members(session_factory, ws)
        process = refresh_process(settings)
        started = time.monotonic()
        time.sleep(rng.uniform(0.35, 0.95) * duration)  # past start-up, into the refresh itself
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        else:
            duration = max(duration, time.monotonic() - started)
        process.wait(30)
        after_kill = members(session_factory, ws)
        # Either nothing of this refresh reached the operational store, or all of it did.
        refresh_workspace(session_factory, lake, ws, mode="full")
        completed = members(session_factory, ws)
        assert after_kill in (before, completed), f"round {round_}: a mix of old and new membership"
    assert kills >= 3, "the refresh finished before being killed: the test did not test anything"

    with transaction(session_factory, workspace_id=ws) as session:
        context = load_context(session, ws)
        refreshes = list(session.scalars(select(SegmentRefresh)))
        entered = Counter(
            (e.properties["segment_id"], e.properties["refresh_no"])
            for e in session.scalars(select(Event).where(Event.name == "segment_entered"))
        )
        sizes = {s.id: s.size for s in session.scalars(select(Segment))}
    with lake.read() as con:
        for sid, root in enumerate(SEGMENTS.values(), 1):
            sql = render(compile_segment(parse({"version": 1, "root": root}), context))
            truth = {int(r[0]) for r in con.execute(sql).fetchall()}
            assert completed.get(sid, frozenset()) == truth, f"segment {sid} differs from its definition"
            assert sizes[sid] == len(truth)
    # Every membership version wrote exactly as many segment_entered events as contacts it let in.
    for r in refreshes:
        assert entered.get((r.segment_id, r.refresh_no), 0) == r.entered, (r.segment_id, r.refresh_no)
