"""The content calendar: what was broadcast when, on WeCom (企业群发) and the 公众号, with the seed-000 mix
of content types, each sent at its type's best time, and promotions spaced as the seed asks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from siyu.demo import calibration as cal
from siyu.demo.population import DAY, TZ_OFFSET, Window
from siyu.demo.presets import Preset

CHANNELS = ("wecom", "mp")


@dataclass(frozen=True)
class Send:
    at: int  # epoch seconds
    channel: str
    content_type: int  # index into calibration.CONTENT_TYPES
    content_id: str
    title: str


def window_for(until: date, months: int) -> Window:
    """``months`` calendar months ending at ``until`` 00:00 in Asia/Shanghai."""
    year, month = until.year, until.month - months
    while month < 1:
        month += 12
        year -= 1
    start = date(year, month, min(until.day, 28))
    return Window(start=_epoch(start), end=_epoch(until))


def month_starts(window: Window) -> list[int]:
    """Epoch seconds of the 1st of every month (Shanghai midnight) inside the window."""
    first = np.datetime64((window.start + TZ_OFFSET) // DAY, "D").astype("datetime64[M]")
    last = np.datetime64((window.end - 1 + TZ_OFFSET) // DAY, "D").astype("datetime64[M]")
    days = np.arange(first, last + 1).astype("datetime64[D]").astype(np.int64)
    starts = days * DAY - TZ_OFFSET
    return [int(s) for s in starts if window.start <= s < window.end]


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY - TZ_OFFSET


def plan(preset: Preset, window: Window, months: int, rng: np.random.Generator) -> list[Send]:
    sends: list[Send] = []
    for channel in CHANNELS:
        count = max(1, months * cal.SENDS_PER_MONTH)
        types = _type_sequence(count, rng)
        period = (window.end - window.start) / count
        for i, kind in enumerate(types.tolist()):
            lo = window.start + int(i * period)
            hi = window.start + int((i + 1) * period)
            at = _slot_time(kind, lo, hi, rng)
            titles = preset.content_titles[kind]
            sends.append(Send(at, channel, kind, f"{channel}-{i + 1:03d}", titles[int(rng.integers(len(titles)))]))
    return sorted(sends, key=lambda s: (s.at, s.channel))


def _type_sequence(count: int, rng: np.random.Generator) -> np.ndarray:
    """Types in the seed mix (largest remainder), promotions evenly spaced so that no more than
    ``PROMOTIONS_BEFORE_BREAK`` come without ``NON_COMMERCIAL_BREAK`` other posts between them."""
    mix = np.asarray(cal.CONTENT_MIX) * count
    counts = np.floor(mix).astype(np.int64)
    for i in np.argsort(-(mix - counts))[: count - counts.sum()]:
        counts[i] += 1
    others = rng.permutation(
        np.repeat(
            [k for k in range(len(counts)) if k != cal.PROMOTION],
            [c for k, c in enumerate(counts) if k != cal.PROMOTION],
        )
    )
    promos = int(counts[cal.PROMOTION])
    out = np.empty(count, np.int64)
    slots = np.zeros(count, np.bool_)
    if promos:
        slots[np.floor((np.arange(promos) + 0.5) * count / promos).astype(np.int64)] = True
    out[slots] = cal.PROMOTION
    out[~slots] = others
    return out


def _slot_time(kind: int, lo: int, hi: int, rng: np.random.Generator) -> int:
    """A time in [lo, hi) on a day and hour the seed gives as best for this content type."""
    weekday_ok, weekend_ok, first_hour, last_hour = cal.SEND_SLOTS[kind]
    first_day, last_day = (lo + TZ_OFFSET) // DAY, (hi - 1 + TZ_OFFSET) // DAY
    days = np.arange(first_day, last_day + 1)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    allowed = np.where(weekday < 5, weekday_ok, weekend_ok)
    candidates = days[allowed] if allowed.any() else days
    for _ in range(8):
        day = int(rng.choice(candidates))
        at = day * DAY - TZ_OFFSET + int(rng.integers(first_hour * 3600, last_hour * 3600))
        if lo <= at < hi:
            return at
    return lo + (hi - lo) // 2
