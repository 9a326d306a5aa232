"""Journeys over HTTP, on both databases: drafts kept with their problems, publishing immutable versions
(refused with every problem named), pause / resume / archive, templates, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission
from siyu.kit.db import transaction
from siyu.models import AuditEvent, JourneyVersion, PropertyDefinition, Tag, TagGroup
from tests.api.conftest import assert_problem, error_fields
from tests.factories import create_token, create_workspace


class Api:
    def __init__(self, client: TestClient, factory: sessionmaker[Session]) -> None:
        self.client = client
        self.factory = factory
        self.ws = create_workspace(factory).id
        token = create_token(factory, self.ws, [Permission.journeys_manage, Permission.workspace_read])
        self.headers = {"Authorization": f"Bearer {token}"}
        reader = create_token(factory, self.ws, [Permission.workspace_read])
        self.reader = {"Authorization": f"Bearer {reader}"}
        with transaction(factory, workspace_id=self.ws) as session:
            group = TagGroup(name="兴趣")
            session.add(group)
            session.flush()
            tag = Tag(group_id=group.id, name="彩妆")
            session.add(tag)
            session.add(PropertyDefinition(key="skin_type", type="enum", label="肤质", options=["敏感肌", "油皮"]))
            session.flush()
            self.tag = tag.id

    def call(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None) -> Any:
        return self.client.request(method, f"/api/v1{path}", json=body, headers=headers or self.headers)


@pytest.fixture
def api(client: TestClient, session_factory: sessionmaker[Session]) -> Api:
    return Api(client, session_factory)


def graph(api: Api, **nodes: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "trigger": {"type": "event", "event": "contact_added"},
        "start": "hello",
        "nodes": {
            "hello": {"type": "send", "channel": "outbox", "content": {"text": "你好"}, "next": "tag"},
            "tag": {"type": "tag", "add": [api.tag], "next": "split"},
            "split": {
                "type": "condition",
                "if": {"op": "property", "key": "skin_type", "cmp": "eq", "value": "敏感肌"},
                "then": "done",
            },
            "done": {"type": "exit"},
            **nodes,
        },
    }


def test_draft_publish_and_immutable_versions(api: Api) -> None:
    created = api.call("POST", "/journeys", {"name": "欢迎", "definition": graph(api)})
    assert created.status_code == 201, created.text
    journey = created.json()
    assert (journey["status"], journey["published_version"], journey["problems"]) == ("draft", 0, [])
    jid = journey["id"]
    first = api.call("POST", f"/journeys/{jid}/publish")
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1
    again = api.call("POST", f"/journeys/{jid}/publish")
    assert_problem(again, 409, "conflict")  # nothing changed since version 1
    changed = graph(api)
    changed["nodes"]["hello"]["content"]["text"] = "你好呀"
    assert api.call("PUT", f"/journeys/{jid}/draft", {"definition": changed}).status_code == 200
    assert api.call("POST", f"/journeys/{jid}/publish").json()["version"] == 2
    versions = api.call("GET", f"/journeys/{jid}/versions").json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["definition"]["nodes"]["hello"]["content"]["text"] == "你好"  # version 1 as published
    assert versions[1]["definition"]["nodes"]["hello"]["content"]["text"] == "你好呀"
    shown = api.call("GET", f"/journeys/{jid}").json()
    assert (shown["status"], shown["published_version"]) == ("active", 2)
    with transaction(api.factory, workspace_id=api.ws) as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "journey")))
        stored = session.scalars(select(JourneyVersion).order_by(JourneyVersion.version)).all()
        assert [v.version for v in stored] == [1, 2]
    assert actions == ["journey.created", "journey.published", "journey.published"]


def test_a_draft_with_problems_is_kept_and_publishing_names_every_one(api: Api) -> None:
    bad = graph(
        api,
        hello={"type": "send", "channel": "sms", "content": {"text": "你好"}, "next": "tag"},
        tag={"type": "tag", "add": [999], "next": "split"},
        prop={"type": "set_property", "key": "vip_level", "value": 3},
    )
    bad["nodes"]["done"] = {"type": "exit"}
    bad["nodes"]["split"]["else"] = "prop"
    created = api.call("POST", "/journeys", {"name": "半成品", "definition": bad})
    assert created.status_code == 201, created.text  # the editor's work is kept
    problems = {(p["field"], p["reason"]) for p in created.json()["problems"]}
    assert problems == {
        ("definition", "no tag 999 in this workspace"),
        ("definition.nodes.hello.channel", "channel 'sms' is not available; use one of outbox"),
        ("definition.nodes.prop.key", "no property 'vip_level' in the catalogue"),
    }
    refused = assert_problem(api.call("POST", f"/journeys/{created.json()['id']}/publish"), 422, "invalid_input")
    assert set(error_fields(refused)) == {p[0] for p in problems}
    shown = api.call("GET", f"/journeys/{created.json()['id']}").json()
    assert shown["draft"] == bad
    assert shown["published_version"] == 0


def test_conditions_are_checked_against_the_catalogue(api: Api) -> None:
    bad = graph(api)
    bad["nodes"]["split"]["if"] = {"op": "property", "key": "no_such_key", "cmp": "eq", "value": 1}
    body = api.call("POST", "/journeys/validate", {"definition": bad}).json()
    assert body["valid"] is False
    assert [p["field"] for p in body["problems"]] == ["definition.nodes.split.if.key"]
    assert "no_such_key" in body["problems"][0]["reason"]
    good = api.call("POST", "/journeys/validate", {"definition": graph(api)}).json()
    assert good == {"valid": True, "problems": []}


def test_yaml_is_accepted_and_bad_yaml_says_where(api: Api) -> None:
    text = """
