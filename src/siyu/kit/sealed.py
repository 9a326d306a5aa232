"""Secrets kept at rest (channel passwords, app secrets, callback keys): sealed with Fernet (AES-128-CBC and
HMAC-SHA256) under a key derived from ``SIYU_SECRET_KEY``, so a copy of the database alone reveals none.

A sealed value is the text ``sealed:v1:<fernet token>``; a value without the prefix (saved before sealing
existed) reads as itself and is sealed the next time it is saved. Changing ``SIYU_SECRET_KEY`` makes the
sealed values unreadable: :class:`SealBroken` says so and they must be entered again.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from siyu.config import load_settings
from siyu.errors import Conflict

PREFIX = "sealed:v1:"


class SealBroken(Conflict):
    """A sealed value that the current ``SIYU_SECRET_KEY`` cannot open (409: the saved setting, not the
    request, is at fault; entering the secret again mends it)."""

    code = "secret_unreadable"
    title = "A saved secret cannot be read"


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"siyu sealed secrets", info=b"v1").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str, secret_key: str | None = None) -> str:
    if value.startswith(PREFIX):
        return value
    token = _fernet(secret_key or load_settings().secret_key).encrypt(value.encode())
    return PREFIX + token.decode()


def unseal(value: str, secret_key: str | None = None) -> str:
    if not value.startswith(PREFIX):
        return value
    try:
        return _fernet(secret_key or load_settings().secret_key).decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SealBroken("sealed with another SIYU_SECRET_KEY: enter the secret again") from None


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)
