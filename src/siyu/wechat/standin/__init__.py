"""A local stand-in for the WeCom 客户联系 and WeChat 公众号 / 小程序 APIs (plus an SMS provider), served on loopback
for tests and the demo: documented paths, payloads, limits and error codes, with test hooks and fault injection."""

from siyu.wechat.standin.app import (
    RunningStandIn,
    create_standin_app,
    main,
    seed_demo_state,
    serve_app,
    serve_in_thread,
)
from siyu.wechat.standin.records import ApiError, ManualClock
from siyu.wechat.standin.state import StandIn

__all__ = [
    "ApiError",
    "ManualClock",
    "RunningStandIn",
    "StandIn",
    "create_standin_app",
    "main",
    "seed_demo_state",
    "serve_app",
    "serve_in_thread",
]
