"""Ready-made tags and segments for the demo brand (and as examples of the filter language): they use the
preset's persona property, the built-in tiers and the standard events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.context import AuthContext
from siyu.demo.presets import Preset
from siyu.models import Segment, Tag, TagGroup
from siyu.segment import service
from siyu.segment.schemas import SegmentIn
from siyu.tag import service as tags
from siyu.tag.schemas import TagGroupIn, TagIn


def _definition(root: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "root": root}


def example_segments(preset: Preset) -> list[tuple[str, str, dict[str, Any]]]:
    first = preset.persona_options[0]
    return [
        (
            f"{first}用户",
            f"{preset.persona_key} 为 {first}",
            {"op": "property", "key": preset.persona_key, "cmp": "eq", "value": first},
        ),
        ("重要价值客户", "RFM 重要价值", {"op": "rfm", "cells": ["重要价值"]}),
        ("沉默待唤醒", "生命周期为沉默或沉睡", {"op": "lifecycle", "stages": ["silent", "dormant"]}),
        ("VIP", "seed 000 的高价值用户", {"op": "tier", "model": "threshold", "tiers": ["vip"]}),
        (
            "近30天复购",
            "30 天内至少两单",
            {"op": "orders", "measure": "count", "cmp": "gte", "value": 2, "within_days": 30},
        ),
        ("本周生日", "未来 7 天过生日", {"op": "attribute", "field": "birthday", "cmp": "within_days", "value": 7}),
        (
            "活跃但未下单",
            "30 天内打开消息 3 次以上，且 90 天没有订单",
            {
                "op": "and",
                "children": [
                    {"op": "event", "name": "message_opened", "min_count": 3, "within_days": 30},
                    {"op": "orders", "measure": "count", "cmp": "eq", "value": 0, "within_days": 90},
                ],
            },
        ),
    ]


def install_examples(session: Session, ctx: AuthContext, preset: Preset) -> int:
    """Create the example auto-tags and segments that do not exist yet; returns how many were created."""
    created = 0
    group = session.scalar(select(TagGroup).where(TagGroup.name == "消费力"))
    if group is None:
        group = tags.create_group(session, ctx, TagGroupIn(name="消费力", exclusive=False))
    rules: dict[str, dict[str, Any]] = {
        "年消费5000元以上": {
            "op": "orders",
            "measure": "net_amount_fen",
            "cmp": "gte",
            "value": 500_000,
            "within_days": 365,
        },
        "消费增长中": {"op": "tier", "model": "value", "tiers": ["potential"]},
    }
    for name, root in rules.items():
        if session.scalar(select(Tag).where(Tag.group_id == group.id, Tag.name == name)) is None:
            tags.create_tag(session, ctx, TagIn(group_id=group.id, name=name, rule=_definition(root)))
            created += 1
    for name, description, root in example_segments(preset):
        if session.scalar(select(Segment).where(Segment.name == name)) is None:
            service.create_segment(
                session, ctx, SegmentIn(name=name, description=description, definition=_definition(root))
            )
            created += 1
    return created
