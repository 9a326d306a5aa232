"""Identity keys: ``kind@scope`` names with normalized values.

| kind | scope | example key |
|---|---|---|
| wecom_external_userid | WeCom corp id | ``wecom_external_userid@ww1234`` |
| wx_openid | 公众号 / 小程序 appid | ``wx_openid@wx5678`` |
| wx_unionid | — | ``wx_unionid`` |
| phone | — | ``phone`` (E.164 digits; +86 numbers are stored as 11 digits) |
| email | — | ``email`` (lower case) |
| buyer_id | platform: taobao, douyin, youzan, store, jd, pdd, … | ``buyer_id@taobao`` |
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import NamedTuple


class IdentityKind(StrEnum):
    wecom_external_userid = "wecom_external_userid"
    wx_openid = "wx_openid"
    wx_unionid = "wx_unionid"
    phone = "phone"
    email = "email"
    buyer_id = "buyer_id"


SCOPED = frozenset({IdentityKind.wecom_external_userid, IdentityKind.wx_openid, IdentityKind.buyer_id})
PERSONAL = frozenset({IdentityKind.phone, IdentityKind.email})

_SCOPE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_.:@+=/-]{1,256}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class IdentityKey(NamedTuple):
    kind: str
    scope: str
    value: str

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.scope}" if self.scope else self.kind


class IdentityKeyError(ValueError):
    """A key or value that cannot name anyone; the message is the reason shown to the client."""


@functools.lru_cache(maxsize=4096)
def parse_name(name: str) -> tuple[IdentityKind, str]:
    kind_text, _, scope = name.partition("@")
    try:
        kind = IdentityKind(kind_text)
    except ValueError:
        raise IdentityKeyError(
            f"unknown identity kind {kind_text!r}; known: {', '.join(k.value for k in IdentityKind)}"
        ) from None
    if kind in SCOPED:
        if not scope:
            raise IdentityKeyError(f"{kind.value} needs a scope, e.g. {kind.value}@<{_scope_hint(kind)}>")
        if not _SCOPE.match(scope):
            raise IdentityKeyError("scope may hold letters, digits and _ . : - only (at most 128)")
    elif scope:
        raise IdentityKeyError(f"{kind.value} takes no scope")
    return kind, scope


def _scope_hint(kind: IdentityKind) -> str:
    return {"wecom_external_userid": "corpid", "wx_openid": "appid", "buyer_id": "platform"}[kind.value]


def normalize_phone(raw: str) -> str:
    digits = re.sub(r"[\s\-().]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _CN_MOBILE.match(digits):
        return digits
    if digits.startswith("+") and digits[1:].isdigit() and 8 <= len(digits) <= 16:
        return digits
    raise IdentityKeyError("not a phone number (a mainland mobile number, or + and country code)")


def make_key(name: str, value: object) -> IdentityKey:
    kind, scope = parse_name(name)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise IdentityKeyError("identity values are strings")
    text = str(value).strip()
    if not text:
        raise IdentityKeyError("identity value is empty")
    if kind is IdentityKind.phone:
        text = normalize_phone(text)
    elif kind is IdentityKind.email:
        text = text.lower()
        if len(text) > 256 or not _EMAIL.match(text):
            raise IdentityKeyError("not an e-mail address")
    elif not PLAIN_VALUE.match(text):
        raise IdentityKeyError("identity values hold letters, digits and _ . : @ + = / - only (at most 256)")
    return IdentityKey(kind.value, scope, text)
