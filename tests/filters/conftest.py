"""A tiny analytics store written by hand (no operational store), so every leaf of the filter language
can be checked against memberships worked out on paper. As of 2026-06-30 12:00 (local time)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pytest

from siyu.filters.compiler import Context
from siyu.lake.derived import rebuild
from siyu.lake.store import Lake
from siyu.tiers.scores import day_number

AS_OF = datetime(2026, 6, 30, 12, 0)
CATALOGUE = {"skin_type": "enum", "age": "number", "vip": "bool", "interests": "list", "joined_on": "date"}


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def _props(con: duckdb.DuckDBPyConnection, ws: int, contact_id: int, properties: dict[str, Any]) -> None:
    for key, value in properties.items():
        for item in value if isinstance(value, list) else [value]:
            text = None if isinstance(item, bool | int | float) and not isinstance(item, str) else str(item)
            if isinstance(item, bool):
                text = str(item).lower()
            elif isinstance(item, int | float):
                text = str(item)
            number = float(item) if isinstance(item, int | float) and not isinstance(item, bool) else None
            flag = item if isinstance(item, bool) else None
            day = date.fromisoformat(item) if CATALOGUE.get(key) == "date" else None
            con.execute(
                "INSERT INTO contact_properties VALUES (?, ?, ?, ?, ?, ?, ?)",
                [ws, contact_id, key, text, number, flag, day],
            )


def _contact(con: duckdb.DuckDBPyConnection, ws: int, cid: int, created: datetime, **fields: Any) -> None:
    properties = fields.pop("properties", {})
    con.execute(
        "INSERT INTO contacts (workspace_id, contact_id, merged_into_id, created_at, created_day, gender, birthday, "
        "region, first_source, first_channel_code, owner_staff_id, properties) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ws,
            cid,
            fields.get("merged_into_id"),
            created,
            day_number(created),
            fields.get("gender"),
            fields.get("birthday"),
            fields.get("region"),
            fields.get("first_source"),
            None,
            None,
            json.dumps(properties, ensure_ascii=False),
        ],
    )
    _props(con, ws, cid, properties)


_EVENT_PK = iter(range(1, 10_000))


def _event(con: duckdb.DuckDBPyConnection, ws: int, cid: int, name: str, at: datetime, **props: Any) -> None:
    con.execute(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [ws, next(_EVENT_PK), cid, name, at, day_number(at), "test", json.dumps(props)],
    )


def _order(
    con: duckdb.DuckDBPyConnection, ws: int, pk: int, cid: int, fen: int, at: datetime, channel: str = "miniprogram"
) -> None:
    con.execute(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [ws, pk, cid, fen, at, day_number(at), channel, "[]"]
    )


def _scores(con: duckdb.DuckDBPyConnection, cid: int, **values: Any) -> None:
    row: dict[str, Any] = {
        "workspace_id": 1,
        "contact_id": cid,
        "as_of": AS_OF,
        "orders_in_window": 0,
        "net_fen_in_window": 0,
        "orders_30d": 0,
        "total_net_fen": 0,
        "spend_365d_fen": 0,
        "spend_recent_fen": 0,
        "spend_before_fen": 0,
        "active_days_30d": 0,
        "active_days_7d": 0,
        "threshold_tier": "inactive",
        "lifecycle_stage": "new",
        "value_tier": "low",
        "activity_tier": "silent",
        **values,
    }
    con.execute(
        f"INSERT INTO contact_scores ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values())
    )


def build(con: duckdb.DuckDBPyConnection) -> None:
    _contact(
        con,
        1,
        1,
        datetime(2026, 1, 10),
        gender="female",
        region="上海",
        birthday=date(1990, 7, 2),
        first_source="douyin",
        properties={
            "skin_type": "敏感肌",
            "age": 31,
            "vip": True,
            "interests": ["lipstick", "skincare"],
            "joined_on": "2026-06-20",
        },
    )
    _contact(
        con,
        1,
        2,
        datetime(2026, 6, 25),
        gender="male",
        region="北京",
        first_source="mp",
        properties={"skin_type": "油皮", "age": 45},
    )
    _contact(
        con,
        1,
        3,
        datetime(2025, 5, 1),
        gender="female",
        region="上海",
        birthday=date(1985, 12, 31),
        first_source="store",
    )
    _contact(con, 1, 4, datetime(2026, 3, 1), gender="unknown", properties={"age": 25, "interests": ["skincare"]})
    _contact(
        con,
        1,
        5,
        datetime(2026, 2, 1),
        gender="female",
        region="上海",
        merged_into_id=1,
        properties={"skin_type": "敏感肌"},
    )
    _contact(con, 2, 6, datetime(2026, 1, 1), gender="female", region="上海", properties={"skin_type": "敏感肌"})

    for days, page in ((2, "/item/1"), (5, "/item/2"), (20, "/home")):
        _event(con, 1, 1, "link_clicked", ago(days), page=page)
    _event(con, 1, 1, "message_opened", ago(60))
    _event(con, 1, 2, "link_clicked", ago(3), page="/item/9", n=5)
    for days in (40, 41):
        _event(con, 1, 3, "link_clicked", ago(days), page="/item/3")
    _event(con, 1, 5, "link_clicked", ago(1), page="/item/1")  # merged contact: never counted
    for days in range(5):
        _event(con, 2, 6, "link_clicked", ago(days + 1), page="/item/1")  # another workspace

    _order(con, 1, 1, 1, 30_000, ago(10))
    _order(con, 1, 2, 1, 25_000, ago(100))
    _order(con, 1, 3, 2, 80_000, ago(5))
    _order(con, 1, 4, 3, 10_000, ago(400))
    _order(con, 2, 5, 6, 900_000, ago(1))
    con.execute("INSERT INTO refunds VALUES (1, 1, 1, 5000, ?, ?)", [ago(8), day_number(ago(8))])

    for tag, cid in ((7, 1), (7, 4), (8, 2)):
        con.execute("INSERT INTO contact_tags VALUES (1, ?, ?, 'manual')", [cid, tag])
    con.execute("INSERT INTO contact_tags VALUES (2, 6, 7, 'manual')")
    for cid in (1, 3):
        con.execute("INSERT INTO segment_members VALUES (1, 11, 1, ?)", [cid])

    _scores(
        con,
        1,
        rfm_cell="重要价值",
        r_score=5,
        f_score=5,
        m_score=4,
        threshold_tier="vip",
        lifecycle_stage="active",
        value_tier="high_net",
        activity_tier="weekly_active",
        clv_value_fen=500.0,
        clv_purchases=1.5,
        clv_p_alive=0.9,
    )
    _scores(
        con,
        2,
        rfm_cell="重要发展",
        r_score=5,
        f_score=1,
        m_score=5,
        threshold_tier="inactive",
        lifecycle_stage="new",
        value_tier="potential",
        activity_tier="weekly_active",
        clv_value_fen=80.0,
        clv_purchases=0.4,
        clv_p_alive=0.99,
    )
    _scores(con, 3, rfm_cell=None, lifecycle_stage="dormant", activity_tier="lost")
    _scores(con, 4, lifecycle_stage="new")


@pytest.fixture(scope="module")
def tiny() -> Iterator[duckdb.DuckDBPyConnection]:
    lake = Lake(None)
    with lake.write() as con:
        build(con)
        for ws in (1, 2):
            rebuild(con, ws)
        yield con


@pytest.fixture
def ctx() -> Context:
    return Context(workspace_id=1, as_of=AS_OF, properties=CATALOGUE, tags={7, 8}, segments={11})
