"""What the console calls the parts of a segment filter tree and the built-in tiers (msgids, translated
when a page renders), the builder's configuration, filter nodes in words, and friendly messages for an
analytics store that is busy or not refreshed yet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.orm import Session

from siyu.console.access import Page
from siyu.console.i18n import N_
from siyu.contact import catalogue as contact_catalogue
from siyu.errors import SiyuError
from siyu.filters.definition import (
    ATTRIBUTE_TYPES,
    And,
    Attribute,
    AttributeField,
    ClvMeasure,
    ClvTest,
    Cmp,
    EventTest,
    LifecycleTest,
    Not,
    Or,
    OrderMeasure,
    OrdersTest,
    Property,
    PropertyFilter,
    RfmTest,
    SalesChannel,
    SegmentTest,
    TagTest,
    TierModel,
    TierTest,
)
from siyu.lake.schema import LakeOutdated
from siyu.lake.store import LakeBusy
from siyu.segment import repository as segment_repository
from siyu.tag import repository as tag_repository
from siyu.tiers import service as tiers_service

# --- money ---------------------------------------------------------------------------------------


def yuan(fen: int | float | None) -> str:
    """Fen as yuan (integers without going through floats)."""
    if fen is None:
        return "—"
    if isinstance(fen, float):
        fen = round(fen)
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


# --- the filter tree -----------------------------------------------------------------------------

OP_LABELS: Final[dict[str, str]] = {
    "and": N_("All of (AND)"),
    "or": N_("Any of (OR)"),
    "not": N_("Not"),
    "attribute": N_("Contact field"),
    "property": N_("Custom property"),
    "tag": N_("Tag"),
    "event": N_("Event"),
    "orders": N_("Orders"),
    "segment": N_("Segment"),
    "rfm": N_("RFM cell"),
    "tier": N_("Tier"),
    "lifecycle": N_("Lifecycle stage"),
    "clv": N_("Predicted value (CLV)"),
}
LEAF_OPS: Final = ("attribute", "property", "tag", "event", "orders", "segment", "rfm", "tier", "lifecycle", "clv")

CMP_LABELS: Final[dict[str, str]] = {
    Cmp.eq.value: N_("equals"),
    Cmp.ne.value: N_("does not equal"),
    Cmp.gt.value: N_("greater than"),
    Cmp.gte.value: N_("at least"),
    Cmp.lt.value: N_("less than"),
    Cmp.lte.value: N_("at most"),
    Cmp.between.value: N_("between"),
    Cmp.in_.value: N_("is one of"),
    Cmp.not_in.value: N_("is none of"),
    Cmp.contains.value: N_("contains"),
    Cmp.starts_with.value: N_("starts with"),
    Cmp.is_set.value: N_("is set"),
    Cmp.is_not_set.value: N_("is not set"),
    Cmp.within_days.value: N_("in the last N days"),
    Cmp.before_days.value: N_("more than N days ago"),
}

# The comparisons offered for each kind of field (what the compiler accepts for it).
_SET = ["is_set", "is_not_set"]
KIND_CMPS: Final[dict[str, list[str]]] = {
    "string": ["eq", "ne", "in", "not_in", "contains", "starts_with", *_SET],
    "enum": ["eq", "ne", "in", "not_in", *_SET],
    "list": ["contains", "in", "not_in", *_SET],
    "number": ["eq", "ne", "gt", "gte", "lt", "lte", "between", *_SET],
    "bool": ["eq", *_SET],
    "date": ["eq", "gt", "gte", "lt", "lte", "between", "within_days", "before_days", *_SET],
    "time": ["gt", "gte", "lt", "lte", "between", "within_days", "before_days", *_SET],
    "gender": ["eq", "ne", "in", "not_in", *_SET],
    "staff": ["eq", "ne", "in", "not_in", *_SET],
}
EVENT_FILTER_CMPS: Final = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "starts_with", *_SET]
ORDER_CMPS: Final = ["gte", "gt", "lte", "lt", "eq", "ne", "between"]
CLV_CMPS: Final = ["gte", "gt", "lte", "lt", "between"]

ATTRIBUTE_LABELS: Final[dict[str, str]] = {
    AttributeField.gender.value: N_("Gender"),
    AttributeField.region.value: N_("Region"),
    AttributeField.birthday.value: N_("Birthday"),
    AttributeField.first_source.value: N_("First source"),
    AttributeField.first_channel_code.value: N_("Channel code"),
    AttributeField.owner_staff_id.value: N_("Owner staff"),
    AttributeField.created_at.value: N_("Date added"),
}
GENDER_LABELS: Final[dict[str, str]] = {"female": N_("Female"), "male": N_("Male"), "unknown": N_("Unknown")}

ORDER_MEASURE_LABELS: Final[dict[str, str]] = {
    OrderMeasure.count_.value: N_("Number of orders"),
    OrderMeasure.amount_fen.value: N_("Amount paid"),
    OrderMeasure.net_amount_fen.value: N_("Net amount (after refunds)"),
    OrderMeasure.average_fen.value: N_("Average order value"),
}
MONEY_ORDER_MEASURES: Final = frozenset({"amount_fen", "net_amount_fen", "average_fen"})

SALES_CHANNEL_LABELS: Final[dict[str, str]] = {
    SalesChannel.miniprogram.value: N_("Mini program"),
    SalesChannel.taobao.value: N_("Taobao"),
    SalesChannel.tmall.value: N_("Tmall"),
    SalesChannel.douyin.value: N_("Douyin"),
    SalesChannel.jd.value: N_("JD"),
    SalesChannel.pdd.value: N_("Pinduoduo"),
    SalesChannel.youzan.value: N_("Youzan"),
    SalesChannel.store.value: N_("Store"),
    SalesChannel.wecom.value: N_("WeCom"),
    SalesChannel.other.value: N_("Other"),
}

CLV_MEASURE_LABELS: Final[dict[str, str]] = {
    ClvMeasure.value_fen.value: N_("Predicted value"),
    ClvMeasure.purchases.value: N_("Predicted purchases"),
    ClvMeasure.p_alive.value: N_("Probability of still being a customer (P(alive))"),
}

# --- the built-in tiers --------------------------------------------------------------------------

RFM_CELL_LABELS: Final[dict[str, str]] = {
    "重要价值": N_("Important value"),
    "重要发展": N_("Important development"),
    "重要保持": N_("Important retention"),
    "重要挽留": N_("Important win-back"),
    "一般价值": N_("General value"),
    "一般发展": N_("General development"),
    "一般保持": N_("General retention"),
    "一般挽留": N_("General win-back"),
}

TIER_MODEL_LABELS: Final[dict[str, str]] = {
    TierModel.threshold.value: N_("Customer tiers (thresholds)"),
    TierModel.value.value: N_("Value tiers"),
    TierModel.activity.value: N_("Activity tiers"),
}
TIER_LABELS: Final[dict[str, dict[str, str]]] = {
    TierModel.threshold.value: {"vip": N_("VIP"), "active": N_("Active customer"), "inactive": N_("Inactive customer")},
    TierModel.value.value: {"high_net": N_("High net worth"), "potential": N_("Potential"), "low": N_("Low value")},
    TierModel.activity.value: {"weekly_active": N_("Weekly active"), "silent": N_("Silent"), "lost": N_("Lost")},
}

LIFECYCLE_LABELS: Final[dict[str, str]] = {
    "new": N_("Newcomer"),
    "active": N_("Active user"),
    "silent": N_("Silent"),
    "dormant": N_("Dormant"),
    "churned": N_("Churned"),
    "high_value": N_("High value"),
}

# Colours for the tier charts, in the order of the labels above.
TIER_COLOURS: Final[dict[str, str]] = {
    "vip": "#0f766e",
    "active": "#3b82f6",
    "inactive": "#94a3b8",
    "high_net": "#0f766e",
    "potential": "#f59e0b",
    "low": "#94a3b8",
    "weekly_active": "#10b981",
    "silent": "#f59e0b",
    "lost": "#ef4444",
}
LIFECYCLE_COLOURS: Final[dict[str, str]] = {
    "new": "#3b82f6",
    "active": "#10b981",
    "silent": "#f59e0b",
    "dormant": "#a855f7",
    "churned": "#ef4444",
    "high_value": "#0f766e",
}


def tier_label(page: Page, model: str, value: str | None) -> str:
    """A tier, stage or RFM cell in the page's language (the code itself when unknown)."""
    if value is None:
        return "—"
    if model == "rfm":
        known = RFM_CELL_LABELS.get(value)
    elif model == "lifecycle":
        known = LIFECYCLE_LABELS.get(value)
    else:
        known = TIER_LABELS.get(model, {}).get(value)
    return page.gettext(known) if known else value


