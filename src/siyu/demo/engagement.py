"""What a block's contacts do with the brand's content and groups: who each broadcast reached (logged for
the last SEND_LOG_DAYS), opens and clicks (rates by content type, hour-of-day curve), unfollows after
promotions, group life (join, leave, talk), and the daily / weekly interaction of VIP and Active contacts in
the last 30 days."""

from __future__ import annotations

import itertools
from typing import Final

import numpy as np

from siyu.demo import calibration as cal
from siyu.demo.block import NEVER, SLOT_MP, SLOT_WECOM, Block, Ints
from siyu.demo.calendar import Send
from siyu.demo.names import opaque
from siyu.demo.population import ACTIVE, DAY, INACTIVE, KEEN_SPEAK, ROUTE_WECOM, TZ_OFFSET, VIP, local_day, local_hour

HOUR: Final = 3600
GROUP_SALT: Final = 31
# message_sent (one per recipient of a broadcast) is written for the last 90 days only, to keep volumes
# modest: over the whole year it would be ≈ 24 events per contact, about twice all the other events
# together (6 per contact for 90 days). Opens and clicks of older broadcasts stay, without send rows.
SEND_LOG_DAYS: Final = 90


def content(block: Block, sends: list[Send], link_base: str) -> None:
    rng, buf = block.rng, block.buf
    added, engage = block.added, block.pop.engage[block.lo : block.hi]
    wecom = block.route == ROUTE_WECOM
    fatigue_ok = wecom & (block.tier == INACTIVE)
    log_from = block.end - SEND_LOG_DAYS * DAY
    for send in sends:
        at = send.at
        if send.channel == "wecom":
            heard = np.flatnonzero(wecom & (added < at) & (block.deleted > at))
            slot, source = SLOT_WECOM, "wecom"
        else:
            heard = np.flatnonzero(block.mp_follow & (block.mp_since < at))
            slot, source = SLOT_MP, "mp"
        props = buf.text(
            {
                "channel": send.channel,
                "content_type": cal.CONTENT_TYPES[send.content_type],
                "content_id": send.content_id,
            }
        )
        if at >= log_from:
            buf.add("message_sent", heard, np.full(len(heard), at, np.int64), props, source=source, slot=slot)
            if send.channel == "wecom":
                block.ledger.append((send, heard))
        rate = cal.OPEN_RATE[send.content_type]
        opened = heard[rng.random(len(heard)) < np.minimum(rate * engage[heard], 0.95)]
        when = _open_times(block, at, len(opened))  # always after the send
        keep = when < np.minimum(block.end, block.deleted[opened] if send.channel == "wecom" else NEVER)
        opened, when = opened[keep], when[keep]
        buf.add("message_opened", opened, when, props, source=source, slot=slot)
        clicked = rng.random(len(opened)) < cal.CLICK_RATE / rate
        click_at = when[clicked] + rng.integers(5, 120, int(clicked.sum()))
        link = {"link": f"{link_base}/{send.content_id}", "content_id": send.content_id, "channel": send.channel}
        keep = click_at < block.end
        buf.add("link_clicked", opened[clicked][keep], click_at[keep], buf.text(link), source=source, slot=slot)
        if send.channel == "wecom":
            # seed 000: over-promotion raises unfollows by 40%; only past the first month (early churn is
            # drawn separately) and never VIP / Active.
            hazard = cal.UNFOLLOW_PER_SEND * (
                cal.PROMOTION_UNFOLLOW_UPLIFT if send.content_type == cal.PROMOTION else 1
            )
            pool = heard[fatigue_ok[heard] & (at - added[heard] > 30 * DAY)]
            gone = pool[rng.random(len(pool)) < hazard]
            block.deleted[gone] = np.minimum(block.deleted[gone], block.uniform(at + HOUR, at + 2 * DAY, len(gone)))


def _open_times(block: Block, at: int, count: int) -> Ints:
    """Most opens come minutes after the send; EVENING_OPEN_SHARE are read 20:00-22:00 (seed 003)."""
    rng = block.rng
    soon = at + 30 + rng.exponential(cal.OPEN_DELAY_MINUTES * 60, count).astype(np.int64)
    day = (at + TZ_OFFSET) // DAY + (local_hour(np.asarray([at]))[0] >= cal.EVENING_OPEN_HOURS[0])
    first, last = cal.EVENING_OPEN_HOURS
    evening = day * DAY - TZ_OFFSET + first * HOUR + rng.integers(0, (last - first) * HOUR, count)
    return np.where(rng.random(count) < cal.EVENING_OPEN_SHARE, evening, soon)


def deletions(block: Block, userids: list[str]) -> None:
    gone = np.flatnonzero(block.deleted < block.end)
    staff = block.pop.staff[block.lo : block.hi][gone]
    texts = np.asarray([block.buf.text({"staff": u}) for u in userids], np.int64)
    block.buf.add("contact_deleted", gone, block.deleted[gone], texts[staff], source="wecom", slot=SLOT_WECOM)


