"""The one place errors become HTTP responses: RFC 9457 ``application/problem+json`` with a stable
``code``; validation problems name the field; unknown exceptions are 500s with a request id and a
logged trace."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu.errors import FieldProblem, InvalidInput, SiyuError, UnsupportedMediaType
from siyu.kit.logging import request_id_var

PROBLEM_JSON = "application/problem+json"

_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("not_authenticated", "Not authenticated"),
    403: ("permission_denied", "Permission denied"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("invalid_input", "Invalid input"),
    429: ("too_many_requests", "Too many requests"),
}


def problem_response(request: Request, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    body.setdefault("instance", request.url.path)
    body["request_id"] = request_id_var.get()
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if rest else where
    return ".".join(parts)


def _sent_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    # FastAPI leaves a body it did not parse as JSON (another or no Content-Type) as bytes, and then
    # reports the whole body as the wrong type; say what is actually wrong.
    if not _sent_json(request) and any(
        tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing" for e in errors
    ):
        error = UnsupportedMediaType(
            detail="send the body as JSON with Content-Type: application/json",
            errors=[FieldProblem("body", "must be JSON sent with Content-Type: application/json")],
        )
        return problem_response(request, error.problem())
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        reason = str(first.get("ctx", {}).get("error", "not valid JSON"))
        body = SiyuError(detail=f"the body is not valid JSON: {reason}").problem()
        body.update(
            status=400,
            code="malformed_body",
            title="Malformed request body",
            type="https://siyu.dev/problems/malformed_body",
        )
        return problem_response(request, body)
    problems = [FieldProblem(_field_path(tuple(e.get("loc", ()))), str(e.get("msg", "invalid"))) for e in errors]
    summary = "; ".join(f"{p.field}: {p.reason}" for p in problems[:5])
    return problem_response(request, InvalidInput(detail=summary, errors=problems).problem())


def install(app: FastAPI) -> None:
    @app.exception_handler(SiyuError)
    async def _siyu(request: Request, exc: SiyuError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(request, exc.problem(), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _STATUS_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        body = {
            "type": f"https://siyu.dev/problems/{code}",
            "title": title,
            "status": exc.status_code,
            "code": code,
            "detail": str(exc.detail),
        }
        return problem_response(request, body, dict(exc.headers or {}) or None)


def internal_error_body() -> dict[str, Any]:
    return {
        "type": "https://siyu.dev/problems/internal_error",
        "title": "Internal server error",
        "status": 500,
        "code": "internal_error",
        "detail": "an unexpected error happened; quote the request id when reporting it",
    }
