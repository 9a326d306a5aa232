"""The fast path for CSV order files stores exactly what the generic path stores and rejects exactly
what it rejects (line, field, reason) — row by row, on a file made of every kind of bad row — and keeps
following contacts that another writer merges or unmerges while an import runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings
from siyu.identity import merge as merging
from siyu.identity.keys import make_key
from siyu.identity.rules import rules_from
from siyu.ingestion import orders as orders_module
from siyu.ingestion.context import BatchContext
from siyu.ingestion.orders import validate
from siyu.ingestion.records import RecordProblem, convert
from siyu.ingestion.schemas import OrderIn
from siyu.kit.db import make_engine, make_sessionmaker, transaction
from siyu.models import Contact, Identity, MergeRecord, SalesOrder, Workspace
from siyu.transfer import order_cells
from siyu.transfer.files import FileProblem
from siyu.transfer.imports import ImportSummary, run_import
from tests.factories import create_workspace
from tests.transfer.test_import_export import write_csv

HEADER = ["order_id", "amount_fen", "paid_at", "sales_channel", "buyer_id@taobao", "phone", "currency", "items"]
ITEM = json.dumps([{"sku": "SKU-1", "category": "护肤", "qty": 1, "price_fen": 100}])  # \u escapes
RAW_ITEM = json.dumps([{"sku": "SKU-1", "category": "护肤", "qty": 2, "price_fen": 100}], ensure_ascii=False)


def row(oid: str, **cells: str) -> list[str]:
    base = {
        "order_id": oid,
        "amount_fen": "9900",
        "paid_at": "2026-03-01 20:00:00",
        "sales_channel": "taobao",
        "buyer_id@taobao": f"b-{oid}",
        "phone": "",
        "currency": "",
        "items": ITEM,
    }
    base.update(cells)
    return [base[h] for h in HEADER]


def mixed_rows() -> list[list[str]]:
    """Valid rows and every kind of row the generic checks refuse or read leniently."""
    far = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    rows = [row(f"ok{i}", **{"buyer_id@taobao": f"buyer{i % 5}"}) for i in range(12)]
    rows += [
        row("amount-text", amount_fen="abc"),
        row("amount-float", amount_fen="12.5"),
        row("amount-float-whole", amount_fen="12.0"),  # msgspec's lax reading takes it
        row("amount-negative", amount_fen="-5"),
        row("amount-zeros", amount_fen="007"),
        row("amount-spaces", amount_fen=" 120 "),
        row("amount-huge", amount_fen="10000000000001"),
        row("amount-max", amount_fen="1000000000000"),
        row("amount-zero", amount_fen="0"),
        row("amount-empty", amount_fen=""),
        row("channel-unknown", sales_channel="street-market"),
        row("channel-spaces", sales_channel=" douyin "),
        row("channel-case", sales_channel="Taobao"),
        row("items-broken", items="{not json"),
        row("items-qty-zero", items=json.dumps([{"sku": "A", "qty": 0, "price_fen": 1}])),
        row("items-qty-text", items=json.dumps([{"sku": "A", "qty": "2", "price_fen": 1}])),
        row("items-qty-float", items=json.dumps([{"sku": "A", "qty": 2.0, "price_fen": 1}])),
        row("items-unknown-field", items=json.dumps([{"sku": "A", "qty": 1, "price_fen": 1, "colour": "red"}])),
        row("items-no-sku", items=json.dumps([{"qty": 1, "price_fen": 1}])),
        row("items-long-sku", items=json.dumps([{"sku": "x" * 129, "qty": 1, "price_fen": 1}])),
        row("items-nul", items=json.dumps([{"sku": "A\u0000B", "qty": 1, "price_fen": 1}])),
        row("items-escapes", items=json.dumps([{"sku": 'A"\\/\t\u2028😀', "qty": 1, "price_fen": 1}])),
        row("items-raw-utf8", items=RAW_ITEM),
        row("items-spaces", items=" " + RAW_ITEM + " "),
        row("items-not-a-list", items=json.dumps({"sku": "A"})),
        row("items-null-name", items=json.dumps([{"sku": "A", "name": None, "qty": 1, "price_fen": 1}])),
        row("items-empty-list", items="[]"),
        row("items-absent", items=""),
        row("items-too-many", items=json.dumps([{"sku": "A", "qty": 1, "price_fen": 1}] * 501)),
        row("items-price-negative", items=json.dumps([{"sku": "A", "qty": 1, "price_fen": -1}])),
        row("items-dup-key", items='[{"sku":"A","qty":1,"qty":3,"price_fen":1}]'),
        row("nobody", **{"buyer_id@taobao": ""}),
        row("nobody-spaces", **{"buyer_id@taobao": "   "}),
        row("phone-bad", phone="12345"),
        row("phone-plus86", phone="+86 138-0013-8000"),
        row("phone-only", phone="13800138000", **{"buyer_id@taobao": ""}),
        row("buyer-bad", **{"buyer_id@taobao": "has space"}),
        row("buyer-spaces", **{"buyer_id@taobao": " buyer1 "}),
        row("paid-future", paid_at=far),
        row("paid-1999", paid_at="1999-12-31 23:00:00"),
        row("paid-2000-utc", paid_at="2000-01-01 07:59:59"),  # 1999 in UTC (Asia/Shanghai)
        row("paid-offset", paid_at="2026-03-01T12:00:00+08:00"),
        row("paid-zulu", paid_at="2026-03-01T12:00:00Z"),
        row("paid-fraction", paid_at="2026-03-01 12:00:00.5"),
        row("paid-fraction-7", paid_at="2026-03-01 12:00:00.1234567"),
        row("paid-date-only", paid_at="2026-03-01"),
        row("paid-slashes", paid_at="2026/03/01 12:00:00"),
        row("paid-feb-30", paid_at="2026-02-30 12:00:00"),
        row("paid-24h", paid_at="2026-03-01 24:00:00"),
        row("paid-short-offset", paid_at="2026-03-01 12:00:00+08"),
        row("paid-spaces", paid_at=" 2026-03-01 12:00:00 "),
        row("paid-lower-z", paid_at="2026-03-01 12:00:00z"),
        row("paid-epoch", paid_at="1700000000"),
        row("currency-usd", currency="USD"),
        row("currency-lower", currency="usd"),
        row("currency-spaces", currency=" USD "),
        row("", amount_fen="1"),  # no order id
        row(" spaced-id ", amount_fen="2"),
        row("x" * 129),
        row("ok3", amount_fen="1"),  # a duplicate of a stored row in this file: the first one stays
        row("dup-first-bad", amount_fen="bad"),
        row("dup-first-bad", amount_fen="77"),
        row("dup-first-bad", amount_fen="78"),
    ]
    return rows


def import_both(
    factory: sessionmaker[Session],
    tmp_path: Path,
    rows: list[list[str]],
    header: list[str] = HEADER,
    suffix: str = "",
    **kw: Any,
) -> tuple[int, int, ImportSummary, ImportSummary]:
    fast_ws = create_workspace(factory, "fast" + suffix)
    slow_ws = create_workspace(factory, "generic" + suffix)
    tmp_path.mkdir(exist_ok=True)
    path = write_csv(tmp_path / "orders.csv", rows, header)
    fast = run_import(factory, fast_ws.id, "orders", path, state_dir=tmp_path / "state", actor_label="t", **kw)
    slow = run_import(
        factory, slow_ws.id, "orders", path, state_dir=tmp_path / "state", actor_label="t", fast=False, **kw
    )
    return fast_ws.id, slow_ws.id, fast, slow


def same_summary(a: ImportSummary, b: ImportSummary) -> None:
    assert (a.total, a.accepted, a.duplicates, a.rejected, a.contacts_created) == (
        b.total,
        b.accepted,
        b.duplicates,
        b.rejected,
        b.contacts_created,
    )
    assert a.errors == b.errors


def store(factory: sessionmaker[Session], ws: int) -> dict[str, Any]:
    """Everything the import wrote to the workspace, without surrogate ids, and as stored (SQLite:
    the text of the JSON and time columns)."""
    with transaction(factory, workspace_id=ws) as session:
        keys: dict[int, str] = {}
        keys_of: dict[int, list[str]] = {}
        for ident_id, contact_id, kind, scope, value in session.execute(
            select(Identity.id, Identity.contact_id, Identity.kind, Identity.scope, Identity.value)
        ):
            keys[ident_id] = f"{kind}@{scope}:{value}"
            keys_of.setdefault(contact_id, []).append(keys[ident_id])
        who = {c: ",".join(sorted(k)) for c, k in keys_of.items()}
        raw = ""
        if session.get_bind().dialect.name == "sqlite":
            raw = "CAST(items AS TEXT), CAST(paid_at AS TEXT)"
        else:
            raw = "items::text, paid_at::text"
        texts = {
            oid: (items, paid)
            for oid, items, paid in session.execute(
                text(f"SELECT order_id, {raw} FROM sales_order WHERE workspace_id = :ws"),
                {"ws": ws},
            )
        }
        orders = sorted(
            (
                o.order_id,
                o.amount_fen,
                o.refunded_fen,
                o.currency,
                o.paid_at.isoformat(),
                o.sales_channel,
                json.dumps(o.items),
                texts[o.order_id],
                who.get(o.contact_id, ""),
                keys.get(o.identity_id) if o.identity_id is not None else None,
            )
            for o in session.scalars(select(SalesOrder))
        )
        contacts = sorted(
            (
                who.get(c.id, ""),
                c.first_source,
                c.last_seen_at.isoformat() if c.last_seen_at else None,
                c.merged_into_id is not None,
            )
            for c in session.scalars(select(Contact))
        )
        merges = sorted((m.rule, json.dumps(m.evidence)) for m in session.scalars(select(MergeRecord)))
        return {"orders": orders, "contacts": contacts, "merges": merges}


@pytest.mark.parametrize("chunk_size", [7, 5000])
def test_the_fast_path_stores_and_rejects_exactly_what_the_generic_path_does(
    session_factory: sessionmaker[Session], tmp_path: Path, chunk_size: int
) -> None:
    rows = mixed_rows()
    fast_ws, slow_ws, fast, slow = import_both(session_factory, tmp_path, rows, chunk_size=chunk_size)
    same_summary(fast, slow)
    assert fast.rejected >= 30
    assert fast.accepted >= 30
    assert fast.duplicates == 2  # "ok3" again; "dup-first-bad" a third time (the first was rejected)
    assert store(session_factory, fast_ws) == store(session_factory, slow_ws)
    # Line numbers are the file's: the header is line 1.
    assert (rows.index(row("amount-text", amount_fen="abc")) + 2, "amount_fen") in [e[:2] for e in fast.errors]
    # A second run stores nothing new, on both paths alike.
    path = tmp_path / "orders.csv"
    again_fast = run_import(
        session_factory, fast_ws, "orders", path, state_dir=tmp_path / "state", actor_label="t", chunk_size=chunk_size
    )
    again_slow = run_import(
        session_factory,
        slow_ws,
        "orders",
        path,
        state_dir=tmp_path / "state",
        actor_label="t",
        chunk_size=chunk_size,
        fast=False,
    )
    same_summary(again_fast, again_slow)
    assert again_fast.accepted == 0
    assert store(session_factory, fast_ws) == store(session_factory, slow_ws)


def test_clean_rows_never_reach_the_generic_code(
    session_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = create_workspace(session_factory).id
    _seed(session_factory, ws, tmp_path, ["buyer0", "buyer1"])
    rows = [row(f"ok{i}", **{"buyer_id@taobao": f"buyer{i % 3}"}) for i in range(50)]  # buyer2 is new
    validated = []
    original = orders_module.validate

    def counting(*args: Any, **kwargs: Any) -> Any:
        validated.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(orders_module, "validate", counting)
    summary = run_import(
        session_factory,
        ws,
        "orders",
        write_csv(tmp_path / "clean.csv", rows),
        state_dir=tmp_path / "s",
        actor_label="t",
    )
    assert summary.accepted == 50
    assert summary.contacts_created == 1
    sqlite = session_factory.kw["bind"].dialect.name == "sqlite"
    assert len(validated) == (0 if sqlite else 50)  # PostgreSQL takes the generic path


def test_file_shapes_and_columns_only_the_generic_path_reads(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    header = [
        "order_id",
        "amount_fen",
        "paid_at",
        "sales_channel",
        "buyer_id@taobao",
        "buyer_id@jd",
        "phone",
        "wx_unionid",
        "items",
        "refunds",
        "contact_id",
        "properties.note",
    ]
    refund = json.dumps([{"refund_id": "R1", "amount_fen": 50, "time": "2026-03-02 10:00:00"}])

    def cells(oid: str, **values: str) -> list[str]:
        base = dict.fromkeys(header, "")
        base.update(order_id=oid, amount_fen="100", paid_at="2026-03-01 10:00:00", sales_channel="jd", items=ITEM)
        base.update(values)
        return [base[h] for h in header]

    rows = [cells(f"o{i}", **{"buyer_id@taobao": f"t{i % 4}", "phone": f"1390000000{i % 3}"}) for i in range(20)]
    rows += [
        cells("two-platforms", **{"buyer_id@taobao": "t1", "buyer_id@jd": "j1"}),  # no joining kind: a conflict
        cells("joins", **{"buyer_id@jd": "j1", "phone": "13900000009"}),
        cells("union", **{"wx_unionid": "u1", "phone": "13900000001"}),
        cells("union2", **{"wx_unionid": "u1", "buyer_id@taobao": "t3"}),  # merges by unionid
        cells("note", note="x", **{"properties.note": "hello", "buyer_id@taobao": "t1"}),  # unknown field
        cells("with-refund", refunds=refund, **{"buyer_id@taobao": "t2"}),  # chunk goes generic
        cells("by-contact", contact_id="999999"),  # no such contact
        cells("short")[:3],  # missing cells are absent
        [*cells("long", **{"buyer_id@taobao": "t2"}), "extra", "cells"],  # extra cells are ignored
        [""] * len(header),  # a blank row is skipped (and keeps its line number)
        [" "] * len(header),  # not blank: a record with nothing in it
        cells("multi\nline", **{"buyer_id@taobao": "t3"}),  # a quoted cell over two lines
        cells("after-multiline", **{"buyer_id@taobao": "t3"}),
    ]
    for chunk_size in (3, 1000):
        fast_ws, slow_ws, fast, slow = import_both(
            session_factory, tmp_path / str(chunk_size), rows, header, f"-{chunk_size}", chunk_size=chunk_size
        )
        same_summary(fast, slow)
        assert store(session_factory, fast_ws) == store(session_factory, slow_ws)


def test_a_file_unreadable_half_way_fails_after_the_same_chunks(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "orders.csv", [row(f"o{i}") for i in range(300)])
    with path.open("ab") as f:
        f.write(b"bad,\xff\xfe,line\n")
    stored = []
    for fast in (True, False):
        ws = create_workspace(session_factory, f"ws-{fast}".lower()).id
        with pytest.raises(FileProblem, match="UTF-8"):
            run_import(
                session_factory, ws, "orders", path, state_dir=tmp_path / "s", actor_label="t", chunk_size=7, fast=fast
            )
        (tmp_path / "s").rename(tmp_path / f"s-{fast}")  # the checkpoint stays for a later run
        stored.append(store(session_factory, ws))
    assert stored[0] == stored[1]
    assert 200 < len(stored[0]["orders"]) < 300


def test_times_without_offset_in_a_zone_with_daylight_saving(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = []
    start = datetime(2025, 3, 9, 0, 0)  # America/New_York springs forward at 02:00, falls back on 2 November
    for i in range(0, 6 * 60, 7):
        rows.append(row(f"spring{i}", paid_at=(start + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")))
    autumn = datetime(2025, 11, 2, 0, 0)
    for i in range(0, 4 * 60, 11):
        rows.append(row(f"autumn{i}", paid_at=(autumn + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S")))
    fast_ws = create_workspace(session_factory, "fast")
    slow_ws = create_workspace(session_factory, "generic")
    with transaction(session_factory) as session:
        session.execute(update(Workspace).values(timezone="America/New_York"))
    path = write_csv(tmp_path / "orders.csv", rows, HEADER)
    fast = run_import(session_factory, fast_ws.id, "orders", path, state_dir=tmp_path / "s", actor_label="t")
    slow = run_import(
        session_factory, slow_ws.id, "orders", path, state_dir=tmp_path / "s", actor_label="t", fast=False
    )
    same_summary(fast, slow)
    assert fast.accepted == len(rows)
    assert store(session_factory, fast_ws.id) == store(session_factory, slow_ws.id)


def _seed(factory: sessionmaker[Session], ws: int, tmp_path: Path, buyers: list[str]) -> None:
    path = write_csv(tmp_path / f"seed-{ws}.csv", [row(f"seed-{b}", **{"buyer_id@taobao": b}) for b in buyers])
    run_import(factory, ws, "orders", path, state_dir=tmp_path / "s", actor_label="seed", fast=False)


def _contact_of(factory: sessionmaker[Session], ws: int, buyer: str) -> int:
    with transaction(factory, workspace_id=ws) as session:
        contact = session.scalar(select(Identity.contact_id).where(Identity.value == buyer))
        assert contact is not None
        return contact


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("writer", ["same pool", "own engine"])
def test_a_contact_merged_by_another_writer_between_chunks(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path, fast: bool, writer: str
) -> None:
    ws = create_workspace(session_factory).id
    _seed(session_factory, ws, tmp_path, ["alice", "bob", "carol"])
    alice, bob = _contact_of(session_factory, ws, "alice"), _contact_of(session_factory, ws, "bob")
    rows = [row(f"o{i}", **{"buyer_id@taobao": ["alice", "bob", "carol"][i % 3]}) for i in range(30)]
    path = write_csv(tmp_path / "orders.csv", rows)
    # The other writer shares the import's connection pool, or has connections of its own.
    engine = make_engine(settings.sqlalchemy_url) if writer == "own engine" else None
    other = make_sessionmaker(engine) if engine is not None else session_factory
    merged = []

    def progress(done: int, total: int) -> None:
        if done == 10:  # after the first chunk committed: another writer merges alice into bob
            with transaction(other, workspace_id=ws) as session:
                merging.merge(session, bob, alice, rule="manual", evidence={}, actor_label="operator")
            merged.append(True)

    try:
        summary = run_import(
            session_factory,
            ws,
            "orders",
            path,
            state_dir=tmp_path / "s",
            actor_label="t",
            chunk_size=10,
            progress=progress,
            fast=fast,
        )
    finally:
        if engine is not None:
            engine.dispose()
    assert merged
    assert summary.accepted == 30
    with transaction(session_factory, workspace_id=ws) as session:
        owners = dict(session.execute(select(SalesOrder.order_id, SalesOrder.contact_id)).all())
        alice_row = session.get(Contact, alice)
        assert alice_row is not None
        assert alice_row.merged_into_id == bob
    for i in range(30):
        if i % 3 < 2:
            assert owners[f"o{i}"] == bob, i  # alice's orders, before and after the merge, are bob's
    assert alice not in owners.values()


@pytest.mark.parametrize("fast", [True, False])
def test_a_merge_undone_by_another_writer_between_chunks(
    session_factory: sessionmaker[Session], tmp_path: Path, fast: bool
) -> None:
    ws = create_workspace(session_factory).id
    _seed(session_factory, ws, tmp_path, ["alice", "bob"])
    alice, bob = _contact_of(session_factory, ws, "alice"), _contact_of(session_factory, ws, "bob")
    with transaction(session_factory, workspace_id=ws) as session:
        record = merging.merge(session, bob, alice, rule="manual", evidence={}, actor_label="operator")
    rows = [row(f"o{i}", **{"buyer_id@taobao": ["alice", "bob"][i % 2]}) for i in range(20)]
    path = write_csv(tmp_path / "orders.csv", rows)

    def progress(done: int, total: int) -> None:
        if done == 10:
            with transaction(session_factory, workspace_id=ws) as session:
                merging.unmerge(session, record.id, actor_label="operator")

    run_import(
        session_factory,
        ws,
        "orders",
        path,
        state_dir=tmp_path / "s",
        actor_label="t",
        chunk_size=10,
        progress=progress,
        fast=fast,
    )
    with transaction(session_factory, workspace_id=ws) as session:
        owners = dict(session.execute(select(SalesOrder.order_id, SalesOrder.contact_id)).all())
    for i in range(10, 20):
        assert owners[f"o{i}"] == (alice if i % 2 == 0 else bob), i


def test_a_contact_deleted_by_another_writer_between_chunks(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [row(f"o{i}", **{"buyer_id@taobao": ["alice", "bob"][i % 2]}) for i in range(20)]
    stores = []
    for fast in (True, False):
        ws = create_workspace(session_factory, f"ws-{fast}".lower()).id
        _seed(session_factory, ws, tmp_path, ["alice", "bob"])
        alice = _contact_of(session_factory, ws, "alice")

        def progress(done: int, total: int, ws: int = ws, alice: int = alice) -> None:
            if done == 10:  # alice goes, with her identities and orders
                with transaction(session_factory, workspace_id=ws) as session:
                    session.execute(delete(Contact).where(Contact.id == alice))

        summary = run_import(
            session_factory,
            ws,
            "orders",
            write_csv(tmp_path / f"orders-{fast}.csv", rows),
            state_dir=tmp_path / "s",
            actor_label="t",
            chunk_size=10,
            progress=progress,
            fast=fast,
        )
        assert summary.contacts_created == 1  # alice again, for the orders after
        stores.append(store(session_factory, ws))
    assert stores[0] == stores[1]
    assert len(stores[0]["orders"]) == 16  # seed-bob and o0..o19, less the six of alice that went with her


def test_keys_created_by_another_writer_between_chunks(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    ws = create_workspace(session_factory).id
    _seed(session_factory, ws, tmp_path, ["alice"])
    rows = [row("a1", **{"buyer_id@taobao": "alice"}), row("a2", **{"buyer_id@taobao": "alice"})]
    rows += [row(f"o{i}", **{"buyer_id@taobao": ["alice", "newbie"][i % 2]}) for i in range(10)]
    path = write_csv(tmp_path / "orders.csv", rows)

    def progress(done: int, total: int) -> None:
        if done == 2:  # the import's cache has no "newbie"; another writer adds it now
            _seed(session_factory, ws, tmp_path, ["newbie"])

    summary = run_import(
        session_factory, ws, "orders", path, state_dir=tmp_path / "s", actor_label="t", chunk_size=2, progress=progress
    )
    assert summary.accepted == 12
    assert summary.contacts_created == 0
    newbie = _contact_of(session_factory, ws, "newbie")
    with transaction(session_factory, workspace_id=ws) as session:
        owners = dict(session.execute(select(SalesOrder.order_id, SalesOrder.contact_id)).all())
        assert len(session.scalars(select(Contact.id)).all()) == 2
    assert all(owners[f"o{i}"] == newbie for i in range(1, 10, 2))


def test_rows_cached_for_a_contact_that_a_row_of_the_same_chunk_merges_away(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    seed = [row("seed-b", phone="13900000001", **{"buyer_id@taobao": "b"}), row("seed-a", **{"buyer_id@taobao": "a"})]
    rows = [
        row("o1", **{"buyer_id@taobao": "a"}),  # the cache says: contact "a"
        row("o2", phone="13900000001", **{"buyer_id@taobao": "a"}),  # the phone joins "a" into "b" (older)
        row("o3", **{"buyer_id@taobao": "a"}),
        row("o4", **{"buyer_id@taobao": "b"}),
    ]
    stores = []
    for fast in (True, False):
        ws = create_workspace(session_factory, f"ws-{fast}".lower()).id
        run_import(
            session_factory,
            ws,
            "orders",
            write_csv(tmp_path / f"seed-{fast}.csv", seed),
            state_dir=tmp_path / "s",
            actor_label="t",
            fast=False,
        )
        summary = run_import(
            session_factory,
            ws,
            "orders",
            write_csv(tmp_path / f"orders-{fast}.csv", rows),
            state_dir=tmp_path / "s",
            actor_label="t",
            fast=fast,
        )
        assert summary.accepted == 4
        b = _contact_of(session_factory, ws, "b")
        with transaction(session_factory, workspace_id=ws) as session:
            owners = dict(session.execute(select(SalesOrder.order_id, SalesOrder.contact_id)).all())
        assert {owners[f"o{i}"] for i in range(1, 5)} == {b}
        stores.append(store(session_factory, ws))
    assert stores[0] == stores[1]


# --- the strict forms against the generic reading, value by value --------------------------------------


def test_msgspec_writes_every_character_as_orjson_does() -> None:
    encode = msgspec.json.Encoder().encode
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    assert encode(everything) == orjson.dumps(everything)
    for c in range(0x110000):
        if not 0xD800 <= c <= 0xDFFF:
            assert encode(chr(c)) == orjson.dumps(chr(c)), hex(c)


def _generic_items(cell: str) -> str | None:
    """What the generic path stores for an ``items`` cell, or None where it rejects the row."""
    stripped = cell.strip()
    try:
        items = orjson.loads(stripped) if stripped else []
    except orjson.JSONDecodeError:
        return None
    record = {
        "order_id": "x",
        "amount_fen": 1,
        "paid_at": "2026-01-01T00:00:00Z",
        "sales_channel": "jd",
        "identities": {"email": "a@b.cn"},
    }
    try:
        order = convert({**record, "items": items} if stripped else record, OrderIn)
        ctx = BatchContext(None, 1, ZoneInfo("UTC"), rules_from(None), "t", datetime.now(UTC))  # type: ignore[arg-type]
        validate(order, 0, ctx)
    except RecordProblem:
        return None
    return orjson.dumps(
        [
            {"sku": i.sku, "category": i.category, "name": i.name, "qty": i.qty, "price_fen": i.price_fen}
            for i in order.items
        ]
    ).decode()


item_values = st.fixed_dictionaries(
    {"sku": st.text(max_size=130), "qty": st.one_of(st.integers(-2, 5), st.text(max_size=2), st.floats(0, 3))},
    optional={
        "price_fen": st.integers(-1, 10**12 + 1),
        "category": st.one_of(st.none(), st.text(max_size=3)),
        "name": st.one_of(st.none(), st.text(max_size=3), st.integers()),
        "other": st.just(1),
    },
)


@examples(max_examples=300, deadline=None)
@given(items=st.lists(item_values, max_size=3), ascii_only=st.booleans(), pad=st.sampled_from(["", " "]))
def test_items_cells(items: list[dict[str, Any]], ascii_only: bool, pad: str) -> None:
    cell = pad + json.dumps(items, ensure_ascii=ascii_only) + pad
    fast = order_cells.items_text(cell)
    if fast is not None:
        assert fast == _generic_items(cell)


@examples(max_examples=500, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    sep=st.sampled_from([" ", "T", "t", "_"]),
    fraction=st.sampled_from(["", ".5", ".123456", ".1234567", "."]),
    offset=st.sampled_from(["", "Z", "z", "+08:00", "-05:30", "+08", "+0800", "-00:00", "+23:59", "+24:00"]),
    zone=st.sampled_from(["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "UTC"]),
)
def test_paid_at_cells(when: datetime, sep: str, fraction: str, offset: str, zone: str) -> None:
    cell = when.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + fraction + offset
    tz = ZoneInfo(zone)
    fast = order_cells.paid_utc(cell, tz)
    if fast is None:
        return
    generic = msgspec.convert(cell, datetime, strict=False)
    expected = (generic.replace(tzinfo=tz) if generic.tzinfo is None else generic).astimezone(UTC)
    assert fast == expected
    assert fast.utcoffset() == timedelta(0)


@given(st.one_of(st.integers(-5, 10**13 + 5).map(str), st.text(alphabet="0123456789.-+ e_٣", max_size=15)))
def test_amount_cells(cell: str) -> None:
    fast = order_cells.amount(cell)
    if fast is not None:
        assert fast == msgspec.convert(cell, int, strict=False)
        assert 0 <= fast <= 10**12


@given(st.text(alphabet="0123456789+-() abc@.Xé\n\t:=/_", max_size=20))
def test_identity_cells(cell: str) -> None:
    for name, normalize in [
        ("phone", order_cells._identity_cell),
        ("email", order_cells._identity_cell),
        ("buyer_id@taobao", order_cells._plain_cell),
        ("wx_unionid", order_cells._plain_cell),
    ]:
        fast = normalize(name, cell)
        stripped = cell.strip()
        if not stripped:
            assert fast is None
            continue
        try:
            expected = make_key(name, stripped).value
        except ValueError:
            expected = order_cells._BAD
        assert fast == expected
