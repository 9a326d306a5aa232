"""``validate_property_value`` (used by every writer of custom properties) and the masks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest

from siyu.contact.masking import mask_email, mask_identity, mask_name, mask_phone
from siyu.contact.properties import PropertyValueError, validate_property_value


@dataclass
class Spec:
    type: str
    options: list[Any] | None = None


@pytest.mark.parametrize(
    ("spec", "value", "stored"),
    [
        (Spec("string"), "干皮", "干皮"),
        (Spec("number"), 3, 3),
        (Spec("number"), 2.5, 2.5),
        (Spec("bool"), False, False),
        (Spec("date"), "2025-03-01", "2025-03-01"),
        (Spec("date"), date(2025, 3, 1), "2025-03-01"),
        (Spec("enum", ["dry", "oily"]), "oily", "oily"),
        (Spec("list"), ["a", "b", "a"], ["a", "b"]),
        (Spec("list", ["a", "b"]), ["b"], ["b"]),
        (Spec("string"), None, None),  # None clears a property
    ],
)
def test_valid_values(spec: Spec, value: Any, stored: Any) -> None:
    assert validate_property_value(spec, value) == stored


@pytest.mark.parametrize(
    ("spec", "value", "reason"),
    [
        (Spec("string"), 5, "must be a string"),
        (Spec("string"), "x" * 1001, "at most 1000"),
        (Spec("string"), "a\x00", "NUL"),
        (Spec("number"), True, "must be a number"),
        (Spec("number"), "3", "must be a number"),
        (Spec("number"), float("nan"), "finite"),
        (Spec("number"), 2**60, "within"),
        (Spec("bool"), 1, "true or false"),
        (Spec("date"), "2025-02-30", "YYYY-MM-DD"),
        (Spec("date"), "20250301", "YYYY-MM-DD"),
        (Spec("date"), datetime(2025, 3, 1), "YYYY-MM-DD"),
        (Spec("enum", ["dry", "oily"]), "normal", "one of: dry, oily"),
        (Spec("enum", ["1"]), 1, "one of"),
        (Spec("list"), "a", "list of strings"),
        (Spec("list"), [1], "must be a string"),
        (Spec("list", ["a"]), ["a", "z"], "'z' is not one of"),
        (Spec("list"), ["x"] * 101, "at most 100"),
        (Spec("color"), "red", "unknown type"),
    ],
)
def test_invalid_values_say_why(spec: Spec, value: Any, reason: str) -> None:
    with pytest.raises(PropertyValueError, match=None) as raised:
        validate_property_value(spec, value)
    assert reason in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_masks() -> None:
    assert mask_phone("13812348000") == "138****8000"
    assert mask_phone("+447911123456") == "+44******3456"
    assert mask_phone("12345") == "*****"
    assert mask_email("alice@x.com") == "a***@x.com"
    assert mask_email("a@x.com") == "a***@x.com"  # the length is not revealed
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("Christopher") == "C***"
    assert mask_name("张") == "*"
    assert mask_identity("phone", "13812348000") == "138****8000"
    assert mask_identity("wx_openid", "o_abc") == "o_abc"
