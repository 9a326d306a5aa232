"""Shared helpers of the API tests: cheap password hashing and problem+json assertions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

import siyu.kit.security as security

PROBLEM_KEYS = ("type", "title", "status", "code", "detail", "request_id")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with its production cost takes ~50 ms a hash; these tests hash and verify dozens of
    passwords and test who may do what, not the hash's strength."""
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` and ``code``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    for key in PROBLEM_KEYS:
        assert key in body, f"{key} missing from {body}"
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def error_fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]
