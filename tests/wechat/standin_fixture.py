"""Pytest fixtures for the WeCom / WeChat stand-in: a fresh stand-in on a loopback port with a manual clock, and a
callback receiver that checks the signature and decrypts what the stand-in sends (as siyu's endpoint must)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from siyu.wechat.crypto import CryptoError, MsgCrypt, parse_xml
from siyu.wechat.standin import ManualClock, RunningStandIn, StandIn, serve_app, serve_in_thread

CORPID = "wwstandintest0001"
SECRET = "standin-test-secret"
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"


@dataclass
class StandInFixture:
    state: StandIn
    running: RunningStandIn
    clock: ManualClock

    @property
    def url(self) -> str:
        return self.running.url


@pytest.fixture
def standin() -> Iterator[StandInFixture]:
    """An empty stand-in (add corps and apps with ``state.add_corp`` / ``add_app``), clock at the real time."""
    clock = ManualClock(time.time())
    state = StandIn(clock)
    state.callback_retry_delay = 0.01
    running = serve_in_thread(state)
    try:
        yield StandInFixture(state, running, clock)
    finally:
        running.stop()


class CallbackReceiver:
    """Stands for siyu's callback URL: answers the URL check and keeps each event's plaintext XML.
    ``script``: HTTP statuses to answer the next POSTs with (then 200); ``rejected``: bad signatures."""

    def __init__(self, token: str = TOKEN, aes_key: str = AES_KEY, receive_id: str = CORPID) -> None:
        self.crypt = MsgCrypt(token, aes_key, receive_id)
        self.received: list[str] = []
        self.outer: list[dict[str, str]] = []  # the envelopes: ToUserName, Encrypt, AgentID
        self.script: list[int] = []
        self.rejected = 0
        self.url = ""

    def events(self) -> list[dict[str, str]]:
        """Each event's elements by tag (MemChangeList as its Items joined with commas)."""
        return [parse_xml(xml) for xml in self.received]

    async def endpoint(self, request: Request) -> Response:
        q = request.query_params
        try:
            if request.method == "GET":
                echo = self.crypt.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
                return PlainTextResponse(echo)
            body = await request.body()
            plain = self.crypt.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
        except CryptoError:
            self.rejected += 1
            return PlainTextResponse("bad signature", 403)
        if self.script:
            return PlainTextResponse("", self.script.pop(0))
        self.outer.append(parse_xml(body))
        self.received.append(plain.decode())
        return PlainTextResponse("")


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    running = serve_app(Starlette(routes=[Route("/wecom/callback", receiver.endpoint, methods=["GET", "POST"])]))
    receiver.url = f"{running.url}/wecom/callback"
    try:
        yield receiver
    finally:
        running.stop()
