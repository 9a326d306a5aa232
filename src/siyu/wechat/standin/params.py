"""Reading the stand-in's request bodies as WeCom does: cursors, limits, bounded texts, id lists, attachments."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from siyu.wechat.standin.records import ApiError

T = TypeVar("T")
Body = dict[str, Any]
ATTACHMENT_TYPES = frozenset({"image", "link", "miniprogram", "video", "file"})


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"standin:{offset}".encode()).decode().rstrip("=")


def page(items: list[T], cursor: str | None, limit: int) -> tuple[list[T], str]:
    """One page of ``items`` and the opaque cursor of the next ("" on the last page)."""
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")[1])
        except (ValueError, IndexError, binascii.Error):
            raise ApiError(40058, "invalid cursor") from None
    end = start + limit
    return items[start:end], _cursor(end) if end < len(items) else ""


def _limit(body: Body, default: int, maximum: int) -> int:
    value = body.get("limit") or default
    if not isinstance(value, int) or not 1 <= value <= maximum:
        raise ApiError(40058, f"limit must be 1..{maximum}")
    return value


def _text(body: Body, key: str, maximum: int, required: bool = False) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ApiError(40058, f"{key} is required")
    if len(value) > maximum:
        raise ApiError(40058, f"{key} longer than {maximum} characters")
    return value


def _ids(body: Body, key: str) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(40058, f"{key} must be a list of strings")
    return value


def _attachments(body: Body) -> list[dict[str, Any]]:
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list):
        raise ApiError(40058, "attachments must be a list")
    if len(attachments) > 9:
        raise ApiError(41064, "at most 9 attachments")
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("msgtype") not in ATTACHMENT_TYPES:
            raise ApiError(41065)
    return attachments


def _content(body: Body) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    text, attachments = body.get("text"), _attachments(body)
    if text is not None and not (isinstance(text, dict) and isinstance(text.get("content"), str)):
        raise ApiError(40058, "text.content must be a string")
    if not (text and text["content"]) and not attachments:
        raise ApiError(40058, "text or attachments is required")
    return text, attachments
