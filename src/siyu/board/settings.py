"""The board's per-workspace settings: each KPI's health threshold (green / amber / red) and which content
types count as promotions. Defaults are the seeds' numbers; where a seed gives one number the amber band
is ours, and says so in docs/dashboards.md."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from siyu.errors import InvalidInput
from siyu.kit.validation import invalid_input

KpiId = Literal[
    "new_contacts",
    "follows",
    "deletions",
    "open_rate",
    "promotion_open_rate",
    "group_messages",
    "active_rate",
    "speaker_ratio",
    "gmv",
    "gmv_growth",
    "aov",
    "arpu",
    "retention_7d",
    "retention_30d",
    "repurchase_30d",
]


class Threshold(BaseModel):
    """``good`` or better is green, ``warn`` or better amber, anything worse red."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    good: float = Field(ge=0, le=1e12)
    warn: float = Field(ge=0, le=1e12)
    direction: Literal["higher", "lower"] = "higher"

    @model_validator(mode="after")
    def _order(self) -> Threshold:
        if self.direction == "higher" and self.warn > self.good:
            raise ValueError("warn must not be above good when higher is better")
        if self.direction == "lower" and self.warn < self.good:
            raise ValueError("warn must not be below good when lower is better")
        return self

    def status(self, value: float | None) -> str | None:
        if value is None:
            return None
        if self.direction == "higher":
            return "green" if value >= self.good else "amber" if value >= self.warn else "red"
        return "green" if value <= self.good else "amber" if value <= self.warn else "red"


DEFAULT_THRESHOLDS: Final[dict[str, Threshold | None]] = {
    # seed 000 §五: 日均新增 50–100 人 (small and medium businesses); amber from 25 a day is ours
    "new_contacts": Threshold(good=50, warn=25),
    "follows": None,
    "deletions": None,
    # seed 000 §五: 打开率 > 15%; amber from 10% is ours
    "open_rate": Threshold(good=0.15, warn=0.10),
    # seed 004 §六: 优惠券推送的打开率低于 5% → 文案 / 频率
    "promotion_open_rate": Threshold(good=0.05, warn=0.05),
    # seed 000 §五: 日均发言 > 50 条; amber from 25 is ours
    "group_messages": Threshold(good=50, warn=25),
    "active_rate": None,
    "speaker_ratio": None,
    "gmv": None,
    # seed 000 §五: GMV 环比增长 > 20%; amber for any growth is ours
    "gmv_growth": Threshold(good=0.20, warn=0.0),
    "aov": None,
    "arpu": None,
    # seed 000 §五: 留存率 > 40%; seed 003: below 30% the welcome flow is the problem
    "retention_7d": Threshold(good=0.40, warn=0.30),
    # seed 003: 30 天留存低于 20% → 内容和活动
    "retention_30d": Threshold(good=0.20, warn=0.20),
    # seed 000 §五: 复购率 > 25%; amber from 15% is ours
    "repurchase_30d": Threshold(good=0.25, warn=0.15),
}
PROMOTION_TYPES: Final = ("福利/促销", "promotion", "coupon")
KEY_TAGS: Final = frozenset({"[key]"})  # pydantic's marker for a bad dict key: not a field


class BoardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: dict[KpiId, Threshold | None] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS),  # type: ignore[arg-type]
        description="Per KPI: {good, warn, direction} or null for no threshold; KPIs left out keep the default.",
    )
    promotion_content_types: tuple[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")], ...] = (
        Field(PROMOTION_TYPES, min_length=1, max_length=20, description="Content types that count as promotions.")
    )

    def threshold(self, kpi: str) -> Threshold | None:
        found: Threshold | None = self.thresholds.get(kpi, DEFAULT_THRESHOLDS.get(kpi))  # type: ignore[call-overload]
        return found


def parse_settings(raw: dict[str, Any] | None) -> BoardSettings:
    """Stored or submitted settings over the defaults; a bad value is an InvalidInput naming its field."""
    raw = dict(raw or {})
    thresholds = {**{k: v.model_dump() if v else None for k, v in DEFAULT_THRESHOLDS.items()}}
    given = raw.get("thresholds", {})
    if not isinstance(given, dict):
        raise InvalidInput.on("thresholds", "must be an object of KPI → threshold")
    thresholds.update(given)
    raw["thresholds"] = thresholds
    try:
        return BoardSettings.model_validate(raw)
    except ValidationError as error:
        raise invalid_input(
            error, "", KEY_TAGS, tag_name="kpi", tag_values=lambda _: ", ".join(DEFAULT_THRESHOLDS)
        ) from error
