"""The segment filter tree (format version 1): AND / OR / NOT over leaves that test one thing about a
contact. It is the one language of segments, auto-tag rules and journey conditions; it is stored as
JSON and validated here, and :mod:`siyu.filters.compiler` turns it into SQL.

Every node has an ``op``. Leaves:

* ``attribute`` — a built-in contact field (gender, region, birthday, first_source, first_channel_code,
  owner_staff_id, created_at) compared with a value;
* ``property`` — a custom property from the catalogue compared with a value;
* ``tag`` — has (or has not) a tag;
* ``event`` — did event ``name`` between ``min_count`` and ``max_count`` times within the last
  ``within_days`` days (all time when absent), counting only events whose properties match ``where``;
* ``orders`` — an order aggregate (count, amount, net amount, average) within a window compared with a
  value (money in fen);
* ``segment`` — member of another segment;
* ``rfm`` — in one of the named RFM cells, or with given R/F/M scores;
* ``tier`` — in one of the tiers of a built-in model (threshold, value, activity);
* ``lifecycle`` — at one of the lifecycle stages;
* ``clv`` — a predicted CLV figure compared with a value.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from siyu.kit.validation import invalid_input

FORMAT_VERSION = 1
MAX_DEPTH = 12
MAX_NODES = 200
KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

Scalar = str | int | float | bool


class Cmp(StrEnum):
    eq = "eq"
    ne = "ne"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    between = "between"  # value: [low, high], both included
    in_ = "in"  # value: a list
    not_in = "not_in"
    contains = "contains"  # text contains, or a list property holds the value
    starts_with = "starts_with"
    is_set = "is_set"  # no value
    is_not_set = "is_not_set"
    within_days = "within_days"  # dates and times: in the last N days (birthdays: in the next N days)
    before_days = "before_days"  # dates and times: more than N days ago


NO_VALUE = frozenset({Cmp.is_set, Cmp.is_not_set})
LIST_VALUE = frozenset({Cmp.in_, Cmp.not_in})
NUMERIC_ONLY = frozenset({Cmp.gt, Cmp.gte, Cmp.lt, Cmp.lte, Cmp.between})
TEXT_ONLY = frozenset({Cmp.starts_with})
DAYS = frozenset({Cmp.within_days, Cmp.before_days})


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Comparison(_Node):
    cmp: Cmp
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_fits(self) -> _Comparison:
        check_value(self.cmp, self.value)
        return self


def check_value(cmp: Cmp, value: object) -> None:
    """The shape of ``value`` that ``cmp`` needs (types against the catalogue are checked when compiling)."""
    if cmp in NO_VALUE:
        if value is not None:
            raise ValueError(f"{cmp.value} takes no value")
        return
    if value is None:
        raise ValueError(f"{cmp.value} needs a value")
    if cmp in LIST_VALUE:
        if not isinstance(value, list) or not value:
            raise ValueError(f"{cmp.value} needs a non-empty list of values")
        if len(value) > 1000:
            raise ValueError("at most 1,000 values")
        return
    if cmp is Cmp.between:
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("between needs [low, high]")
        low, high = value
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            raise ValueError("between needs low ≤ high")
        return
    if isinstance(value, list):
        raise ValueError(f"{cmp.value} needs a single value, not a list")
    if cmp in DAYS and (not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 36_500):
        raise ValueError(f"{cmp.value} needs a whole number of days from 1 to 36500")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class AttributeField(StrEnum):
    gender = "gender"
    region = "region"
    birthday = "birthday"
    first_source = "first_source"
    first_channel_code = "first_channel_code"
    owner_staff_id = "owner_staff_id"
    created_at = "created_at"


ATTRIBUTE_TYPES: dict[AttributeField, str] = {
    AttributeField.gender: "string",
    AttributeField.region: "string",
    AttributeField.birthday: "date",
    AttributeField.first_source: "string",
    AttributeField.first_channel_code: "string",
    AttributeField.owner_staff_id: "number",
    AttributeField.created_at: "time",
}


class Attribute(_Comparison):
    op: Literal["attribute"]
    field: AttributeField


class Property(_Comparison):
    op: Literal["property"]
    key: str

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KEY.match(value):
            raise ValueError("a property key: lower-case letters, digits and _, starting with a letter")
        return value


class TagTest(_Node):
    op: Literal["tag"]
    tag_id: int = Field(gt=0)
    has: bool = True


class PropertyFilter(_Comparison):
    """A condition on an event's own properties (``where``)."""

    key: str

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KEY.match(value):
            raise ValueError("an event property key: lower-case letters, digits and _, starting with a letter")
        return value

    @model_validator(mode="after")
    def _supported(self) -> PropertyFilter:
        if self.cmp in DAYS:
            raise ValueError(f"{self.cmp.value} is not available on event properties")
        return self