# --- the builder's configuration -----------------------------------------------------------------


def _options(page: Page, labels: dict[str, str]) -> list[dict[str, str]]:
    return [{"value": k, "label": page.gettext(v)} for k, v in labels.items()]


# Words the builder's script shows, translated here so that they live in the catalogues.
BUILDER_TEXT: Final[dict[str, str]] = {
    "add_condition": N_("Add a condition"),
    "add_group": N_("Add a group"),
    "remove": N_("Remove"),
    "not": N_("Not"),
    "and": N_("and"),
    "or": N_("or"),
    "all_of": N_("All of these (AND)"),
    "any_of": N_("Any of these (OR)"),
    "condition": N_("Condition"),
    "field": N_("Field"),
    "comparison": N_("Comparison"),
    "value": N_("Value"),
    "values_hint": N_("Separate values with commas"),
    "days": N_("days"),
    "yuan": N_("yuan"),
    "times": N_("times"),
    "to": N_("to"),
    "has": N_("has"),
    "has_not": N_("does not have"),
    "true": N_("yes"),
    "false": N_("no"),
    "event_name": N_("Event name"),
    "at_least": N_("at least"),
    "at_most": N_("at most (optional)"),
    "within": N_("in the last (optional)"),
    "all_time": N_("all time"),
    "where": N_("Only events where"),
    "add_where": N_("Add an event property condition"),
    "property_key": N_("Property key"),
    "measure": N_("Measure"),
    "channels": N_("Sales channels (optional, all when none)"),
    "cells": N_("RFM cells"),
    "scores": N_("or scores"),
    "model": N_("Model"),
    "tiers": N_("Which tiers"),
    "stages": N_("Stages"),
    "empty": N_("No conditions yet: add one to see how many contacts match."),
    "raw": N_("This condition can only be edited in the JSON below."),
    "json_invalid": N_("The JSON is not valid; the visual editor shows the last valid version."),
    "json_shape": N_('The JSON needs the form {"version": 1, "root": {…}}.'),
    "no_tags": N_("No tags yet"),
    "no_segments": N_("No other segments"),
    "no_properties": N_("No custom properties declared"),
    "counting": N_("Counting…"),
    "network": N_("The count could not be fetched. Check the connection and try again."),
    "birthday_hint": N_("Birthdays: in the next N days"),
}


