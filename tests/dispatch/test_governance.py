"""The messaging-governance rules, worked out on the workspace's local calendar: caps at local day, week and
month boundaries (including New York's DST days), per-channel caps, quiet hours and the defer instant,
seed 000's content mix, opt-out, the reasons' figures, bad settings and the broadcast forecast."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.dispatch.governance import (
    Decision,
    GovernanceSettings,
    Outgoing,
    Priority,
    Touch,
    decide,
    forecast,
    in_quiet_hours,
    parse_governance,
)
from siyu.errors import InvalidInput

SH = "Asia/Shanghai"
NY = "America/New_York"
SECOND = timedelta(seconds=1)
MARKETING = Outgoing("wecom", Priority.marketing, promotional=False)
PROMO = Outgoing("wecom", Priority.marketing, promotional=True)
NO_QUIET = parse_governance({"quiet_hours": {"enabled": False}})
NO_CAPS: dict[str, Any] = {"daily": None, "weekly": None, "monthly": None}
QUIET_ONLY = parse_governance({"caps": NO_CAPS, "content_mix": {"enabled": False}})


def local(tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A local wall-clock time in ``tz`` (the first occurrence if it occurs twice), as UTC."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def touch(at: datetime, channel: str = "wecom", *, promotional: bool = False) -> Touch:
    return Touch(at, channel, Priority.marketing, promotional)


def only(**caps: Any) -> GovernanceSettings:
    """No quiet hours, no content mix, and only the caps given (the others off)."""
    return parse_governance(
        {
            "caps": {**NO_CAPS, **caps},
            "quiet_hours": {"enabled": False},
            "content_mix": {"enabled": False},
        }
    )


def test_defaults_are_the_seed_figures() -> None:
    settings = parse_governance(None)
    assert settings == GovernanceSettings()
    assert (settings.caps.daily, settings.caps.weekly, settings.caps.monthly) == (1, 7, "days_in_month")
    assert (settings.quiet_hours.start, settings.quiet_hours.end, settings.quiet_hours.enabled) == (
        "22:00",
        "08:00",
        True,
    )
    assert (settings.content_mix.promotions_in_a_row, settings.content_mix.non_commercial_between) == (3, 2)
    assert settings.per_channel == {}


# Caps


def test_daily_cap_holds_at_the_local_day_boundary_in_shanghai() -> None:
    now = local(SH, 2026, 6, 15, 12, 0)
    yesterday = decide(MARKETING, [touch(local(SH, 2026, 6, 14, 23, 59, 59))], NO_QUIET, SH, now)
    assert yesterday.action == "send"
    today = decide(MARKETING, [touch(local(SH, 2026, 6, 15, 0, 0, 0))], NO_QUIET, SH, now)
    assert today == Decision(
        "block",
        "daily_cap",
        "daily cap: 1 marketing message per day across all channels, 1 already today (Asia/Shanghai)",
    )


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25)])
def test_daily_cap_on_new_york_dst_days(day: date, hours: int) -> None:
    following = day + timedelta(days=1)
    midnight = local(NY, day.year, day.month, day.day)
    next_midnight = local(NY, following.year, following.month, following.day)
    assert next_midnight - midnight == timedelta(hours=hours)
    late = next_midnight - timedelta(minutes=30)  # 23:30 local on the DST day

    assert decide(MARKETING, [touch(midnight - SECOND)], NO_QUIET, NY, late).action == "send"
    assert decide(MARKETING, [touch(midnight)], NO_QUIET, NY, late).rule == "daily_cap"
    assert decide(MARKETING, [touch(midnight)], NO_QUIET, NY, next_midnight - SECOND).rule == "daily_cap"
    assert decide(MARKETING, [touch(next_midnight - SECOND)], NO_QUIET, NY, next_midnight).action == "send"
    assert decide(MARKETING, [touch(next_midnight)], NO_QUIET, NY, next_midnight + SECOND).rule == "daily_cap"


def test_weekly_cap_runs_monday_to_monday() -> None:
    assert date(2026, 3, 2).weekday() == 0
    settings = only(weekly=2)
    sunday_evening = local(SH, 2026, 3, 8, 20, 0)
    wednesday = touch(local(SH, 2026, 3, 4, 10, 0))

    previous_sunday = touch(local(SH, 2026, 3, 1, 23, 59, 59))
    assert decide(MARKETING, [previous_sunday, wednesday], settings, SH, sunday_evening).action == "send"

    monday = touch(local(SH, 2026, 3, 2, 0, 0))
    blocked = decide(MARKETING, [monday, wednesday], settings, SH, sunday_evening)
    assert blocked.rule == "weekly_cap"
    assert blocked.reason == (
        "weekly cap: 2 marketing messages per week across all channels, 2 already this week (Asia/Shanghai)"
    )

    next_monday = local(SH, 2026, 3, 9, 0, 0)
    this_sunday = touch(local(SH, 2026, 3, 8, 23, 59, 59))
    assert decide(MARKETING, [monday, this_sunday], settings, SH, next_monday).action == "send"


@pytest.mark.parametrize(("year", "month", "days"), [(2026, 2, 28), (2028, 2, 29), (2026, 4, 30), (2026, 1, 31)])
def test_monthly_cap_of_days_in_the_month(year: int, month: int, days: int) -> None:
    settings = only(monthly="days_in_month")
    now = local(SH, year, month, days, 12, 0)
    before_the_month = touch(local(SH, year, month, 1) - SECOND)
    earlier = [touch(local(SH, year, month, d, 10, 0)) for d in range(1, days)]

    assert decide(MARKETING, [before_the_month, *earlier], settings, SH, now).action == "send"
    blocked = decide(MARKETING, [*earlier, touch(local(SH, year, month, days, 9, 0))], settings, SH, now)
    assert blocked.rule == "monthly_cap"
    assert blocked.reason == (
        f"monthly cap: {days} marketing messages per month (the days in {year}-{month:02d}) across all channels, "
        f"{days} already this month (Asia/Shanghai)"
    )


def test_monthly_cap_as_a_number() -> None:
    settings = only(monthly=2)
    now = local(SH, 2026, 5, 20, 12, 0)
    touches = [touch(local(SH, 2026, 5, 1, 0, 0)), touch(local(SH, 2026, 5, 2, 0, 0))]
    blocked = decide(MARKETING, touches, settings, SH, now)
    assert blocked.rule == "monthly_cap"
    assert "2 marketing messages per month across all channels, 2 already this month" in blocked.reason
    assert decide(MARKETING, touches[:1], settings, SH, now).action == "send"


def test_default_caps_are_checked_daily_then_weekly() -> None:
    settings = NO_QUIET
    now = local(SH, 2026, 3, 8, 12, 0)  # a Sunday
    week = [touch(local(SH, 2026, 3, d, 10, 0)) for d in range(2, 9)]  # Monday to Sunday: 7
    assert decide(MARKETING, week, settings, SH, now).rule == "daily_cap"
    assert decide(MARKETING, week[:-1], settings, SH, now).action == "send"
    seven_earlier = [touch(local(SH, 2026, 3, 2, 10, 0)) for _ in range(7)]
    assert decide(MARKETING, seven_earlier, settings, SH, now).rule == "weekly_cap"


def test_per_channel_caps_count_only_that_channel() -> None:
    settings = parse_governance(
        {
            "caps": NO_CAPS,
            "per_channel": {"sms": {"daily": 1}},
            "quiet_hours": {"enabled": False},
        }
    )
    now = local(SH, 2026, 6, 15, 12, 0)
    sms = Outgoing("sms", Priority.marketing, promotional=False)
    on_wecom = [touch(local(SH, 2026, 6, 15, 9, 0), "wecom")]
    on_sms = [touch(local(SH, 2026, 6, 15, 9, 0), "sms")]

    assert decide(sms, on_wecom, settings, SH, now).action == "send"
    assert decide(MARKETING, on_sms, settings, SH, now).action == "send"
    assert decide(sms, on_sms, settings, SH, now) == Decision(
        "block",
        "channel_daily_cap",
        "channel daily cap: 1 marketing message per day on sms, 1 already today (Asia/Shanghai)",
    )


def test_per_channel_weekly_and_monthly_caps() -> None:
    settings = parse_governance(
        {
            "per_channel": {"sms": {"weekly": 1}, "email": {"monthly": "days_in_month"}},
            "quiet_hours": {"enabled": False},
        }
    )
    now = local(SH, 2026, 2, 28, 12, 0)  # a Saturday
    sms = Outgoing("sms", Priority.marketing, promotional=False)
    assert decide(sms, [touch(local(SH, 2026, 2, 23, 0, 0), "sms")], settings, SH, now).rule == "channel_weekly_cap"
    assert decide(sms, [touch(local(SH, 2026, 2, 22, 23, 0), "sms")], settings, SH, now).action == "send"
    email = Outgoing("email", Priority.marketing, promotional=False)
    many = [touch(local(SH, 2026, 2, d, 10, 0), "email") for d in range(1, 28)]
    relaxed = parse_governance(
        {
            "caps": NO_CAPS,
            "per_channel": {"email": {"monthly": "days_in_month"}},
            "quiet_hours": {"enabled": False},
        }
    )
    assert decide(email, many, relaxed, SH, now).action == "send"
    blocked = decide(email, [*many, touch(local(SH, 2026, 2, 28, 9, 0), "email")], relaxed, SH, now)
    assert blocked.rule == "channel_monthly_cap"
    assert "28 marketing messages per month (the days in 2026-02) on email, 28 already this month" in blocked.reason


def test_all_channel_caps_come_before_channel_caps() -> None:
    settings = parse_governance({"per_channel": {"wecom": {"daily": 1}}, "quiet_hours": {"enabled": False}})
    now = local(SH, 2026, 6, 15, 12, 0)
    assert decide(MARKETING, [touch(local(SH, 2026, 6, 15, 9, 0))], settings, SH, now).rule == "daily_cap"


def test_only_marketing_touches_count() -> None:
    now = local(SH, 2026, 6, 15, 12, 0)
    at = local(SH, 2026, 6, 15, 9, 0)
    others = [Touch(at, "wecom", Priority.service, False), Touch(at, "wecom", Priority.transactional, True)]
    assert decide(MARKETING, others, NO_QUIET, SH, now).action == "send"


def test_a_zero_cap_pauses_marketing() -> None:
    now = local(SH, 2026, 6, 15, 12, 0)
    blocked = decide(MARKETING, [], only(daily=0), SH, now)
    assert blocked.rule == "daily_cap"
    assert "0 marketing messages per day across all channels, 0 already today" in blocked.reason


# Quiet hours


@pytest.mark.parametrize(
    ("wall", "until"),
    [
        ((2026, 6, 15, 21, 59), None),
        ((2026, 6, 15, 22, 0), (2026, 6, 16, 8, 0)),
        ((2026, 6, 15, 23, 59, 59), (2026, 6, 16, 8, 0)),
        ((2026, 6, 15, 0, 0), (2026, 6, 15, 8, 0)),
        ((2026, 6, 15, 7, 59), (2026, 6, 15, 8, 0)),
        ((2026, 6, 15, 8, 0), None),
        ((2026, 6, 30, 23, 0), (2026, 7, 1, 8, 0)),
    ],
)
def test_quiet_hours_wrapping_midnight(wall: tuple[int, ...], until: tuple[int, ...] | None) -> None:
    decision = decide(MARKETING, [], QUIET_ONLY, SH, local(SH, *wall))
    if until is None:
        assert decision == Decision("send", None, decision.reason)
    else:
        assert decision.action == "defer"
        assert decision.rule == "quiet_hours"
        assert decision.not_before == local(SH, *until)
        assert decision.not_before.tzinfo is UTC
        assert "quiet hours: 22:00–08:00 (Asia/Shanghai)" in decision.reason


@pytest.mark.parametrize(
    ("wall", "until"),
    [
        ((11, 59), None),
        ((12, 0), (14, 0)),
        ((13, 59), (14, 0)),
        ((14, 0), None),
        ((23, 0), None),
        ((0, 30), None),
    ],
)
def test_quiet_hours_not_wrapping_midnight(wall: tuple[int, int], until: tuple[int, int] | None) -> None:
    settings = parse_governance({"quiet_hours": {"start": "12:00", "end": "14:00"}})
    decision = decide(MARKETING, [], settings, SH, local(SH, 2026, 6, 15, *wall))
    if until is None:
        assert decision.action == "send"
    else:
        assert decision.action == "defer"
        assert decision.not_before == local(SH, 2026, 6, 15, *until)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (local(NY, 2026, 3, 7, 22, 30), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),  # ends in EDT
        (local(NY, 2026, 3, 7, 7, 0), datetime(2026, 3, 7, 13, 0, tzinfo=UTC)),  # EST
        (local(NY, 2026, 10, 31, 23, 0), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),  # fall back: ends in EST
    ],
)
def test_quiet_hours_defer_across_dst(now: datetime, until: datetime) -> None:
    decision = decide(MARKETING, [], QUIET_ONLY, NY, now)
    assert (decision.action, decision.rule, decision.not_before) == ("defer", "quiet_hours", until)
    assert "deferred to 2026-" in decision.reason
    assert "08:00 local" in decision.reason


def test_an_end_time_in_the_spring_gap_resolves_to_the_end_of_the_gap() -> None:
    # 02:30 does not exist in New York on 2026-03-08: clocks go from 02:00 EST to 03:00 EDT (07:00 UTC).
    settings = parse_governance({"quiet_hours": {"start": "22:00", "end": "02:30"}})
    decision = decide(MARKETING, [], settings, NY, local(NY, 2026, 3, 7, 23, 0))
    assert decision.not_before == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert "deferred to 2026-03-08 03:00 local (2026-03-08 07:00 UTC)" in decision.reason


def test_an_end_time_that_occurs_twice_resolves_to_the_next_occurrence() -> None:
    # 01:30 occurs twice in New York on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST).
    settings = parse_governance({"quiet_hours": {"start": "22:00", "end": "01:30"}})
    first_pass = datetime(2026, 11, 1, 5, 15, tzinfo=UTC)  # 01:15 EDT
    second_pass = datetime(2026, 11, 1, 6, 15, tzinfo=UTC)  # 01:15 EST
    assert decide(MARKETING, [], settings, NY, first_pass).not_before == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert decide(MARKETING, [], settings, NY, second_pass).not_before == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize("priority", [Priority.service, Priority.transactional])
def test_service_and_transactional_ignore_quiet_hours_caps_and_mix(priority: Priority) -> None:
    now = local(SH, 2026, 6, 15, 23, 0)
    today = [touch(local(SH, 2026, 6, 15, d, 0), promotional=True) for d in range(1, 5)]
    decision = decide(Outgoing("wecom", priority, promotional=True), today, GovernanceSettings(), SH, now)
    assert decision.action == "send"
    assert decision.rule is None
    assert decide(MARKETING, today, GovernanceSettings(), SH, local(SH, 2026, 6, 15, 21, 0)).action == "block"


def test_a_cap_blocks_rather_than_defers_in_quiet_hours() -> None:
    now = local(SH, 2026, 6, 15, 23, 0)
    # At 22:30 a first message was deferred to 08:00 tomorrow: it counts tomorrow, when it goes.
    deferred = [touch(local(SH, 2026, 6, 16, 8, 0))]
    blocked = decide(MARKETING, deferred, GovernanceSettings(), SH, now)
    assert (blocked.action, blocked.rule) == ("block", "daily_cap")
    assert decide(MARKETING, [], GovernanceSettings(), SH, now).action == "defer"


def test_a_deferred_message_is_capped_on_the_day_it_goes() -> None:
    # 09:00 today's message does not use up tomorrow's cap; a message deferred from 23:00 goes tomorrow.
    now = local(SH, 2026, 6, 15, 23, 0)
    earlier_today = [touch(local(SH, 2026, 6, 15, 9, 0))]
    decision = decide(MARKETING, earlier_today, GovernanceSettings(), SH, now)
    assert (decision.action, decision.not_before) == ("defer", local(SH, 2026, 6, 16, 8, 0))


def test_quiet_hours_off() -> None:
    assert decide(MARKETING, [], NO_QUIET, SH, local(SH, 2026, 6, 15, 23, 0)).action == "send"


QUIET_ZONES = [SH, NY, "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata"]
CLOCK = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


@given(
    zone=st.sampled_from(QUIET_ZONES),
    now=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    start=CLOCK,
    end=CLOCK,
)
def test_deferral_is_the_first_instant_after_now_outside_quiet_hours(
    zone: str, now: datetime, start: str, end: str
) -> None:
    if start == end:
        return
    settings = parse_governance({"quiet_hours": {"start": start, "end": end}})
    quiet, tz = settings.quiet_hours, ZoneInfo(zone)
    decision = decide(MARKETING, [], settings, zone, now)
    if decision.action == "send":
        assert not in_quiet_hours(now.astimezone(tz).time(), quiet)
        return
    assert decision.action == "defer"
    until = decision.not_before
    assert until is not None
    assert until > now
    assert not in_quiet_hours(until.astimezone(tz).time(), quiet)
    just_before = until - SECOND
    assert just_before < now or in_quiet_hours(just_before.astimezone(tz).time(), quiet)


# Content mix

DAY = timedelta(days=1)


def history(pattern: str) -> list[Touch]:
    """Marketing touches oldest first, one a day before 2026-06-01: P promotional, N non-commercial."""
    start = local(SH, 2026, 6, 1, 10, 0) - DAY * len(pattern)
    return [touch(start + DAY * i, promotional=kind == "P") for i, kind in enumerate(pattern)]


MIX_ONLY = parse_governance({"caps": NO_CAPS, "quiet_hours": {"enabled": False}})
MIX_NOW = local(SH, 2026, 6, 1, 12, 0)


@pytest.mark.parametrize(
    ("pattern", "action"),
    [
        ("", "send"),
        ("PP", "send"),
        ("PPP", "block"),
        ("PPPN", "block"),
        ("PPPNN", "send"),
        ("NNPPP", "block"),
        ("PPPPP", "block"),
        ("PNPP", "send"),
        ("PPPNNP", "send"),
        ("PPPNNPPP", "block"),
    ],
)
def test_content_mix_edges(pattern: str, action: str) -> None:
    touches = history(pattern)
    assert decide(PROMO, touches, MIX_ONLY, SH, MIX_NOW).action == action
    assert decide(PROMO, touches[::-1], MIX_ONLY, SH, MIX_NOW).action == action  # order given does not matter
    assert decide(MARKETING, touches, MIX_ONLY, SH, MIX_NOW).action == "send"  # non-commercial: never blocked


def test_content_mix_reason_quotes_the_figures() -> None:
    decision = decide(PROMO, history("PPPN"), MIX_ONLY, SH, MIX_NOW)
    assert decision.rule == "content_mix"
    assert decision.reason == (
        "content mix: after 3 promotional messages in a row, 2 non-commercial ones before the next promotion; "
        "the last run has 3 promotional, 1 non-commercial since"
    )


def test_content_mix_counts_only_marketing_touches_and_can_be_off() -> None:
    touches = history("PPP")
    promo_notice = Touch(touches[0].at, "wecom", Priority.transactional, True)
    assert decide(PROMO, [promo_notice, *touches[1:]], MIX_ONLY, SH, MIX_NOW).action == "send"
    off = MIX_ONLY.model_copy(update={"content_mix": parse_governance({"content_mix": {"enabled": False}}).content_mix})
    assert decide(PROMO, touches, off, SH, MIX_NOW).action == "send"
    custom = parse_governance(
        {
            "caps": NO_CAPS,
            "quiet_hours": {"enabled": False},
            "content_mix": {"promotions_in_a_row": 1, "non_commercial_between": 1},
        }
    )
    assert decide(PROMO, history("P"), custom, SH, MIX_NOW).rule == "content_mix"
    assert decide(PROMO, history("PN"), custom, SH, MIX_NOW).action == "send"


def test_caps_come_before_the_content_mix() -> None:
    touches = [*history("PP"), touch(local(SH, 2026, 6, 1, 9, 0), promotional=True)]
    assert decide(PROMO, touches, NO_QUIET, SH, MIX_NOW).rule == "daily_cap"


# Opt-out


def test_opt_out_blocks_marketing_only() -> None:
    now = local(SH, 2026, 6, 15, 12, 0)
    today = [touch(local(SH, 2026, 6, 15, 9, 0))]
    assert decide(MARKETING, [], GovernanceSettings(), SH, now, opted_out=True) == Decision(
        "block", "opt_out", "opt-out: the contact opted out of marketing messages"
    )
    assert decide(PROMO, today, GovernanceSettings(), SH, now, opted_out=True).rule == "opt_out"  # before caps
    for priority in (Priority.service, Priority.transactional):
        outgoing = Outgoing("wecom", priority, promotional=False)
        assert decide(outgoing, today, GovernanceSettings(), SH, now, opted_out=True).action == "send"


# Inputs


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ({"quiet_hours": {"begin": "22:00"}}, "quiet_hours.begin", "Extra inputs are not permitted"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"quiet_hours": {"start": "25:00"}}, "quiet_hours.start", "'25:00' is not a local time as HH:MM"),
        ({"quiet_hours": {"end": "8:00"}}, "quiet_hours.end", "'8:00' is not a local time as HH:MM"),
        ({"quiet_hours": {"start": "08:00"}}, "quiet_hours", "start and end must differ (both 08:00)"),
        ({"caps": {"daily": -1}}, "caps.daily", "must be a whole number from 0 to 10000, or null for no cap"),
        ({"caps": {"weekly": True}}, "caps.weekly", "must be a whole number"),
        ({"caps": {"monthly": "days"}}, "caps.monthly", 'must be "days_in_month"'),
        ({"per_channel": {"sms": {"monthly": -3}}}, "per_channel.sms.monthly", 'must be "days_in_month"'),
        ({"per_channel": {"WeCom": {}}}, "per_channel", "'WeCom' is not a channel name"),
        ({"per_channel": {"sms": {"hourly": 1}}}, "per_channel.sms.hourly", "Extra inputs are not permitted"),
        ({"content_mix": {"non_commercial_between": 0}}, "content_mix.non_commercial_between", "greater than or equal"),
    ],
)
def test_bad_settings_name_the_field(raw: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_governance(raw)
    problems = {p.field: p.reason for p in caught.value.errors}
    assert field in problems, problems
    assert reason in problems[field]
    assert caught.value.detail.startswith(f"{caught.value.errors[0].field}: ")


def test_bad_settings_under_a_prefix() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_governance({"quiet_hours": {"start": "7pm"}}, field_prefix="settings.governance")
    assert [p.field for p in caught.value.errors] == ["settings.governance.quiet_hours.start"]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Touch(datetime(2026, 6, 15, 9, 0), "wecom", Priority.marketing, False)
    with pytest.raises(ValueError, match="aware"):
        decide(MARKETING, [], GovernanceSettings(), SH, datetime(2026, 6, 15, 9, 0))


# Forecast


def test_forecast_counts_outcomes_by_rule() -> None:
    now = local(SH, 2026, 6, 15, 23, 0)
    settings = GovernanceSettings()
    today = [touch(local(SH, 2026, 6, 16, 8, 0))]  # already deferred to tomorrow morning
    decisions = [
        decide(MARKETING, [], settings, SH, now),
        decide(MARKETING, [], settings, SH, now),
        decide(MARKETING, today, settings, SH, now),
        decide(MARKETING, [], settings, SH, now, opted_out=True),
        decide(Outgoing("wecom", Priority.service, promotional=False), today, settings, SH, now),
    ]
    assert forecast(decisions) == {"defer:quiet_hours": 2, "block:daily_cap": 1, "block:opt_out": 1, "send": 1}
    assert forecast([]) == {}
