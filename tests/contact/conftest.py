"""A workspace with an owner (may unmask), an admin and an analyst (may not), and a few contacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

import siyu.kit.security as security
from siyu.auth.permissions import Role
from siyu.kit.db import transaction
from tests.contact.factories import T0, add_consent, add_event, add_order, create_contact, create_staff
from tests.factories import Member, create_member, create_workspace, login


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests sign in many times; they test contacts, not the hash's strength."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclass
class Pool:
    workspace_id: int
    owner: Member
    admin: Member
    analyst: Member
    li: int  # 李娜: phone, e-mail, openid; events, orders, consent
    wang: int  # 王芳: unionid, another source and channel code
    staff_id: int

    def as_(self, client: TestClient, who: str) -> TestClient:
        client.cookies.clear()
        login(client, getattr(self, who))
        return client


@pytest.fixture
def pool(session_factory: sessionmaker[Session]) -> Pool:
    ws = create_workspace(session_factory)
    owner = create_member(session_factory, ws.id, Role.owner, "owner@acme.example", can_unmask_pii=True)
    admin = create_member(session_factory, ws.id, Role.admin, "admin@acme.example")
    analyst = create_member(session_factory, ws.id, Role.analyst, "analyst@acme.example")
    with transaction(session_factory, workspace_id=ws.id) as session:
        staff = create_staff(session, "zhang.wei", "张伟")
        li = create_contact(
            session,
            nickname="小娜",
            name="李娜",
            gender="female",
            region="上海",
            first_source="douyin",
            first_channel_code="dy-live-0301",
            owner_staff_id=staff.id,
            created_at=T0,
            identities={"phone": "13812348000", "email": "Li.Na@Example.com", "wx_openid@wxapp1": "o_li_123"},
            properties={"skin_type": "dry"},
        )
        wang = create_contact(
            session,
            nickname="Fang",
            name="王芳",
            first_source="taobao",
            first_channel_code="tb-shop",
            created_at=T0 + timedelta(days=10),
            identities={"wx_unionid": "u_wang_9", "buyer_id@taobao": "tb_wang"},
        )
        add_event(session, li, "contact_added", T0, properties={"state": "dy-live-0301"})
        add_event(session, li, "message_opened", T0 + timedelta(hours=2))
        add_order(session, li, "SO-1", 12900, T0 + timedelta(hours=1))
        add_consent(session, li, "marketing", True, T0)
        add_consent(session, li, "marketing", False, T0 + timedelta(days=1), channel="sms")
        add_consent(session, li, "marketing", False, T0 + timedelta(days=2))
        pool = Pool(ws.id, owner, admin, analyst, li.id, wang.id, staff.id)
    return pool