@dataclass
class Catalogue:
    """What a definition can name in this workspace: properties, tags, segments and staff."""

    properties: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def property_label(self, key: str) -> str:
        return next((str(p["label"]) for p in self.properties if p["key"] == key), key)

    def tag_name(self, tag_id: int) -> str:
        return next((f"{t['group']} / {t['name']}" for t in self.tags if t["id"] == tag_id), f"#{tag_id}")

    def segment_name(self, segment_id: int) -> str:
        return next((str(s["name"]) for s in self.segments if s["id"] == segment_id), f"#{segment_id}")

    def staff_name(self, staff_id: object) -> str:
        return next((str(s["label"]) for s in self.staff if s["value"] == staff_id), f"#{staff_id}")


def builder_config(page: Page, catalogue: Catalogue, *, segment_id: int | None = None) -> dict[str, Any]:
    """Everything the builder's script needs, labelled in the page's language."""
    g = page.gettext
    attributes = []
    for name, kind in ATTRIBUTE_TYPES.items():
        item: dict[str, Any] = {"value": name.value, "label": g(ATTRIBUTE_LABELS[name.value]), "kind": kind}
        if name is AttributeField.gender:
            item["kind"] = "gender"
            item["options"] = _options(page, GENDER_LABELS)
        elif name is AttributeField.owner_staff_id:
            item["kind"] = "staff"
            item["options"] = catalogue.staff
        attributes.append(item)
    return {
        "segment_id": segment_id,
        "ops": [{"value": op, "label": g(OP_LABELS[op])} for op in LEAF_OPS],
        "cmps": {k: g(v) for k, v in CMP_LABELS.items()},
        "kind_cmps": KIND_CMPS,
        "event_filter_cmps": EVENT_FILTER_CMPS,
        "order_cmps": ORDER_CMPS,
        "clv_cmps": CLV_CMPS,
        "attributes": attributes,
        "properties": catalogue.properties,
        "tags": catalogue.tags,
        "segments": [s for s in catalogue.segments if s["id"] != segment_id and not s["archived"]],
        "events": catalogue.events,
        "order_measures": [
            {"value": k, "label": g(v), "money": k in MONEY_ORDER_MEASURES} for k, v in ORDER_MEASURE_LABELS.items()
        ],
        "sales_channels": _options(page, SALES_CHANNEL_LABELS),
        "rfm_cells": _options(page, RFM_CELL_LABELS),
        "tier_models": [
            {"value": m, "label": g(label), "tiers": _options(page, TIER_LABELS[m])}
            for m, label in TIER_MODEL_LABELS.items()
        ],
        "lifecycle": _options(page, LIFECYCLE_LABELS),
        "clv_measures": [
            {"value": k, "label": g(v), "money": k == ClvMeasure.value_fen.value} for k, v in CLV_MEASURE_LABELS.items()
        ],
        "text": {k: g(v) for k, v in BUILDER_TEXT.items()},
    }


