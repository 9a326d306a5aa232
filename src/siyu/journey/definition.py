"""The journey graph (format version 1): a trigger, an entry policy, an optional goal and named nodes
that lead from one to the next. Stored as JSON; authored as JSON or YAML (:func:`load_text`); validated
here, every problem named by its path (``nodes.greet.due_in``) and reason.

Triggers (``trigger.type``):

* ``event`` — an event ``event`` whose properties match ``where`` (the segment filters' property tests);
* ``segment_entered`` / ``segment_left`` — a contact enters or leaves segment ``segment_id``;
* ``date_property`` — a date (``birthday`` or a custom date property) comes round, ``offset_days``
  before (negative) or after it, at ``at`` local time;
* ``schedule`` — a cron expression in the workspace's time zone enters everybody in ``audience``;
* ``manual`` — contacts are entered by an operator, the API or the CLI.

Nodes (``nodes.<id>.type``); each names the node that follows in ``next`` (none: the journey ends):

* ``wait`` — for a ``duration`` (``90m``, ``1h``, ``3d``, ``2w``);
* ``wait_until`` — until the next ``time`` of day (``10:00``, local), optionally on given ``weekdays``;
* ``wait_event`` — until event ``event`` (then ``next``) or the ``timeout`` (then ``on_timeout``);
* ``condition`` — ``if`` (a segment filter tree, :mod:`siyu.filters.definition`) → ``then`` / ``else``;
* ``random`` — weighted ``branches``; ``holdout`` percent leave at once and are counted as the control;
* ``send`` — content through a channel, with a priority (service > transactional > marketing) and
  whether it is promotional (the content-mix rule counts those), all through the dispatcher;
* ``tag`` — add and remove tags; ``set_property`` — set a custom property;
* ``task`` — a task for the contact's staff member (or ``assignee``), due ``due_in`` after creation;
* ``webhook`` — a signed POST of the contact's id and ``payload`` to ``url``;
* ``coupon`` / ``points`` — reserved for the activities capability: a definition may hold them, but a
  journey that does cannot be published until that capability exists (the reason says so);
* ``exit`` — ends the journey here (with a ``reason`` for the reports).

The ``goal`` (a conversion event, optionally within some days of entering) ends the journey wherever
the contact is when it happens, and is counted. ``entry.re_entry`` says whether a contact who has been
through the journey may enter again: ``never``, ``after_exit`` (once out, after ``cooldown_days``), or
``always`` (even while in it: several runs at once).

The graph must be acyclic, every node reachable from ``start``, and every ``next`` an existing node.
"""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from siyu.dispatch.governance import Priority
from siyu.errors import FieldProblem, InvalidInput
from siyu.filters.definition import KEY, OPS, Node, PropertyFilter
from siyu.kit.validation import field_path, invalid_input

FORMAT_VERSION = 1
MAX_NODES = 200
NODE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|min|h|d|w)\s*$")
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION_SECONDS = 366 * 86400
NOT_YET = ("coupon", "points")  # actions of a later capability (activities)


