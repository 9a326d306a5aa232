"""The send log and the 小程序 visits the dashboards read: message_sent for every recipient of the last
SEND_LOG_DAYS' broadcasts (never after the opens), the WeCom ones also in the delivery ledger, a page_view
minutes before every 小程序 order, and browsing so that the window's 小程序 visitors buy at
VISITOR_PURCHASE_SHARE."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.demo import DemoConfig
from siyu.demo import calibration as cal
from siyu.demo.buffer import ENGAGEMENT, NAME
from siyu.demo.engagement import SEND_LOG_DAYS
from siyu.demo.generator import calendar
from siyu.demo.presets import PRESETS, Industry
from siyu.kit.db import transaction
from siyu.models import Delivery, Event, Identity, SalesOrder
from tests.demo.helpers import DAY, build

SIZE = 2000


@dataclass
class Demo:
    config: DemoConfig
    events: list[tuple[int, str, float, str, dict[str, Any]]]  # contact, name, time, source, properties
    orders: list[tuple[int, float, str]]  # contact, paid, sales channel
    mini_openids: set[int]  # contacts holding the 小程序 openid
    deliveries: list[tuple[Any, ...]]  # the ledger's rows

    def named(self, name: str) -> list[tuple[int, float, str, dict[str, Any]]]:
        return [(c, t, s, p) for c, n, t, s, p in self.events if n == name]


def generated(factory: sessionmaker[Session], industry: Industry = Industry.beauty) -> Demo:
    ws, config = build(factory, contacts=SIZE, industry=industry)
    appid = PRESETS[industry].mini_appid
    with transaction(factory) as session:
        events = session.execute(
            select(Event.contact_id, Event.name, Event.occurred_at, Event.source, Event.properties).where(
                Event.workspace_id == ws
            )
        ).all()
        orders = session.execute(
            select(SalesOrder.contact_id, SalesOrder.paid_at, SalesOrder.sales_channel).where(
                SalesOrder.workspace_id == ws
            )
        ).all()
        deliveries = session.execute(
            select(
                Delivery.contact_id, Delivery.source, Delivery.dedup_key, Delivery.channel, Delivery.status,
                Delivery.promotional, Delivery.content, Delivery.created_at, Delivery.sent_at,
            ).where(Delivery.workspace_id == ws)
        ).all()  # fmt: skip
        openids = set(
            session.scalars(
                select(Identity.contact_id).where(
                    Identity.workspace_id == ws, Identity.kind == "wx_openid", Identity.scope == appid
                )
            )
        )
    return Demo(
        config=config,
        events=[(c, n, t.timestamp(), s, p) for c, n, t, s, p in events],
        orders=[(c, t.timestamp(), ch) for c, t, ch in orders],
        mini_openids=openids,
        deliveries=[tuple(r) for r in deliveries],
    )


@pytest.fixture
def demo(session_factory: sessionmaker[Session]) -> Demo:
    return generated(session_factory)


def test_sends_are_logged_for_the_last_days_and_opens_follow_them(demo: Demo) -> None:
    window, sends = calendar(demo.config)
    log_from = window.end - SEND_LOG_DAYS * DAY
    by_id = {s.content_id: s for s in sends}
    sent = demo.named("message_sent")
    assert sent
    logged: dict[tuple[int, str], float] = {}
    for contact, at, source, props in sent:
        assert log_from <= at < window.end
        send = by_id[props["content_id"]]
        assert at == send.at  # the second the broadcast went out
        assert props == {
            "channel": send.channel,
            "content_type": cal.CONTENT_TYPES[send.content_type],
            "content_id": send.content_id,
        }
        assert source == send.channel
        assert (contact, send.content_id) not in logged
        logged[contact, send.content_id] = at
    recent = {s.content_id for s in sends if s.at >= log_from}
    assert {p["content_id"] for _, _, _, p in sent} == recent
    opens = demo.named("message_opened")
    assert any(p["content_id"] in recent for _, _, _, p in opens)
    for contact, at, _, props in opens:
        content = props["content_id"]
        assert at > by_id[content].at
        if content in recent:  # an open of a logged broadcast was sent to that contact, before
            assert logged[contact, content] < at


def test_the_wecom_sends_are_the_delivery_ledger(demo: Demo) -> None:
    """Each logged WeCom broadcast recipient has its ledger row as ``broadcast.send`` writes it, delivered
    at the send's second (the journeys and broadcasts chart reads the ledger); 公众号 群发 has none."""
    _, sends = calendar(demo.config)
    by_id = {s.content_id: s for s in sends}
    wecom = sorted((c, p["content_id"], at) for c, at, _, p in demo.named("message_sent") if p["channel"] == "wecom")
    assert wecom
    ledger = []
    for contact, source, dedup, channel, status, promotional, content, created, sent in demo.deliveries:
        key = source.removeprefix("broadcast:")
        send = by_id[key]
        assert (dedup, channel, status) == (f"{source}:{contact}", "wecom", "delivered")
        assert promotional == (send.content_type == cal.PROMOTION)
        assert content == {"text": send.title}
        assert created.timestamp() == sent.timestamp() == send.at
        ledger.append((contact, key, sent.timestamp()))
    assert sorted(ledger) == wecom


def test_engagement_counts_page_views_not_sends() -> None:
    assert NAME["message_sent"] not in ENGAGEMENT
    assert NAME["page_view"] in ENGAGEMENT


def test_every_miniprogram_order_follows_a_page_view(demo: Demo) -> None:
    views: dict[int, list[float]] = defaultdict(list)
    for contact, at, source, props in demo.named("page_view"):
        assert source == "miniprogram"
        assert props["page"].startswith("/pages/")
        views[contact].append(at)
    high = cal.ORDER_VIEW_MINUTES[1]  # 30 minutes
    mini = [(c, t) for c, t, channel in demo.orders if channel == "miniprogram"]
    assert mini
    for contact, paid in mini:
        assert any(0 <= paid - at <= high * 60 for at in views[contact]), (contact, paid)


def test_miniprogram_visitors_buy_at_the_assumed_share(demo: Demo) -> None:
    visitors = {c for c, _, source, _ in demo.named("page_view") if source == "miniprogram"}
    buyers = {c for c, _, channel in demo.orders if channel == "miniprogram"}
    assert buyers <= visitors
    assert len(buyers) / len(visitors) == pytest.approx(cal.VISITOR_PURCHASE_SHARE, abs=0.03)
    # The 小程序 openid comes with a visit: every holder visited, every visitor holds one.
    assert demo.mini_openids == visitors
    views = len(demo.named("page_view"))
    assert views - len(buyers) <= 1.5 * SIZE  # small: about one view per contact besides the orders'


def test_a_preset_whose_buyers_are_most_contacts_stays_above_the_share(
    session_factory: sessionmaker[Session],
) -> None:
    demo = generated(session_factory, Industry.coffee)
    visitors = {c for c, _, source, _ in demo.named("page_view") if source == "miniprogram"}
    buyers = {c for c, _, channel in demo.orders if channel == "miniprogram"}
    assert buyers <= visitors
    assert cal.VISITOR_PURCHASE_SHARE <= len(buyers) / len(visitors) <= 0.6
