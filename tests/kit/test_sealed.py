"""Secrets sealed at rest: round trip, a value saved before sealing, and a changed SIYU_SECRET_KEY."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.kit.sealed import PREFIX, SealBroken, is_sealed, seal, unseal

KEY = "a-long-random-secret-key-for-tests"


@given(st.text(max_size=300))
def test_round_trip_and_never_plain(value: str) -> None:
    sealed = seal(value, KEY)
    assert sealed.startswith(PREFIX)
    assert is_sealed(sealed)
    assert unseal(sealed, KEY) == value
    if len(value) >= 4:
        assert value not in sealed[len(PREFIX) :]


def test_sealing_twice_keeps_one_seal_and_plain_values_read_as_themselves() -> None:
    sealed = seal("secret", KEY)
    assert seal(sealed, KEY) == sealed
    assert unseal("saved before sealing", KEY) == "saved before sealing"
    assert not is_sealed("saved before sealing")


def test_another_key_cannot_open_it() -> None:
    sealed = seal("secret", KEY)
    with pytest.raises(SealBroken, match="enter the secret again"):
        unseal(sealed, "another-secret-key-entirely")
