"""The 公众号 and 小程序 channels.

* ``official_account`` — inside the 48-hour window opened by the user's own message (``message_received``
  on the 公众号, at most 5 messages per window) a **客服 message** (``message/custom/send``); outside it a
  **template message** (``message/template/send``) for service and transactional rows only — WeChat
  forbids marketing in template messages, so a marketing row outside the window fails with that reason.
  Template keyword values are cut to 20 characters (WeChat's rule since 2023-05, applied here so what is
  stored is what arrives); ``client_msg_id`` is the ledger row's message id, so a repeat is not sent twice.
* ``miniprogram`` — a **subscribe message** (``message/subscribe/send``) per recorded acceptance: each
  ``subscribed`` event with ``channel`` = ``miniprogram`` (and the template) allows one message, as
  one-time subscriptions do; without one left the row fails before WeChat is asked.

Both find the contact's ``wx_openid@<appid>`` identity; a contact without one fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.channel.sending import outcome_of
from siyu.channel.settings import MiniProgramSettings, OfficialAccountSettings
from siyu.dispatch.calling import CallChannel, Outcome, Sender, message_id
from siyu.errors import ChannelUnreachable
from siyu.models import Delivery, Event, Identity
from siyu.wechat.client import WeChatClient
from siyu.wechat.errors import Unreachable, WeChatError

WINDOW_MESSAGES = 5  # 客服 messages per user message, within the window
KEYWORD_LIMIT = 20
SERVICE = ("service", "transactional")


def openids(session: Session, appid: str, contact_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for contact_id, value in session.execute(
        select(Identity.contact_id, Identity.value)
        .where(Identity.kind == "wx_openid", Identity.scope == appid, Identity.contact_id.in_(contact_ids))
        .order_by(Identity.id)
    ):
        found.setdefault(contact_id, value)
    return found


def _client(settings: OfficialAccountSettings) -> WeChatClient:
    return WeChatClient(settings.appid, settings.secret, settings.api_base, timeout=settings.timeout_seconds)


class _WeChat(CallChannel):
    def __init__(self, client: WeChatClient | None = None) -> None:
        self.client = client

    def test_connection(self, settings: OfficialAccountSettings) -> str:
        client = self.client or _client(settings)
        try:
            client.token()
        except (WeChatError, Unreachable) as exc:
            raise ChannelUnreachable(str(exc)) from None
        finally:
            if self.client is None:
                client.close()
        return f"{settings.appid}: an access token"

    @contextmanager
    def connect(self, settings: OfficialAccountSettings, now: datetime) -> Iterator[Sender]:
        client = self.client or _client(settings)

        def send_all(items: list[dict[str, Any]]) -> list[Outcome]:
            out: list[Outcome] = []
            for item in items:
                try:
                    getattr(client, item["call"])(item["body"])
                except (WeChatError, Unreachable) as exc:
                    out.append(outcome_of(exc, item["attempts"]))
                else:
                    out.append(("sent", item["call"].removeprefix("send_")))
            return out

        try:
            yield send_all
        finally:
            if self.client is None:
                client.close()


class OfficialAccount(_WeChat):
    name = "official_account"
    title = "公众号"
    settings_model = OfficialAccountSettings
    capabilities = frozenset({"send", "reconcile", "callbacks"})

    def items(
        self, session: Session, settings: OfficialAccountSettings, rows: Sequence[Delivery], now: datetime
    ) -> list[dict[str, Any]]:
        ids = [r.contact_id for r in rows]
        to = openids(session, settings.appid, ids)
        opened = self._windows(session, ids, settings, now)
        used = self._used(session, ids, opened)
        out: list[dict[str, Any]] = []
        for row in rows:
            content = row.content if isinstance(row.content, dict) else {}
            if row.contact_id not in to:
                out.append({"id": row.id, "outcome": ("failed", f"no openid of the 公众号 {settings.appid}")})
                continue
            if row.contact_id in opened and used.get(row.contact_id, 0) < WINDOW_MESSAGES:
                used[row.contact_id] = used.get(row.contact_id, 0) + 1
                body = {"touser": to[row.contact_id], "msgtype": "text", "text": {"content": _text(content)}}
                out.append({"id": row.id, "attempts": row.attempts, "call": "send_custom", "body": body})
            elif settings.template_id and row.priority in SERVICE:
                out.append(
                    {
                        "id": row.id,
                        "attempts": row.attempts,
                        "call": "send_template",
                        "body": self._template(settings, row, to[row.contact_id], content),
                    }
                )
            else:
                reason = (
                    "outside the 48-hour window, and template messages carry no marketing"
                    if settings.template_id
                    else "outside the 48-hour window and no template is set"
                )
                out.append({"id": row.id, "outcome": ("failed", reason)})
        return out

    def _windows(
        self, session: Session, ids: Sequence[int], settings: OfficialAccountSettings, now: datetime
    ) -> dict[int, datetime]:
        """contact → when their latest message on the 公众号 was, if inside the window."""
        since = now - timedelta(hours=settings.window_hours)
        return dict(
            session.execute(
                select(Event.contact_id, func.max(Event.occurred_at))
                .where(
                    Event.contact_id.in_(ids),
                    Event.name == "message_received",
                    Event.source == "official_account",
                    Event.occurred_at > since,
                )
                .group_by(Event.contact_id)
            ).all()
        )

    def _used(self, session: Session, ids: Sequence[int], opened: dict[int, datetime]) -> dict[int, int]:
        used: dict[int, int] = {}
        for contact_id, sent_at, reason in session.execute(
            select(Delivery.contact_id, Delivery.sent_at, Delivery.reason).where(
                Delivery.contact_id.in_([i for i in ids if i in opened]),
                Delivery.channel == self.name,
                Delivery.status == "sent",
            )
        ):
            if sent_at is not None and sent_at >= opened[contact_id] and reason == "custom":
                used[contact_id] = used.get(contact_id, 0) + 1
        return used

    def _template(
        self, settings: OfficialAccountSettings, row: Delivery, openid: str, content: dict[str, Any]
    ) -> dict[str, Any]:
        values = [_text(content), *[str(content.get(k) or "") for k in ("title", "url")]]
        data = {
            keyword: {"value": value.replace("\n", " ")[:KEYWORD_LIMIT]}
            for keyword, value in zip(settings.template_keywords, values, strict=False)
        }
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": settings.template_id,
            "data": data,
            "client_msg_id": message_id(row.id, row.dedup_key)[:64],
        }
        if content.get("url"):
            body["url"] = content["url"]
        return body

    def reconcile(self, settings: OfficialAccountSettings, rows: Sequence[dict[str, Any]]) -> dict[int, Outcome]:
        # template messages carry client_msg_id, so WeChat answers a repeat with the first msgid; a 客服
        # message has no such key and stays unknown for an operator
        return {}


class MiniProgram(_WeChat):
    name = "miniprogram"
    title = "小程序 订阅消息"
    settings_model = MiniProgramSettings
    capabilities = frozenset({"send"})

    def items(
        self, session: Session, settings: MiniProgramSettings, rows: Sequence[Delivery], now: datetime
    ) -> list[dict[str, Any]]:
        ids = [r.contact_id for r in rows]
        to = openids(session, settings.appid, ids)
        left = self._acceptances(session, ids, settings, [r.id for r in rows])
        out: list[dict[str, Any]] = []
        for row in rows:
            content = row.content if isinstance(row.content, dict) else {}
            if row.contact_id not in to:
                out.append({"id": row.id, "outcome": ("failed", f"no openid of the 小程序 {settings.appid}")})
            elif not settings.template_id:
                out.append({"id": row.id, "outcome": ("failed", "no subscribe-message template is set")})
            elif left.get(row.contact_id, 0) <= 0:
                out.append({"id": row.id, "outcome": ("failed", "no subscription acceptance left (one per message)")})
            else:
                left[row.contact_id] -= 1
                values = [_text(content), str(content.get("title") or "")]
                data = {
                    k: {"value": v[:KEYWORD_LIMIT]}
                    for k, v in zip(settings.template_keywords, values, strict=False)
                    if v
                }
                body: dict[str, Any] = {
                    "touser": to[row.contact_id],
                    "template_id": settings.template_id,
                    "data": data,
                    "miniprogram_state": settings.state,
                    "lang": "zh_CN",
                }
                if settings.page:
                    body["page"] = settings.page
                out.append({"id": row.id, "attempts": row.attempts, "call": "send_subscribe", "body": body})
        return out

    def _acceptances(
        self, session: Session, ids: Sequence[int], settings: MiniProgramSettings, claimed: list[int]
    ) -> dict[int, int]:
        """Acceptances recorded less messages sent (or maybe sent) before this claim."""
        accepted: dict[int, int] = {}
        for contact_id, props in session.execute(
            select(Event.contact_id, Event.properties).where(Event.contact_id.in_(ids), Event.name == "subscribed")
        ):
            wanted = isinstance(props, dict) and props.get("channel") == "miniprogram"
            if wanted and props.get("template_id") in (None, settings.template_id):
                accepted[contact_id] = accepted.get(contact_id, 0) + 1
        for contact_id, n in session.execute(
            select(Delivery.contact_id, func.count())
            .where(
                Delivery.contact_id.in_(ids),
                Delivery.channel == self.name,
                Delivery.status.in_(("sent", "unknown", "sending")),
                Delivery.id.not_in(claimed),
            )
            .group_by(Delivery.contact_id)
        ):
            accepted[contact_id] = accepted.get(contact_id, 0) - int(n)
        return accepted

    def reconcile(self, settings: MiniProgramSettings, rows: Sequence[dict[str, Any]]) -> dict[int, Outcome]:
        return {}  # WeChat cannot be asked; an operator resolves them


def _text(content: dict[str, Any]) -> str:
    return str(content.get("text") or "")
