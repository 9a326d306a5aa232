"""The stand-in's HTTP face: WeCom and WeChat under ``/cgi-bin/``, an SMS provider under ``/sms/``, the control API
under ``/_standin/``; ``serve_in_thread`` for tests and ``main`` for ``siyu dev wecom-standin``."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from siyu.wechat.standin import api, mp_api
from siyu.wechat.standin.records import ApiError
from siyu.wechat.standin.state import StandIn

PHONE = re.compile(r"^(\+?86)?1[3-9]\d{9}$")
HOOKS = frozenset(
    {
        "add_corp",
        "add_staff",
        "add_customer",
        "add_relation",
        "add_app",
        "add_user",
        "add_template",
        "inject",
        "expire_tokens",
        "advance",
        "customer_adds",
        "welcome_code_for",
        "claim_welcome_code",
        "staff_deletes_customer",
        "customer_deletes_staff",
        "staff_edits_customer",
        "transfer_fails",
        "admin_adds_tag",
        "admin_edits_tag",
        "admin_deletes_tag",
        "members_confirm",
        "create_group",
        "group_add_members",
        "group_remove_members",
        "dismiss_group",
        "verify_callback_url",
        "user_messages",
        "user_follows",
        "user_accepts_subscription",
        "sms_set_status",
    }
)


def _error(errcode: int, errmsg: str) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": errmsg})


def _ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"errcode": 0, "errmsg": "ok", **body})


def _fault_response(status: int | None, errcode: int | None) -> Response:
    if status is not None:
        phrase = HTTPStatus(status).phrase
        return HTMLResponse(f"<html><head><title>{status} {phrase}</title></head><body>{phrase}</body></html>", status)
    assert errcode is not None
    return _error(errcode, ApiError(errcode, "injected").errmsg)


def _token(state: StandIn, path: str, query: Mapping[str, str], body: dict[str, Any]) -> Response:
    """gettoken (WeCom), token and stable_token (WeChat); counted against the owner's rate limit too."""
    with state.lock:
        try:
            if path == "gettoken":
                corpid, secret = query.get("corpid"), query.get("corpsecret")
                if not corpid:
                    raise ApiError(41002)
                if not secret:
                    raise ApiError(41004)
                state.count_call(corpid, path)
                if state.corp(corpid).secret != secret:
                    raise ApiError(40001)
                value, expires_in = state.issue_token(corpid, secret, "corp")
            else:
                source = query if path == "token" else body
                appid, secret = str(source.get("appid") or ""), str(source.get("secret") or "")
                if source.get("grant_type") != "client_credential":
                    raise ApiError(40002)
                if not appid:
                    raise ApiError(41002)
                if not secret:
                    raise ApiError(41004, "appsecret missing")
                state.count_call(appid, path)
                if state.app(appid).secret != secret:
                    raise ApiError(40001 if path == "token" else 40125)
                kind, force = ("app", False) if path == "token" else ("stable", body.get("force_refresh") is True)
                value, expires_in = state.issue_token(appid, secret, kind, force)
        except ApiError as exc:
            return _error(exc.errcode, exc.errmsg)
    return _ok({"access_token": value, "expires_in": expires_in})


