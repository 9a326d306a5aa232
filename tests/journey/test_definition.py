"""The journey graph: what parses, and every problem named by its path and reason."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.errors import InvalidInput
from siyu.journey import definition as jd
from siyu.journey import templates

WELCOME = """
version: 1
trigger: {type: event, event: contact_added, where: [{key: source, cmp: eq, value: qr}]}
entry: {re_entry: after_exit, cooldown_days: 30}
goal: {event: order_paid, within_days: 3}
start: welcome
nodes:
  welcome:
    type: send
    channel: outbox
    content: {text: "欢迎!"}
    next: greet
  greet: {type: task, title: 1小时内问候, due_in: 1h, next: wait}
  wait: {type: wait, duration: 24h, next: split}
  split: {type: condition, if: {op: tag, tag_id: 3}, then: ab, else: done}
  ab:
    type: random
    holdout: 10
    branches: [{weight: 1, next: recommend}, {weight: 1, next: done}]
  recommend:
    type: send
    channel: email
    promotional: true
    content: {title: 推荐, text: 为你推荐}
    next: answered
  answered: {type: wait_event, event: survey_answered, timeout: 2d, next: done, on_timeout: done}
  done: {type: exit, reason: 结束}
"""


def problems(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as caught:
        jd.parse(raw) if isinstance(raw, dict) else jd.load_text(raw)
    return [(p.field, p.reason) for p in caught.value.errors]


def welcome(**nodes: Any) -> dict[str, Any]:
    raw = jd.load_yaml(WELCOME)
    raw["nodes"].update(nodes)
    return raw


def test_a_journey_in_yaml_parses_and_round_trips() -> None:
    journey = jd.load_text(WELCOME)
    assert isinstance(journey.trigger, jd.EventTrigger)
    assert journey.entry.re_entry is jd.ReEntry.after_exit
    assert isinstance(journey.nodes["split"], jd.Condition)
    assert jd.successors(journey.nodes["split"]) == [("then", "ab"), ("else", "done")]
    assert jd.successors(journey.nodes["answered"]) == [("next", "done"), ("on_timeout", "done")]
    stored = jd.dump(journey)
    assert stored["nodes"]["split"]["if"] == {"op": "tag", "tag_id": 3, "has": True}
    assert "else" in stored["nodes"]["split"]
    assert jd.parse(stored) == journey
    assert jd.load_text(jd.to_yaml(journey)) == journey
    assert jd.references(journey) == {
        "tags": {3},
        "segments": set(),
        "channels": {"outbox", "email"},
        "properties": set(),
    }


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h", 3600), ("24h", 86400), ("3d", 259200), ("2w", 1209600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert jd.duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "1y", "0h", "-1h", "400d", "1.5h", "one hour"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|between"):
        jd.duration_seconds(text)


def test_field_problems_name_the_node_even_when_its_id_is_a_type() -> None:
    raw = welcome(send={"type": "send", "channel": "Bad Channel", "content": {"text": ""}})
    found = problems(raw)
    assert ("definition.nodes.send.channel", "a channel name such as outbox, email or webhook") in found
    assert ("definition.nodes.send.content.text", "String should have at least 1 character") in found


@pytest.mark.parametrize(
    ("node", "field", "reason"),
    [
        ({"type": "wait", "duration": "soon"}, "definition.nodes.bad.duration", "a duration such as 30m, 1h, 3d or 2w"),
        ({"type": "wait_until", "time": "25:00"}, "definition.nodes.bad.time", "a time of day as HH:MM"),
        ({"type": "wait_until", "time": "10:00", "weekdays": [0]}, "definition.nodes.bad.weekdays", "weekdays are 1"),
        ({"type": "tag"}, "definition.nodes.bad", "add or remove at least one tag"),
        ({"type": "tag", "add": [1], "remove": [1]}, "definition.nodes.bad", "both added and removed"),
        ({"type": "webhook", "url": "ftp://x"}, "definition.nodes.bad.url", "an http:// or https:// URL"),
        ({"type": "random", "branches": []}, "definition.nodes.bad.branches", "at least 1 item"),
        ({"type": "random", "branches": [{"weight": 1}], "holdout": 95}, "definition.nodes.bad.holdout", "90"),
        ({"type": "task", "title": "x", "due_in": "1y"}, "definition.nodes.bad.due_in", "a duration"),
        (
            {"type": "send", "channel": "outbox", "content": {"text": "x"}, "colour": 1},
            "definition.nodes.bad.colour",
            "Extra inputs",
        ),
        ({"type": "teleport"}, "definition.nodes.bad", "unknown type; use one of wait, wait_until"),
        ({"channel": "outbox"}, "definition.nodes.bad", "every node needs a type"),
        (
            {"type": "condition", "if": {"op": "nope"}},
            "definition.nodes.bad.if",
            "unknown op; use one of and, attribute",
        ),
    ],
)
def test_node_problems(node: dict[str, Any], field: str, reason: str) -> None:
    found = problems(welcome(bad=node))
    assert any(f == field and reason in r for f, r in found), found


def test_trigger_problems() -> None:
    raw = welcome()
    raw["trigger"] = {"type": "sometimes"}
    assert problems(raw) == [
        (
            "definition.trigger",
            "unknown type; use one of event, segment_entered, segment_left, date_property, schedule, manual",
        )
    ]
    raw["trigger"] = {"type": "schedule", "cron": "every day"}
    assert problems(raw) == [
        ("definition.trigger.cron", "a cron expression of five fields (minute hour day month weekday)")
    ]
    raw["trigger"] = {"type": "date_property", "offset_days": -90, "at": "9am"}
    assert {f for f, _ in problems(raw)} == {"definition.trigger.offset_days", "definition.trigger.at"}


def test_graph_problems_name_the_edge() -> None:
    raw = welcome(wait={"type": "wait", "duration": "1h", "next": "nowhere"})
    assert problems(raw) == [("definition.nodes.wait.next", "no node 'nowhere'")]
    raw = welcome()
    raw["start"] = "missing"
    assert ("definition.start", "no node 'missing'") in problems(raw)


def test_unreachable_nodes_are_named() -> None:
    raw = welcome(orphan={"type": "exit"})
    assert problems(raw) == [("definition.nodes.orphan", "not reachable from the start node 'welcome'")]


def test_cycles_are_refused_with_the_loop() -> None:
    raw = welcome(done={"type": "wait", "duration": "1d", "next": "greet"})
    (found,) = problems(raw)
    assert found[0] == "definition.nodes.done.next"
    assert "greet → wait → split" in found[1]
    assert found[1].endswith("journeys are acyclic")


def test_bad_yaml_says_where() -> None:
    assert problems("version: 1\nnodes: [a, b\n") == [
        ("definition", "expected ',' or ']', but got '<stream end>' at line 3, column 1")
    ]
    assert problems("- just\n- a list\n") == [
        ("definition", "a journey is a mapping with version, trigger, start and nodes")
    ]


def test_every_template_parses_and_is_the_seeds_sop() -> None:
    keys = {t.key for t in templates.all_templates()}
    assert keys == {"welcome_72h", "silent_recall", "birthday", "member_day", "after_sale", "campaign"}
    welcome_72h = jd.parse(templates.get("welcome_72h").definition)
    assert isinstance(welcome_72h.trigger, jd.EventTrigger)
    assert welcome_72h.trigger.event == "contact_added"
    greet = welcome_72h.nodes["greet"]
    assert isinstance(greet, jd.Task)
    assert jd.duration_seconds(greet.due_in) == 3600  # a staff greeting within 1 hour
    waits = [n for n in welcome_72h.nodes.values() if isinstance(n, jd.Wait)]
    assert jd.duration_seconds(waits[0].duration) == 86400  # the recommendation within 24 hours
    assert welcome_72h.goal is not None
    assert welcome_72h.goal.within_days == 3  # the first 72 hours


def test_templates_leave_out_what_is_not_built_yet_and_say_so() -> None:
    definition, notices = templates.without_unavailable(templates.get("welcome_72h"))
    journey = jd.parse(definition)
    assert "gift" not in journey.nodes
    welcome_node = journey.nodes["welcome"]
    assert isinstance(welcome_node, jd.Send)
    assert welcome_node.next == "greet"  # the coupon's neighbours are joined
    assert notices == ["「新人专属优惠券」(coupon)暂未加入:优惠券在活动能力上线后可用,届时可把这一步加回来。"]
    assert jd.unavailable_actions(journey) == []
    silent, _ = templates.without_unavailable(templates.get("silent_recall"))
    assert silent["start"] == "recall"  # the coupon was the start node
    untouched = jd.parse(templates.get("welcome_72h").definition)
    assert [p.field for p in jd.unavailable_actions(untouched)] == ["definition.nodes.gift"]


def test_yaml_aliases_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b]\n"
    assert problems(bomb) == [("definition", "anchors and aliases (*name) are not allowed at line 2, column 8")]


def test_a_wait_needs_a_next_node() -> None:
    raw = welcome(wait={"type": "wait", "duration": "1h"})
    assert ("definition.nodes.wait", "a wait needs a next node (to end after waiting, lead to an exit)") in problems(
        raw
    )
