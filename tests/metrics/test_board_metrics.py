"""The metrics the board adds (relations, messages, groups, visit conversion, 30-day retention, periods,
the funnel's pseudo-steps and the segment / source / channel-code filters) against figures worked out by
hand from the rows below. Dates are local; contact 4 was merged into 1 and is never counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from itertools import count
from typing import Any

import duckdb
import pytest
from pydantic import TypeAdapter, ValidationError

from siyu.lake import derived
from siyu.lake.derived import rebuild
from siyu.lake.store import Lake
from siyu.metrics.queries import MetricQuery, day
from siyu.metrics.runner import run_metric

WS = 3
AS_OF = date(2026, 8, 15)
ENGAGEMENT = ("message_opened", "message_received", "page_view", "group_message")
QUERY: TypeAdapter[Any] = TypeAdapter(MetricQuery)
JULY = {"start": "2026-07-01", "end": "2026-07-31"}
PK = count(1)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}")


def _contact(
    con: duckdb.DuckDBPyConnection, cid: int, created: str, source: str, code: str | None, merged: int | None = None
) -> None:
    at = _at(created)
    con.execute(
        "INSERT INTO contacts (workspace_id, contact_id, merged_into_id, created_at, created_day, first_source, "
        "first_channel_code, properties) VALUES (?, ?, ?, ?, ?, ?, ?, '{}')",
        [WS, cid, merged, at, day(at.date()), source, code],
    )


def _event(con: duckdb.DuckDBPyConnection, cid: int, name: str, at: str, source: str = "wecom", **props: Any) -> None:
    when = _at(at)
    con.execute(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [WS, next(PK), cid, name, when, day(when.date()), source, json.dumps(props, ensure_ascii=False)],
    )


def _order(con: duckdb.DuckDBPyConnection, cid: int, at: str, fen: int, channel: str, event: bool = True) -> None:
    when = _at(at)
    con.execute(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, '[]')",
        [WS, next(PK), cid, fen, when, day(when.date()), channel],
    )
    if event:
        _event(con, cid, "order_paid", at, "orders")


def build(con: duckdb.DuckDBPyConnection) -> None:
    _contact(con, 1, "07-01 00:00", "douyin", "A")
    _contact(con, 2, "07-01 00:00", "mp", None)
    _contact(con, 3, "07-02 00:00", "douyin", "A")
    _contact(con, 4, "07-01 00:00", "douyin", "A", merged=1)
    # relations
    _event(con, 1, "contact_added", "07-01 10:00")
    _event(con, 3, "contact_added", "07-02 10:00")
    _event(con, 4, "contact_added", "07-01 10:00")  # merged: never counted
    _event(con, 2, "subscribed", "07-01 11:00", "mp")
    _event(con, 3, "contact_deleted", "07-05 10:00")
    _event(con, 2, "unsubscribed", "07-06 10:00", "mp")
    # two broadcasts: w1 (WeCom promotion) to 1 and 3, m1 (公众号 tutorial) to 2 and 1
    w1 = {"channel": "wecom", "content_type": "福利/促销", "content_id": "w1"}
    m1 = {"channel": "mp", "content_type": "干货/教程", "content_id": "m1"}
    _event(con, 1, "message_sent", "07-03 20:00", **w1)
    _event(con, 3, "message_sent", "07-03 20:00", **w1)
    _event(con, 2, "message_sent", "07-04 08:00", "mp", **m1)
    _event(con, 1, "message_sent", "07-04 08:00", "mp", **m1)
    _event(con, 1, "message_opened", "07-03 21:00", **w1)  # opened
    _event(con, 3, "message_opened", "07-12 09:00", **w1)  # 8.5 days after: not within 7
    _event(con, 2, "message_opened", "07-04 09:00", "mp", **m1)  # opened
    _event(con, 2, "link_clicked", "07-04 09:01", "mp", content_id="m1", channel="mp")  # clicked
    _event(con, 1, "message_opened", "07-03 07:00", "mp", **m1)  # before the send: not an open of it
    _event(con, 1, "message_received", "07-04 10:00", channel="wecom")  # answers both of 1's messages (≤ 48 h)
    _event(con, 1, "message_received", "07-28 10:00", channel="wecom")  # day 27 after joining
    # groups: g1 = {1, 3} at the end (2 left), g2 = {1}
    _event(con, 1, "group_joined", "07-01 12:00", group_id="g1", group_name="VIP 1")
    _event(con, 2, "group_joined", "07-01 12:00", group_id="g1", group_name="VIP 1")
    _event(con, 3, "group_joined", "07-02 12:00", group_id="g1", group_name="VIP 1")
    _event(con, 1, "group_joined", "07-02 12:00", group_id="g2", group_name="群 2")
    _event(con, 2, "group_left", "07-10 12:00", group_id="g1", group_name="VIP 1")
    _event(con, 1, "group_message", "07-03 12:30", group_id="g1")
    _event(con, 1, "group_message", "07-03 12:31", group_id="g1")
    _event(con, 1, "group_message", "07-04 12:00", group_id="g2")
    _event(con, 2, "group_message", "07-05 12:00", group_id="g1")
    # 小程序 visits and orders
    _event(con, 1, "page_view", "07-03 11:00", "miniprogram", page="home")
    _event(con, 2, "page_view", "07-04 08:30", "miniprogram", page="home")
    _event(con, 3, "page_view", "07-04 08:30", "h5", page="home")  # not a 小程序 visit
    _order(con, 1, "07-03 12:00", 5_000, "miniprogram")
    _order(con, 3, "07-05 12:00", 3_000, "miniprogram", event=False)  # bought, but never visited the 小程序
    _order(con, 2, "07-06 12:00", 4_000, "taobao")
    _order(con, 1, "07-20 12:00", 6_000, "miniprogram")
    con.execute("INSERT INTO segment_members VALUES (?, 7, 1, 2)", [WS])


@pytest.fixture(scope="module")
def store() -> Iterator[duckdb.DuckDBPyConnection]:
    lake = Lake(None)
    with lake.write() as con:
        build(con)
        rebuild(con, WS)  # the derived tables (message_sends), as the sync would
        yield con


def run(con: duckdb.DuckDBPyConnection, raw: dict[str, Any]) -> dict[str, Any]:
    query = QUERY.validate_python(raw)
    return run_metric(
        lambda q: [tuple(r) for r in con.execute(q.sql(dialect="duckdb")).fetchall()], query, WS, AS_OF, ENGAGEMENT
    )


def test_follows_per_day_and_in_all(store: duckdb.DuckDBPyConnection) -> None:
    rows = run(store, {"kind": "follows", **JULY})["rows"]
    assert [
        (r["period"], r["contact_added"], r["subscribed"], r["contact_deleted"], r["unsubscribed"]) for r in rows
    ] == [
        ("2026-07-01", 1, 1, 0, 0),
        ("2026-07-02", 1, 0, 0, 0),
        ("2026-07-05", 0, 0, 1, 0),
        ("2026-07-06", 0, 0, 0, 1),
    ]
    (total,) = run(store, {"kind": "follows", "period": "total", **JULY})["rows"]
    assert total == {
        "period": "total",
        "contact_added": 2,
        "contact_deleted": 1,
        "subscribed": 1,
        "unsubscribed": 1,
        "net": 1,
    }


def test_messages_sent_opened_clicked_and_answered(store: duckdb.DuckDBPyConnection) -> None:
    result = run(store, {"kind": "messages", **JULY})
    assert result["total"] == {
        "sent": 4,
        "opened": 2,  # w1 by 1, m1 by 2 (3 opened w1 too late, 1 opened m1 before it was sent)
        "clicked": 1,
        "replied": 2,  # 1 answered within 48 h of both its messages
        "open_rate": 0.5,
        "click_rate": 0.25,
        "click_through": 0.5,
        "reply_rate": 0.5,
    }
    assert [(r["period"], r["sent"], r["opened"]) for r in result["rows"]] == [
        ("2026-07-03", 2, 1),
        ("2026-07-04", 2, 1),
    ]
    channels = {
        r["channel"]: (r["sent"], r["opened"], r["clicked"], r["replied"])
        for r in run(store, {"kind": "messages", "by": "channel", **JULY})["rows"]
    }
    assert channels == {"mp": (2, 1, 1, 1), "wecom": (2, 1, 0, 1)}
    contents = run(store, {"kind": "messages", "by": "content", **JULY})["rows"]
    assert [(c["content_id"], c["content_type"], c["channel"], c["first_sent"], c["open_rate"]) for c in contents] == [
        ("m1", "干货/教程", "mp", "2026-07-04", 0.5),
        ("w1", "福利/促销", "wecom", "2026-07-03", 0.5),
    ]
    promotions = run(store, {"kind": "messages", "content_types": ["福利/促销"], **JULY})["total"]
    assert (promotions["sent"], promotions["opened"]) == (2, 1)
    assert (
        run(store, {"kind": "messages", "within_days": 9, **JULY})["total"]["opened"] == 3
    )  # 3's late open now counts


def test_groups_speakers_members_and_lurkers(store: duckdb.DuckDBPyConnection) -> None:
    result = run(store, {"kind": "groups", **JULY})
    assert [(r["period"], r["messages"], r["speakers"]) for r in result["rows"]] == [
        ("2026-07-03", 2, 1),
        ("2026-07-04", 1, 1),
        ("2026-07-05", 1, 1),
    ]
    # members at the end: 1 and 3 (2 left g1); 3 never spoke
    assert (result["messages"], result["members"], result["lurkers"], result["speakers"], result["speaker_ratio"]) == (
        4,
        2,
        1,
        1,
        0.5,
    )
    groups = run(store, {"kind": "groups", "by": "group", **JULY})["rows"]
    assert groups == [
        {
            "group_id": "g1",
            "group_name": "VIP 1",
            "messages": 3,
            "speakers": 2,
            "members": 2,
            "lurkers": 1,
            "speaker_ratio": 0.5,
        },
        {
            "group_id": "g2",
            "group_name": "群 2",
            "messages": 1,
            "speakers": 1,
            "members": 1,
            "lurkers": 0,
            "speaker_ratio": 1.0,
        },
    ]


def test_visit_conversion_of_the_mini_program(store: duckdb.DuckDBPyConnection) -> None:
    result = run(store, {"kind": "visit_conversion", **JULY})
    # visitors 1 and 2 (3 viewed an H5 page); 1 ordered twice on the 小程序, 2 only on Taobao
    assert {k: result[k] for k in ("visitors", "buyers", "orders", "gmv_fen", "rate")} == {
        "visitors": 2,
        "buyers": 1,
        "orders": 2,
        "gmv_fen": 11_000,
        "rate": 0.5,
    }


def test_retention_30d_and_7d_by_day(store: duckdb.DuckDBPyConnection) -> None:
    thirty = run(store, {"kind": "retention_30d", **JULY})
    assert (thirty["cohort"], thirty["retained"], thirty["rate"]) == (3, 1, 0.333333)  # 1 wrote on day 27
    seven = run(store, {"kind": "retention_7d", "period": "day", **JULY})
    assert (seven["cohort"], seven["retained"]) == (3, 3)
    assert seven["rows"] == [
        {"period": "2026-07-01", "cohort": 2, "retained": 2, "rate": 1.0},
        {"period": "2026-07-02", "cohort": 1, "retained": 1, "rate": 1.0},
    ]
    repurchase = run(store, {"kind": "repurchase_30d", "period": "month", **JULY})
    assert repurchase["rows"] == [{"period": "2026-07", "cohort": 3, "repurchased": 1, "rate": 0.333333}]


def test_funnel_from_joining_to_a_repeat_order(store: duckdb.DuckDBPyConnection) -> None:
    steps = run(
        store,
        {
            "kind": "funnel",
            "steps": ["joined", "any_interaction", "order_paid", "order_paid"],
            "within_days": 30,
            **JULY,
        },
    )["steps"]
    # 3 joined and all interacted; 1 and 2 ordered (3's order has no order_paid event); only 1 ordered again
    assert [s["contacts"] for s in steps] == [3, 3, 2, 1]


def test_commerce_as_one_total_period(store: duckdb.DuckDBPyConnection) -> None:
    (total,) = run(store, {"kind": "commerce", "period": "total", **JULY})["rows"]
    assert (total["period"], total["gmv_fen"], total["orders"], total["buyers"], total["contacts"]) == (
        "total",
        18_000,
        4,
        3,
        3,
    )


def test_filters_by_source_channel_code_and_segment(store: duckdb.DuckDBPyConnection) -> None:
    douyin = run(store, {"kind": "messages", "source": "douyin", **JULY})["total"]
    assert (douyin["sent"], douyin["opened"]) == (3, 1)  # 1 and 3 only
    (code_a,) = run(store, {"kind": "follows", "period": "total", "channel_code": "A", **JULY})["rows"]
    assert (code_a["contact_added"], code_a["contact_deleted"], code_a["subscribed"]) == (2, 1, 0)
    (segment,) = run(store, {"kind": "commerce", "period": "total", "segment_id": 7, **JULY})["rows"]
    assert (segment["gmv_fen"], segment["contacts"], segment["arpu_fen"]) == (4_000, 1, 4_000.0)
    nobody = run(store, {"kind": "visit_conversion", "source": "it's-nobody", **JULY})
    assert nobody["visitors"] == 0
    assert nobody["rate"] is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"kind": "messages", "by": "weekday"}, "by"),
        ({"kind": "groups", "source": ""}, "source"),
        ({"kind": "follows", "segment_id": 0}, "segment_id"),
        ({"kind": "messages", "content_types": ["a\x00b"]}, "content_types"),
        ({"kind": "funnel", "steps": ["joined", "Order Paid"]}, "steps"),
    ],
)
def test_bad_filters_are_refused_with_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        QUERY.validate_python({**raw, **JULY})
    assert field in str(error.value)


def test_message_sends_made_in_day_slices_equal_one_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole workspace's message_sends is made a slice of days at a time (memory); one-day slices give
    the same rows, still in day order, opens on later days than their send included."""
    made = []
    for days, sends in ((100_000, 10**9), (30, 1)):  # one statement; one-day slices (one send a slice)
        monkeypatch.setattr(derived, "SEND_SLICE_DAYS", days)
        monkeypatch.setattr(derived, "SENDS_PER_SLICE", sends)
        with Lake(None).write() as con:
            build(con)
            rebuild(con, WS)
            made.append(con.execute("SELECT * FROM message_sends").fetchall())  # as stored
    whole, sliced = ([r[:2] + r[3:] for r in rows] for rows in made)  # event_pk: numbered per build
    assert sorted(sliced) == sorted(whole)
    assert [r[3] for r in sliced] == sorted(r[3] for r in sliced)  # occurred_day order kept
    assert any(r[7] is not None and r[7].date() > r[2].date() for r in sliced)  # opened on a later day
