"""Messaging governance: whether one outgoing message to one contact may go now, must wait for the end of
quiet hours, or is blocked, and by which rule. Pure functions over what the caller passes in (the message,
the contact's recent touches, the workspace's settings, its time zone and the current time); nothing here
reads a database or a clock.

The rules, checked in this order; the first that fires decides:

1. **Priority.** Service and transactional messages (a reply, an order notice) always go: opt-out, caps,
   the content mix and quiet hours govern marketing messages only.
2. **Opt-out** (``opt_out``): a contact who opted out (decided by the caller) gets no marketing message.
3. **Caps across all channels** (``daily_cap``, ``weekly_cap``, ``monthly_cap``), then **caps of the
   message's channel** (``channel_daily_cap`` …): a marketing message is blocked when the contact already
   has *cap* marketing touches in the current period. Periods are the workspace's local calendar: a day runs
   from local midnight to midnight (23 or 25 hours on a DST change), a week from Monday 00:00 to Monday
   00:00, a month is the calendar month. A touch counts in the period its local date falls in, whether it
   is before or after ``now`` (a touch scheduled later today counts today). Only marketing touches count.
   A message that quiet hours defer is capped in the period it goes out in (the window's end).
4. **Content mix** (``content_mix``, seed 000: "after 3 promotional messages, 2 non-commercial ones before
   the next promotion"): see :func:`content_mix_block`.
5. **Quiet hours** (``quiet_hours``): a marketing message inside the local quiet window is deferred, not
   blocked, to the window's next local end time (see :func:`quiet_hours_end`). A message blocked by a rule
   above is blocked, not deferred.

The defaults are the platform's own limits: WeCom's enterprise mass send reaches a customer at most once a
day, and its current receive cap is "每月最多可接收条数为当月天数" (the days in the month), adjustable to
seven a week. Every reason quotes the figures in force, so an operator can see why a message did not go.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from siyu.errors import FieldProblem, InvalidInput

CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
DAYS_IN_MONTH: Final = "days_in_month"
MAX_CAP = 10_000

MonthlyCap = int | Literal["days_in_month"] | None


class Priority(StrEnum):
    """Precedence, highest first: service > transactional > marketing."""

    service = "service"
    transactional = "transactional"
    marketing = "marketing"


@dataclass(frozen=True, slots=True)
class Touch:
    """A message already sent (or handed to staff to send) to this contact."""

    at: datetime
    channel: str
    priority: Priority
    promotional: bool

    def __post_init__(self) -> None:
        _require_aware(self.at, "Touch.at")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """The message to decide on."""

    channel: str
    priority: Priority
    promotional: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """``send`` now, ``defer`` until ``not_before`` (UTC), or ``block``; ``rule`` names the rule that decided."""

    action: Literal["send", "defer", "block"]
    rule: str | None
    reason: str
    not_before: datetime | None = None


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_cap(value: Any) -> Any:
    # bool is an int to Python; a cap of ``true`` is a mistake, not 1.
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CAP):
        return value
    raise ValueError(f"must be a whole number from 0 to {MAX_CAP}, or null for no cap")


def _check_monthly(value: Any) -> Any:
    if value == DAYS_IN_MONTH:
        return value
    try:
        return _check_cap(value)
    except ValueError:
        raise ValueError(
            f'must be "{DAYS_IN_MONTH}" (the number of days in the month), a whole number from 0 to {MAX_CAP}, '
            "or null for no cap"
        ) from None


class CapSettings(_Settings):
    """Caps on marketing messages to one contact across all channels. 0 pauses marketing; null: no cap."""

    daily: int | None = Field(
        1, description="Marketing messages per local day (WeCom's enterprise mass send: one a day per customer)."
    )
    weekly: int | None = Field(7, description="Marketing messages per local week, Monday to Sunday (WeCom: 7/week).")
    monthly: MonthlyCap = Field(
        DAYS_IN_MONTH,
        description='Marketing messages per local calendar month; "days_in_month" (the default) is 28 to 31, '
        "WeCom's current receive cap 每月最多可接收条数为当月天数.",
    )

    _daily_weekly = field_validator("daily", "weekly", mode="before")(_check_cap)
    _monthly = field_validator("monthly", mode="before")(_check_monthly)


class ChannelCaps(_Settings):
    """Caps on marketing messages of one channel; each null (no cap) unless set."""

    daily: int | None = Field(None, description="Marketing messages on this channel per local day.")
    weekly: int | None = Field(None, description="Marketing messages on this channel per local week.")
    monthly: MonthlyCap = Field(
        None, description='Marketing messages on this channel per local month; "days_in_month" for 28 to 31.'
    )

    _daily_weekly = field_validator("daily", "weekly", mode="before")(_check_cap)
    _monthly = field_validator("monthly", mode="before")(_check_monthly)


def _check_clock(value: Any) -> Any:
    if isinstance(value, str) and not CLOCK_TIME.match(value):
        raise ValueError(f"{value!r} is not a local time as HH:MM, 00:00 to 23:59")
    return value


class QuietHours(_Settings):
    """Local hours in which marketing messages wait. The window may wrap midnight (22:00 to 08:00)."""

    enabled: bool = Field(True, description="Off: marketing messages go at any hour.")
    start: str = Field("22:00", description="Local time the window opens, HH:MM (seed default 22:00).")
    end: str = Field("08:00", description="Local time the window closes and deferred messages go (seed: 08:00).")

    _clock = field_validator("start", "end")(_check_clock)

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(f"start and end must differ (both {self.start}): the window would be empty")
        return self

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)


class ContentMix(_Settings):
    """Seed 000: "after 3 promotional messages, 2 non-commercial ones before the next promotion"."""

    enabled: bool = Field(True, description="Off: promotions may follow each other without limit.")
    promotions_in_a_row: int = Field(3, ge=1, le=100, description="Promotional marketing touches in a row (seed: 3).")
    non_commercial_between: int = Field(
        2, ge=1, le=100, description="Non-promotional marketing touches needed before the next promotion (seed: 2)."
    )


class GovernanceSettings(_Settings):
    """A workspace's governance settings. Each cap is a whole number (0 pauses marketing) or null (no cap);
    a monthly cap may also be ``"days_in_month"``: 28 to 31, the month's length on the local calendar."""

    caps: CapSettings = CapSettings()
    per_channel: dict[str, ChannelCaps] = Field(
        default_factory=dict, max_length=64, description="Extra caps per channel name (wecom, sms …); none by default."
    )
    quiet_hours: QuietHours = QuietHours()
    content_mix: ContentMix = ContentMix()

    @field_validator("per_channel")
    @classmethod
    def _channel_names(cls, value: dict[str, ChannelCaps]) -> dict[str, ChannelCaps]:
        for name in value:
            if not CHANNEL_NAME.match(name):
                raise ValueError(
                    f"{name!r} is not a channel name: a lower-case letter, then up to 31 letters, digits or _"
                )
        return value


