"""A small shop for the analytics pages: four contacts with known genders, skin types, orders and clicks,
and a helper that runs the analytics refresh into the app's own store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import PropertyDefinition
from siyu.segment import flows
from tests.contact.factories import add_event, add_order, create_contact

NOW = utcnow()
FEMALE: dict[str, Any] = {"op": "attribute", "field": "gender", "cmp": "eq", "value": "female"}


@dataclass
class Shop:
    workspace_id: int
    li: int  # female, 敏感肌, three orders (¥1,800 in all), two clicks
    wang: int  # female, 油皮, one order of ¥200
    zhao: int  # male, 敏感肌, nothing bought
    sun: int  # male, one order of ¥99

    @property
    def everyone(self) -> list[int]:
        return [self.li, self.wang, self.zhao, self.sun]


def open_shop(factory: sessionmaker[Session], workspace_id: int) -> Shop:
    with transaction(factory, workspace_id=workspace_id) as session:
        session.add(PropertyDefinition(key="skin_type", type="enum", label="肤质", options=["敏感肌", "油皮", "干皮"]))
        li = create_contact(
            session,
            gender="female",
            region="上海",
            identities={"phone": "13800000001"},
            properties={"skin_type": "敏感肌"},
        )
        wang = create_contact(
            session,
            gender="female",
            region="杭州",
            identities={"phone": "13800000002"},
            properties={"skin_type": "油皮"},
        )
        zhao = create_contact(
            session,
            gender="male",
            region="北京",
            identities={"phone": "13800000003"},
            properties={"skin_type": "敏感肌"},
        )
        sun = create_contact(session, gender="male", region="上海", identities={"phone": "13800000004"})
        for n, days in enumerate((2, 9, 20)):
            add_order(session, li, f"LI-{n}", 60_000, NOW - timedelta(days=days))
        add_order(session, wang, "WANG-1", 20_000, NOW - timedelta(days=5))
        add_order(session, sun, "SUN-1", 9_900, NOW - timedelta(days=40))
        add_event(session, li, "link_clicked", NOW - timedelta(days=1))
        add_event(session, li, "link_clicked", NOW - timedelta(days=3))
        return Shop(workspace_id, li.id, wang.id, zhao.id, sun.id)


def refresh(app: FastAPI, factory: sessionmaker[Session], workspace_id: int) -> flows.RefreshReport:
    """What the background worker does: copy into the app's analytics store, score, recompute segments."""
    return flows.refresh_workspace(factory, app.state.lake, workspace_id, mode="full")


def definition(root: dict[str, Any]) -> str:
    return json.dumps({"version": 1, "root": root}, ensure_ascii=False)