def duration_seconds(text: str) -> int:
    """``90m``, ``1h``, ``3d``, ``2w`` as seconds (ValueError with the reason otherwise)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("a duration such as 30m, 1h, 3d or 2w")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        raise ValueError("between 1 minute and 366 days")
    return seconds


def _clock(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}:\d{2}", value):
        raise ValueError("a time of day as HH:MM")
    hours, minutes = int(value[:2]), int(value[3:])
    if hours > 23 or minutes > 59:
        raise ValueError("a time of day as HH:MM")
    return value


def _snake(what: str) -> Any:
    def check(value: str) -> str:
        if not KEY.match(value):
            raise ValueError(f"{what}: snake_case, starting with a letter")
        return value

    return AfterValidator(check)


EventName = Annotated[str, _snake("an event name")]
PropertyKey = Annotated[str, _snake("a property key")]


def clock_time(value: str) -> time:
    return time(int(value[:2]), int(value[3:]))


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Triggers ---------------------------------------------------------------------------------------


class EventTrigger(_Part):
    type: Literal["event"]
    event: EventName
    where: list[PropertyFilter] = Field(default_factory=list, max_length=20)


class SegmentTrigger(_Part):
    type: Literal["segment_entered", "segment_left"]
    segment_id: int = Field(ge=1)


class DateTrigger(_Part):
    type: Literal["date_property"]
    property: PropertyKey = "birthday"  # ``birthday`` (the built-in field) or a custom date property's key
    offset_days: int = Field(0, ge=-60, le=60)
    at: Annotated[str, Field(description="local time of day, HH:MM")] = "10:00"

    _at = field_validator("at")(classmethod(lambda cls, v: _clock(v)))


class ScheduleTrigger(_Part):
    type: Literal["schedule"]
    cron: str
    audience: Node | None = None  # a segment filter tree; absent: every contact

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value) or len(value.split()) != 5:
            raise ValueError("a cron expression of five fields (minute hour day month weekday)")
        return value


class ManualTrigger(_Part):
    type: Literal["manual"]


Trigger = Annotated[
    EventTrigger | SegmentTrigger | DateTrigger | ScheduleTrigger | ManualTrigger, Field(discriminator="type")
]
TRIGGERS = ("event", "segment_entered", "segment_left", "date_property", "schedule", "manual")


class ReEntry(StrEnum):
    never = "never"
    after_exit = "after_exit"
    always = "always"


class Entry(_Part):
    re_entry: ReEntry = ReEntry.never
    cooldown_days: int = Field(0, ge=0, le=3650)
    audience: Node | None = None  # only contacts matching it enter (a segment filter tree)


class Goal(_Part):
    event: EventName
    where: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    within_days: int | None = Field(None, ge=1, le=365)


# Nodes ------------------------------------------------------------------------------------------


class _Step(_Part):
    label: str | None = Field(None, max_length=100)
    next: str | None = None


class _Timed(_Step):
    @staticmethod
    def _duration(value: str) -> str:
        duration_seconds(value)
        return value


class Wait(_Timed):
    type: Literal["wait"]
    duration: str

    _check = field_validator("duration")(classmethod(lambda cls, v: _Timed._duration(v)))
    _then = model_validator(mode="after")(lambda self: _needs_next(self))


def _needs_next(node: Any) -> Any:
    if node.next is None:
        raise ValueError("a wait needs a next node (to end after waiting, lead to an exit)")
    return node


class WaitUntil(_Step):
    type: Literal["wait_until"]
    time: str
    weekdays: list[int] | None = Field(None, min_length=1, max_length=7, description="1 = Monday … 7 = Sunday")

    _check = field_validator("time")(classmethod(lambda cls, v: _clock(v)))
    _then = model_validator(mode="after")(lambda self: _needs_next(self))

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 1 <= d <= 7 for d in value):
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday)")
        return value


class WaitEvent(_Timed):
    type: Literal["wait_event"]
    event: EventName
    where: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    timeout: str
    on_timeout: str | None = None

    _check = field_validator("timeout")(classmethod(lambda cls, v: _Timed._duration(v)))


class Condition(_Part):
    type: Literal["condition"]
    label: str | None = Field(None, max_length=100)
    if_: Node = Field(alias="if")
    then: str | None = None
    else_: str | None = Field(None, alias="else")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Branch(_Part):
    weight: int = Field(ge=1, le=1000)
    next: str | None = None
    label: str | None = Field(None, max_length=100)


class RandomSplit(_Part):
    type: Literal["random"]
    label: str | None = Field(None, max_length=100)
    branches: list[Branch] = Field(min_length=1, max_length=10)
    holdout: int = Field(0, ge=0, le=90, description="percent of the contacts kept out as the control group")


class Content(_Part):
    title: str | None = Field(None, max_length=200)
    text: str = Field(min_length=1, max_length=4000)
    url: str | None = Field(None, max_length=2000)


class Send(_Step):
    type: Literal["send"]
    channel: str
    content: Content
    priority: Priority = Priority.marketing
    promotional: bool = False

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not CHANNEL.match(value):
            raise ValueError("a channel name such as outbox, email or webhook")
        return value


class TagAction(_Step):
    type: Literal["tag"]
    add: list[int] = Field(default_factory=list, max_length=20)
    remove: list[int] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _something(self) -> TagAction:
        if not self.add and not self.remove:
            raise ValueError("add or remove at least one tag")
        if set(self.add) & set(self.remove):
            raise ValueError("a tag cannot be both added and removed")
        return self


class SetProperty(_Step):
    type: Literal["set_property"]
    key: PropertyKey
    value: str | int | float | bool | None


class Task(_Step):
    type: Literal["task"]
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    due_in: str = "1d"
    assignee: str | None = Field(None, max_length=128, description="a staff userid; absent: the contact's owner")

    _check = field_validator("due_in")(classmethod(lambda cls, v: _Timed._duration(v)))


class Webhook(_Step):
    type: Literal["webhook"]
    url: str = Field(max_length=2000)
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("an http:// or https:// URL")
        return value


class Coupon(_Step):
    type: Literal["coupon"]
    template: str = Field(min_length=1, max_length=100)


class Points(_Step):
    type: Literal["points"]
    amount: int = Field(ge=1, le=1_000_000)


class Exit(_Part):
    type: Literal["exit"]
    label: str | None = Field(None, max_length=100)
    reason: str | None = Field(None, max_length=200)


JourneyNode = Annotated[
    Wait
    | WaitUntil
    | WaitEvent
    | Condition
    | RandomSplit
    | Send
    | TagAction
    | SetProperty
    | Task
    | Webhook
    | Coupon
    | Points
    | Exit,
    Field(discriminator="type"),
]
NODE_TYPES = (
    "wait",
    "wait_until",
    "wait_event",
    "condition",
    "random",
    "send",
    "tag",
    "set_property",
    "task",
    "webhook",
    "coupon",
    "points",
    "exit",
)
_TAGS = frozenset({*NODE_TYPES, *TRIGGERS, *OPS})


def successors(node: Any) -> list[tuple[str, str]]:
    """(field path within the node, node id) of every node this one can lead to."""
    found: list[tuple[str, str]] = []
    if isinstance(node, Condition):
        found += [("then", node.then)] if node.then else []
        found += [("else", node.else_)] if node.else_ else []
    elif isinstance(node, RandomSplit):
        found += [(f"branches[{i}].next", b.next) for i, b in enumerate(node.branches) if b.next]
    elif not isinstance(node, Exit):
        found += [("next", node.next)] if node.next else []
        if isinstance(node, WaitEvent) and node.on_timeout:
            found.append(("on_timeout", node.on_timeout))
    return found


class Journey(_Part):
    version: Literal[1]
    trigger: Trigger
    entry: Entry = Entry()
    goal: Goal | None = None
    start: str
    nodes: dict[str, JourneyNode] = Field(min_length=1, max_length=MAX_NODES)

    @model_validator(mode="after")
    def _graph(self) -> Journey:
        problems: list[FieldProblem] = []
        for node_id in self.nodes:
            if not NODE_ID.match(node_id):
                problems.append(FieldProblem(f"nodes.{node_id}", "a node id: snake_case, starting with a letter"))
        if self.start not in self.nodes:
            problems.append(FieldProblem("start", f"no node {self.start!r}"))
        for node_id, node in self.nodes.items():
            for field, target in successors(node):
                if target not in self.nodes:
                    problems.append(FieldProblem(f"nodes.{node_id}.{field}", f"no node {target!r}"))
        if not problems:
            problems += _unreachable(self) + _cycles(self)
        if problems:
            raise _GraphProblems(problems)
        return self


class _GraphProblems(ValueError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.problems = problems


def _unreachable(journey: Journey) -> list[FieldProblem]:
    seen = {journey.start}
    todo = [journey.start]
    while todo:
        for _, target in successors(journey.nodes[todo.pop()]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return [
        FieldProblem(f"nodes.{node_id}", f"not reachable from the start node {journey.start!r}")
        for node_id in journey.nodes
        if node_id not in seen
    ]


def _cycles(journey: Journey) -> list[FieldProblem]:
    """Journeys are acyclic: a loop would step a contact for ever (the first back edge found is named)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node_id: str) -> FieldProblem | None:
        state[node_id] = 1
        path.append(node_id)
        for field, target in successors(journey.nodes[node_id]):
            if state.get(target) == 1:
                loop = " → ".join([*path[path.index(target) :], target])
                return FieldProblem(
                    f"nodes.{node_id}.{field}", f"leads back to {target!r} ({loop}); journeys are acyclic"
                )
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node_id] = 2
        return None

    found = visit(journey.start)
    return [found] if found else []


