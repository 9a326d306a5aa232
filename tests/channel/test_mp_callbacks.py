"""公众号 pushes through siyu's real endpoint: the URL check, a follow in 安全模式 becoming a contact and a
``subscribed`` event (repeats kept once), and what is refused with nothing stored — a bad signature, a plain
push once an encoding_aes_key is saved, a plain push signed with an old timestamp."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select

from siyu.channel import callbacks
from siyu.dispatch import channels
from siyu.kit.db import transaction
from siyu.models import CallbackReceipt, Contact, Event
from siyu.wechat.crypto import MsgCrypt, plain_signature
from tests.channel.wecom_fixture import Corp
from tests.wechat.standin_fixture import AES_KEY, TOKEN

APPID = "wxofficial0000001"
FOLLOW = (
    "<xml><ToUserName><![CDATA[gh_brand]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
    "<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"
)


def set_up(corp: Corp, aes: bool) -> str:
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        settings = {"appid": APPID, "secret": "mp-secret", "token": TOKEN, "api_base": corp.standin.url}
        channels.set_channel(
            session,
            corp.workspace_id,
            "official_account",
            {**settings, **({"encoding_aes_key": AES_KEY} if aes else {})},
        )
    return f"{corp.siyu.url}/callbacks/official_account/brand"


def signed(timestamp: str, nonce: str) -> dict[str, str]:
    return {"signature": plain_signature(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def encrypted(plaintext: str, nonce: str) -> tuple[dict[str, str], bytes]:
    timestamp = str(int(time.time()))
    body, msg_signature = MsgCrypt(TOKEN, AES_KEY, APPID).envelope(plaintext, "gh_brand", None, timestamp, nonce)
    return {**signed(timestamp, nonce), "encrypt_type": "aes", "msg_signature": msg_signature}, body.encode()


def receipts(corp: Corp) -> int:
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        return int(session.scalar(select(func.count()).select_from(CallbackReceipt)) or 0)


def test_a_follow_in_safe_mode_becomes_a_contact_once(corp: Corp) -> None:
    url = set_up(corp, aes=True)
    check = httpx.get(url, params={**signed("1700000000", "n1"), "echostr": "echo-123"})
    assert (check.status_code, check.text) == (200, "echo-123")
    plaintext = FOLLOW.format(openid="o-follower", created=int(time.time()))
    for nonce in ("a", "b", "c"):  # WeChat retries: encrypted afresh each time, the same push inside
        query, body = encrypted(plaintext, nonce)
        answer = httpx.post(url, params=query, content=body)
        assert (answer.status_code, answer.text) == (200, "success")
    assert receipts(corp) == 1
    assert callbacks.apply_pending(corp.factory, corp.workspace_id, None, None, APPID) == 1
    with transaction(corp.factory, workspace_id=corp.workspace_id) as session:
        contact = session.scalars(select(Contact)).one()
        event = session.scalars(select(Event).where(Event.contact_id == contact.id)).one()
        assert (event.name, event.source) == ("subscribed", "official_account")


@pytest.mark.parametrize("case", ["bad signature", "plain while 安全模式", "plain and stale"])
def test_refused_pushes_store_nothing(corp: Corp, case: str) -> None:
    url = set_up(corp, aes=case != "plain and stale")
    now = str(int(time.time()))
    plaintext = FOLLOW.format(openid="o-forged", created=now).encode()
    if case == "bad signature":
        query, body = encrypted(plaintext.decode(), "n")
        query["msg_signature"] = "0" * 40
    elif case == "plain while 安全模式":
        query, body = signed(now, "n"), plaintext
    else:  # a signature seen an hour ago, carrying a body of someone's choosing
        query, body = signed(str(int(time.time()) - 3600), "n"), plaintext
    answer = httpx.post(url, params=query, content=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "callback_rejected"
    assert receipts(corp) == 0


def test_a_fresh_plain_push_is_taken_without_an_aes_key(corp: Corp) -> None:
    url = set_up(corp, aes=False)
    now = str(int(time.time()))
    answer = httpx.post(url, params=signed(now, "n"), content=FOLLOW.format(openid="o-plain", created=now).encode())
    assert (answer.status_code, answer.text) == (200, "success")
    assert receipts(corp) == 1
