"""The whole population at once (vectorized over every contact): when each contact joined and through which
channel code, its tier, which customer group it joins, and who invited it. Everything that needs one
contact's history only is generated later, block by block (``blocks``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from siyu.demo import calibration as cal
from siyu.demo.presets import Preset

DAY = 86_400
TZ_OFFSET = 8 * 3600  # Asia/Shanghai, no daylight saving time
ROUTE_WECOM, ROUTE_MP, ROUTE_PLATFORM = 0, 1, 2
INACTIVE, ACTIVE, VIP = 0, 1, 2
KEEN_SPEAK = 0.35  # VIP and Active members speak in 35% of their earlier months (the last 30 days are apart)
# Hour-of-day weights (Shanghai) of new contacts: lunch and evening peaks (assumption).
ADD_HOURS = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 2, 3, 4, 5, 5, 7, 6, 5, 5, 5, 5, 6, 7, 9, 10, 8, 4], float)
Ints = NDArray[np.int64]


@dataclass
class Window:
    start: int  # epoch seconds, inclusive
    end: int  # epoch seconds, exclusive

    @property
    def days(self) -> int:
        return (self.end - self.start) // DAY


@dataclass
class Population:
    preset: Preset
    window: Window
    staff_count: int
    added: Ints  # epoch seconds, ascending: contact index order is join order
    route: NDArray[np.int8]
    campaign: NDArray[np.int16]  # index into preset.campaigns; -1 off WeCom
    staff: NDArray[np.int32]  # owner staff index; -1 off WeCom
    platform: NDArray[np.int8]  # index into preset.sales_channels for platform-route contacts, else -1
    tier: NDArray[np.int8]
    engage: NDArray[np.float32]  # open-propensity multiplier, mean 1
    group: NDArray[np.int32]  # customer group index; -1 for none
    group_joined: Ints
    inviter: Ints  # contact index of the inviter; -1 when not referred
    inviters: NDArray[np.int16]  # referral campaign a contact was chosen to invite for; -1 for none
    groups_total: int = 0
    regular_groups: int = 0  # group indexes below this are community groups, the rest VIP groups
    inactive_buy_share: float = 0.0  # chance an Inactive WeCom/公众号 contact buys (to hit preset.buyer_share)
    inactive_speak: float = 0.0  # chance an Inactive member speaks in a month (to hit the participation rate)

    @property
    def size(self) -> int:
        return len(self.added)


def build(preset: Preset, size: int, window: Window, rng: np.random.Generator) -> Population:
    staff_count = max(cal.MIN_STAFF, -(-size // cal.CONTACTS_PER_STAFF))
    added, headline = _join_times(size, window, rng)
    tier = _tiers(preset, added, window, rng)
    route = rng.choice(3, size=size, p=np.asarray(preset.route_shares) / sum(preset.route_shares)).astype(np.int8)
    route[headline | (tier > INACTIVE)] = ROUTE_WECOM  # VIP and Active talk in the WeCom groups
    campaign = _campaigns(preset, route, headline, rng)
    staff = np.where(route == ROUTE_WECOM, rng.integers(0, staff_count, size), -1).astype(np.int32)
    shares = np.asarray([w for _, w in preset.sales_channels])
    platform = np.where(route == ROUTE_PLATFORM, rng.choice(len(shares), size=size, p=shares / shares.sum()), -1)
    engage = rng.gamma(4.0, 0.25, size).astype(np.float32)
    pop = Population(
        preset=preset,
        window=window,
        staff_count=staff_count,
        added=added,
        route=route,
        campaign=campaign,
        staff=staff,
        platform=platform.astype(np.int8),
        tier=tier,
        engage=engage,
        group=np.full(size, -1, np.int32),
        group_joined=np.zeros(size, np.int64),
        inviter=np.full(size, -1, np.int64),
        inviters=np.full(size, -1, np.int16),
    )
    _referrals(pop, rng)
    _groups(pop, rng)
    keen = float(np.mean(tier > INACTIVE))
    free = float(np.mean((tier == INACTIVE) & (route != ROUTE_PLATFORM)))
    buyers_left = preset.buyer_share - keen - float(np.mean((tier == INACTIVE) & (route == ROUTE_PLATFORM)))
    pop.inactive_buy_share = min(1.0, max(0.0, buyers_left / free)) if free else 0.0
    members = pop.group >= 0
    keen_members = float(np.mean(tier[members] > INACTIVE)) if members.any() else 0.0
    target = cal.GROUP_MONTHLY_PARTICIPATION - KEEN_SPEAK * keen_members
    pop.inactive_speak = min(1.0, max(0.02, target / max(1.0 - keen_members, 1e-9)))
    return pop


def _join_times(size: int, window: Window, rng: np.random.Generator) -> tuple[Ints, NDArray[np.bool_]]:
    """Joins grow linearly over the window (×2 from first to last day); ``HEADLINE_SHARE`` of them land in
    the headline windows (≤ 2 a month, 3 days each). Returned sorted, with the headline mask."""
    days = window.days
    weights = 1.0 + np.arange(days) / max(days - 1, 1)
    months = max(1, round(days / 30.4))
    starts = rng.choice(
        max(days - cal.HEADLINE_DAYS, 1), size=min(months * cal.HEADLINE_PER_MONTH, days), replace=False
    )
    spike_days = np.unique(np.clip(starts[:, None] + np.arange(cal.HEADLINE_DAYS), 0, days - 1))
    headline = rng.random(size) < cal.HEADLINE_SHARE
    day = rng.choice(days, size=size, p=weights / weights.sum())
    day[headline] = rng.choice(spike_days, size=int(headline.sum()))
    hour = rng.choice(24, size=size, p=ADD_HOURS / ADD_HOURS.sum())
    local_midnight = window.start + day * DAY
    seconds = local_midnight + hour * 3600 + rng.integers(0, 3600, size)
    order = np.argsort(seconds, kind="stable")
    return seconds[order].astype(np.int64), headline[order]


def _campaigns(
    preset: Preset, route: NDArray[np.int8], headline: NDArray[np.bool_], rng: np.random.Generator
) -> NDArray[np.int16]:
    regular = [i for i, c in enumerate(preset.campaigns) if not c.headline]
    special = [i for i, c in enumerate(preset.campaigns) if c.headline]
    weights = np.asarray([preset.campaigns[i].weight for i in regular])
    out = np.asarray(regular)[rng.choice(len(regular), size=len(route), p=weights / weights.sum())]
    if special:
        out[headline] = rng.choice(special, size=int(headline.sum()))
    return np.where(route == ROUTE_WECOM, out, -1).astype(np.int16)


def _tiers(preset: Preset, added: Ints, window: Window, rng: np.random.Generator) -> NDArray[np.int8]:
    """VIP and Active contacts must be able to meet the seed-000 thresholds at the end of the window, so
    they are drawn among contacts who joined early enough to have a purchase history."""
    size = len(added)
    tenure = min(90 * DAY, (window.end - window.start) // 2)
    eligible = np.flatnonzero(added <= window.end - tenure)
    vip_n, active_n = (min(round(s * size), len(eligible)) for s in preset.tier_shares)
    active_n = min(active_n, len(eligible) - vip_n)
    chosen = rng.permutation(eligible)
    tier = np.zeros(size, np.int8)
    tier[chosen[:vip_n]] = VIP
    tier[chosen[vip_n : vip_n + active_n]] = ACTIVE
    return tier


def _top_k_weighted(weights: NDArray[np.float64], k: int, rng: np.random.Generator) -> Ints:
    """k indexes drawn without replacement with probability ∝ weight (Efraimidis-Spirakis keys)."""
    if k <= 0:
        return np.zeros(0, np.int64)
    keys = np.log(rng.random(len(weights))) / weights
    return np.argpartition(-keys, k - 1)[:k].astype(np.int64)


def _referrals(pop: Population, rng: np.random.Generator) -> None:
    """Each referral campaign c with coefficient k_c brought R_c invitees; R_c / k_c inviters are drawn
    (VIP ×4, Active ×2) and every invitee gets an inviter who joined before it, so that the campaign's new
    customers per inviter is its seed coefficient. Invitees with nobody earlier fall back to a
    non-referral campaign."""
    preset = pop.preset
    fallback = next(i for i, c in enumerate(preset.campaigns) if c.referral_coefficient is None and not c.headline)
    tier_weight = np.asarray([1.0, 2.0, 4.0])[pop.tier]
    taken = np.zeros(pop.size, np.bool_)
    for index, campaign in enumerate(preset.campaigns):
        if campaign.referral_coefficient is None:
            continue
        invitees = np.flatnonzero(pop.campaign == index)
        if len(invitees) == 0:
            continue
        count = max(1, round(len(invitees) / campaign.referral_coefficient))
        count = min(count, int(cal.MAX_INVITER_SHARE * pop.size))
        weights = np.where(taken | (pop.added >= pop.added[invitees[-1]]), 1e-12, tier_weight)
        chosen = np.sort(_top_k_weighted(weights, count, rng))
        taken[chosen] = True
        pop.inviters[chosen] = index
        before = np.searchsorted(pop.added[chosen], pop.added[invitees] - 60, side="left")
        ok = before > 0
        picks = (rng.random(len(invitees)) * np.maximum(before, 1)).astype(np.int64)
        pop.inviter[invitees[ok]] = chosen[picks[ok]]
        pop.campaign[invitees[~ok]] = fallback


def _groups(pop: Population, rng: np.random.Generator) -> None:
    """Community groups fill up in join order (a new group opens when one is full); VIPs join the VIP
    groups. VIP and Active contacts always join (they must talk there); others with the preset's rate."""
    preset, size = pop.preset, pop.size
    on_wecom = pop.route == ROUTE_WECOM
    join = on_wecom & ((pop.tier > INACTIVE) | (rng.random(size) < preset.group_join))
    delay = (rng.exponential(2.0, size) * DAY).astype(np.int64) + 600
    joined = np.minimum(pop.added + delay, pop.window.end - 1)
    offset = 0
    for is_vip, capacity in ((False, cal.GROUP_CAPACITY[0]), (True, cal.GROUP_CAPACITY[1])):
        members = np.flatnonzero(join & ((pop.tier == VIP) == is_vip))
        members = members[np.argsort(joined[members], kind="stable")]
        pop.group[members] = offset + np.arange(len(members)) // capacity
        offset += -(-len(members) // capacity)
        if not is_vip:
            pop.regular_groups = offset
    pop.group_joined = np.where(pop.group >= 0, joined, 0)
    pop.groups_total = offset


def local_hour(seconds: Ints) -> Ints:
    return ((seconds + TZ_OFFSET) // 3600) % 24


def local_day(seconds: Ints) -> Ints:
    """Days since the epoch in Shanghai time (for day-of-month and weekday arithmetic)."""
    return (seconds + TZ_OFFSET) // DAY
