"""The property catalogue's types and the one check every writer of a custom property uses.

Values are stored in ``contact.properties`` (JSON), so each type has one JSON shape: ``date`` is an
ISO ``YYYY-MM-DD`` string, ``list`` a list of strings. ``None`` clears a property and is always valid.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

PROPERTY_KEY: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_TEXT: Final = 1000
MAX_LIST_ITEMS: Final = 100
MAX_OPTION: Final = 200
MAX_SAFE_INTEGER: Final = 2**53 - 1


class PropertyType(StrEnum):
    string = "string"
    number = "number"
    bool = "bool"
    date = "date"
    enum = "enum"
    list = "list"


# Types whose values are picked from ``options`` (required for enum, optional for list).
WITH_OPTIONS: Final = frozenset({PropertyType.enum, PropertyType.list})


class PropertySpec(Protocol):
    """What validation needs from a definition (a ``PropertyDefinition`` row, or anything shaped like it)."""

    @property
    def type(self) -> str: ...

    @property
    def options(self) -> list[Any] | None: ...


class PropertyValueError(ValueError):
    """A value its definition does not allow; the message is the reason shown to the client."""


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise PropertyValueError("must be a string")
    if len(value) > limit:
        raise PropertyValueError(f"at most {limit} characters")
    if "\x00" in value:
        raise PropertyValueError("must not contain NUL characters")
    return value


def validate_property_value(defn: PropertySpec, value: Any) -> Any:
    """``value`` as stored for ``defn``, or :class:`PropertyValueError` saying why it is refused."""
    if value is None:
        return None
    kind = defn.type
    options = defn.options or []
    if kind == PropertyType.string:
        return _text(value, MAX_TEXT)
    if kind == PropertyType.number:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PropertyValueError("must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise PropertyValueError("must be a finite number")
        if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
            # Beyond 2^53 JavaScript and most JSON readers silently round the number.
            raise PropertyValueError(f"whole numbers must be within ±{MAX_SAFE_INTEGER}")
        return value
    if kind == PropertyType.bool:
        if not isinstance(value, bool):
            raise PropertyValueError("must be true or false")
        return value
    if kind == PropertyType.date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            raise PropertyValueError("must be a date as YYYY-MM-DD")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise PropertyValueError("must be a date as YYYY-MM-DD") from None
    if kind == PropertyType.enum:
        if not isinstance(value, str) or value not in options:
            raise PropertyValueError(f"must be one of: {', '.join(map(str, options))}")
        return value
    if kind == PropertyType.list:
        if not isinstance(value, list):
            raise PropertyValueError("must be a list of strings")
        if len(value) > MAX_LIST_ITEMS:
            raise PropertyValueError(f"at most {MAX_LIST_ITEMS} items")
        items = [_text(item, MAX_OPTION) for item in value]
        unknown = [item for item in items if options and item not in options]
        if unknown:
            raise PropertyValueError(f"{unknown[0]!r} is not one of: {', '.join(map(str, options))}")
        return list(dict.fromkeys(items))
    raise PropertyValueError(f"the catalogue declares an unknown type {kind!r}")
