"""A contact's life with the brand outside content and groups: joining (channel code, welcome flow),
early churn, referrals, surveys and service replies after orders, VIP birthday coupons, and the
7-day retention the seeds calibrate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from siyu.demo import calibration as cal
from siyu.demo.block import NEVER, SLOT_MINI, SLOT_MP, SLOT_WECOM, Block, Ints, Orders
from siyu.demo.buffer import ENGAGEMENT, NAME, appended, dumps
from siyu.demo.population import DAY, INACTIVE, ROUTE_MP, ROUTE_WECOM, TZ_OFFSET, VIP

HOUR: Final = 3600
BIRTHDAY_VALID_DAYS: Final = 30  # assumption: the birthday coupon is valid for its month


@dataclass
class Referrals:
    """Invitees grouped by inviter: ``invitees[starts[i]:starts[i + 1]]`` were invited by contact i."""

    invitees: Ints
    starts: Ints
    codes: Callable[[Ints], list[str]]  # invite codes of contact indexes


def referral_index(inviter: Ints, codes: Callable[[Ints], list[str]]) -> Referrals:
    order = np.argsort(inviter, kind="stable")
    order = order[inviter[order] >= 0]
    starts = np.searchsorted(inviter[order], np.arange(len(inviter) + 1))
    return Referrals(order.astype(np.int64), starts.astype(np.int64), codes)


def people(block: Block) -> None:
    """Birthdays (every VIP has one on file, 40% of the others) within the preset's age range."""
    rng, n = block.rng, block.n
    low, high = block.pop.preset.age_range
    known = (block.tier == VIP) | (rng.random(n) < 0.4)
    age_days = (rng.uniform(low, high + 1, n) * 365.25).astype(np.int64)
    born = (block.pop.window.end + TZ_OFFSET) // DAY - age_days
    block.birthday = np.where(known, born, -1)


def designate_retention(block: Block, orders: Orders) -> None:
    """Who is active in days 1-7 after joining: everyone who orders then, plus enough others that the
    eligible share is the preset's 7-day retention (seed 000 >40% healthy; seed 003 <30% a problem)."""
    day = (orders.paid - block.added[orders.contact]) // DAY
    ordered = np.zeros(block.n, np.bool_)
    ordered[orders.contact[(day >= 1) & (day <= 7)]] = True
    eligible = block.added <= block.end - 8 * DAY
    share = float(ordered[eligible].mean()) if eligible.any() else 0.0
    rate = min(1.0, max(0.0, (block.pop.preset.retention_7d - share) / max(1.0 - share, 1e-9)))
    block.retained = ordered | (block.rng.random(block.n) < rate)


def acquisition(block: Block, states: list[str], userids: list[str]) -> None:
    """``states``: channel code states by (campaign × staff count + staff); ``userids`` of the staff."""
    pop, rng, buf, n = block.pop, block.rng, block.buf, block.n
    added, route = block.added, block.route
    wecom = np.flatnonzero(route == ROUTE_WECOM)
    campaign = pop.campaign[block.lo : block.hi][wecom].astype(np.int64)
    staff = pop.staff[block.lo : block.hi][wecom].astype(np.int64)
    codes, which = np.unique(campaign * pop.staff_count + staff, return_inverse=True)
    texts = np.asarray(
        [buf.text({"state": states[c], "staff": userids[c % pop.staff_count]}) for c in codes.tolist()], np.int64
    )
    buf.add("contact_added", wecom, added[wecom], texts[which], source="wecom", slot=SLOT_WECOM)
    block.used_slot[wecom, SLOT_WECOM] = True
    # The 公众号: followers who came through it, and WeCom contacts who also follow it.
    block.mp_follow = (route == ROUTE_MP) | ((route == ROUTE_WECOM) & (rng.random(n) < cal.MP_FOLLOW_SHARE))
    since = np.where(route == ROUTE_MP, added, added + 600 + (rng.random(n) * 3 * DAY).astype(np.int64))
    block.mp_since = np.where(block.mp_follow & (since < block.end), since, NEVER)
    follow = np.flatnonzero(block.mp_since < NEVER)
    props = buf.text({"channel": "mp", "appid": pop.preset.mp_appid})
    buf.add("subscribed", follow, block.mp_since[follow], props, source="mp", slot=SLOT_MP)
    block.used_slot[follow, SLOT_MP] = True
    # Welcome flow (seed 003): the new-customer coupon at once, the staff greeting within the hour.
    welcome = buf.text({"coupon_id": "welcome-new", "kind": "新人券"})
    buf.add("coupon_issued", wecom, added[wecom] + 5, welcome, source="wecom", slot=SLOT_WECOM)
    reply = wecom[rng.random(len(wecom)) < cal.REPLY_RATE]
    at = (
        added[reply]
        + block.uniform(60, cal.GREETING_WITHIN_MINUTES * 60, len(reply))
        + block.uniform(0, 1800, len(reply))
    )
    text = buf.text({"channel": "wecom", "msg_type": "text"})
    buf.add("message_received", reply, at, text, source="wecom", slot=SLOT_WECOM)
    # Early churn: the preset's share of WeCom contacts deletes within 30 days (seed 002: 近 30%).
    # Contacts kept for the 7-day retention stay past day 7; VIP and Active never leave.
    loose = (route == ROUTE_WECOM) & (block.tier == INACTIVE)
    scale = (route == ROUTE_WECOM).sum() / max(int(loose.sum()), 1)
    churn = loose & (rng.random(n) < pop.preset.churn_30d * scale)
    low = np.where(block.retained, 8 * DAY, HOUR)
    when = added + low + (rng.random(n) * (30 * DAY - low)).astype(np.int64)
    block.deleted = np.where(churn, when, NEVER)