def _answer(state: StandIn, method: str, path: str, query: Mapping[str, str], raw: bytes) -> Response:
    """One /cgi-bin/ call: injected fault, token, rate limit, concurrency cap, then the call under the lock."""
    fault = state.take_fault(f"/cgi-bin/{path}")
    if fault is not None and (fault.errcode is not None or fault.http_status is not None):
        time.sleep(fault.delay)
        return _fault_response(fault.http_status, fault.errcode)
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return _error(47001, ApiError(47001).errmsg)
    if not isinstance(body, dict):
        return _error(47001, ApiError(47001).errmsg)
    if path in ("gettoken", "token", "stable_token"):
        time.sleep(fault.delay if fault else 0)
        return _token(state, path, query, body)
    wecom, app_call = api.WECOM.get(path), mp_api.APPS.get(path)
    if wecom is None and app_call is None:
        return JSONResponse({"errcode": 404, "errmsg": f"no such api: /cgi-bin/{path}"}, 404)
    expected = wecom[0] if wecom else "POST"
    if method != expected:
        return _error(40058, ApiError(40058, f"{path} takes {expected}").errmsg)
    with state.lock:
        try:
            owner = state.authenticate(query.get("access_token"), ("corp",) if wecom else ("app", "stable"))
            state.count_call(owner, path)
        except ApiError as exc:
            return _error(exc.errcode, exc.errmsg)
    limited = path in api.CONCURRENT
    if limited and not state.enter(owner):
        return _error(45033, ApiError(45033).errmsg)
    try:
        if fault is not None:  # a real sleep, holding a concurrency slot: client timeouts and 45033
            time.sleep(fault.delay)
        with state.lock:
            if wecom:
                answer = wecom[1](state, state.corp(owner), query, body)
            else:
                assert app_call is not None
                answer = app_call(state, state.app(owner), query, body)
    except ApiError as exc:
        return _error(exc.errcode, exc.errmsg)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a field of the wrong type, as WeCom says
        return _error(40058, ApiError(40058, f"{type(exc).__name__}: {exc}").errmsg)
    finally:
        if limited:
            state.leave(owner)
    return _ok(answer)


def _sms(state: StandIn, path: str, authorization: str, query: Mapping[str, str], raw: bytes) -> Response:
    """A generic SMS provider: bearer key, ``client_id`` de-duplicates, a per-phone limit per minute."""
    fault = state.take_fault(f"/sms/{path}")
    if fault is not None and fault.delay:
        time.sleep(fault.delay)
    if fault is not None and (fault.errcode is not None or fault.http_status is not None):
        return _fault_response(fault.http_status, fault.errcode)
    if authorization != f"Bearer {state.sms_api_key}":
        return JSONResponse({"code": "UNAUTHORIZED", "message": "bad API key"}, 401)
    with state.lock:
        if path == "status":
            message_id = query.get("message_id") or state.sms_by_client_id.get(query.get("client_id", ""), "")
            return JSONResponse({"message_id": message_id, "status": state.sms_status.get(message_id, "unknown")})
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("text") or not body.get("phone"):
            return JSONResponse({"code": "INVALID_REQUEST", "message": "phone and text are required"}, 400)
        client_id = str(body.get("client_id") or "")
        if client_id and client_id in state.sms_by_client_id:
            return JSONResponse({"code": "OK", "message_id": state.sms_by_client_id[client_id], "duplicate": True})
        phone = str(body["phone"])
        if not PHONE.match(phone):
            return JSONResponse({"code": "INVALID_PHONE", "message": f"not a mobile number: {phone}"}, 400)
        now = state.clock()
        recent = [m for m in state.sms_sent if m["phone"] == phone and m["at"] > now - 60]
        if len(recent) >= state.sms_per_minute:
            return JSONResponse({"code": "RATE_LIMITED", "message": "too many messages to this number"}, 429)
        message_id = secrets.token_hex(12)
        state.sms_sent.append(
            {"message_id": message_id, "client_id": client_id, "phone": phone, "text": body["text"]}
            | {"sign": body.get("sign"), "at": now}
        )
        state.sms_status[message_id] = state.sms_outcome
        if client_id:
            state.sms_by_client_id[client_id] = message_id
    return JSONResponse({"code": "OK", "message_id": message_id})


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _hook(state: StandIn, name: str, raw: bytes) -> Response:
    if name not in HOOKS:
        return JSONResponse({"errcode": 404, "errmsg": f"no such hook: {name}"}, 404)
    try:
        kwargs = json.loads(raw) if raw.strip() else {}
        result = getattr(state, name)(**kwargs)
    except ApiError as exc:
        return JSONResponse({"errcode": exc.errcode, "errmsg": exc.errmsg}, 400)
    except (TypeError, ValueError, KeyError) as exc:
        return JSONResponse({"errcode": 40058, "errmsg": f"{type(exc).__name__}: {exc}"}, 400)
    return _ok({"result": _jsonable(result)})