def parse_governance(raw: dict[str, Any] | None, field_prefix: str = "") -> GovernanceSettings:
    """Settings from a workspace's stored or submitted dict (None: the defaults); problems name the field
    path (``quiet_hours.start``, after ``field_prefix`` when one is given)."""
    try:
        return GovernanceSettings.model_validate(raw or {})
    except ValidationError as exc:
        problems = [
            FieldProblem(
                ".".join([p for p in [field_prefix, *(str(p) for p in e["loc"])] if p]) or "governance",
                str(e["msg"]).removeprefix("Value error, "),
            )
            for e in exc.errors(include_url=False)
        ]
        raise InvalidInput(detail=f"{problems[0].field}: {problems[0].reason}", errors=problems) from None


def decide(
    outgoing: Outgoing,
    touches: Iterable[Touch],
    settings: GovernanceSettings,
    timezone: str,
    now: datetime,
    *,
    opted_out: bool = False,
) -> Decision:
    """The decision for ``outgoing`` at ``now`` (aware), given the contact's touches and the workspace's
    settings and IANA time zone (an unknown zone raises ``ZoneInfoNotFoundError``)."""
    _require_aware(now, "now")
    if outgoing.priority != Priority.marketing:
        reason = f"{outgoing.priority} messages are not subject to opt-out, caps, the content mix or quiet hours"
        return Decision("send", None, reason)
    if opted_out:
        return Decision("block", "opt_out", "opt-out: the contact opted out of marketing messages")
    tz = ZoneInfo(timezone)
    quiet = settings.quiet_hours
    local_now = now.astimezone(tz)
    deferred = quiet.enabled and in_quiet_hours(local_now.time(), quiet)
    # A message deferred by quiet hours goes out at the window's end: the caps of *that* day, week and
    # month decide (at 23:00 today's count would let a second message out tomorrow morning).
    goes_at = quiet_hours_end(now, quiet, tz) if deferred else now
    marketing = sorted((t for t in touches if t.priority == Priority.marketing), key=lambda t: t.at)
    blocked = _cap_block(marketing, settings.caps, None, tz, timezone, goes_at)
    if blocked is None and outgoing.channel in settings.per_channel:
        channel_touches = [t for t in marketing if t.channel == outgoing.channel]
        caps = settings.per_channel[outgoing.channel]
        blocked = _cap_block(channel_touches, caps, outgoing.channel, tz, timezone, goes_at)
    if blocked is None and outgoing.promotional and settings.content_mix.enabled:
        blocked = content_mix_block(marketing, settings.content_mix)
    if blocked is not None:
        return blocked
    if deferred:
        until = goes_at
        local_until = until.astimezone(tz)
        return Decision(
            "defer",
            "quiet_hours",
            f"quiet hours: {quiet.start}–{quiet.end} ({timezone}), now {local_now:%H:%M}; deferred to "
            f"{local_until:%Y-%m-%d %H:%M} local ({until:%Y-%m-%d %H:%M} UTC)",
            until,
        )
    return Decision("send", None, "within the caps, the content mix and quiet hours")