def referrals(block: Block, index: Referrals) -> None:
    """referral_converted on each invitee; referral_invited for every invitation an inviter sent: one per
    converted friend, topped up to at least three (seed 000: 发送链接给 3 位好友)."""
    pop, rng, buf = block.pop, block.rng, block.buf
    local = block.local
    inviter = pop.inviter[block.lo : block.hi]
    came = np.flatnonzero(inviter >= 0)
    codes = index.codes(inviter[came])
    keys = [c.key for c in pop.preset.campaigns]
    campaign = pop.campaign[block.lo : block.hi][came].tolist()
    props = [
        dumps({"inviter": int(block.ids.contact + i), "code": c, "campaign": keys[k]})
        for i, c, k in zip(inviter[came].tolist(), codes, campaign, strict=True)
    ]
    buf.add("referral_converted", came, block.added[came] + 30, buf.texts_of(props), source="referral", slot=SLOT_WECOM)
    hosts = local[pop.inviters[block.lo : block.hi] >= 0]
    if len(hosts) == 0:
        return
    g_hosts = hosts + block.lo
    host_codes = index.codes(g_hosts)
    host_campaign = [keys[k] for k in pop.inviters[g_hosts].tolist()]
    lo, hi = index.starts[g_hosts], index.starts[g_hosts + 1]
    friends = hi - lo
    who = np.repeat(hosts, friends)
    invitees = index.invitees[np.repeat(lo, friends) + _ranks(friends)]
    sent = np.maximum(block.added[who] + 60, pop.added[invitees] - block.uniform(600, 2 * DAY, len(who)))
    code_of = np.repeat(np.arange(len(hosts)), friends)
    props = [
        dumps({"invitee": int(block.ids.contact + j), "code": host_codes[h], "campaign": host_campaign[h]})
        for j, h in zip(invitees.tolist(), code_of.tolist(), strict=True)
    ]
    buf.add("referral_invited", who, sent, buf.texts_of(props), source="referral", slot=SLOT_WECOM)
    extra = np.maximum(cal.MIN_INVITATIONS - friends, 0) + rng.poisson(0.5, len(hosts))
    code_of = np.repeat(np.arange(len(hosts)), extra)
    who = hosts[code_of]
    latest = np.minimum(block.added[who] + 60 * DAY, block.end - 1)
    sent = block.uniform(np.minimum(block.added[who] + HOUR, latest), latest, len(who))
    keep = sent < block.end
    props = [
        dumps({"invitee": None, "code": host_codes[h], "campaign": host_campaign[h]}) for h in code_of[keep].tolist()
    ]
    buf.add("referral_invited", who[keep], sent[keep], buf.texts_of(props), source="referral", slot=SLOT_WECOM)


