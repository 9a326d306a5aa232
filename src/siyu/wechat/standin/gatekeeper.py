"""The stand-in's gatekeeping, as WeCom and WeChat do it: tokens (issued, revoked, expired), per-API frequency
windows (45009), concurrency (45033) and injected faults."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable

from siyu.wechat.standin.records import ApiError, Fault, Token


class Gatekeeper:
    """Mixed into :class:`~siyu.wechat.standin.state.StandIn`, which sets these attributes."""

    lock: threading.Lock
    clock: Callable[[], float]
    tokens: dict[str, Token]
    token_calls: int
    token_calls_by: Counter[str]
    expires_in: int
    per_minute: int
    per_hour: int
    max_concurrent: int
    _faults: list[Fault]
    _windows: dict[tuple[str, str], list[int]]
    _in_flight: Counter[str]
    calls: Counter[str]

    def issue_token(self, owner: str, secret: str, kind: str, force: bool = False) -> tuple[str, int]:
        """gettoken and stable_token hand out the live token again; cgi-bin/token (and a forced stable
        refresh) issue a new one and leave the previous one 5 more minutes, as WeChat does."""
        now = self.clock()
        self.token_calls += 1
        self.token_calls_by[owner] += 1
        live = [
            t
            for t in self.tokens.values()
            if (t.owner, t.secret, t.kind) == (owner, secret, kind) and not t.revoked and t.expires_at > now
        ]
        if live and kind != "app" and not force:
            return live[-1].value, int(live[-1].expires_at - now)
        for token in live:
            token.expires_at = min(token.expires_at, now + 300)
        token = Token(secrets.token_urlsafe(96), owner, secret, kind, now + self.expires_in)
        self.tokens[token.value] = token
        return token.value, self.expires_in

    def authenticate(self, value: str | None, kinds: tuple[str, ...]) -> str:
        """The corp or app that ``value`` belongs to: 41001 missing, 40014 / 40001 invalid, 42001 expired."""
        if not value:
            raise ApiError(41001)
        token = self.tokens.get(value)
        if token is None or token.kind not in kinds:
            raise ApiError(40014)
        if token.revoked:
            # WeChat answers a superseded token with 40001 "access_token is invalid or not latest"
            raise ApiError(40014) if token.kind == "corp" else ApiError(40001, "access_token is invalid or not latest")
        if token.expires_at <= self.clock():
            raise ApiError(42001)
        return token.owner

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if path.endswith(fault.suffix):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def count_call(self, owner: str, path: str) -> None:
        """Per owner and API: fixed minute and hour windows of the (injected) clock → 45009."""
        now = self.clock()
        self.calls[path.removeprefix("/").removeprefix("cgi-bin/")] += 1
        minute, hour = int(now // 60), int(now // 3600)
        window = self._windows.setdefault((owner, path), [minute, 0, hour, 0])
        if window[0] != minute:
            window[0:2] = [minute, 0]
        if window[2] != hour:
            window[2:4] = [hour, 0]
        window[1] += 1
        window[3] += 1
        if window[1] > self.per_minute or window[3] > self.per_hour:
            raise ApiError(45009)

    def enter(self, owner: str) -> bool:
        with self.lock:
            if self._in_flight[owner] >= self.max_concurrent:
                return False
            self._in_flight[owner] += 1
            return True

    def leave(self, owner: str) -> None:
        with self.lock:
            self._in_flight[owner] -= 1
