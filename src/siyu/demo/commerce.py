"""Orders of a block: purchase times calibrated on the 30-day repurchase rate and the seed-000 tier
thresholds, baskets from the preset's catalogue (amount = Σ price × qty), refunds, the silent-customer
recall coupon, and the events order ingestion would record with them."""

from __future__ import annotations

from typing import Final

import numpy as np

from siyu.demo import calibration as cal
from siyu.demo import lifecycle
from siyu.demo.block import CHANNEL_SLOTS, NEVER, SALES_CHANNELS, SLOT_MINI, SLOT_WECOM, Block, Ints, Orders
from siyu.demo.buffer import dumps
from siyu.demo.population import ACTIVE, DAY, INACTIVE, ROUTE_PLATFORM, ROUTE_WECOM, VIP, local_day

HOUR: Final = 3600
MAX_ORDERS: Final = 60
REGULAR, RECALL, STOCK_UP, RECENT, BIRTHDAY = 0, 1, 2, 3, 4


def generate(block: Block, months: list[int]) -> Orders:
    """``months``: epoch seconds of each month's first day (Shanghai midnight) in the window."""
    contact, paid, tag = _times(block)
    contact, paid, tag = _birthday_orders(block, contact, paid, tag)
    contact, paid, tag, coupon, labels = _recall(block, contact, paid, tag, months)
    order = np.lexsort((paid, contact))
    contact, paid, tag, coupon = contact[order], paid[order], tag[order], coupon[order]
    amount, items = _baskets(block, len(contact))
    empty = np.zeros(0, np.int64)
    orders = Orders(
        contact=contact,
        paid=paid,
        amount=amount,
        refunded=np.zeros(len(contact), np.int64),
        channel=_channels(block, contact),
        tag=tag,
        items=items,
        order_id=[],
        first=_first(block, contact, paid),
        refund_order=empty,
        refund_at=empty,
    )
    _refunds(block, orders)
    coupon = _stock_up(block, orders, coupon)
    _name(block, orders)
    _events(block, orders, coupon, labels)
    return orders


def _times(block: Block) -> tuple[Ints, Ints, Ints]:
    pop, rng, n = block.pop, block.rng, block.n
    preset, tier, added, route = pop.preset, block.tier, block.added, block.route
    end, recent = block.end, block.recent
    buyer = (tier > INACTIVE) | (route == ROUTE_PLATFORM) | (rng.random(n) < pop.inactive_buy_share)
    early = np.maximum(0, np.minimum(30 * DAY, end - 90 * DAY - added))
    first = added + (rng.exponential(preset.first_order_days * DAY, n)).astype(np.int64) + 120
    first = np.where(tier > INACTIVE, added + 120 + (rng.random(n) * early).astype(np.int64), first)
    first = np.where(route == ROUTE_PLATFORM, added, first)
    buyer &= first < end - HOUR
    gap = np.asarray(preset.gap_days)[tier] * DAY
    repeat = rng.random(n) < preset.repurchase_30d
    second = np.where(
        repeat,
        first + HOUR + (rng.random(n) * (30 * DAY - 2 * HOUR)).astype(np.int64),
        first + 30 * DAY + HOUR + rng.exponential(gap).astype(np.int64),
    )
    limit = np.where(tier > INACTIVE, recent, end - HOUR)
    local = block.local
    contacts, times = [local[buyer]], [first[buyer]]
    cur, alive, count = second, buyer & (second < limit), np.ones(n, np.int64)
    while alive.any():
        contacts.append(local[alive])
        times.append(cur[alive])
        count += alive
        cur = cur + HOUR + rng.exponential(gap).astype(np.int64)
        alive &= (cur < limit) & (count < MAX_ORDERS)
    # VIP and Active: exactly the seed-000 number of orders in the last 30 days.
    keen = np.flatnonzero(buyer & (tier > INACTIVE))
    many = np.where(
        tier[keen] == VIP,
        rng.integers(cal.VIP_MIN_ORDERS_30D, 9, len(keen)),
        rng.integers(cal.ACTIVE_ORDERS_30D[0], cal.ACTIVE_ORDERS_30D[1] + 1, len(keen)),
    )
    who = np.repeat(keen, many)
    start = np.maximum(recent, first[who] + HOUR)
    contacts.append(who)
    times.append(block.uniform(start, end - HOUR, len(who)))
    contact, paid = np.concatenate(contacts), np.concatenate(times)
    tag = np.concatenate([np.zeros(len(contact) - len(who), np.int64), np.full(len(who), RECENT, np.int64)])
    # Inactive: at most one order in the last 30 days (the first one stays).
    order = np.lexsort((paid, contact))
    contact, paid, tag = contact[order], paid[order], tag[order]
    late = (paid >= recent) & (tier[contact] == INACTIVE)
    dup = late & np.concatenate(([False], late[:-1] & (contact[1:] == contact[:-1])))
    return contact[~dup], paid[~dup], tag[~dup]


