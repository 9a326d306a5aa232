"""The demo's WeCom flow end to end, with a real worker: a customer scans a 渠道活码 → the stand-in's signed,
encrypted callback reaches siyu's endpoint → the contact, with the code's source → the welcome SOP's
welcome message, accepted by WeCom inside its 20-second window (the stand-in refuses a late one) → the SOP
continues with a task for the staff member and waits for its next step."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.app import create_app
from siyu.cli import dev
from siyu.config import Settings
from siyu.kit.db import transaction
from siyu.models import Contact, JourneyRun, StaffTask
from siyu.wechat.standin import serve_app
from siyu.worker import registry
from siyu.worker.runner import Worker, start_in_thread
from tests.factories import create_workspace


@pytest.mark.slow
def test_a_scan_becomes_a_contact_a_welcome_and_a_task(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    registry.load(settings.plugins)
    siyu = serve_app(create_app(settings, start_worker=False))
    ws = create_workspace(session_factory, slug="demo").id
    flow = dev.start_demo_wecom(session_factory, ws, "demo", siyu.url)
    worker = Worker(settings.model_copy(update={"worker_poll_seconds": 0.1}), session_factory, name="test")
    start_in_thread(worker)
    time.sleep(0.5)  # the worker's loops take their first look
    try:
        said: list[str] = []
        took = dev.play_demo_scan(session_factory, ws, flow, said.append, timeout=60)
        assert took is not None, said  # WeCom accepted the welcome: it came inside the code's 20 seconds
        (welcome,) = flow.state.welcome_messages
        assert welcome["text"]["content"].startswith("你好，欢迎加入")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with transaction(session_factory, workspace_id=ws) as session:
                task = session.scalar(select(StaffTask))
                run = session.scalar(select(JourneyRun))
                if task is not None and run is not None and run.node == "recommend":
                    break
            time.sleep(0.1)
        with transaction(session_factory, workspace_id=ws) as session:
            contact = session.scalars(select(Contact).where(Contact.nickname == "演示新客")).one()
            assert (contact.first_channel_code, contact.first_source) == (dev.DEMO_STATE, "store")
            task = session.scalars(select(StaffTask)).one()
            assert (task.assignee, task.contact_id) == ("zhangsan", contact.id)
            run = session.scalars(select(JourneyRun)).one()
            assert (run.status, run.node) == ("waiting", "recommend")  # the SOP goes on in 24 hours
    finally:
        worker.stop()
        flow.stop()
        siyu.stop()