def parse(raw: object, field_prefix: str = "definition") -> Journey:
    """Validate a journey; every problem is reported with its path and reason."""
    try:
        return Journey.model_validate(raw)
    except ValidationError as exc:
        graph = [e for e in exc.errors(include_url=False) if isinstance(e.get("ctx", {}).get("error"), _GraphProblems)]
        if graph and len(graph) == len(exc.errors()):
            problems = [
                FieldProblem(f"{field_prefix}.{p.field}" if field_prefix else p.field, p.reason)
                for e in graph
                for p in e["ctx"]["error"].problems
            ]
            first = problems[0]
            raise InvalidInput(detail=f"{first.field}: {first.reason}", errors=problems) from None
        raise invalid_input(
            exc,
            field_prefix,
            _TAGS,
            tag_name=_tag_name,
            tag_values=_tag_values,
            path_of=lambda loc: _journey_path(loc, field_prefix),
        ) from None


def _journey_path(loc: tuple[int | str, ...], field_prefix: str) -> str:
    """A node's id stays in the path whatever it is called (``nodes.send.channel``, not ``nodes.channel``)."""
    if loc[:1] == ("nodes",) and len(loc) > 1:
        rest = loc[2:]
        if rest and rest[0] in NODE_TYPES:
            rest = rest[1:]  # the node's type tag
        prefix = f"{field_prefix}.nodes.{loc[1]}" if field_prefix else f"nodes.{loc[1]}"
        return field_path(rest, prefix, _TAGS)
    return field_path(loc, field_prefix, _TAGS)