def forecast(decisions: Iterable[Decision]) -> dict[str, int]:
    """Outcomes counted by rule, for a broadcast forecast: ``send``, ``defer:quiet_hours``, ``block:daily_cap`` …"""
    return dict(Counter(f"{d.action}:{d.rule}" if d.rule else d.action for d in decisions))


def content_mix_block(marketing: Iterable[Touch], mix: ContentMix) -> Decision | None:
    """Whether the content mix blocks a promotional message, given the contact's marketing touches.

    Newest first (touches at the same instant: the one given later is the newer), skip the non-promotional
    touches since the latest promotion (``since``), then count the promotional touches in a row before them
    (the latest run of promotions). The message is blocked when that run has at least ``promotions_in_a_row``
    touches and ``since`` is below ``non_commercial_between``. So with the seed's 3 and 2: P P → allowed;
    P P P → blocked; P P P N → blocked; P P P N N → allowed, and the run starts over. A non-promotional
    message is never blocked by this rule (the caller asks only for promotional ones)."""
    newest_first = sorted(marketing, key=lambda t: t.at)[::-1]
    since = 0
    while since < len(newest_first) and not newest_first[since].promotional:
        since += 1
    run = 0
    while since + run < len(newest_first) and newest_first[since + run].promotional:
        run += 1
    if run < mix.promotions_in_a_row or since >= mix.non_commercial_between:
        return None
    return Decision(
        "block",
        "content_mix",
        f"content mix: after {mix.promotions_in_a_row} promotional messages in a row, "
        f"{mix.non_commercial_between} non-commercial ones before the next promotion; "
        f"the last run has {run} promotional, {since} non-commercial since",
    )


def in_quiet_hours(wall: time, quiet: QuietHours) -> bool:
    """Whether a local wall-clock time is inside the window (start included, end excluded)."""
    start, end = quiet.start_time, quiet.end_time
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def quiet_hours_end(now: datetime, quiet: QuietHours, tz: ZoneInfo) -> datetime:
    """The first instant after ``now`` at which the local clock reads the window's end, in UTC.

    On a fall-back day an end time that occurs twice resolves to the first occurrence after ``now``. On a
    spring-forward day an end time that does not exist (02:30 in New York on 2026-03-08) resolves forward to
    the first instant after the gap (03:00 local): the moment the quiet window is over."""
    local_now = now.astimezone(tz)
    day = local_now.date()
    if quiet.start_time > quiet.end_time and local_now.time() >= quiet.start_time:
        day += timedelta(days=1)
    for candidate in (day, day + timedelta(days=1)):
        later = [at for at in _local_instants(candidate, quiet.end_time, tz) if at > now]
        if later:
            return later[0]
    raise AssertionError("unreachable: the next day's end time is always after now")


def _local_instants(day: date, wall: time, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the local clock reads ``wall`` on ``day``, earliest first; for a wall time in
    a DST gap, the first instant after the gap."""
    naive = datetime.combine(day, wall)
    early = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late:
        return [early]
    if early.astimezone(tz).replace(tzinfo=None) == naive:
        return [early, late]
    # In a gap fold=1 gives the instant before the transition and fold=0 the one after; the transition
    # (whole seconds in tzdata) lies between them.
    before, after = int(late.timestamp()), int(early.timestamp())
    offset_after = early.astimezone(tz).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return [datetime.fromtimestamp(after, UTC)]


def _cap_block(
    marketing: list[Touch],
    caps: CapSettings | ChannelCaps,
    channel: str | None,
    tz: ZoneInfo,
    timezone: str,
    now: datetime,
) -> Decision | None:
    today = now.astimezone(tz).date()
    days = [t.at.astimezone(tz).date() for t in marketing]
    if isinstance(caps.monthly, str):  # "days_in_month"
        monthly: int | None = calendar.monthrange(today.year, today.month)[1]
        per_month = f"per month (the days in {today:%Y-%m})"
    else:
        monthly, per_month = caps.monthly, "per month"
    periods = (
        ("daily", caps.daily, "per day", "today", sum(d == today for d in days)),
        ("weekly", caps.weekly, "per week", "this week", sum(_monday(d) == _monday(today) for d in days)),
        ("monthly", monthly, per_month, "this month", sum(d.replace(day=1) == today.replace(day=1) for d in days)),
    )
    for name, cap, per_period, this_period, count in periods:
        if cap is not None and count >= cap:
            rule = f"channel_{name}_cap" if channel else f"{name}_cap"
            where = f"on {channel}" if channel else "across all channels"
            return Decision(
                "block",
                rule,
                f"{rule.replace('_', ' ')}: {_messages(cap)} {per_period} {where}, "
                f"{count} already {this_period} ({timezone})",
            )
    return None


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _messages(count: int) -> str:
    return f"{count} marketing message" if count == 1 else f"{count} marketing messages"


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {at!r}")
