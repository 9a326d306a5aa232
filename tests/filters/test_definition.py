"""The filter tree's validation: every problem is reported with the node's path and a reason."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.errors import InvalidInput
from siyu.filters.definition import Definition, event_window_days, leaves, parse, references

GOOD = {
    "version": 1,
    "root": {
        "op": "and",
        "children": [
            {"op": "property", "key": "skin_type", "cmp": "eq", "value": "敏感肌"},
            {"op": "not", "child": {"op": "tag", "tag_id": 3}},
            {"op": "or", "children": [{"op": "segment", "segment_id": 4}, {"op": "rfm", "cells": ["重要价值"]}]},
        ],
    },
}


def test_a_good_definition_round_trips() -> None:
    definition = parse(GOOD)
    assert isinstance(definition, Definition)
    assert parse(definition.model_dump(mode="json")) == definition
    assert [path for path, _ in leaves(definition)] == [
        "root.children[0]",
        "root.children[1].child",
        "root.children[2].children[0]",
        "root.children[2].children[1]",
    ]
    assert references(definition) == {"properties": {"skin_type"}, "tags": {3}, "segments": {4}, "events": set()}
    clicked = {"op": "event", "name": "link_clicked", "within_days": 30}
    with_events = parse({"version": 1, "root": {"op": "or", "children": [GOOD["root"], clicked]}})
    assert references(with_events)["events"] == {"link_clicked"}


def test_version_defaults_to_1() -> None:
    assert parse({"root": {"op": "tag", "tag_id": 1}}).version == 1


def problems(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        parse(raw)
    assert caught.value.status == 422
    return [(p.field, p.reason) for p in caught.value.errors]


@pytest.mark.parametrize(
    ("raw", "field", "reason_part"),
    [
        ({"root": {"op": "nope"}}, "definition.root", "unknown op"),
        ({"root": {}}, "definition.root", "needs an op"),
        ({"version": 2, "root": {"op": "tag", "tag_id": 1}}, "definition.version", "1"),
        ({"root": {"op": "tag", "tag_id": 0}}, "definition.root.tag_id", "greater than 0"),
        ({"root": {"op": "tag", "tag_id": 1, "colour": "red"}}, "definition.root.colour", "not permitted"),
        ({"root": {"op": "and", "children": []}}, "definition.root.children", "at least 1"),
        (
            {
                "root": {
                    "op": "and",
                    "children": [
                        {"op": "tag", "tag_id": 1},
                        {"op": "property", "key": "Bad Key", "cmp": "eq", "value": 1},
                    ],
                }
            },
            "definition.root.children[1].key",
            "lower-case",
        ),
        ({"root": {"op": "property", "key": "a", "cmp": "between", "value": [5, 1]}}, "definition.root", "low ≤ high"),
        ({"root": {"op": "property", "key": "a", "cmp": "in", "value": []}}, "definition.root", "non-empty list"),
        ({"root": {"op": "property", "key": "a", "cmp": "eq"}}, "definition.root", "needs a value"),
        ({"root": {"op": "property", "key": "a", "cmp": "is_set", "value": 1}}, "definition.root", "takes no value"),
        ({"root": {"op": "property", "key": "a", "cmp": "within_days", "value": 0}}, "definition.root", "1 to 36500"),
        ({"root": {"op": "property", "key": "a", "cmp": "eq", "value": [1]}}, "definition.root", "single value"),
        ({"root": {"op": "event", "name": "x", "min_count": 3, "max_count": 2}}, "definition.root", "max_count"),
        ({"root": {"op": "event", "name": "Page View"}}, "definition.root.name", "snake_case"),
        (
            {"root": {"op": "event", "name": "x", "where": [{"key": "p", "cmp": "within_days", "value": 3}]}},
            "definition.root.where[0]",
            "not available",
        ),
        ({"root": {"op": "orders", "cmp": "contains", "value": 1}}, "definition.root", "compare numbers"),
        ({"root": {"op": "rfm", "cells": ["超级"]}}, "definition.root", "unknown RFM cell"),
        ({"root": {"op": "rfm"}}, "definition.root", "at least one"),
        ({"root": {"op": "rfm", "r": [6]}}, "definition.root", "1 to 5"),
        (
            {"root": {"op": "tier", "model": "threshold", "tiers": ["gold"]}},
            "definition.root",
            "unknown threshold tier",
        ),
        ({"root": {"op": "lifecycle", "stages": ["zombie"]}}, "definition.root.stages", "unknown lifecycle stage"),
        ({"root": {"op": "clv", "cmp": "eq", "value": 1}}, "definition.root", "compares numbers"),
        ("not a tree", "definition", "valid dictionary"),
    ],
)
def test_bad_definitions_name_the_node(raw: Any, field: str, reason_part: str) -> None:
    found = problems(raw)
    assert (field, reason_part) in {(f, reason_part) for f, r in found if reason_part in r}, found


def test_every_problem_is_reported_not_only_the_first() -> None:
    found = problems(
        {
            "root": {
                "op": "and",
                "children": [{"op": "tag", "tag_id": -1}, {"op": "segment", "segment_id": 0}, {"op": "x"}],
            }
        }
    )
    assert [f for f, _ in found] == [
        "definition.root.children[0].tag_id",
        "definition.root.children[1].segment_id",
        "definition.root.children[2]",
    ]


def test_size_limits() -> None:
    deep: dict[str, Any] = {"op": "tag", "tag_id": 1}
    for _ in range(12):
        deep = {"op": "not", "child": deep}
    assert "deeper than 12" in problems({"root": deep})[0][1]
    wide = {"op": "or", "children": [{"op": "and", "children": [{"op": "tag", "tag_id": 1}] * 50}] * 5}
    assert "more than 200 nodes" in problems({"root": wide})[0][1]


def test_event_window_days_is_the_longest_look_back() -> None:
    def tree(*leaves: dict[str, Any]) -> Any:
        return parse({"version": 1, "root": {"op": "or", "children": list(leaves)}})

    clicked = {"op": "event", "name": "link_clicked"}
    assert event_window_days(tree({"op": "tag", "tag_id": 1})) == 0
    assert event_window_days(tree({**clicked, "within_days": 7}, {**clicked, "within_days": 90})) == 90
    assert event_window_days(tree({**clicked, "within_days": 7}, clicked)) is None  # all time
