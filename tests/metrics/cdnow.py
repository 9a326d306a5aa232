"""The full CDNOW cohort (23,570 customers who first bought in Q1 1997, purchases to June 1998; the file
ships inside the lifetimes wheel) loaded into an analytics store as one workspace's orders. Each customer
becomes a contact who joined on the day of their first purchase; dollars become fen."""

from __future__ import annotations

import importlib.resources
from datetime import date, datetime

import duckdb
import pyarrow as pa

from siyu.lake.derived import rebuild
from siyu.metrics.queries import day

WS = 3
AS_OF = date(1998, 6, 30)


def load(con: duckdb.DuckDBPyConnection) -> int:
    text = (importlib.resources.files("lifetimes") / "datasets" / "CDNOW_master.txt").read_text()
    customers, days, fen = [], [], []
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        customer, stamp, _cds, dollars = line.split()
        customers.append(int(customer))
        days.append(day(date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))))
        fen.append(round(float(dollars) * 100))
    n = len(customers)
    con.register(
        "cdnow",
        pa.table(
            {
                "pk": pa.array(range(1, n + 1), type=pa.int64()),
                "customer": pa.array(customers, type=pa.int64()),
                "day": pa.array(days, type=pa.int32()),
                "fen": pa.array(fen, type=pa.int64()),
            }
        ),
    )
    con.execute(
        f"""INSERT INTO orders SELECT {WS}, pk, customer, fen, DATE '1970-01-01' + day + INTERVAL 12 HOUR, day,
        'other', '[]' FROM cdnow"""
    )
    con.execute(
        f"""INSERT INTO contacts (workspace_id, contact_id, created_at, created_day, properties)
        SELECT {WS}, customer, DATE '1970-01-01' + MIN(day), MIN(day), '{{}}' FROM cdnow GROUP BY customer"""
    )
    con.unregister("cdnow")
    rebuild(con, WS)
    return n


def midnight(value: date) -> datetime:
    return datetime.combine(value, datetime.min.time())
