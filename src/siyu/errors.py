"""Typed errors. Each carries its HTTP status and a stable ``code``; one handler renders them as
RFC 9457 ``application/problem+json`` (see ``siyu.app``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldProblem:
    """One reason a request was refused, pointing at the field that caused it."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass
class SiyuError(Exception):
    """Base of every expected error. Unexpected exceptions are 500s and get logged with a trace."""

    detail: str
    errors: list[FieldProblem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __str__(self) -> str:
        return self.detail

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://siyu.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


class InvalidInput(SiyuError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"

    @classmethod
    def on(cls, field_name: str, reason: str) -> InvalidInput:
        return cls(detail=f"{field_name}: {reason}", errors=[FieldProblem(field_name, reason)])


class MalformedBody(SiyuError):
    status = 400
    code = "malformed_body"
    title = "Malformed request body"


class NotAuthenticated(SiyuError):
    status = 401
    code = "not_authenticated"
    title = "Not authenticated"


class PermissionDenied(SiyuError):
    status = 403
    code = "permission_denied"
    title = "Permission denied"


class CsrfFailed(SiyuError):
    status = 403
    code = "csrf_failed"
    title = "CSRF check failed"


class NotFound(SiyuError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(SiyuError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(SiyuError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(SiyuError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class TooManyRequests(SiyuError):
    status = 429
    code = "too_many_requests"
    title = "Too many requests"


class ConfigurationError(SiyuError):
    """Raised by the CLI and at start-up for a setting that cannot work; never reaches HTTP."""

    status = 500
    code = "configuration_error"
    title = "Configuration error"


class ChannelUnreachable(SiyuError):
    """A channel (WeCom, an SMTP relay, an SMS provider) that could not be reached or refused the call."""

    status = 502
    code = "channel_unreachable"
    title = "Channel unreachable"
