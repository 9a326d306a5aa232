"""Per-workspace settings of the built-in tiers. The defaults are the seeds' figures (seed 000's VIP /
Active / Inactive table, seed 002's activity tiers, seed 004's value tiers, 90 days of silence for
dormant); a workspace changes any of them (``PUT /api/v1/tiers/settings``), and every explanation
quotes the figures in force."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from siyu.errors import FieldProblem, InvalidInput

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RfmSettings(_Settings):
    window_days: int = Field(365, ge=7, le=3650, description="Orders in this window count for F and M.")
    high_score: int = Field(
        3, ge=2, le=5, description="A score at or above this is 'high' (重要 / 价值 …) when naming the 8 cells."
    )


class ThresholdLevel(_Settings):
    min_orders_30d: int = Field(ge=0, description="Orders in the last 30 days (近30天消费次数).")
    min_total_fen: int = Field(ge=0, description="Total spend, net of refunds (累计消费金额), in fen.")
    min_active_days_30d: int = Field(
        ge=0, le=30, description="Days with an interaction in the last 30 days (社群活跃度)."
    )


class ThresholdSettings(_Settings):
    """Seed 000: VIP ≥5 orders in 30 days, ≥5000元, daily interaction; Active 2–4, 1000–5000元, weekly."""

    vip: ThresholdLevel = ThresholdLevel(min_orders_30d=5, min_total_fen=500_000, min_active_days_30d=20)
    active: ThresholdLevel = ThresholdLevel(min_orders_30d=2, min_total_fen=100_000, min_active_days_30d=4)

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdSettings:
        for name in ThresholdLevel.model_fields:
            if getattr(self.vip, name) < getattr(self.active, name):
                raise ValueError(f"vip.{name} must be at least active.{name}")
        return self


class LifecycleSettings(_Settings):
    new_days: int = Field(30, ge=1, le=365, description="Joined within this many days: new.")
    active_days: int = Field(30, ge=1, le=365, description="Touched (interaction or order) within: active.")
    dormant_days: int = Field(90, ge=2, le=730, description="No touch for this long: dormant (沉睡, seed 004).")
    churned_days: int = Field(
        180, ge=3, le=1825, description="No touch for this long, or the contact deleted us: churned."
    )
    high_value_fen: int = Field(500_000, ge=0, description="Spend in the last 365 days for high-value (if not silent).")

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if not self.active_days < self.dormant_days < self.churned_days:
            raise ValueError("active_days < dormant_days < churned_days")
        return self


class ValueSettings(_Settings):
    high_net_fen: int = Field(500_000, ge=0, description="Spend in the last 365 days: high-net (高净值, ≥5000元).")
    potential_days: int = Field(90, ge=7, le=365, description="Recent period compared with the one before it.")
    potential_growth: float = Field(1.5, ge=1.0, le=100.0, description="Recent spend ≥ this × the period before.")


class ActivitySettings(_Settings):
    weekly_days: int = Field(7, ge=1, le=31, description="An interaction within this many days: weekly active.")
    lost_days: int = Field(90, ge=2, le=730, description="No interaction for this long: lost (流失, seed 002).")


class ClvSettings(_Settings):
    horizon_days: int = Field(90, ge=7, le=1095, description="Predicted purchases and value over this many days.")
    min_repeat_buyers: int = Field(20, ge=5, description="Fewer repeat buyers than this: too little history to fit.")


DEFAULT_ENGAGEMENT = (
    "message_received",
    "message_opened",
    "link_clicked",
    "group_message",
    "page_view",
    "login",
    "checkin",
    "survey_answered",
    "order_paid",
)


class TierSettings(_Settings):
    rfm: RfmSettings = RfmSettings()
    threshold: ThresholdSettings = ThresholdSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    value: ValueSettings = ValueSettings()
    activity: ActivitySettings = ActivitySettings()
    clv: ClvSettings = ClvSettings()
    engagement_events: tuple[str, ...] = Field(
        DEFAULT_ENGAGEMENT, min_length=1, max_length=100, description="Events that count as an interaction."
    )

    @field_validator("engagement_events")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not EVENT_NAME.match(name):
                raise ValueError(f"{name!r} is not an event name")
        return tuple(dict.fromkeys(value))


def parse_settings(raw: dict[str, Any] | None, field_prefix: str = "settings") -> TierSettings:
    try:
        return TierSettings.model_validate(raw or {})
    except ValidationError as exc:
        problems = [
            FieldProblem(
                ".".join([field_prefix, *(str(p) for p in e["loc"])]), str(e["msg"]).removeprefix("Value error, ")
            )
            for e in exc.errors(include_url=False)
        ]
        raise InvalidInput(detail=f"{problems[0].field}: {problems[0].reason}", errors=problems) from None
