"""Developer commands: ``siyu dev wecom-standin`` serves the WeCom / WeChat stand-in, and the demo's WeCom
flow — a workspace wired to a stand-in, a 渠道活码, the welcome SOP — which ``siyu demo --serve`` sets up
and then plays once: a customer scans the code, the callback makes the contact with its source, the
welcome message goes out within WeCom's 20 seconds, and the SOP continues with a task for the staff member.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:  # the stand-in and the channel code load only when a command here runs
    from siyu.wechat.standin import StandIn

dev_app = typer.Typer(help="Developer tools: the WeCom / WeChat stand-in.", no_args_is_help=True)

DEMO_STATE = "demo-store-entrance"
WELCOME_JOURNEY = "企微新客欢迎SOP"
WELCOME = {
    "version": 1,
    "trigger": {"type": "event", "event": "contact_added"},
    "entry": {"re_entry": "never"},
    "goal": {"event": "order_paid", "within_days": 3},
    "start": "welcome",
    "nodes": {
        "welcome": {
            "type": "send",
            "label": "20秒内欢迎语 + 新人福利",
            "channel": "wecom_welcome",
            "priority": "transactional",
            "content": {"text": "你好，欢迎加入！新人福利已为你准备好，回复「福利」即可领取。"},
            "next": "greet",
        },
        "greet": {
            "type": "task",
            "label": "1小时内一对一问候",
            "title": "1小时内主动问候新客户",
            "description": "看一下客户来自哪个渠道活码，用自己的话打个招呼，问问需求。",
            "due_in": "1h",
            "next": "wait_day",
        },
        "wait_day": {"type": "wait", "label": "等待24小时", "duration": "24h", "next": "recommend"},
        "recommend": {
            "type": "send",
            "label": "24小时后 1:1 推荐",
            "channel": "wecom",
            "promotional": True,
            "content": {"text": "根据你的喜好，我们挑了几样你可能会喜欢的好物，点开看看吧。"},
            "next": "done",
        },
        "done": {"type": "exit", "reason": "欢迎流程结束"},
    },
}


@dev_app.command("wecom-standin")
def wecom_standin(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Listen port.")] = 8990,
    seed: Annotated[bool, typer.Option("--seed/--empty", help="Start with the demo corp, staff and customers.")] = True,
) -> None:
    """Serve the WeCom / WeChat stand-in (documented paths, payloads, error codes; control API under
    /_standin/) until interrupted."""
    from siyu.wechat.standin import app as standin_app
    from siyu.wechat.standin.app import DEMO_AES_KEY, DEMO_CORP, DEMO_SECRET, DEMO_TOKEN

    typer.echo(
        f"WeCom stand-in on http://{host}:{port} — corp {DEMO_CORP}, secret {DEMO_SECRET}, "
        f"token {DEMO_TOKEN}, EncodingAESKey {DEMO_AES_KEY}"
    )
    standin_app.main(host, port, seed)


@dataclass
class DemoWeCom:
    state: StandIn
    url: str
    stop: Callable[[], None]


def start_demo_wecom(factory: sessionmaker[Session], workspace_id: int, slug: str, siyu_url: str) -> DemoWeCom:
    """A stand-in in this process, the workspace's WeCom channel pointing at it (its callbacks at siyu's
    endpoint), a first sync, the demo 渠道活码 and the welcome SOP (published once)."""
    from sqlalchemy import select

    from siyu.auth.context import AuthContext
    from siyu.auth.permissions import Permission
    from siyu.channel import contact_ways, sending, sync
    from siyu.channel.settings import WeComSettings
    from siyu.dispatch import channels
    from siyu.journey import service as journeys
    from siyu.kit.db import transaction
    from siyu.models import ChannelCode, Journey
    from siyu.wechat.standin import StandIn, serve_app
    from siyu.wechat.standin.app import (
        DEMO_AES_KEY,
        DEMO_CORP,
        DEMO_SECRET,
        DEMO_TOKEN,
        create_standin_app,
        seed_demo_state,
    )

    state = StandIn()
    state.callbacks_async = True
    seed_demo_state(state, f"{siyu_url}/callbacks/wecom/{slug}")
    running = serve_app(create_standin_app(state))
    settings = {
        "corpid": DEMO_CORP,
        "secret": DEMO_SECRET,
        "token": DEMO_TOKEN,
        "encoding_aes_key": DEMO_AES_KEY,
        "api_base": running.url,
    }
    with transaction(factory, workspace_id=workspace_id) as session:
        channels.set_channel(session, workspace_id, "wecom", settings)
        wecom = channels.settings_for(session, workspace_id, "wecom")
    assert isinstance(wecom, WeComSettings)
    client = sending.client_for(wecom)
    try:
        sync.sync(factory, workspace_id, wecom, client, full=True)
        with transaction(factory, workspace_id=workspace_id) as session:
            found = session.scalar(select(ChannelCode).where(ChannelCode.state == DEMO_STATE))
            if found is not None:
                session.delete(found)  # made again in this run's stand-in
                session.flush()
            data = contact_ways.ContactWayIn(
                label="门店入口福利码", source="store", campaign="新客有礼", staff=["zhangsan"], state=DEMO_STATE
            )
            contact_ways.create(session, client, data)
    finally:
        client.close()
    actor = AuthContext(workspace_id=workspace_id, permissions=frozenset(Permission), label="demo")
    with transaction(factory, workspace_id=workspace_id) as session:
        journey = session.scalar(select(Journey).where(Journey.name == WELCOME_JOURNEY))
        if journey is None:
            journey = journeys.create(session, actor, name=WELCOME_JOURNEY, definition=WELCOME)
            journeys.publish(session, actor, journey.id)
    return DemoWeCom(state, running.url, running.stop)


def play_demo_scan(
    factory: sessionmaker[Session], workspace_id: int, demo: DemoWeCom, say: Callable[[str], None], timeout: float = 20
) -> float | None:
    """A customer scans the demo code; returns the seconds until their welcome message reached WeCom."""
    from siyu.wechat.standin.app import DEMO_CORP

    started = time.monotonic()
    external = demo.state.customer_adds(DEMO_CORP, "zhangsan", state_code=DEMO_STATE, name="演示新客")
    while time.monotonic() - started < timeout:
        if any(m.get("external_userid") == external for m in demo.state.welcome_messages):
            took = time.monotonic() - started
            say(f"WeCom demo: a customer scanned the 渠道活码 {DEMO_STATE}; welcome message sent in {took:.1f} s")
            return took
        time.sleep(0.1)
    say("WeCom demo: no welcome message within 20 s (is the worker running?)")
    return None


def play_later(
    factory: sessionmaker[Session], workspace_id: int, demo: DemoWeCom, delay: float, say: Callable[[str], None]
) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        play_demo_scan(factory, workspace_id, demo, say)

    thread = threading.Thread(target=run, name="siyu-demo-wecom", daemon=True)
    thread.start()
    return thread
