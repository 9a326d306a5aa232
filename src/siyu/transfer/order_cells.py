"""Cell-level checks of the CSV order fast path: each cell in a strict form that the generic path
certainly accepts with the same value, or ``None`` to hand the row to the generic path."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, get_args
from zoneinfo import ZoneInfo

import msgspec
from msgspec import Meta

from siyu.identity.keys import PLAIN_VALUE, IdentityKeyError, make_key
from siyu.ingestion import orders
from siyu.ingestion.schemas import SalesChannel

MAX_FEN = orders.MAX_FEN
CHANNELS = frozenset(get_args(SalesChannel))
REQUIRED = ("order_id", "amount_fen", "paid_at", "sales_channel")
FAST_FIELDS = (*REQUIRED, "currency")
# The strict form of a time (ASCII digits: ``\d`` would take any Unicode digit).
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)
_CACHE_LIMIT = 200_000  # entries of each value cache (times, items, identity cells) before it starts afresh
_BATCH = 200  # rows turned into columns at a time: few enough that none live through a GC pass
_BAD = "\x00bad"  # an identity cell for the generic path to judge (a normalized value never holds NUL)


class _Item(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    """An order item in the key order the generic path stores, with its limits as constraints."""

    sku: Annotated[str, Meta(max_length=128)]
    category: Annotated[str, Meta(max_length=128)] | None = None
    name: Annotated[str, Meta(max_length=200)] | None = None
    qty: Annotated[int, Meta(ge=1)]
    price_fen: Annotated[int, Meta(ge=0, le=MAX_FEN)]


_ITEMS = msgspec.json.Decoder(Annotated[list[_Item], Meta(max_length=500)])
_ENCODE = msgspec.json.Encoder().encode


def items_text(cell: str) -> str | None:
    """The stored JSON of an ``items`` cell that certainly passes the generic checks, else None.

    msgspec writes every string exactly as orjson does (a test compares every code point), so the text
    is byte for byte what the generic path stores. A NUL can only come from an escape and is written
    back as one: such cells are left to the generic path (which refuses them)."""
    if not cell:
        return "[]"
    try:
        text = _ENCODE(_ITEMS.decode(cell)).decode()
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if "\\" in cell and "\\u0000" in text:
        return None
    return text


def paid_utc(cell: str, tz: ZoneInfo) -> datetime | None:
    """A strict ``paid_at`` cell as the generic path reads it (naive: in ``tz``), in UTC; else None."""
    if _TIME.fullmatch(cell) is None:
        return None
    try:
        value = datetime.fromisoformat(cell)
    except ValueError:
        return None
    return (value.replace(tzinfo=tz) if value.tzinfo is None else value).astimezone(UTC)


def _paid_text(cell: str, tz: ZoneInfo) -> str | None:
    """:func:`paid_utc` as the SQLite text of a ``UTCDateTime`` column (see ``kit.bulk.sqlite_datetime``)."""
    utc = paid_utc(cell, tz)
    return None if utc is None else utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def amount(cell: str) -> int | None:
    """A canonical integer number of fen in range ("007", "5.0", " 5" are the generic path's to judge)."""
    if cell.isdigit() and cell.isascii() and len(cell) <= 13 and (cell[0] != "0" or len(cell) == 1):
        value = int(cell)
        return value if value <= MAX_FEN else None
    return None


def _currency(cell: str) -> str | None:
    return "CNY" if not cell else cell if len(cell) == 3 and cell.isupper() else None


def _plain_cell(name: str, cell: str) -> str | None:
    """``_identity_cell`` for the kinds whose values are kept as given (not phone, e-mail): a cell made
    of the allowed characters only is its own value (the pattern is ``make_key``'s own)."""
    return cell if PLAIN_VALUE.fullmatch(cell) else _identity_cell(name, cell)


def _identity_cell(name: str, cell: str) -> str | None:
    """The normalized value of an identity cell; None when empty (absent); ``_BAD`` when the generic
    path rejects it (it then judges the row itself, with its own message)."""
    text = cell.strip()
    if not text:
        return None
    try:
        return make_key(name, text).value
    except IdentityKeyError:
        return _BAD


class _Memo(dict[str, Any]):
    """cell → ``compute(cell)``, each computed once; :meth:`column` maps a whole column at C speed."""

    def __init__(self, compute: Callable[[str], Any]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, cell: str) -> Any:
        value = self[cell] = self.compute(cell)
        return value

    def column(self, cells: list[str]) -> list[Any]:
        if len(self) > _CACHE_LIMIT:
            self.clear()
        return list(map(self.__getitem__, cells))
