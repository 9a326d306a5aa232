"""The 公众号, 小程序 and SMS channels against the stand-in: the 48-hour window and template messages that
carry no marketing, one subscribe message per acceptance, SMS with its sign and opt-out hint, a lost answer
reconciled by client_id and never sent twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.channel import sms, wechat_send
from siyu.dispatch import calling, channels, ledger
from siyu.dispatch.governance import Priority, parse_governance
from siyu.kit.db import transaction
from siyu.models import Delivery
from tests.contact.factories import add_event, create_contact
from tests.factories import create_workspace
from tests.wechat.standin_fixture import StandInFixture

MP, MINI = "wxofficial0000001", "wxmini000000001"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Noon in Shanghai on the latest day that has had one: far from the default quiet hours (22:00 to the morning), which
# would defer the marketing messages if the test ran at night there.
_noon = datetime.now(SHANGHAI).replace(hour=12, minute=0, second=0, microsecond=0)
NOW = (_noon if _noon <= datetime.now(SHANGHAI) else _noon - timedelta(days=1)).astimezone(UTC)


@dataclass
class World:
    standin: StandInFixture
    factory: sessionmaker[Session]
    ws: int
    contacts: dict[str, int]

    def queue(self, channel: str, who: list[str], priority: Priority, tag: str, text: str = "会员日活动开始啦") -> None:
        with transaction(self.factory, workspace_id=self.ws) as session:
            messages = [
                ledger.Message(self.contacts[w], f"{tag}:{w}", "test", channel, {"text": text}, priority) for w in who
            ]
            ledger.queue(session, messages, parse_governance(None), "Asia/Shanghai", NOW)

    def rows(self) -> dict[str, tuple[str, str | None]]:
        with transaction(self.factory, workspace_id=self.ws) as session:
            return {r.dedup_key: (r.status, r.reason) for r in session.scalars(select(Delivery))}


@pytest.fixture
def world(standin: StandInFixture, session_factory: sessionmaker[Session]) -> World:
    state = standin.state
    state.add_app(MP, "mp-secret", "official_account")
    state.add_app(MINI, "mini-secret", "miniprogram")
    state.add_template(MP, "TPL_ORDER", ["thing1", "time2"])
    state.add_template(MINI, "TPL_SUB", ["thing1", "thing2"])
    ws = create_workspace(session_factory).id
    contacts: dict[str, int] = {}
    with transaction(session_factory, workspace_id=ws) as session:
        for who in ("talker", "quiet", "subscriber", "nobody"):
            found = {"nobody": {}, "subscriber": {f"wx_openid@{MINI}": "o-sub"}}.get(
                who, {f"wx_openid@{MP}": f"o-{who}", "phone": f"1390000000{len(contacts)}"}
            )
            contact = create_contact(session, identities=found)
            contacts[who] = contact.id
            state.add_user(MINI if who == "subscriber" else MP, found.get(f"wx_openid@{MP}", "o-sub"))
        talker = session.get(type(contact), contacts["talker"])
        assert talker is not None
        # the talker wrote to the 公众号 an hour ago: the 客服 window is open
        event = add_event(session, talker, "message_received", NOW - timedelta(hours=1))
        event.source = "official_account"
        subscriber = session.get(type(contact), contacts["subscriber"])
        assert subscriber is not None
        add_event(session, subscriber, "subscribed", NOW - timedelta(hours=1), properties={"channel": "miniprogram"})
        base = {"api_base": standin.url}
        channels.set_channel(
            session, ws, "official_account", {"appid": MP, "secret": "mp-secret", "template_id": "TPL_ORDER", **base}
        )
        channels.set_channel(
            session, ws, "miniprogram", {"appid": MINI, "secret": "mini-secret", "template_id": "TPL_SUB", **base}
        )
        channels.set_channel(
            session,
            ws,
            "sms",
            {
                "url": f"{standin.url}/sms/send",
                "status_url": f"{standin.url}/sms/status",
                "api_key": state.sms_api_key,
                "sign": "【思域咖啡】",
            },
        )
    state.user_messages(MP, "o-talker")
    state.user_accepts_subscription(MINI, "o-sub", "TPL_SUB")
    return World(standin, session_factory, ws, contacts)


def deliver(world: World, channel: calling.CallChannel, now: datetime = NOW) -> calling.ChannelReport:
    return calling.deliver(world.factory, world.ws, now, channel)


def test_official_account_window_and_templates_without_marketing(world: World) -> None:
    world.queue("official_account", ["talker", "quiet", "nobody"], Priority.marketing, "promo")
    long = "您的订单已发货，预计明天送达，请留意快递员的电话，谢谢您的支持"
    world.queue("official_account", ["quiet"], Priority.transactional, "order", text=long)
    report = deliver(world, wechat_send.OfficialAccount())
    assert report.sent == 2
    rows = world.rows()
    assert rows["promo:talker"][0] == "sent"  # a 客服 message inside the window
    assert rows["promo:quiet"] == ("failed", "outside the 48-hour window, and template messages carry no marketing")
    assert rows["promo:nobody"][0] == "failed"
    assert rows["order:quiet"][0] == "sent"
    sent = {(m["kind"], m["openid"]): m for m in world.standin.state.sent}
    assert set(sent) == {("custom", "o-talker"), ("template", "o-quiet")}
    template = sent[("template", "o-quiet")]
    assert template["data"]["thing1"]["value"] == long[:20]  # WeChat's 20-character keyword rule


def test_one_subscribe_message_per_acceptance(world: World) -> None:
    world.queue("miniprogram", ["subscriber"], Priority.transactional, "first")
    world.queue("miniprogram", ["subscriber"], Priority.transactional, "second", text="第二条")
    deliver(world, wechat_send.MiniProgram())
    rows = world.rows()
    assert sorted(status for status, _ in rows.values()) == ["failed", "sent"]
    assert "acceptance" in str(next(r for s, r in rows.values() if s == "failed"))
    assert [m["kind"] for m in world.standin.state.sent] == ["subscribe"]


def test_sms_with_sign_opt_out_and_reconciliation_by_client_id(world: World) -> None:
    world.queue("sms", ["talker", "quiet", "subscriber"], Priority.marketing, "promo")
    report = deliver(world, sms.Sms())
    assert (report.sent, report.failed) == (2, 1)
    texts = [m["text"] for m in world.standin.state.sms_sent]
    assert all(t.startswith("【思域咖啡】") and t.endswith("拒收请回复R") for t in texts)
    assert world.rows()["promo:subscriber"] == ("failed", "the contact has no phone number")
    # two answers lost: one the provider had, one it never got
    world.queue("sms", ["quiet"], Priority.transactional, "code", text="验证码 123456")
    with transaction(world.factory, workspace_id=world.ws) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.dedup_key.in_(["promo:talker", "code:quiet"]))
            .values(status="unknown", sent_at=NOW)
        )
    deliver(world, sms.Sms(), NOW + timedelta(minutes=1))
    rows = world.rows()
    assert rows["promo:talker"][0] == "sent"
    assert "the provider has it" in str(rows["promo:talker"][1])
    assert rows["code:quiet"][0] == "sent"  # the provider never got it: queued again and sent in that pass
    phones = [m["phone"] for m in world.standin.state.sms_sent]
    assert len(phones) == 3