def _birthday_orders(block: Block, contact: Ints, paid: Ints, tag: Ints) -> tuple[Ints, Ints, Ints]:
    """78% of VIP birthday coupons are redeemed (seed 000): a redeeming VIP without an order in the coupon's
    month gets one in its first two weeks (VIPs always have orders in the last 30 days, so these land earlier
    and leave the tier counts alone)."""
    vip, issue = lifecycle.birthday_coupons(block)
    redeem = block.rng.random(len(vip)) < cal.BIRTHDAY_REDEMPTION
    block.birthday_vip, block.birthday_issue, block.birthday_redeem = vip, issue, redeem
    span = np.int64(2**40)
    keys = contact * span + paid
    nxt = np.minimum(np.searchsorted(keys, vip * span + issue), max(len(keys) - 1, 0))
    has = (contact[nxt] == vip) & (paid[nxt] < issue + lifecycle.BIRTHDAY_VALID_DAYS * DAY)
    need = redeem & ~has
    at = block.uniform(issue[need] + 60, np.minimum(issue[need] + 14 * DAY, block.end - 60), int(need.sum()))
    contact, paid = np.concatenate([contact, vip[need]]), np.concatenate([paid, at])
    tag = np.concatenate([tag, np.full(int(need.sum()), BIRTHDAY, np.int64)])
    order = np.lexsort((paid, contact))
    return contact[order], paid[order], tag[order]


def _recall(
    block: Block, contact: Ints, paid: Ints, tag: Ints, months: list[int]
) -> tuple[Ints, Ints, Ints, Ints, list[str]]:
    """On the 1st of each month, silent buyers (no order for 60 days) on WeCom get a 0.1元 flash coupon
    once; 12% of them buy again within 14 days (seed 000). Not in the last 45 days, so no recall order
    touches the 30-day tier window."""
    span = np.int64(2**40)
    keys = contact * span + paid
    recalled = np.zeros(block.n, np.bool_)
    eligible = (block.tier == INACTIVE) & (block.route == ROUTE_WECOM)
    extra_c, extra_t, extra_k, labels = [], [], [], []
    for day in months:
        at = day + 10 * HOUR
        if at > block.end - 45 * DAY:
            break
        last = np.searchsorted(keys, block.local * span + at) - 1
        has = (last >= 0) & (contact[np.maximum(last, 0)] == block.local)
        silent = eligible & has & ~recalled & (paid[np.maximum(last, 0)] <= at - cal.RECALL_SILENT_DAYS * DAY)
        who = np.flatnonzero(silent)
        recalled[who] = True
        label = f"recall-{np.datetime64(int(day) + 8 * HOUR, 's').astype('datetime64[M]')}"
        labels.append(label)
        issued = block.buf.text({"coupon_id": label, "kind": "0.1元秒杀券"})
        block.buf.add("coupon_issued", who, np.full(len(who), at), issued, source="wecom", slot=0)
        back = who[block.rng.random(len(who)) < cal.RECALL_REPURCHASE]
        extra_c.append(back)
        extra_t.append(block.uniform(at + HOUR, at + 14 * DAY, len(back)))
        extra_k.append(np.full(len(back), len(labels) - 1, np.int64))
    coupon = np.full(len(contact), -1, np.int64)
    if not extra_c:
        return contact, paid, tag, coupon, labels
    more = np.concatenate(extra_c)
    return (
        np.concatenate([contact, more]),
        np.concatenate([paid, np.concatenate(extra_t)]),
        np.concatenate([tag, np.full(len(more), RECALL, np.int64)]),
        np.concatenate([coupon, np.concatenate(extra_k)]),
        labels,
    )


