"""Turning raw JSON values into typed records, one by one: a bad record becomes a :class:`Rejection`
naming its index, field and reason, and never stops the others."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar

import msgspec
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.errors import InvalidInput, MalformedBody
from siyu.identity.keys import IdentityKey, IdentityKeyError, make_key
from siyu.ingestion.schemas import MAX_BATCH, Rejection

T = TypeVar("T")

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_AT = re.compile(r" - at `\$\.?(.*)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(.*)`")
_MISSING = re.compile(r"^Object missing required field `(.*)`( - at `\$\.?(.*)`)?$")
MAX_PROPERTIES_BYTES = 16_384


class RecordProblem(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def decode_batch(body: bytes, key: str) -> list[Any]:
    """The request body: ``{"<key>": [...]}`` or a bare JSON array."""
    if not body.strip():
        raise InvalidInput.on(key, "the body is empty; send a JSON array of records")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None
    if isinstance(data, dict) and set(data) == {key}:
        data = data[key]
    if not isinstance(data, list):
        raise InvalidInput.on(key, f'send a JSON array of records, or {{"{key}": [...]}}')
    if len(data) > MAX_BATCH:
        raise InvalidInput.on(key, f"at most {MAX_BATCH} records per request (got {len(data)})")
    return data


_DECODERS: dict[type[Any], tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]] = {}


def typed_records(body: bytes, key: str, kind: type[T]) -> list[T | RecordProblem]:
    """Decode and type a batch. The whole body is first decoded straight into ``kind`` records (one C
    call); only when some record does not fit is the batch decoded again record by record, so each bad
    record gets its own problem and the good ones still go in."""
    if kind not in _DECODERS:
        _DECODERS[kind] = (msgspec.json.Decoder(list[kind]), msgspec.json.Decoder(dict[str, list[kind]]))  # type: ignore[valid-type]
    as_list, as_object = _DECODERS[kind]
    try:
        if body.lstrip()[:1] == b"[":
            typed: list[T] = as_list.decode(body)
        else:
            wrapped = as_object.decode(body)
            if set(wrapped) != {key}:
                raise msgspec.ValidationError
            typed = wrapped[key]
        if len(typed) <= MAX_BATCH:
            return list(typed)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    out: list[T | RecordProblem] = []
    for raw in decode_batch(body, key):
        try:
            out.append(convert(raw, kind))
        except RecordProblem as problem:
            out.append(problem)
    return out


def convert(raw: Any, kind: type[T]) -> T:
    try:
        return msgspec.convert(raw, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise _problem(str(exc)) from None


def _problem(message: str) -> RecordProblem:
    if m := _UNKNOWN.match(message):
        prefix = _AT.search(message)
        where = f"{prefix.group(1)}." if prefix and prefix.group(1) else ""
        return RecordProblem(where + m.group(1), "unknown field")
    if m := _MISSING.match(message):
        where = f"{m.group(3)}." if m.group(3) else ""
        return RecordProblem(where + m.group(1), "required")
    at = _AT.search(message)
    field = at.group(1) if at else "record"
    reason = _AT.sub("", message)
    return RecordProblem(field.replace("[", ".").replace("]", "") or "record", reason)


def stored_values(session: Session, column: Any, values: list[str]) -> set[str]:
    """Which of ``values`` the (workspace-scoped) ``column`` already holds, looked up in chunks."""
    found: set[str] = set()
    for start in range(0, len(values), 2000):
        found.update(session.scalars(select(column).where(column.in_(values[start : start + 2000]))))
    return found


def rejection(index: int, problem: RecordProblem) -> Rejection:
    return Rejection(index=index, field=problem.field, reason=problem.reason)


def to_utc(value: datetime, tz: tzinfo, field: str, *, now: datetime) -> datetime:
    """Naive times are read in the workspace's time zone (what Chinese exports usually hold)."""
    aware = value.replace(tzinfo=tz) if value.tzinfo is None else value
    utc = aware.astimezone(UTC)
    if utc > now + timedelta(days=1):
        raise RecordProblem(field, "is more than a day in the future")
    if utc.year < 2000:
        raise RecordProblem(field, "is before the year 2000")
    return utc


def identity_keys(identities: dict[str, str | int]) -> list[IdentityKey]:
    keys = []
    for name, value in identities.items():
        try:
            keys.append(make_key(name, value))
        except IdentityKeyError as exc:
            raise RecordProblem(f"identities.{name}", str(exc)) from None
    return keys


def need_someone(keys: list[IdentityKey], contact_id: int | None) -> None:
    if not keys and contact_id is None:
        raise RecordProblem("identities", "give at least one identity, or contact_id")


def check_properties(properties: dict[str, Any], field: str = "properties") -> bytes:
    encoded = orjson.dumps(properties)
    if len(encoded) > MAX_PROPERTIES_BYTES:
        raise RecordProblem(field, f"at most {MAX_PROPERTIES_BYTES} bytes of JSON")
    if b"\\u0000" in encoded:
        raise RecordProblem(field, "must not contain NUL characters")
    return encoded


def check_text(value: str | None, field: str, limit: int) -> None:
    if value is None:
        return
    if len(value) > limit:
        raise RecordProblem(field, f"at most {limit} characters")
    if "\x00" in value:
        raise RecordProblem(field, "must not contain NUL characters")