# --- definitions in words ------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _comparison(page: Page, cmp: Cmp, value: Any, show: Any = _shown, *, ahead: bool = False) -> str:
    label = page.gettext(CMP_LABELS[cmp.value])
    if cmp in {Cmp.is_set, Cmp.is_not_set}:
        return label
    if cmp in {Cmp.within_days, Cmp.before_days}:
        if cmp is Cmp.within_days and ahead:
            return page.gettext(N_("in the next %(days)s days"), days=value)
        if cmp is Cmp.within_days:
            return page.gettext(N_("in the last %(days)s days"), days=value)
        return page.gettext(N_("more than %(days)s days ago"), days=value)
    if cmp is Cmp.between and isinstance(value, list) and len(value) == 2:
        return page.gettext(N_("between %(low)s and %(high)s"), low=show(value[0]), high=show(value[1]))
    if isinstance(value, list):
        return f"{label} {', '.join(show(v) for v in value)}"
    return f"{label} {show(value)}"


def describe(page: Page, node: Any, catalogue: Catalogue) -> str:
    """A node of a parsed definition in the page's language."""
    g = page.gettext
    if isinstance(node, And):
        return g(N_("All of %(n)s conditions"), n=len(node.children))
    if isinstance(node, Or):
        return g(N_("Any of %(n)s conditions"), n=len(node.children))
    if isinstance(node, Not):
        return g(N_("Not the condition below"))
    if isinstance(node, Attribute):
        label = g(ATTRIBUTE_LABELS[node.field.value])
        if node.field is AttributeField.gender:

            def show(v: Any) -> str:
                known = GENDER_LABELS.get(str(v))
                return g(known) if known else str(v)

            return f"{label} {_comparison(page, node.cmp, node.value, show)}"
        if node.field is AttributeField.owner_staff_id:
            return f"{label} {_comparison(page, node.cmp, node.value, catalogue.staff_name)}"
        ahead = node.field is AttributeField.birthday
        return f"{label} {_comparison(page, node.cmp, node.value, ahead=ahead)}"
    if isinstance(node, Property):
        return f"{catalogue.property_label(node.key)} {_comparison(page, node.cmp, node.value)}"
    if isinstance(node, TagTest):
        name = catalogue.tag_name(node.tag_id)
        return g(N_("Has the tag %(tag)s"), tag=name) if node.has else g(N_("Does not have the tag %(tag)s"), tag=name)
    if isinstance(node, EventTest):
        if node.max_count:
            text = g(
                N_("Did %(event)s %(low)s to %(high)s times"), event=node.name, low=node.min_count, high=node.max_count
            )
        else:
            text = g(N_("Did %(event)s at least %(n)s times"), event=node.name, n=node.min_count)
        if node.within_days:
            text += " · " + g(N_("in the last %(days)s days"), days=node.within_days)
        if node.where:
            text += " · " + g(N_("where %(conditions)s"), conditions=", ".join(_where(page, w) for w in node.where))
        return text
    if isinstance(node, OrdersTest):
        money = node.measure.value in MONEY_ORDER_MEASURES
        compared = _comparison(page, node.cmp, node.value, yuan if money else _shown)
        text = f"{g(ORDER_MEASURE_LABELS[node.measure.value])} {compared}"
        if node.within_days:
            text += " · " + g(N_("in the last %(days)s days"), days=node.within_days)
        if node.sales_channels:
            text += " · " + ", ".join(g(SALES_CHANNEL_LABELS[c.value]) for c in node.sales_channels)
        return text
    if isinstance(node, SegmentTest):
        return g(N_("In the segment %(segment)s"), segment=catalogue.segment_name(node.segment_id))
    if isinstance(node, RfmTest):
        parts = [", ".join(tier_label(page, "rfm", c) for c in node.cells)] if node.cells else []
        parts += [
            f"{n.upper()} {'/'.join(str(s) for s in getattr(node, n))}" for n in ("r", "f", "m") if getattr(node, n)
        ]
        return g(N_("RFM: %(what)s"), what="; ".join(parts))
    if isinstance(node, TierTest):
        tiers = ", ".join(tier_label(page, node.model.value, t) for t in node.tiers)
        return g(N_("%(model)s: %(tiers)s"), model=g(TIER_MODEL_LABELS[node.model.value]), tiers=tiers)
    if isinstance(node, LifecycleTest):
        stages = ", ".join(tier_label(page, "lifecycle", s) for s in node.stages)
        return g(N_("%(model)s: %(tiers)s"), model=g(OP_LABELS["lifecycle"]), tiers=stages)
    if isinstance(node, ClvTest):
        money = node.measure is ClvMeasure.value_fen
        compared = _comparison(page, node.cmp, node.value, yuan if money else _shown)
        return f"{g(CLV_MEASURE_LABELS[node.measure.value])} {compared}"
    return str(getattr(node, "op", type(node).__name__))


