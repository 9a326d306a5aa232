"""Time helpers. Everything is stored in UTC and shown in the workspace's time zone."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
