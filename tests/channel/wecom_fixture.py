"""A workspace wired to the WeCom stand-in: siyu served on a loopback port (so the stand-in's signed,
encrypted callbacks reach its real endpoint) and the corp's callback URL pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from siyu.app import create_app
from siyu.channel import callbacks, sending
from siyu.config import Settings
from siyu.dispatch import channels
from siyu.kit.db import transaction
from siyu.models import ChannelCode
from siyu.wechat.client import TokenCache, WeComClient
from siyu.wechat.standin import RunningStandIn, StandIn, serve_app
from tests.factories import create_workspace
from tests.wechat.standin_fixture import AES_KEY, CORPID, SECRET, TOKEN, StandInFixture


@dataclass
class Corp:
    standin: StandInFixture
    siyu: RunningStandIn
    factory: sessionmaker[Session]
    workspace_id: int

    @property
    def state(self) -> StandIn:
        return self.standin.state

    def client(self, **options: Any) -> WeComClient:
        return WeComClient(CORPID, SECRET, self.standin.url, tokens=TokenCache(), **options)

    def apply(self) -> int:
        """Apply the callbacks received so far (what the ``channel.apply_callbacks`` job does)."""
        with transaction(self.factory, workspace_id=self.workspace_id) as session:
            settings = channels.settings_for(session, self.workspace_id, "wecom")
        client = self.client()
        try:
            return callbacks.apply_pending(self.factory, self.workspace_id, client, settings)
        finally:
            client.close()

    def channel(self) -> sending.WeComChannel:
        return sending.WeComChannel(self.client(sleep=lambda s: None))


@pytest.fixture
def corp(standin: StandInFixture, settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[Corp]:
    app = create_app(settings, start_worker=False)
    siyu = serve_app(app)
    ws = create_workspace(session_factory, slug="brand").id
    with transaction(session_factory, workspace_id=ws) as session:
        channels.set_channel(
            session,
            ws,
            "wecom",
            {
                "corpid": CORPID,
                "secret": SECRET,
                "token": TOKEN,
                "encoding_aes_key": AES_KEY,
                "api_base": standin.url,
            },
        )
        session.add(ChannelCode(state="store-sh-01", label="上海门店", source="store", campaign="双11"))
    standin.state.add_corp(CORPID, SECRET, TOKEN, AES_KEY, f"{siyu.url}/callbacks/wecom/brand")
    standin.state.add_staff(CORPID, "zhangsan", "张三")
    standin.state.add_staff(CORPID, "lisi", "李四")
    try:
        yield Corp(standin, siyu, session_factory, ws)
    finally:
        siyu.stop()