class EventTest(_Node):
    op: Literal["event"]
    name: str
    min_count: int = Field(1, ge=1, le=1_000_000)
    max_count: int | None = Field(None, ge=1, le=1_000_000)
    within_days: int | None = Field(None, ge=1, le=36_500)
    where: list[PropertyFilter] = Field(default_factory=list, max_length=20)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not KEY.match(value):
            raise ValueError("an event name: snake_case, starting with a letter")
        return value

    @model_validator(mode="after")
    def _counts(self) -> EventTest:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError("max_count must be at least min_count")
        return self


class OrderMeasure(StrEnum):
    count_ = "count"  # (the member's name avoids str.count)
    amount_fen = "amount_fen"  # paid amount
    net_amount_fen = "net_amount_fen"  # paid less refunded
    average_fen = "average_fen"  # paid amount per order


class SalesChannel(StrEnum):
    miniprogram = "miniprogram"
    taobao = "taobao"
    tmall = "tmall"
    douyin = "douyin"
    jd = "jd"
    pdd = "pdd"
    youzan = "youzan"
    store = "store"
    wecom = "wecom"
    other = "other"


class OrdersTest(_Node):
    op: Literal["orders"]
    measure: OrderMeasure = OrderMeasure.amount_fen
    cmp: Cmp
    value: int | float | list[int | float]
    within_days: int | None = Field(None, ge=1, le=36_500)
    sales_channels: list[SalesChannel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _numeric(self) -> OrdersTest:
        allowed = {Cmp.eq, Cmp.ne, Cmp.gt, Cmp.gte, Cmp.lt, Cmp.lte, Cmp.between}
        if self.cmp not in allowed:
            raise ValueError(f"orders compare numbers: one of {', '.join(sorted(c.value for c in allowed))}")
        check_value(self.cmp, self.value)
        return self


class SegmentTest(_Node):
    op: Literal["segment"]
    segment_id: int = Field(gt=0)


RFM_CELLS = ("重要价值", "重要发展", "重要保持", "重要挽留", "一般价值", "一般发展", "一般保持", "一般挽留")


class RfmTest(_Node):
    op: Literal["rfm"]
    cells: list[str] = Field(default_factory=list)
    r: list[int] = Field(default_factory=list)
    f: list[int] = Field(default_factory=list)
    m: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> RfmTest:
        unknown = [c for c in self.cells if c not in RFM_CELLS]
        if unknown:
            raise ValueError(f"unknown RFM cell {unknown[0]!r}; the cells are {', '.join(RFM_CELLS)}")
        for name in ("r", "f", "m"):
            if any(not 1 <= s <= 5 for s in getattr(self, name)):
                raise ValueError(f"{name} scores are 1 to 5")
        if not (self.cells or self.r or self.f or self.m):
            raise ValueError("name at least one cell or score")
        return self


class TierModel(StrEnum):
    threshold = "threshold"  # seed 000: vip / active / inactive
    value = "value"  # seeds 002/004: high_net / potential / low
    activity = "activity"  # weekly_active / silent / lost


TIERS: dict[TierModel, tuple[str, ...]] = {
    TierModel.threshold: ("vip", "active", "inactive"),
    TierModel.value: ("high_net", "potential", "low"),
    TierModel.activity: ("weekly_active", "silent", "lost"),
}
LIFECYCLE_STAGES = ("new", "active", "silent", "dormant", "churned", "high_value")


class TierTest(_Node):
    op: Literal["tier"]
    model: TierModel
    tiers: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> TierTest:
        allowed = TIERS[self.model]
        unknown = [t for t in self.tiers if t not in allowed]
        if unknown:
            raise ValueError(f"unknown {self.model.value} tier {unknown[0]!r}; the tiers are {', '.join(allowed)}")
        return self


class LifecycleTest(_Node):
    op: Literal["lifecycle"]
    stages: list[str] = Field(min_length=1)

    @field_validator("stages")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in LIFECYCLE_STAGES]
        if unknown:
            raise ValueError(f"unknown lifecycle stage {unknown[0]!r}; the stages are {', '.join(LIFECYCLE_STAGES)}")
        return value