version: 1
trigger: {type: manual}
start: hi
nodes:
  hi: {type: send, channel: outbox, content: {text: hello}}
"""
    created = api.call("POST", "/journeys", {"name": "yaml", "yaml": text})
    assert created.status_code == 201, created.text
    assert created.json()["draft"]["nodes"]["hi"]["channel"] == "outbox"
    broken = api.call("POST", "/journeys", {"name": "broken", "yaml": "version: 1\nnodes: {a: [\n"})
    body = assert_problem(broken, 422, "invalid_input")
    assert error_fields(body) == ["yaml"]
    assert "line 3" in body["errors"][0]["reason"]
    both = api.call("POST", "/journeys", {"name": "both", "yaml": text, "definition": {}})
    assert error_fields(assert_problem(both, 422, "invalid_input")) == ["definition"]
    listed = [j["name"] for j in api.call("GET", "/journeys").json()]
    assert listed == ["yaml"]  # nothing of the refused ones was saved


def test_pause_resume_archive_restore(api: Api) -> None:
    jid = api.call("POST", "/journeys", {"name": "J", "definition": graph(api)}).json()["id"]
    assert_problem(api.call("POST", f"/journeys/{jid}/pause"), 409, "conflict")  # a draft is not running
    api.call("POST", f"/journeys/{jid}/publish")
    assert api.call("POST", f"/journeys/{jid}/pause").json()["status"] == "paused"
    assert_problem(api.call("POST", f"/journeys/{jid}/pause"), 409, "conflict")
    assert api.call("POST", f"/journeys/{jid}/resume").json()["status"] == "active"
    assert api.call("POST", f"/journeys/{jid}/archive").json()["status"] == "archived"
    assert api.call("GET", "/journeys").json() == []
    assert len(api.call("GET", "/journeys?archived=true").json()) == 1
    assert_problem(api.call("PUT", f"/journeys/{jid}/draft", {"definition": graph(api)}), 409, "conflict")
    assert api.call("POST", f"/journeys/{jid}/restore").json()["status"] == "paused"  # resumed on purpose
    assert_problem(api.call("POST", f"/journeys/{jid}/fly"), 422, "invalid_input")
    assert_problem(api.call("POST", "/journeys/999/pause"), 404, "not_found")


def test_templates_install_as_drafts_with_notices(api: Api) -> None:
    listed = api.call("GET", "/journeys/templates").json()
    assert "welcome_72h" in [t["key"] for t in listed]
    installed = api.call("POST", "/journeys/templates/install", {"template": "welcome_72h"})
    assert installed.status_code == 201, installed.text
    body = installed.json()
    assert body["journey"]["name"] == "首72小时欢迎SOP"
    assert body["journey"]["template"] == "welcome_72h"
    assert body["journey"]["problems"] == []
    assert len(body["notices"]) == 1
    assert "优惠券" in body["notices"][0]
    assert "gift" not in body["journey"]["draft"]["nodes"]
    published = api.call("POST", f"/journeys/{body['journey']['id']}/publish")
    assert published.status_code == 201, published.text
    again = api.call("POST", "/journeys/templates/install", {"template": "welcome_72h"})
    assert_problem(again, 409, "conflict")  # the name is taken; give another
    other = api.call("POST", "/journeys/templates/install", {"template": "welcome_72h", "name": "第二家店欢迎"})
    assert other.status_code == 201
    assert_problem(api.call("POST", "/journeys/templates/install", {"template": "nope"}), 404, "not_found")


def test_readers_read_and_only_managers_change(api: Api) -> None:
    jid = api.call("POST", "/journeys", {"name": "J", "definition": graph(api)}).json()["id"]
    assert api.call("GET", f"/journeys/{jid}", headers=api.reader).status_code == 200
    assert_problem(api.call("POST", f"/journeys/{jid}/publish", headers=api.reader), 403, "permission_denied")
    refused = api.call("POST", "/journeys", {"name": "x", "definition": {}}, headers=api.reader)
    assert_problem(refused, 403, "permission_denied")


def test_enter_tick_ledger_and_tasks_over_http(api: Api) -> None:
    from datetime import timedelta

    from siyu.journey import tasks
    from siyu.kit.time import utcnow
    from tests.contact.factories import create_contact

    with transaction(api.factory, workspace_id=api.ws) as session:
        contacts = [create_contact(session, identities={"phone": f"1350000000{i}"}).id for i in range(2)]
    definition = {
        "version": 1,
        "trigger": {"type": "manual"},
        "start": "hello",
        "nodes": {
            "hello": {
                "type": "send",
                "channel": "outbox",
                "priority": "service",
                "content": {"text": "你好"},
                "next": "call",
            },
            "call": {"type": "task", "title": "回访", "due_in": "1h"},
        },
    }
    jid = api.call("POST", "/journeys", {"name": "回访", "definition": definition}).json()["id"]
    assert_problem(api.call("POST", f"/journeys/{jid}/enter", {"contact_ids": contacts}), 409, "conflict")  # a draft
    api.call("POST", f"/journeys/{jid}/publish")
    entered = api.call("POST", f"/journeys/{jid}/enter", {"contact_ids": contacts})
    assert entered.json() == {"entered": 2}
    assert api.call("POST", f"/journeys/{jid}/enter", {"contact_ids": contacts}).json() == {"entered": 0}
    assert_problem(api.call("POST", f"/journeys/{jid}/enter", {"contact_ids": []}), 422, "invalid_input")
    report = tasks.tick(api.factory, None, api.ws)
    assert (report.steps, report.sent) == (4, 2)
    ledger = api.call("GET", "/deliveries?status=sent").json()
    assert ledger["total"] == 2
    assert {d["contact_id"] for d in ledger["items"]} == set(contacts)
    assert ledger["items"][0]["source"] == f"journey:{jid}"
    assert api.call("GET", "/deliveries?status=blocked").json()["total"] == 0
    open_tasks = api.call("GET", "/tasks?status=open").json()
    assert open_tasks["total"] == 2
    assert api.call("GET", "/tasks?overdue=true").json()["total"] == 0  # due in an hour
    with transaction(api.factory, workspace_id=api.ws) as session:
        from siyu.models import StaffTask

        for task in session.scalars(select(StaffTask)):
            task.due_at = utcnow() - timedelta(minutes=5)
    overdue = api.call("GET", "/tasks?overdue=true").json()
    assert overdue["total"] == 2
    assert all(t["overdue"] for t in overdue["items"])
    done = api.call("POST", f"/tasks/{overdue['items'][0]['id']}/complete").json()
    assert (done["status"], done["overdue"]) == ("done", False)
    assert api.call("GET", "/tasks?overdue=true").json()["total"] == 1
    assert_problem(api.call("POST", "/tasks/999/complete"), 404, "not_found")


def test_set_property_values_are_checked_against_the_catalogue(api: Api) -> None:
    bad = graph(api, done={"type": "set_property", "key": "skin_type", "value": "干皮"})
    body = api.call("POST", "/journeys/validate", {"definition": bad}).json()
    assert [p["field"] for p in body["problems"]] == ["definition.nodes.done.value"]
    assert "skin_type" in body["problems"][0]["reason"]
    good = graph(api, done={"type": "set_property", "key": "skin_type", "value": "油皮"})
    assert api.call("POST", "/journeys/validate", {"definition": good}).json()["valid"] is True


def test_every_template_installs_ready_to_publish(api: Api) -> None:
    for template in api.call("GET", "/journeys/templates").json():
        installed = api.call("POST", "/journeys/templates/install", {"template": template["key"]}).json()
        assert installed["journey"]["problems"] == [], (template["key"], installed["journey"]["problems"])
        published = api.call("POST", f"/journeys/{installed['journey']['id']}/publish")
        assert published.status_code == 201, (template["key"], published.text)


def test_the_webhook_channel_is_set_up_then_journeys_may_use_it(
    api: Api, session_factory: sessionmaker[Session]
) -> None:
    manager = create_token(session_factory, api.ws, [Permission.channels_manage, Permission.workspace_read])
    headers = {"Authorization": f"Bearer {manager}"}
    hooked = graph(api, hello={"type": "send", "channel": "webhook", "content": {"text": "hi"}, "next": "tag"})
    refused = api.call("POST", "/journeys/validate", {"definition": hooked}).json()
    assert refused["problems"][0]["reason"] == "channel 'webhook' is not available; use one of outbox"
    none_set = dict.fromkeys(("webhook", "email", "wecom", "official_account", "miniprogram", "sms"))
    assert api.call("GET", "/channels").json() == {"available": ["outbox"], **none_set}
    bad = api.call("PUT", "/channels/webhook", {"url": "nope", "secret": "x"}, headers=headers)
    assert set(error_fields(assert_problem(bad, 422, "invalid_input"))) == {"webhook.url", "webhook.secret"}
    assert_problem(api.call("PUT", "/channels/webhook", {"url": "http://x"}), 403, "permission_denied")
    good = api.call(
        "PUT", "/channels/webhook", {"url": "https://crm.example/hook", "secret": "0123456789abcdef"}, headers=headers
    )
    assert good.status_code == 200, good.text
    assert "secret" not in good.json()
    listed = api.call("GET", "/channels").json()
    assert listed["available"] == ["outbox", "webhook"]
    assert listed["webhook"]["secret_set"] is True
    assert "secret" not in listed["webhook"]
    assert api.call("POST", "/journeys/validate", {"definition": hooked}).json()["valid"] is True


def test_tasks_by_hand_reassigned_and_unknown_deliveries_resolved(api: Api) -> None:
    from datetime import timedelta

    from siyu.kit.time import utcnow
    from siyu.models import Contact, Delivery, StaffMember
    from tests.contact.factories import create_contact

    with transaction(api.factory, workspace_id=api.ws) as session:
        owner = StaffMember(userid="lina", name="丽娜")
        other = StaffMember(userid="wei", name="伟")
        session.add_all([owner, other])
        session.flush()
        contact = create_contact(session, identities={"phone": "13500000001"})
        session.get(Contact, contact.id).owner_staff_id = owner.id  # type: ignore[union-attr]
        session.add(
            Delivery(
                contact_id=contact.id,
                dedup_key="lost",
                source="broadcast:1",
                channel="email",
                priority="marketing",
                promotional=False,
                content={"text": "hi"},
                status="unknown",
                attempts=1,
                created_at=utcnow(),
            )
        )
        session.flush()
        contact_id = contact.id
        lost = session.scalar(select(Delivery.id).where(Delivery.dedup_key == "lost"))
    due = (utcnow() + timedelta(hours=2)).isoformat()
    made = api.call("POST", "/tasks", {"title": "回访VIP", "due_at": due, "contact_id": contact_id})
    assert made.status_code == 201, made.text
    task = made.json()
    assert (task["assignee"], task["source"], task["status"], task["overdue"]) == ("lina", "manual", "open", False)
    bad = api.call("POST", "/tasks", {"title": "", "due_at": "tomorrow", "contact_id": 999999, "assignee": "x"})
    assert set(error_fields(assert_problem(bad, 422, "invalid_input"))) == {"title", "due_at"}
    assert_problem(
        api.call("POST", "/tasks", {"title": "a", "due_at": due, "contact_id": 999999}), 422, "invalid_input"
    )
    nobody = api.call("POST", "/tasks", {"title": "a", "due_at": due, "assignee": "ghost"})
    assert error_fields(assert_problem(nobody, 422, "invalid_input")) == ["assignee"]
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    moved = api.call("PATCH", f"/tasks/{task['id']}", {"assignee": "wei", "due_at": past}).json()
    assert (moved["assignee"], moved["overdue"]) == ("wei", True)
    assert api.call("GET", "/tasks?overdue=true&assignee=wei").json()["total"] == 1
    assert_problem(api.call("PATCH", "/tasks/999999", {"assignee": "wei"}), 404, "not_found")
    assert api.call("GET", "/deliveries?channel=email&status=unknown").json()["total"] == 1
    wrong = api.call("POST", f"/deliveries/{lost}/resolve", {"outcome": "maybe"})
    assert error_fields(assert_problem(wrong, 422, "invalid_input")) == ["outcome"]
    assert_problem(
        api.call("POST", f"/deliveries/{lost}/resolve", {"outcome": "sent"}, headers=api.reader),
        403,
        "permission_denied",
    )
    settled = api.call("POST", f"/deliveries/{lost}/resolve", {"outcome": "sent"}).json()
    assert (settled["status"], settled["reason"]) == ("sent", "resolved by an operator: the contact got it")
    assert_problem(api.call("POST", f"/deliveries/{lost}/resolve", {"outcome": "resend"}), 409, "conflict")
    with transaction(api.factory, workspace_id=api.ws) as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"task.created", "task.changed", "delivery.resolved"} <= actions


def test_the_email_channel_is_set_up_with_its_password_hidden(api: Api, session_factory: sessionmaker[Session]) -> None:
    manager = create_token(session_factory, api.ws, [Permission.channels_manage, Permission.workspace_read])
    headers = {"Authorization": f"Bearer {manager}"}
    bad = api.call("PUT", "/channels/email", {"host": "smtp.x", "from_address": "nope", "port": 0}, headers=headers)
    assert set(error_fields(assert_problem(bad, 422, "invalid_input"))) == {"email.from_address", "email.port"}
    settings = {"host": "smtp.brand.example", "from_address": "Hi@Brand.example", "password": "pw", "username": "u"}
    good = api.call("PUT", "/channels/email", settings, headers=headers).json()
    assert (good["from_address"], good["password_set"]) == ("hi@brand.example", True)
    assert "password" not in good
    listed = api.call("GET", "/channels").json()
    assert listed["available"] == ["email", "outbox"]
    assert listed["email"]["host"] == "smtp.brand.example"
    mailed = graph(api, hello={"type": "send", "channel": "email", "content": {"text": "hi"}, "next": "tag"})
    assert api.call("POST", "/journeys/validate", {"definition": mailed}).json()["valid"] is True