def _in_filter(loc: tuple[int | str, ...]) -> bool:
    return "if" in loc or "audience" in loc


def _tag_name(loc: tuple[int | str, ...]) -> str:
    return "op" if _in_filter(loc) else "type"


def _tag_values(loc: tuple[int | str, ...]) -> str:
    if _in_filter(loc):
        return ", ".join(sorted(OPS))
    if loc[:1] == ("trigger",):
        return ", ".join(TRIGGERS)
    return ", ".join(NODE_TYPES)


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors and aliases: a few hundred bytes of nested aliases expand to gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (*name) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def load_yaml(text: str, field_prefix: str = "definition") -> dict[str, Any]:
    """The mapping a YAML text holds (JSON is YAML too), not yet validated."""
    try:
        raw = yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader, without aliases
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        raise InvalidInput.on(field_prefix, f"{problem}{where}") from None
    if not isinstance(raw, dict):
        raise InvalidInput.on(field_prefix, "a journey is a mapping with version, trigger, start and nodes")
    return raw


def load_text(text: str, field_prefix: str = "definition") -> Journey:
    """A journey written as YAML (or JSON), validated."""
    return parse(load_yaml(text, field_prefix), field_prefix)


def dump(journey: Journey) -> dict[str, Any]:
    """The stored JSON form (aliases such as ``if`` / ``else`` restored, defaults left out)."""
    return journey.model_dump(mode="json", by_alias=True, exclude_none=True)


def to_yaml(journey: Journey | dict[str, Any]) -> str:
    raw = dump(journey) if isinstance(journey, Journey) else journey
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False, width=100)


def unavailable_actions(journey: Journey) -> list[FieldProblem]:
    """Nodes whose action belongs to a capability not built yet: a journey holding them saves as a
    draft but cannot be published."""
    return [
        FieldProblem(f"definition.nodes.{node_id}", f"{node.type} actions arrive with the activities capability")
        for node_id, node in journey.nodes.items()
        if node.type in NOT_YET
    ]


def filter_trees(journey: Journey) -> list[tuple[str, Node]]:
    """The segment filter trees a journey holds, with their paths: the schedule's audience, the entry
    audience, and every condition's ``if``."""
    found: list[tuple[str, Node]] = []
    if isinstance(journey.trigger, ScheduleTrigger) and journey.trigger.audience is not None:
        found.append(("trigger.audience", journey.trigger.audience))
    if journey.entry.audience is not None:
        found.append(("entry.audience", journey.entry.audience))
    found += [(f"nodes.{i}.if", n.if_) for i, n in journey.nodes.items() if isinstance(n, Condition)]
    return found


def references(journey: Journey) -> dict[str, set[Any]]:
    """What the journey names outside itself: tags, segments, channels and properties."""
    from siyu.filters.definition import Definition
    from siyu.filters.definition import references as filter_references

    found: dict[str, set[Any]] = {"tags": set(), "segments": set(), "channels": set(), "properties": set()}
    if isinstance(journey.trigger, SegmentTrigger):
        found["segments"].add(journey.trigger.segment_id)
    for node in journey.nodes.values():
        if isinstance(node, TagAction):
            found["tags"] |= {*node.add, *node.remove}
        elif isinstance(node, Send):
            found["channels"].add(node.channel)
        elif isinstance(node, SetProperty):
            found["properties"].add(node.key)
    for _, tree in filter_trees(journey):
        inner = filter_references(Definition(version=1, root=tree))
        found["tags"] |= inner["tags"]
        found["segments"] |= inner["segments"]
        found["properties"] |= inner["properties"]
    return found