def _where(page: Page, item: PropertyFilter) -> str:
    return f"{item.key} {_comparison(page, item.cmp, item.value)}"


def observed_text(page: Page, node: Any, observed: Any, catalogue: Catalogue) -> str:
    """What a contact has for a leaf of an explanation, in the page's language."""
    g = page.gettext
    if isinstance(node, And | Or | Not):
        return ""
    if isinstance(node, TagTest):
        return g(N_("has the tag")) if observed else g(N_("does not have the tag"))
    if isinstance(node, SegmentTest):
        return g(N_("a member")) if observed else g(N_("not a member"))
    if observed is None:
        return g(N_("nothing recorded"))
    if isinstance(node, EventTest):
        return g(N_("%(n)s times"), n=observed)
    if isinstance(node, OrdersTest):
        return yuan(observed) if node.measure.value in MONEY_ORDER_MEASURES else _shown(observed)
    if isinstance(node, RfmTest) and isinstance(observed, dict):
        cell = observed.get("rfm_cell")
        if cell is None:
            return g(N_("not scored (no order in the RFM window)"))
        scores = " ".join(f"{k[0].upper()}{observed.get(k)}" for k in ("r_score", "f_score", "m_score"))
        return f"{tier_label(page, 'rfm', str(cell))} · {scores}"
    if isinstance(node, TierTest):
        return tier_label(page, node.model.value, str(observed))
    if isinstance(node, LifecycleTest):
        return tier_label(page, "lifecycle", str(observed))
    if isinstance(node, ClvTest):
        if node.measure is ClvMeasure.value_fen:
            return yuan(observed)
        if node.measure is ClvMeasure.p_alive and isinstance(observed, int | float):
            return f"{observed:.1%}"
        return _shown(observed)
    if isinstance(node, Attribute):
        if node.field is AttributeField.gender:
            known = GENDER_LABELS.get(str(observed))
            return g(known) if known else str(observed)
        if node.field is AttributeField.owner_staff_id:
            return catalogue.staff_name(observed)
    if isinstance(observed, dict):
        return json.dumps(observed, ensure_ascii=False)
    return _shown(observed)


