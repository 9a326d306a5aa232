"""The analytics store's handle: stores in memory are each their own."""

from __future__ import annotations

import gc

from siyu.lake.store import Lake


def test_a_store_in_memory_never_sees_one_that_is_gone() -> None:
    # CPython hands a freed object's address to the next one of its size: stores once told apart by
    # id() then shared the first one's data (one test's store held another test's contacts).
    for n in range(8):
        lake = Lake(None)
        with lake.write() as con:
            row = con.execute("SELECT count(*) FROM segment_state").fetchone()
            assert row == (0,), f"store {n} holds an earlier store's rows"
            con.execute("INSERT INTO segment_state VALUES (1, ?, 0, NULL)", [n])
        del lake
        gc.collect()