def _ranks(counts: Ints) -> Ints:
    """0, 1, …, c-1 for each count c, concatenated."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def after_orders(block: Block, orders: Orders) -> None:
    rng, buf = block.rng, block.buf
    # NPS after the first order, answered at the 个人号 response rate (seed 000 5%-10%).
    buyers = np.flatnonzero(orders.first < NEVER)
    asked = buyers[rng.random(len(buyers)) < cal.REPLY_RATE]
    at = orders.first[asked] + block.uniform(3 * DAY, 7 * DAY, len(asked))
    asked, at = asked[at < block.end], at[at < block.end]
    kind = rng.choice(3, size=len(asked), p=cal.NPS_SHARES)
    score = np.where(
        kind == 0,
        rng.integers(0, 7, len(asked)),
        np.where(kind == 1, rng.integers(7, 9, len(asked)), rng.integers(9, 11, len(asked))),
    )
    texts = np.asarray([buf.text({"survey_id": "nps-first-order", "score": s}) for s in range(11)], np.int64)
    buf.add("survey_answered", asked, at, texts[score], source="wecom", slot=SLOT_WECOM)
    # 售后回访: staff follow up every order on WeCom; some customers answer.
    on_wecom = block.route[orders.contact] == ROUTE_WECOM
    answer = np.flatnonzero(on_wecom & (rng.random(len(orders.contact)) < cal.REPLY_RATE))
    at = orders.paid[answer] + block.uniform(2 * DAY, 4 * DAY, len(answer))
    keep = at < np.minimum(block.end, block.deleted[orders.contact[answer]])
    text = buf.text({"channel": "wecom", "msg_type": "text"})
    buf.add("message_received", orders.contact[answer][keep], at[keep], text, source="wecom", slot=SLOT_WECOM)
    _birthdays(block, orders)


def birthday_coupons(block: Block) -> tuple[Ints, Ints]:
    """VIPs with a birthday month in the window, and when their 生日礼遇 coupon is issued: the 1st of that
    month, 09:00 (never before they joined)."""
    vip = np.flatnonzero((block.tier == VIP) & (block.birthday >= 0))
    month_of_year = block.birthday[vip].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    last = np.datetime64((block.end - 1 + TZ_OFFSET) // DAY, "D").astype("datetime64[M]")
    month = np.datetime64(str(last.astype("datetime64[Y]")), "M") + month_of_year
    month = np.where(month > last, month - 12, month)
    issue = month.astype("datetime64[D]").astype(np.int64) * DAY - TZ_OFFSET + 9 * HOUR
    issue = np.maximum(issue, block.added[vip] + HOUR)
    ok = (issue >= block.pop.window.start) & (issue < block.end - HOUR)
    return vip[ok], issue[ok]


def _birthdays(block: Block, orders: Orders) -> None:
    """coupon_issued for every VIP birthday coupon; coupon_redeemed with the first order within its month
    for the ones commerce made redeem (seed 000: 核销率 78%)."""
    buf = block.buf
    vip, issue, redeem = block.birthday_vip, block.birthday_issue, block.birthday_redeem
    props = buf.text({"coupon_id": "birthday", "kind": "生日礼遇"})
    buf.add("coupon_issued", vip, issue, props, source="wecom", slot=SLOT_WECOM)
    span = np.int64(2**40)
    keys = orders.contact * span + orders.paid
    nxt = np.minimum(np.searchsorted(keys, vip * span + issue), max(len(keys) - 1, 0))
    use = redeem & (orders.contact[nxt] == vip) & (orders.paid[nxt] < issue + BIRTHDAY_VALID_DAYS * DAY)
    texts = [dumps({"coupon_id": "birthday", "order_id": orders.order_id[i]}) for i in nxt[use].tolist()]
    at = orders.paid[nxt[use]] + 3
    buf.add("coupon_redeemed", vip[use], at, buf.texts_of(texts), source="wecom", slot=SLOT_WECOM)


def fix_retention(block: Block, cols: dict[str, Ints], home_page: str) -> dict[str, Ints]:
    """Drop days 1-7 engagement of contacts not designated retained (orders stay: they were counted when
    designating) and give designated contacts without any a 小程序 visit, so the measured 7-day retention
    is the designated share."""
    contact, time, name = cols["contact"], cols["time"], cols["name"]
    day = (time - block.added[contact]) // DAY
    eligible = block.added <= block.end - 8 * DAY
    window = np.isin(name, list(ENGAGEMENT)) & (day >= 1) & (day <= 7) & eligible[contact]
    drop = window & ~block.retained[contact] & (name != NAME["order_paid"])
    cols = {k: v[~drop] for k, v in cols.items()}
    active = np.zeros(block.n, np.bool_)
    active[contact[window & ~drop]] = True
    need = np.flatnonzero(eligible & block.retained & ~active)
    at = block.added[need] + block.uniform(DAY, 8 * DAY - 60, len(need))
    block.used_slot[need, SLOT_MINI] = True
    page = block.buf.text({"page": home_page})
    return appended(cols, "page_view", need, at, page, source="miniprogram", slot=SLOT_MINI)
