"""Reading CSV, JSONL and XLSX files into ingestion records, one ``(line, record)`` at a time.

Tabular files use one column per field. Columns named like identity keys (``phone``, ``email``,
``wx_openid@<appid>``, ``buyer_id@taobao`` …) become the record's identities; ``properties.<key>``
columns become properties; ``properties``, ``items``, ``refunds`` and ``consent`` columns may hold JSON.
Empty cells are absent values. A cell in a ``properties.`` column that reads as a JSON number, boolean
or list is that value; anything else is text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from siyu.identity.keys import IdentityKeyError, parse_name

FORMATS = ("csv", "jsonl", "xlsx")
JSON_COLUMNS = frozenset({"properties", "items", "refunds", "consent", "identities"})
PROPERTY_PREFIXES = ("properties.", "prop.")


class FileProblem(Exception):
    """The file as a whole cannot be read (format, encoding, header)."""


def file_format(path: Path, declared: str | None = None) -> str:
    fmt = (declared or path.suffix.lstrip(".")).lower()
    if fmt == "json":
        fmt = "jsonl"
    if fmt not in FORMATS:
        raise FileProblem(f"unknown file format {fmt!r}: use .csv, .jsonl or .xlsx (or --format)")
    return fmt


def count_records(path: Path, fmt: str) -> int:
    """How many records the file holds (for the progress bar)."""
    if fmt == "xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True)
        rows = book.active.max_row if book.active is not None else 0
        book.close()
        return max(0, (rows or 0) - 1)
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(0, lines - (1 if fmt == "csv" else 0))


class ColumnMap:
    """How each header of a tabular file maps into a record."""

    def __init__(self, header: list[str]) -> None:
        self.header = [h.strip().lstrip("\ufeff") for h in header]
        if len(set(self.header)) != len(self.header):
            raise FileProblem("the header row names a column twice")
        self.kinds: list[tuple[str, str]] = []
        for name in self.header:
            if name.startswith(PROPERTY_PREFIXES):
                self.kinds.append(("property", name.split(".", 1)[1]))
                continue
            try:
                parse_name(name)
                self.kinds.append(("identity", name))
            except IdentityKeyError:
                self.kinds.append(("json" if name in JSON_COLUMNS else "field", name))

    def record(self, cells: list[Any]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for (kind, name), cell in zip(self.kinds, cells, strict=False):
            if cell is None or (isinstance(cell, str) and cell.strip() == ""):
                continue
            value = cell.strip() if isinstance(cell, str) else cell
            if kind == "identity":
                record.setdefault("identities", {})[name] = str(value)
            elif kind == "property":
                record.setdefault("properties", {})[name] = _cell_value(value)
            elif kind == "json":
                record[name] = _json_cell(value, name)
            elif name == "tags" and isinstance(value, str):
                # "肤质/敏感肌; 兴趣/彩妆": several tags in one cell (a JSON list works too).
                record[name] = _json_cell(value, name) if value.startswith("[") else _tag_list(value)
            else:
                record[name] = value.isoformat(sep=" ") if hasattr(value, "isoformat") else value
        return record


_TAG_SEPARATORS = re.compile(r"[;,；，|]")


def _tag_list(value: str) -> list[str]:
    return [t.strip() for t in _TAG_SEPARATORS.split(value) if t.strip()]


def _cell_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value[:1] in "-0123456789[" or value in ("true", "false"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


class CellProblem(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _json_cell(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise CellProblem(name, "not valid JSON") from None


def read_records(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any] | CellProblem]]:
    """``(line number, record)`` pairs; a record that cannot even be shaped is a :class:`CellProblem`."""
    if fmt == "jsonl":
        with path.open("rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield number, CellProblem("record", f"not valid JSON: {exc}")
                    continue
                yield number, value if isinstance(value, dict) else CellProblem("record", "not a JSON object")
        return
    rows = csv_rows(path) if fmt == "csv" else _xlsx_rows(path)
    try:
        header = next(rows)
    except StopIteration:
        return
    columns = ColumnMap([str(h or "") for h in header])
    for number, cells in enumerate(rows, start=2):
        if not any(c not in (None, "") for c in cells):
            continue
        try:
            yield number, columns.record(list(cells))
        except CellProblem as problem:
            yield number, problem


def csv_rows(path: Path) -> Iterator[list[Any]]:
    raw = path.open("rb")
    try:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        try:
            yield from csv.reader(text)
        except UnicodeDecodeError:
            raise FileProblem("the file is not UTF-8 text (save it as CSV UTF-8)") from None
        except csv.Error as exc:
            raise FileProblem(f"not a readable CSV file: {exc}") from None
    finally:
        raw.close()


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad workbook
        raise FileProblem(f"not a readable XLSX workbook: {type(exc).__name__}") from None
    try:
        sheet = book.active
        if sheet is None:
            return
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        book.close()
