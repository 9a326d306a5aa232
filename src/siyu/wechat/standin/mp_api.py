"""The stand-in's 公众号 and 小程序 message APIs: 客服 messages inside their windows, template messages (keywords cut
to 20 characters, ``client_msg_id`` de-duplicating), subscribe messages consuming one acceptance each."""

from __future__ import annotations

from typing import Any

from siyu.wechat.standin.api import CUSTOM_TYPES, FIELD_LIMITS, AppCall, Body, Query
from siyu.wechat.standin.records import ApiError, App
from siyu.wechat.standin.state import StandIn


def _record(s: StandIn, kind: str, app: App, openid: str, template_id: str | None, data: Any) -> None:
    s.sent.append(
        {"kind": kind, "appid": app.appid, "openid": openid, "template_id": template_id, "data": data, "at": s.clock()}
    )


def custom_send(s: StandIn, app: App, q: Query, b: Body) -> Body:
    user = s.mp_user(app, str(b.get("touser") or ""))
    msgtype = b.get("msgtype")
    if msgtype not in CUSTOM_TYPES or not isinstance(b.get(msgtype), dict):
        raise ApiError(40008)
    now = s.clock()
    # The window that closes first is used first.
    open_ = sorted(
        (g for g in user.grants.values() if g.expires_at > now and g.remaining > 0), key=lambda g: g.expires_at
    )
    if not open_:
        raise ApiError(45015)
    open_[0].remaining -= 1
    _record(s, "custom", app, user.openid, None, {msgtype: b[msgtype]})
    return {}


def template_send(s: StandIn, app: App, q: Query, b: Body) -> Body:
    if app.kind != "official_account":
        raise ApiError(48001, "template messages are for 服务号")
    user = s.mp_user(app, str(b.get("touser") or ""))
    template_id = str(b.get("template_id") or "")
    if template_id not in app.templates:
        raise ApiError(40037)
    client_msg_id = b.get("client_msg_id")
    if client_msg_id and client_msg_id in app.client_msg_ids:
        return {"msgid": app.client_msg_ids[client_msg_id]}
    data = b.get("data") or {}
    if not isinstance(data, dict):
        raise ApiError(47001)
    # Since 2023-05 each keyword value is cut to 20 characters, line breaks removed, without an error.
    kept = {
        k: {"value": str((v or {}).get("value", "")).replace("\n", "")[:20]}
        for k, v in data.items()
        if isinstance(v, dict)
    }
    msgid = s.next_msgid()
    if client_msg_id:
        app.client_msg_ids[client_msg_id] = msgid
    _record(s, "template", app, user.openid, template_id, kept)
    s.sent[-1] |= {"msgid": msgid, "url": b.get("url"), "miniprogram": b.get("miniprogram")}
    return {"msgid": msgid}


def subscribe_send(s: StandIn, app: App, q: Query, b: Body) -> Body:
    if app.kind != "miniprogram":
        raise ApiError(48001, "subscribe/send is for 小程序 (公众号: subscribe/bizsend)")
    user = s.mp_user(app, str(b.get("touser") or ""))
    template_id = str(b.get("template_id") or "")
    if template_id not in app.templates:
        raise ApiError(40037)
    data = b.get("data") or {}
    if not isinstance(data, dict) or not data:
        raise ApiError(47003, "data is required")
    for key, value in data.items():
        text = str((value or {}).get("value", "")) if isinstance(value, dict) else ""
        kind = key.rstrip("0123456789")
        if len(text) > FIELD_LIMITS.get(kind, 10**6):
            raise ApiError(47003, f"data.{key}.value longer than {FIELD_LIMITS[kind]}")
    if user.subscriptions[template_id] <= 0:
        raise ApiError(43101)
    user.subscriptions[template_id] -= 1
    _record(s, "subscribe", app, user.openid, template_id, data)
    s.sent[-1] |= {"page": b.get("page"), "miniprogram_state": b.get("miniprogram_state", "formal")}
    return {}


APPS: dict[str, AppCall] = {
    "message/custom/send": custom_send,
    "message/template/send": template_send,
    "message/subscribe/send": subscribe_send,
}
