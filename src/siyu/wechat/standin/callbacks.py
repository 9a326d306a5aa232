"""Callbacks from the stand-in to the corp's callback URL: the event XML of the reference's §2.9, encrypted with
MsgCrypt, POSTed with 3 attempts in all; and the URL check WeCom does when the URL is saved."""

from __future__ import annotations

import secrets
import threading
import time
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import httpx

from siyu.wechat.crypto import MsgCrypt, signature

if TYPE_CHECKING:
    from siyu.wechat.standin.records import Corp
    from siyu.wechat.standin.state import StandIn


class Plain(str):
    """Text written without CDATA (LastMemVer, CurMemVer)."""

    __slots__ = ()


Value = str | int | list[str]


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(corpid: str, created: int, fields: list[tuple[str, Value]]) -> str:
    """``<xml>`` with ToUserName, FromUserName ``sys``, CreateTime, MsgType ``event`` and then ``fields``
    (strings in CDATA as WeCom writes them, numbers and :class:`Plain` bare, lists as ``<Item>``)."""
    parts = [
        f"<ToUserName>{_cdata(corpid)}</ToUserName>",
        f"<FromUserName>{_cdata('sys')}</FromUserName>",
        f"<CreateTime>{created}</CreateTime>",
        f"<MsgType>{_cdata('event')}</MsgType>",
    ]
    for name, value in fields:
        if isinstance(value, list):
            text = "".join(f"<Item>{escape(item)}</Item>" for item in value)
        elif isinstance(value, Plain):
            text = escape(value)
        elif isinstance(value, str):
            text = _cdata(value)
        else:
            text = str(value)
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def emit(state: StandIn, corp: Corp, fields: list[tuple[str, Value]]) -> None:
    """Records the event and, when the corp has a callback URL, delivers it (in a thread when
    ``state.callbacks_async``). Called without the state's lock held: the receiver may call the API back."""
    created = int(state.clock())
    xml = event_xml(corp.corpid, created, fields)
    summary: dict[str, Any] = {"corpid": corp.corpid, "xml": xml, **dict(fields)}
    with state.lock:
        state.events.append(summary)
    if not corp.callback_url:
        return
    if state.callbacks_async:
        threading.Thread(target=_deliver, args=(state, corp, summary), daemon=True).start()
    else:
        _deliver(state, corp, summary)


def _deliver(state: StandIn, corp: Corp, event: dict[str, Any]) -> None:
    assert corp.callback_url is not None
    crypt = MsgCrypt(corp.token, corp.encoding_aes_key, corp.corpid)
    timestamp, nonce = str(int(state.clock())), str(secrets.randbelow(10**10))
    body, msg_signature = crypt.envelope(
        event["xml"], to_user=corp.corpid, agent_id=corp.agent_id, timestamp=timestamp, nonce=nonce
    )
    query = {"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce}
    for attempt in range(1, state.callback_attempts + 1):
        status: int | str
        started = time.monotonic()
        try:
            answer = httpx.post(
                corp.callback_url,
                params=query,
                content=body.encode(),
                headers={"Content-Type": "text/xml"},
                timeout=state.callback_timeout,
            )
            status = answer.status_code
        except httpx.TimeoutException:
            status = "timeout"
        except httpx.HTTPError as exc:
            status = f"error: {type(exc).__name__}"
        with state.lock:
            state.callback_log.append(
                {
                    "event": event["Event"],
                    "change_type": event.get("ChangeType", ""),
                    "attempt": attempt,
                    "status": status,
                    "seconds": time.monotonic() - started,
                    "xml": event["xml"],
                }
            )
        if status == 200:
            return
        if attempt < state.callback_attempts:
            time.sleep(state.callback_retry_delay)


def verify_url(state: StandIn, corp: Corp) -> bool:
    """GET ``callback_url?msg_signature&timestamp&nonce&echostr`` (echostr encrypted); the answer must be the
    plaintext exactly (no quotes, BOM or newline), within ``state.verify_timeout`` (1 s at WeCom)."""
    if not corp.callback_url:
        return False
    plain = str(secrets.randbelow(10**19))
    echostr = MsgCrypt(corp.token, corp.encoding_aes_key, corp.corpid).encrypt(plain)
    timestamp, nonce = str(int(state.clock())), str(secrets.randbelow(10**10))
    query = {
        "msg_signature": signature(corp.token, timestamp, nonce, echostr),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echostr,
    }
    try:
        answer = httpx.get(corp.callback_url, params=query, timeout=state.verify_timeout)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.content == plain.encode()