def _channels(block: Block, contact: Ints) -> Ints:
    preset, rng = block.pop.preset, block.rng
    names = [c for c, _ in preset.sales_channels]
    weights = np.asarray([w for _, w in preset.sales_channels])
    mapped = np.asarray([SALES_CHANNELS.index(c) for c in names], np.int64)
    channel = mapped[rng.choice(len(names), size=len(contact), p=weights / weights.sum())]
    platform = block.pop.platform[block.lo : block.hi][contact]
    own = (platform >= 0) & (rng.random(len(contact)) < 0.6)
    channel = np.where(own, mapped[np.maximum(platform, 0)], channel)
    first = np.concatenate(([True], contact[1:] != contact[:-1])) if len(contact) else np.zeros(0, np.bool_)
    channel = np.where(first & (platform >= 0), mapped[np.maximum(platform, 0)], channel)
    return channel


def _baskets(block: Block, count: int) -> tuple[Ints, list[str]]:
    preset, rng = block.pop.preset, block.rng
    weights = np.asarray([s.weight for s in preset.skus])
    lines = 1 + np.minimum(rng.poisson(preset.items_per_order - 1.0, count), 4)
    owner = np.repeat(np.arange(count), lines)
    sku = rng.choice(len(preset.skus), size=len(owner), p=weights / weights.sum())
    qty = 1 + (rng.random(len(owner)) < 0.15) + (rng.random(len(owner)) < 0.03)
    price = np.asarray([s.price_fen for s in preset.skus], np.int64)[sku]
    amount = np.bincount(owner, weights=price * qty, minlength=count).astype(np.int64)
    fragments = [[_item(block, s, q) for q in range(4)] for s in range(len(preset.skus))]
    parts = [fragments[s][q] for s, q in zip(sku.tolist(), qty.tolist(), strict=True)]
    ends = np.cumsum(lines).tolist()
    starts = [0, *ends[:-1]]
    items = ["[" + ",".join(parts[a:b]) + "]" for a, b in zip(starts, ends, strict=True)]
    return amount, items


def _item(block: Block, sku: int, qty: int) -> str:
    s = block.pop.preset.skus[sku]
    return dumps({"sku": s.sku, "category": s.category, "name": s.name, "qty": qty, "price_fen": s.price_fen})


def _first(block: Block, contact: Ints, paid: Ints) -> Ints:
    first = np.full(block.n, NEVER, np.int64)
    np.minimum.at(first, contact, paid)
    return first


