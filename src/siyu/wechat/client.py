"""Typed HTTP clients for the WeCom 客户联系 API and the WeChat 公众号 / 小程序 message APIs.

What every call goes through (:meth:`ApiClient.call`):

* **access token**: cached per (corp or app, secret) for the whole process and refreshed ``TOKEN_MARGIN``
  before it expires, one refresh at a time per key (others wait for it); an answer ``40014`` / ``42001``
  (WeCom may revoke a token early) drops it, fetches a new one and repeats the call **once**;
* **rate limit** per API path (``per_minute``, below WeCom's 10,000 a minute per corp and API): a call
  waits for its turn rather than earning a ``45009``; after a ``45009`` the path is left alone until its
  minute is over (WeCom blocks the rest of the window anyway, and hammering it extends the block);
* **45033** (too many at once, the list endpoints): those endpoints go one at a time and the call is
  repeated after a pause;
* **timeouts and 5xx**: a call that only reads (``idempotent``) is repeated with back-off, at most
  ``max_retries`` times; a call that writes (``add_msg_template``, ``send_welcome_msg``, a template message)
  is repeated only when it surely never left (the connection was refused); otherwise it raises
  :class:`~siyu.wechat.errors.Unreachable` with ``sent_maybe`` so the ledger marks it ``unknown``.

Any other non-zero ``errcode`` raises :class:`~siyu.wechat.errors.WeChatError` carrying its action.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import httpx

from siyu.wechat.errors import Action, Unreachable, WeChatError

WECOM_BASE = "https://qyapi.weixin.qq.com"
WECHAT_BASE = "https://api.weixin.qq.com"
TOKEN_MARGIN = 300.0  # seconds before expiry a token is renewed
BACKOFF = 0.5  # seconds, doubled at each repeat of a call
WINDOW = 60.0  # WeCom's per-minute limits block the rest of the minute
# WeCom limits some data-heavy endpoints by concurrency (45033): these go one at a time per corp.
SERIAL_PATHS = frozenset(
    {"externalcontact/list", "externalcontact/batch/get_by_user", "externalcontact/groupchat/list"}
)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class TokenCache:
    """Access tokens by (corp or app id, secret), shared by every client of the process."""

    def __init__(self, clock: Clock = time.time, margin: float = TOKEN_MARGIN) -> None:
        self.clock, self.margin = clock, margin
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()
        self.fetches = 0

    def get(self, key: tuple[str, str], fetch: Callable[[], tuple[str, int]]) -> str:
        with self._guard:
            lock = self._locks[key]
        with lock:  # one refresh at a time: the others find the new token when they get the lock
            found = self._tokens.get(key)
            if found is not None and found[1] - self.margin > self.clock():
                return found[0]
            token, expires_in = fetch()
            self.fetches += 1
            self._tokens[key] = (token, self.clock() + expires_in)
            return token

    def invalidate(self, key: tuple[str, str], token: str) -> None:
        """Drop ``token`` — unless another thread has already replaced it."""
        with self._guard:
            lock = self._locks[key]
        with lock:
            if self._tokens.get(key, ("",))[0] == token:
                del self._tokens[key]


TOKENS = TokenCache()


class RateLimiter:
    """At most ``per_minute`` calls in any 60 seconds; a call over the limit waits for its turn."""

    def __init__(self, per_minute: int, clock: Clock, sleep: Sleep) -> None:
        self.per_minute, self.clock, self.sleep = per_minute, clock, sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()
        self.blocked_until = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                while self._calls and self._calls[0] <= now - WINDOW:
                    self._calls.popleft()
                if len(self._calls) < self.per_minute:
                    self._calls.append(now)
                    return
                wait = self._calls[0] + WINDOW - now
            self.sleep(max(wait, 0.001))


class ApiClient:
    """The machinery shared by the WeCom and WeChat clients; subclasses say how a token is fetched."""

    path_prefix = "/cgi-bin/"
    # answers that mean "this token is no longer good" beyond WeCom's 40014/42001
    stale_token_codes: frozenset[int] = frozenset()

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        per_minute: int = 6000,
        tokens: TokenCache = TOKENS,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.Client(timeout=timeout)
        self.timeout, self.max_retries, self.per_minute = timeout, max_retries, per_minute
        self.tokens, self.clock, self.sleep = tokens, clock, sleep
        self._limits: dict[str, RateLimiter] = {}
        self._serial = threading.Lock()
        self._guard = threading.Lock()
        self.calls = 0

    @property
    def key(self) -> tuple[str, str]:
        raise NotImplementedError

    def fetch_token(self) -> tuple[str, int]:
        raise NotImplementedError

    def close(self) -> None:
        self.http.close()

    def token(self) -> str:
        return self.tokens.get(self.key, self.fetch_token)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """One API call with the token, the rate limit and the retries described in the module docstring."""
        limiter = self._limiter(path)
        if limiter.blocked_until > self.clock():
            raise WeChatError(45009, f"backing off until the minute is over ({path})", path)
        refreshed = False
        attempt = 0
        while True:
            token = self.token()
            limiter.acquire()
            serial: AbstractContextManager[Any] = self._serial if path in SERIAL_PATHS else nullcontext()
            with serial:
                answer = self._send(method, path, {**(params or {}), "access_token": token}, body, idempotent, attempt)
            if answer is None:  # a transient failure that may be repeated
                attempt += 1
                self.sleep(BACKOFF * 2 ** (attempt - 1))
                continue
            errcode = int(answer.get("errcode") or 0)
            if errcode == 0:
                return answer
            error = WeChatError(errcode, str(answer.get("errmsg", "")), path)
            stale = error.action is Action.refresh_token or errcode in self.stale_token_codes
            if stale and not refreshed:
                self.tokens.invalidate(self.key, token)
                refreshed = True
                continue
            if error.action is Action.back_off:
                limiter.blocked_until = self.clock() + WINDOW
            elif error.action in (Action.retry, Action.lower_concurrency) and attempt < self.max_retries:
                attempt += 1
                self.sleep(BACKOFF * 2 ** (attempt - 1))
                continue
            raise error

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        body: dict[str, Any] | None,
        idempotent: bool,
        attempt: int,
    ) -> dict[str, Any] | None:
        url = f"{self.base_url}{self.path_prefix}{path}"
        last = attempt >= self.max_retries
        self.calls += 1
        try:
            response = self.http.request(method, url, params=params, json=body, timeout=self.timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # it never left: always safe to repeat
            if last:
                raise Unreachable(path, f"{type(exc).__name__}: {exc}", sent_maybe=False) from None
            return None
        except httpx.HTTPError as exc:
            if idempotent and not last:
                return None
            raise Unreachable(path, f"{type(exc).__name__}: {exc}", sent_maybe=not idempotent) from None
        if response.status_code >= 500 or response.status_code == 429:
            if idempotent and not last:
                return None
            raise Unreachable(path, f"HTTP {response.status_code}", sent_maybe=not idempotent)
        try:
            answer = response.json()
        except ValueError:
            raise Unreachable(path, f"HTTP {response.status_code}: not JSON", sent_maybe=not idempotent) from None
        if not isinstance(answer, dict):
            raise Unreachable(path, "an answer that is not a JSON object", sent_maybe=not idempotent)
        return answer

    def _limiter(self, path: str) -> RateLimiter:
        with self._guard:
            if path not in self._limits:
                self._limits[path] = RateLimiter(self.per_minute, self.clock, self.sleep)
            return self._limits[path]

    def _token_answer(self, response: httpx.Response, path: str) -> tuple[str, int]:
        if response.status_code >= 500:
            raise Unreachable(path, f"HTTP {response.status_code}", sent_maybe=False)
        try:
            answer = response.json()
        except ValueError:
            raise Unreachable(path, f"HTTP {response.status_code}: not JSON", sent_maybe=False) from None
        if not isinstance(answer, dict):
            raise Unreachable(path, "an answer that is not a JSON object", sent_maybe=False)
        errcode = int(answer.get("errcode") or 0)
        if errcode:
            raise WeChatError(errcode, str(answer.get("errmsg", "")), path)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise Unreachable(path, "an answer without an access_token", sent_maybe=False)
        try:
            expires_in = int(answer.get("expires_in", 7200))
        except (TypeError, ValueError):
            raise Unreachable(path, "an answer whose expires_in is not a number", sent_maybe=False) from None
        return token, expires_in


def pages(fetch: Callable[[str], dict[str, Any]], items: str, cursor: str = "next_cursor") -> Iterator[Any]:
    """Every item of a cursor-paged list: ``fetch(cursor)`` answers one page (the first with ``""``)."""
    next_cursor = ""
    while True:
        page = fetch(next_cursor)
        yield from page.get(items) or []
        next_cursor = str(page.get(cursor) or "")
        if not next_cursor:
            return


class WeComClient(ApiClient):
    """企业微信 客户联系 for one corp and one app secret (a self-built app allowed to call 客户联系)."""

    def __init__(self, corpid: str, secret: str, base_url: str = WECOM_BASE, **options: Any) -> None:
        super().__init__(base_url, **options)
        self.corpid, self.secret = corpid, secret

    @property
    def key(self) -> tuple[str, str]:
        return (self.corpid, self.secret)

    def fetch_token(self) -> tuple[str, int]:
        try:
            response = self.http.get(
                f"{self.base_url}/cgi-bin/gettoken",
                params={"corpid": self.corpid, "corpsecret": self.secret},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise Unreachable("gettoken", f"{type(exc).__name__}: {exc}", sent_maybe=False) from None
        return self._token_answer(response, "gettoken")

    # --- staff and customers -------------------------------------------------------------------------

    def follow_users(self) -> list[str]:
        return list(self.call("GET", "externalcontact/get_follow_user_list").get("follow_user") or [])

    def user(self, userid: str) -> dict[str, Any]:
        return self.call("GET", "user/get", params={"userid": userid})

    def customers_of(self, userid: str) -> list[str]:
        return list(self.call("GET", "externalcontact/list", params={"userid": userid}).get("external_userid") or [])

    def customer(self, external_userid: str) -> dict[str, Any]:
        """One customer with all their follow users (pages past 500 follow users are joined)."""
        first: dict[str, Any] | None = None
        follow: list[Any] = []

        def fetch(cursor: str) -> dict[str, Any]:
            nonlocal first
            page = self.call(
                "GET", "externalcontact/get", params={"external_userid": external_userid, "cursor": cursor}
            )
            first = first or page
            return page

        follow.extend(pages(fetch, "follow_user"))
        assert first is not None
        return {**first, "follow_user": follow}

    def customers_by_staff(
        self, userids: list[str], limit: int = 100, unserved: set[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """``batch/get_by_user`` for up to 100 staff members: every (customer, follow info) pair. The members
        WeCom could not answer for (``fail_info``: no licence) are added to ``unserved``."""

        def fetch(cursor: str) -> dict[str, Any]:
            body = {"userid_list": userids, "cursor": cursor, "limit": limit}
            answer = self.call("POST", "externalcontact/batch/get_by_user", body=body)
            if unserved is not None:
                unserved.update(str(u) for u in (answer.get("fail_info") or {}).get("unlicensed_userid_list") or [])
            return answer

        return pages(fetch, "external_contact_list")

    def mark_tag(self, userid: str, external_userid: str, add: list[str], remove: list[str]) -> None:
        body = {"userid": userid, "external_userid": external_userid, "add_tag": add, "remove_tag": remove}
        self.call("POST", "externalcontact/mark_tag", body=body)

    # --- corp tags -------------------------------------------------------------------------------------

    def corp_tags(self) -> list[dict[str, Any]]:
        return list(self.call("POST", "externalcontact/get_corp_tag_list", body={}).get("tag_group") or [])

    def add_corp_tags(self, group_name: str, names: list[str], group_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"group_name": group_name, "tag": [{"name": n} for n in names]}
        if group_id:
            body = {"group_id": group_id, "tag": body["tag"]}
        return dict(self.call("POST", "externalcontact/add_corp_tag", body=body, idempotent=False)["tag_group"])

    def edit_corp_tag(self, tag_id: str, name: str) -> None:
        self.call("POST", "externalcontact/edit_corp_tag", body={"id": tag_id, "name": name})

    def delete_corp_tags(self, tag_ids: list[str], group_ids: list[str] | None = None) -> None:
        self.call("POST", "externalcontact/del_corp_tag", body={"tag_id": tag_ids, "group_id": group_ids or []})

    # --- 联系我 (渠道活码) -------------------------------------------------------------------------------

    def add_contact_way(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "externalcontact/add_contact_way", body=body, idempotent=False)

    def update_contact_way(self, body: dict[str, Any]) -> None:
        self.call("POST", "externalcontact/update_contact_way", body=body)

    def delete_contact_way(self, config_id: str) -> None:
        self.call("POST", "externalcontact/del_contact_way", body={"config_id": config_id})

    # --- messages ----------------------------------------------------------------------------------------

    def send_welcome(self, welcome_code: str, message: dict[str, Any]) -> None:
        self.call(
            "POST", "externalcontact/send_welcome_msg", body={"welcome_code": welcome_code, **message}, idempotent=False
        )

    def add_msg_template(self, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a 群发 task (members confirm it in their client); ``msgid`` and ``fail_list``."""
        return self.call("POST", "externalcontact/add_msg_template", body=body, idempotent=False)

    def group_messages(self, start: int, end: int, filter_type: int = 0) -> Iterator[dict[str, Any]]:
        """The corp's 1:1 群发 tasks created between two Unix times (a window of at most a month); by default
        those the corp made (企业发表, ``filter_type`` 0) — the API's own, which carry no ``creator``."""
        body: dict[str, Any] = {
            "chat_type": "single",
            "start_time": start,
            "end_time": end,
            "filter_type": filter_type,
            "limit": 100,
        }
        return pages(
            lambda c: self.call("POST", "externalcontact/get_groupmsg_list_v2", body={**body, "cursor": c}),
            "group_msg_list",
        )

    def group_message_tasks(self, msgid: str) -> Iterator[dict[str, Any]]:
        return pages(
            lambda c: self.call(
                "POST", "externalcontact/get_groupmsg_task", body={"msgid": msgid, "cursor": c, "limit": 1000}
            ),
            "task_list",
        )

    def group_message_results(self, msgid: str, userid: str) -> Iterator[dict[str, Any]]:
        body = {"msgid": msgid, "userid": userid, "limit": 1000}
        return pages(
            lambda c: self.call("POST", "externalcontact/get_groupmsg_send_result", body={**body, "cursor": c}),
            "send_list",
        )

    # --- customer groups -------------------------------------------------------------------------------

    def groups(self, owners: list[str] | None = None) -> Iterator[dict[str, Any]]:
        body: dict[str, Any] = {"status_filter": 0, "limit": 1000}
        if owners:
            body["owner_filter"] = {"userid_list": owners}
        return pages(
            lambda c: self.call("POST", "externalcontact/groupchat/list", body={**body, "cursor": c}),
            "group_chat_list",
        )

    def group(self, chat_id: str) -> dict[str, Any]:
        body = {"chat_id": chat_id, "need_name": 1}
        return dict(self.call("POST", "externalcontact/groupchat/get", body=body)["group_chat"])


class WeChatClient(ApiClient):
    """A 公众号 or 小程序 by appid: the stable access token and the message APIs."""

    # WeChat answers 40001 ("access_token is invalid or not latest") for a replaced token: renewed once;
    # a wrong AppSecret then fails at the token itself
    stale_token_codes = frozenset({40001})

    def __init__(self, appid: str, secret: str, base_url: str = WECHAT_BASE, **options: Any) -> None:
        super().__init__(base_url, **options)
        self.appid, self.secret = appid, secret

    @property
    def key(self) -> tuple[str, str]:
        return (self.appid, self.secret)

    def fetch_token(self) -> tuple[str, int]:
        # The stable token: fetching it does not invalidate the one other processes hold.
        body = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        try:
            response = self.http.post(f"{self.base_url}/cgi-bin/stable_token", json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise Unreachable("stable_token", f"{type(exc).__name__}: {exc}", sent_maybe=False) from None
        return self._token_answer(response, "stable_token")

    def send_template(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "message/template/send", body=body, idempotent=False)

    def send_custom(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "message/custom/send", body=body, idempotent=False)

    def send_subscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "message/subscribe/send", body=body, idempotent=False)
