"""A chart's table as a CSV (UTF-8 with a BOM, so that Excel reads the Chinese) or XLSX file."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def table_file(table: dict[str, Any], fmt: str) -> bytes:
    columns: list[str] = table["columns"]
    rows: list[list[Any]] = table["rows"]
    if fmt == "csv":
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        return ("\ufeff" + text.getvalue()).encode("utf-8")
    book = Workbook(write_only=True)
    sheet = book.create_sheet(str(table["chart"])[:31])
    sheet.append(columns)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