def _refunds(block: Block, orders: Orders) -> None:
    rng, count = block.rng, len(orders.contact)
    pick = (rng.random(count) < cal.REFUND_RATE) & (orders.tag != RECENT)
    at = orders.paid + DAY + (rng.random(count) * 9 * DAY).astype(np.int64)
    pick &= at < block.end - 60
    full = rng.random(count) < cal.REFUND_FULL_SHARE
    partial = np.maximum(orders.amount // 2, 1)
    orders.refunded = np.where(pick, np.where(full, orders.amount, partial), 0)
    orders.refund_order = np.flatnonzero(pick)
    orders.refund_at = at[pick]


def _stock_up(block: Block, orders: Orders, coupon: Ints) -> Ints:
    """VIPs and Actives whose net spend misses the seed-000 floor (5000元 / 1000元) get one 囤货 order of
    the preset's stock-up item, more than 30 days after their first order and before the last 30 days."""
    preset, tier = block.pop.preset, block.tier
    net = np.bincount(orders.contact, weights=orders.amount - orders.refunded, minlength=block.n).astype(np.int64)
    floor = np.where(tier == VIP, cal.VIP_MIN_TOTAL_FEN, np.where(tier == ACTIVE, cal.ACTIVE_MIN_TOTAL_FEN, 0))
    who = np.flatnonzero((floor > net) & (orders.first < NEVER))
    if len(who) == 0:
        return coupon
    sku_index = next(i for i, s in enumerate(preset.skus) if s.sku == preset.stock_up_sku)
    price = preset.skus[sku_index].price_fen
    qty = -(-(floor[who] - net[who]) // price)
    low = orders.first[who] + 31 * DAY
    at = np.minimum(block.uniform(low, np.maximum(low + HOUR, block.recent - HOUR), len(who)), block.end - HOUR)
    items = [f"[{_item(block, sku_index, q)}]" for q in qty.tolist()]
    channel = np.full(len(who), SALES_CHANNELS.index(preset.sales_channels[0][0]), np.int64)
    contact = np.concatenate([orders.contact, who])
    paid = np.concatenate([orders.paid, at])
    order = np.lexsort((paid, contact))
    orders.contact, orders.paid = contact[order], paid[order]
    orders.amount = np.concatenate([orders.amount, qty * price])[order]
    orders.refunded = np.concatenate([orders.refunded, np.zeros(len(who), np.int64)])[order]
    orders.channel = np.concatenate([orders.channel, channel])[order]
    orders.tag = np.concatenate([orders.tag, np.full(len(who), STOCK_UP, np.int64)])[order]
    all_items = orders.items + items
    orders.items = [all_items[i] for i in order.tolist()]
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(len(order))
    orders.refund_order = position[orders.refund_order]
    return np.concatenate([coupon, np.full(len(who), -1, np.int64)])[order]


def _name(block: Block, orders: Orders) -> None:
    contact = orders.contact
    start = np.concatenate(([True], contact[1:] != contact[:-1])) if len(contact) else np.zeros(0, np.bool_)
    first_index = np.maximum.accumulate(np.where(start, np.arange(len(contact)), 0))
    rank = np.arange(len(contact)) - first_index
    prefix = block.pop.preset.order_prefix
    gidx = (block.lo + contact).tolist()
    orders.order_id = [f"{prefix}{g:09d}{k:03d}" for g, k in zip(gidx, rank.tolist(), strict=True)]


def _events(block: Block, orders: Orders, coupon: Ints, labels: list[str]) -> None:
    buf, count = block.buf, len(orders.contact)
    slots = CHANNEL_SLOTS[orders.channel]
    block.used_slot[orders.contact[slots >= 0], slots[slots >= 0]] = True
    ids = orders.order_id
    channels = [SALES_CHANNELS[c] for c in orders.channel.tolist()]
    paid_props = [
        dumps({"order_id": o, "amount_fen": a, "sales_channel": c})
        for o, a, c in zip(ids, orders.amount.tolist(), channels, strict=True)
    ]
    explicit = buf.texts_of([f"order_paid:{o}" for o in ids])
    buf.add(
        "order_paid",
        orders.contact,
        orders.paid,
        buf.texts_of(paid_props),
        source="orders",
        slot=slots,
        explicit_id=explicit,
    )
    member_day = (local_day(orders.paid) - _month_start_day(orders.paid)) == cal.MEMBER_DAY - 1
    points = (orders.amount // 100) * np.where(member_day, 2, 1)
    points_props = [
        dumps({"points": p, "reason": "order", "order_id": o}) for p, o in zip(points.tolist(), ids, strict=True)
    ]
    buf.add(
        "points_earned",
        orders.contact,
        orders.paid + 1,
        buf.texts_of(points_props),
        source="loyalty",
        slot=np.where(slots == SLOT_MINI, SLOT_MINI, SLOT_WECOM),
    )
    r = orders.refund_order
    refund_ids = [f"RF{ids[i]}" for i in r.tolist()]
    refund_props = [
        dumps({"order_id": ids[i], "refund_id": rid, "amount_fen": a})
        for i, rid, a in zip(r.tolist(), refund_ids, orders.refunded[r].tolist(), strict=True)
    ]
    buf.add(
        "order_refunded",
        orders.contact[r],
        orders.refund_at,
        buf.texts_of(refund_props),
        source="orders",
        slot=-1,
        explicit_id=buf.texts_of([f"order_refunded:{rid}" for rid in refund_ids]),
    )
    # Coupons redeemed with an order: the 0.1元 recall coupon, and the new-customer coupon of the welcome
    # flow when the first order comes within its week.
    first_of = np.concatenate(([True], orders.contact[1:] != orders.contact[:-1])) if count else np.zeros(0, bool)
    welcome = first_of & (block.route[orders.contact] == ROUTE_WECOM)
    welcome &= orders.paid - block.added[orders.contact] <= cal.WELCOME_COUPON_DAYS * DAY
    for index, names in (
        (np.flatnonzero(welcome), None),
        (np.flatnonzero(coupon >= 0), [labels[k] for k in coupon[coupon >= 0].tolist()]),
    ):
        coupons = names if names is not None else ["welcome-new"] * len(index)
        props = [dumps({"coupon_id": c, "order_id": ids[i]}) for c, i in zip(coupons, index.tolist(), strict=True)]
        at = orders.paid[index] + 2
        buf.add("coupon_redeemed", orders.contact[index], at, buf.texts_of(props), source="wecom", slot=SLOT_WECOM)


def _month_start_day(seconds: Ints) -> Ints:
    days = local_day(seconds)
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64)