class ClvMeasure(StrEnum):
    value_fen = "value_fen"  # predicted value over the CLV horizon
    purchases = "purchases"  # predicted purchases over the horizon
    p_alive = "p_alive"


class ClvTest(_Node):
    op: Literal["clv"]
    measure: ClvMeasure = ClvMeasure.value_fen
    cmp: Cmp
    value: int | float | list[int | float]

    @model_validator(mode="after")
    def _numeric(self) -> ClvTest:
        if self.cmp not in {Cmp.gt, Cmp.gte, Cmp.lt, Cmp.lte, Cmp.between}:
            raise ValueError("clv compares numbers: gt, gte, lt, lte or between")
        check_value(self.cmp, self.value)
        return self


class And(_Node):
    op: Literal["and"]
    children: list[Node] = Field(min_length=1, max_length=50)


class Or(_Node):
    op: Literal["or"]
    children: list[Node] = Field(min_length=1, max_length=50)


class Not(_Node):
    op: Literal["not"]
    child: Node


Leaf = (
    Attribute | Property | TagTest | EventTest | OrdersTest | SegmentTest | RfmTest | TierTest | LifecycleTest | ClvTest
)
Node = Annotated[
    And | Or | Not | Leaf,
    Field(discriminator="op"),
]
And.model_rebuild()
Or.model_rebuild()
Not.model_rebuild()


class Definition(_Node):
    """A whole filter: ``{"version": 1, "root": {...}}``."""

    version: Literal[1] = 1
    root: Node

    @model_validator(mode="after")
    def _size(self) -> Definition:
        nodes = 0
        for _, _node, depth in walk(self.root):
            nodes += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        if nodes > MAX_NODES:
            raise ValueError(f"more than {MAX_NODES} nodes")
        return self


def walk(node: Any, path: str = "root", depth: int = 1) -> list[tuple[str, Any, int]]:
    """Every node with its path (``root.children[1].child``) and depth, parents first."""
    out = [(path, node, depth)]
    if isinstance(node, And | Or):
        for i, child in enumerate(node.children):
            out.extend(walk(child, f"{path}.children[{i}]", depth + 1))
    elif isinstance(node, Not):
        out.extend(walk(node.child, f"{path}.child", depth + 1))
    return out


def leaves(definition: Definition) -> list[tuple[str, Leaf]]:
    return [(path, node) for path, node, _ in walk(definition.root) if not isinstance(node, And | Or | Not)]


OPS = {"and", "or", "not", "attribute", "property", "tag", "event", "orders", "segment", "rfm", "tier"}
OPS |= {"lifecycle", "clv"}


def parse(raw: object, field_prefix: str = "definition") -> Definition:
    """Validate a definition; every problem is reported with its node path and reason."""
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        ops = ", ".join(sorted(OPS))
        raise invalid_input(exc, field_prefix, OPS, tag_name="op", tag_values=lambda _: ops) from None


def references(definition: Definition) -> dict[str, set[Any]]:
    """What the definition names outside itself: properties, tags, segments and events."""
    found: dict[str, set[Any]] = {"properties": set(), "tags": set(), "segments": set(), "events": set()}
    for _, leaf in leaves(definition):
        if isinstance(leaf, EventTest):
            found["events"].add(leaf.name)
        elif isinstance(leaf, Property):
            found["properties"].add(leaf.key)
        elif isinstance(leaf, TagTest):
            found["tags"].add(leaf.tag_id)
        elif isinstance(leaf, SegmentTest):
            found["segments"].add(leaf.segment_id)
    return found


def event_window_days(definition: Definition) -> int | None:
    """How many days back the definition's event tests look: the longest ``within_days``, ``None`` when
    one looks at all time, 0 without event tests. (What an incremental refresh must copy of the events.)"""
    longest = 0
    for _, leaf in leaves(definition):
        if isinstance(leaf, EventTest):
            if leaf.within_days is None:
                return None
            longest = max(longest, leaf.within_days)
    return longest


def is_date_text(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
