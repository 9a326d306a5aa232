"""The journeys pages as an operator meets them, on both databases: the list and the templates, a journey's
graph with live counts, saving a draft with problems and publishing it, the dry-run report, the ledger
with block reasons and settling an unknown message, staff tasks with the overdue ones; readers see but
do not change."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.journey import engine
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import Delivery, Journey, StaffTask
from tests.console.conftest import console_login, csrf_of
from tests.contact.factories import create_contact
from tests.factories import Member


def test_install_edit_publish_and_watch_a_journey(
    client: TestClient, owner: Member, session_factory: sessionmaker[Session]
) -> None:
    console_login(client, owner)
    listing = client.get("/journeys")
    assert listing.status_code == 200
    assert "首72小时欢迎SOP" in listing.text  # the seeds' templates are offered
    token = csrf_of(listing.text)
    installed = client.post(
        "/journeys/install",
        data={"template": "welcome_72h", "channel": "outbox", "csrf_token": token},
        follow_redirects=False,
    )
    assert installed.status_code == 303
    page_url = installed.headers["location"].split("?")[0]
    page = client.get(installed.headers["location"])
    assert "模板已装为草稿" in page.text
    assert 'data-node="welcome"' in page.text  # the draft drawn as a graph
    journey_id = int(page_url.rsplit("/", 1)[1])

    broken = client.post(
        f"{page_url}/draft", data={"text": "version: 1\nstart: nowhere\nnodes: {}\n", "csrf_token": token}
    )
    assert broken.status_code == 422
    assert "草稿有以下问题" in broken.text
    assert "definition.trigger" in broken.text
    unreadable = client.post(
        f"{page_url}/draft", data={"text": "nodes: [\n", "csrf_token": token}, follow_redirects=False
    )
    assert unreadable.status_code == 422
    assert "line 2" in unreadable.text
    refused = client.post(f"{page_url}/publish", data={"csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 422  # the broken draft was kept and cannot be published

    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        from siyu.journey import templates

        good = templates.without_unavailable(templates.get("welcome_72h"))[0]
        journey = session.get(Journey, journey_id)
        assert journey is not None
        journey.draft, journey.draft_problems = good, []
        contacts = [create_contact(session, identities={"phone": f"1360000000{i}"}).id for i in range(3)]
    published = client.post(f"{page_url}/publish", data={"csrf_token": token}, follow_redirects=False)
    assert published.status_code == 303
    dry = client.post(f"{page_url}/dry-run", data={"csrf_token": token}, follow_redirects=False)
    assert dry.status_code == 200
    assert "草稿试运行" in dry.text
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        engine.enter(session, journey_id, [(c, f"manual:{c}") for c in contacts], utcnow())
        engine.step_due(session, utcnow())
    graph = client.get(f"{page_url}/graph")
    assert graph.status_code == 200
    assert "3 人等待此步" in graph.text  # all three wait out the 24 hours before the recommendation
    assert 'hx-trigger="every 10s"' in graph.text
    paused = client.post(f"{page_url}/pause", data={"csrf_token": token}, follow_redirects=False)
    assert "旅程已暂停" in client.get(paused.headers["location"]).text

    ledger = client.get("/deliveries")
    assert ledger.status_code == 200
    assert f"journey:{journey_id}" in ledger.text
    tasks = client.get("/tasks?show=open")
    assert tasks.text.count("1小时内主动问候新客户") == 3
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        late = session.scalars(select(StaffTask).order_by(StaffTask.id)).first()
        assert late is not None
        late.due_at = utcnow() - timedelta(minutes=5)
        task_id = late.id
        lost = session.scalars(select(Delivery).order_by(Delivery.id)).first()
        assert lost is not None
        lost.status, lost.reason = "unknown", "the worker stopped during the call"
        lost_id = lost.id
    overdue = client.get("/tasks?show=overdue")
    assert overdue.text.count("1小时内主动问候新客户") == 1
    done = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": token}, follow_redirects=False)
    assert "任务已完成" in client.get(done.headers["location"]).text
    unknown = client.get("/deliveries?status=unknown")
    assert f"/deliveries/{lost_id}/resolve" in unknown.text
    settled = client.post(
        f"/deliveries/{lost_id}/resolve", data={"outcome": "sent", "csrf_token": token}, follow_redirects=False
    )
    assert settled.status_code == 303
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        row = session.get(Delivery, lost_id)
        assert row is not None
        assert row.status == "sent"
    assert client.get("/tasks?show=sometimes").status_code == 422


def test_readers_see_journeys_but_change_nothing(client: TestClient, analyst: Member) -> None:
    console_login(client, analyst)
    listing = client.get("/journeys")
    assert listing.status_code == 200
    assert "/journeys/install" not in listing.text
    token = csrf_of(listing.text)
    refused = client.post(
        "/journeys/install", data={"template": "welcome_72h", "csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert client.get("/deliveries").status_code == 200
    assert client.get("/tasks").status_code == 200