def create_standin_app(state: StandIn) -> Starlette:
    async def cgi(request: Request) -> Response:
        raw = await request.body()
        path = request.path_params["path"]
        return await run_in_threadpool(_answer, state, request.method, path, request.query_params, raw)

    async def sms(request: Request) -> Response:
        raw = await request.body()
        authorization = request.headers.get("authorization", "")
        return await run_in_threadpool(
            _sms, state, request.path_params["path"], authorization, request.query_params, raw
        )

    async def hook(request: Request) -> Response:
        raw = await request.body()
        return await run_in_threadpool(_hook, state, request.path_params["name"], raw)

    async def summary(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(state.summary))

    return Starlette(
        routes=[
            Route("/cgi-bin/{path:path}", cgi, methods=["GET", "POST"]),
            Route("/sms/{path:str}", sms, methods=["GET", "POST"]),
            Route("/_standin/state", summary, methods=["GET"]),
            Route("/_standin/{name:str}", hook, methods=["POST"]),
        ]
    )


@dataclass
class RunningStandIn:
    """A server on a loopback port, in a daemon thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningStandIn:
    """Any ASGI app (the stand-in, or a test's callback receiver) served in a thread until ``stop()``."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", loop="asyncio", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningStandIn(f"http://{host}:{bound}", server, thread)


def serve_in_thread(state: StandIn, host: str = "127.0.0.1", port: int = 0) -> RunningStandIn:
    return serve_app(create_standin_app(state), host, port)


DEMO_CORP = "wwstandin00000001"
DEMO_SECRET = "standin-corp-secret"  # noqa: S105 — a made-up credential of the local stand-in
DEMO_TOKEN = "standintoken"  # noqa: S105
DEMO_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def seed_demo_state(state: StandIn, callback_url: str | None = None) -> None:
    """A corp with three members, a few customers and tags, a 公众号 and a 小程序 with users and templates."""
    state.add_corp(DEMO_CORP, DEMO_SECRET, DEMO_TOKEN, DEMO_AES_KEY, callback_url)
    for userid, name in (("zhangsan", "张三"), ("lisi", "李四"), ("wangwu", "王五")):
        state.add_staff(DEMO_CORP, userid, name)
    tags = state.admin_adds_tag(DEMO_CORP, "客户等级", ["普通", "VIP"])
    for n in range(6):
        customer = state.add_customer(DEMO_CORP, name=f"客户{n + 1}", gender=n % 3)
        state.add_relation(DEMO_CORP, ("zhangsan", "lisi")[n % 2], customer, state="demo", tags=tags[n % 2 :][:1])
    state.add_app("wxstandinoa000001", "standin-oa-secret", "official_account", DEMO_TOKEN, DEMO_AES_KEY)
    state.add_app("wxstandinmp000001", "standin-mp-secret", "miniprogram", DEMO_TOKEN, DEMO_AES_KEY)
    state.add_template("wxstandinoa000001", "TPL_ORDER_SHIPPED", ["keyword1", "keyword2", "keyword3"])
    state.add_template("wxstandinmp000001", "TPL_SUBSCRIBE_EVENT", ["thing1", "time2"])
    for appid in ("wxstandinoa000001", "wxstandinmp000001"):
        for n in range(3):
            state.add_user(appid, f"o_{appid[9:11]}_user{n}")


def main(host: str = "127.0.0.1", port: int = 8990, seed_demo: bool = True) -> None:
    """Serves the stand-in until interrupted (real clock, callbacks delivered in threads)."""
    state = StandIn()
    state.callbacks_async = True
    if seed_demo:
        seed_demo_state(state)
        print(f"stand-in corp {DEMO_CORP} (secret {DEMO_SECRET}, token {DEMO_TOKEN}, EncodingAESKey {DEMO_AES_KEY})")
    print(f"WeCom / WeChat stand-in on http://{host}:{port} (control API: /_standin/, summary: /_standin/state)")
    uvicorn.run(create_standin_app(state), host=host, port=port, log_level="info")