def group_ids(pop_groups: Ints, prefix: str = "wr") -> list[str]:
    return opaque(pop_groups, prefix, GROUP_SALT, width=10, tail=8)


def groups(block: Block, months: list[int]) -> None:
    pop, rng, buf = block.pop, block.rng, block.buf
    group = pop.group[block.lo : block.hi]
    members = np.flatnonzero(group >= 0)
    if len(members) == 0:
        return
    present = np.unique(group[members])
    names = pop.preset.group_names
    texts = np.zeros(pop.groups_total, np.int64)
    for g, gid in zip(present.tolist(), group_ids(present.astype(np.int64)), strict=True):
        vip = g >= pop.regular_groups
        number = g - pop.regular_groups + 1 if vip else g + 1
        texts[g] = buf.text({"group_id": gid, "group_name": f"{names[int(vip)]} {number}"})
    joined = pop.group_joined[block.lo : block.hi][members]
    buf.add("group_joined", members, joined, texts[group[members]], source="wecom", slot=SLOT_WECOM)
    keen = block.tier[members] > INACTIVE
    leave = ~keen & (rng.random(len(members)) < pop.preset.group_leave_30d)
    left = np.where(leave, joined + HOUR + (rng.random(len(members)) * 30 * DAY).astype(np.int64), NEVER)
    gone = left < block.end
    buf.add("group_left", members[gone], left[gone], texts[group[members[gone]]], source="wecom", slot=SLOT_WECOM)
    until = np.minimum(np.minimum(left, block.deleted[members]), block.recent)
    bounds = sorted({block.pop.window.start, *months, block.end})
    speak = np.where(keen, KEEN_SPEAK, pop.inactive_speak)
    for lo, hi in itertools.pairwise(bounds):
        start, stop = np.maximum(joined, lo), np.minimum(until, hi)
        # A member there for part of the month speaks with a proportionally smaller chance.
        share = np.clip((stop - start) / (hi - lo), 0.0, 1.0)
        talk = np.flatnonzero((stop > start) & (rng.random(len(members)) < speak * share))
        count = 1 + rng.poisson(cal.GROUP_MESSAGES_PER_SPEAKER - 1, len(talk))
        who = np.repeat(talk, count)
        when = _group_times(block, start[who], stop[who])
        buf.add("group_message", members[who], when, texts[group[members[who]]], source="wecom", slot=SLOT_WECOM)
    recent(block, members, texts[group[members]])


def _group_times(block: Block, start: Ints, stop: Ints) -> Ints:
    """Uniform over the member's time in the month, moved to the preset's busy hours when that stays inside."""
    rng = block.rng
    raw = block.uniform(start, stop, len(start))
    hours = np.asarray(block.pop.preset.group_hours)[rng.integers(0, len(block.pop.preset.group_hours), len(raw))]
    hours = np.where(rng.random(len(raw)) < 0.6, hours, rng.integers(8, 24, len(raw)))
    snapped = local_day(raw) * DAY - TZ_OFFSET + hours * HOUR + rng.integers(0, HOUR, len(raw))
    return np.where((snapped >= start) & (snapped < stop), snapped, raw)


def recent(block: Block, members: Ints, texts: Ints) -> None:
    """seed 000 社群活跃度: VIP 每日互动 (a group message or a check-in every day of the last 30), Active
    每周参与 (a group message every week). Seed 004: 连续 7 天签到送积分."""
    rng, buf = block.rng, block.buf
    tier = block.tier[members]
    vip, vip_texts = members[tier == VIP], texts[tier == VIP]
    streak = np.zeros(len(vip), np.int64)
    bonus = buf.text({"points": cal.CHECKIN_STREAK_BONUS_POINTS, "reason": "checkin_streak"})
    for day in range(30):
        start = block.recent + day * DAY
        hours = np.asarray(block.pop.preset.group_hours)[rng.integers(0, len(block.pop.preset.group_hours), len(vip))]
        at = start + hours * HOUR + rng.integers(0, HOUR, len(vip))
        talk = rng.random(len(vip)) < 0.6
        buf.add("group_message", vip[talk], at[talk], vip_texts[talk], source="wecom", slot=SLOT_WECOM)
        streak = np.where(talk, 0, streak + 1)
        check = ~talk
        check_at = start + 8 * HOUR + rng.integers(0, 2 * HOUR, int(check.sum()))
        props = np.asarray([buf.text({"streak": int(s)}) for s in streak[check].tolist()], np.int64)
        buf.add("checkin", vip[check], check_at, props, source="miniprogram", slot=SLOT_WECOM)
        hit = streak[check] == cal.CHECKIN_STREAK_BONUS_DAYS
        buf.add("points_earned", vip[check][hit], check_at[hit] + 1, bonus, source="loyalty", slot=SLOT_WECOM)
    active, active_texts = members[tier == ACTIVE], texts[tier == ACTIVE]
    for week in range(4):
        start = block.recent + week * 7 * DAY
        at = start + rng.integers(0, 7 * DAY, len(active))
        buf.add("group_message", active, at, active_texts, source="wecom", slot=SLOT_WECOM)