def depth_of(path: str) -> int:
    """How deep a node sits: ``root`` is 0, ``root.children[1].child`` is 2."""
    return path.count("children[") + path.count(".child") - path.count(".children[")


def load_catalogue(session: Session) -> Catalogue:
    """The workspace's properties, tags, segments, staff and known event names, for the builder."""
    groups = {g.id: g.name for g in tag_repository.groups(session)}
    events = list(tiers_service.settings_of(session).engagement_events)
    for name in COMMON_EVENTS:
        if name not in events:
            events.append(name)
    return Catalogue(
        properties=[
            {"key": d.key, "label": d.label or d.key, "kind": d.type, "options": list(d.options or [])}
            for d in contact_catalogue.list_properties(session)
        ],
        tags=[{"id": t.id, "name": t.name, "group": groups.get(t.group_id, "")} for t in tag_repository.tags(session)],
        segments=[
            {"id": s.id, "name": s.name, "archived": s.archived}
            for s in segment_repository.segments(session, include_archived=True)
        ],
        staff=[{"value": s.id, "label": s.name} for s in contact_catalogue.list_staff(session)],
        events=sorted(events),
    )


# Event names offered in the builder besides the workspace's engagement events (any name can be typed).
COMMON_EVENTS: Final = (
    "contact_added",
    "contact_deleted",
    "coupon_issued",
    "coupon_redeemed",
    "tag_added",
    "tag_removed",
    "segment_entered",
    "segment_left",
)


# --- the analytics store ---------------------------------------------------------------------------

ANALYTICS_UNAVAILABLE: Final = (LakeBusy, LakeOutdated)


def unavailable_message(page: Page, exc: SiyuError) -> str:
    if isinstance(exc, LakeOutdated):
        return page.gettext(
            N_("The analytics store was made by another version of siyu and needs a refresh before it can be read.")
        )
    return page.gettext(N_("The analytics store is busy (a refresh is running). Reload the page in a moment."))


@contextmanager
def analytics(page: Page, problems: list[str]) -> Iterator[None]:
    """Read the analytics store; when it is busy or outdated, add a friendly message instead of failing."""
    try:
        yield
    except ANALYTICS_UNAVAILABLE as exc:
        message = unavailable_message(page, exc)
        if message not in problems:
            problems.append(message)
