"""小程序 visits of a block: the page view minutes before every 小程序 order, and browsing that ends in no
order, so that the window's 小程序 visitors buy at ``VISITOR_PURCHASE_SHARE``. Runs once the retention
fix-up has been applied: it never gives a contact that is not retained engagement on its days 1-7."""

from __future__ import annotations

from typing import Final

import numpy as np
import orjson

from siyu.demo import calibration as cal
from siyu.demo.block import SALES_CHANNELS, SLOT_MINI, SLOT_MP, SLOT_WECOM, Block, Bools, Ints, Orders
from siyu.demo.buffer import NAME, SOURCE, appended
from siyu.demo.population import ADD_HOURS, DAY, TZ_OFFSET, local_day

HOUR: Final = 3600
MINIPROGRAM: Final = SALES_CHANNELS.index("miniprogram")
HOME_SHARE: Final = 0.5  # assumption: browsing views the home page half the time, else a product


def miniprogram(block: Block, orders: Orders, cols: dict[str, Ints]) -> dict[str, Ints]:
    """``cols`` with the 小程序 page views added; every visitor gets the 小程序 openid."""
    restricted = ~block.retained & (block.added <= block.end - 8 * DAY)
    cols = _before_orders(block, orders, cols, restricted)
    return _browsing(block, orders, cols, restricted)


def _before_orders(block: Block, orders: Orders, cols: dict[str, Ints], restricted: Bools) -> dict[str, Ints]:
    """A view of the product page of the order's first item, 1-30 minutes before it is paid."""
    pick = np.flatnonzero(orders.channel == MINIPROGRAM)
    contact, paid = orders.contact[pick], orders.paid[pick]
    low, high = cal.ORDER_VIEW_MINUTES
    at = paid - block.uniform(low * 60, high * 60 + 1, len(pick))
    # An order on days 1-7 makes its contact retained; for one that is not, the order falls on day 0 or
    # from day 8 on, and its view must not slip back into day 7.
    added = block.added[contact]
    at = np.where(restricted[contact] & (paid - added >= 8 * DAY), np.maximum(at, added + 8 * DAY), at)
    page = block.pop.preset.product_page
    texts: dict[str, int] = {}
    props = np.empty(len(pick), np.int64)
    for k, i in enumerate(pick.tolist()):
        sku = orjson.loads(orders.items[i])[0]["sku"]
        found = texts.get(sku)
        if found is None:
            found = texts[sku] = block.buf.text({"page": f"{page}?sku={sku}"})
        props[k] = found
    block.used_slot[contact, SLOT_MINI] = True
    return appended(cols, "page_view", contact, at, props, source="miniprogram", slot=SLOT_MINI)


def _browsing(block: Block, orders: Orders, cols: dict[str, Ints], restricted: Bools) -> dict[str, Ints]:
    """WeChat users who have not visited get views until the block's 小程序 buyers are VISITOR_PURCHASE_SHARE
    of its visitors. A block holds contacts who joined at about the same time; in the earliest, who had the
    year to buy, nearly everybody visits and the share stays above the constant (36.7% over 50,000 美妆)."""
    rng, preset = block.rng, block.pop.preset
    bought = np.zeros(block.n, np.bool_)
    bought[orders.contact[orders.channel == MINIPROGRAM]] = True
    visited = bought.copy()
    viewed = (cols["name"] == NAME["page_view"]) & (cols["source"] == SOURCE["miniprogram"])
    visited[cols["contact"][viewed]] = True
    need = round(int(bought.sum()) / cal.VISITOR_PURCHASE_SHARE) - int(visited.sum())
    wechat = block.used_slot[:, SLOT_WECOM] | block.used_slot[:, SLOT_MP]
    pool = np.flatnonzero(wechat & ~visited)
    who = np.sort(pool[rng.permutation(len(pool))[: max(need, 0)]])
    block.used_slot[who, SLOT_MINI] = True
    contact = np.repeat(who, 1 + rng.poisson(cal.BROWSE_VIEWS_PER_VISITOR - 1, len(who)))
    at = _browse_times(block, contact, restricted[contact])
    weights = np.asarray([s.weight for s in preset.skus])
    pages = np.asarray(
        [block.buf.text({"page": preset.home_page})]
        + [block.buf.text({"page": f"{preset.product_page}?sku={s.sku}"}) for s in preset.skus],
        np.int64,
    )
    product = 1 + rng.choice(len(weights), size=len(contact), p=weights / weights.sum())
    props = pages[np.where(rng.random(len(contact)) < HOME_SHARE, 0, product)]
    return appended(cols, "page_view", contact, at, props, source="miniprogram", slot=SLOT_MINI)


def _browse_times(block: Block, contact: Ints, restricted: Bools) -> Ints:
    """Uniform between joining and the window's end, skipping days 1-7 of contacts not retained; moved to
    the hours people come in (population.ADD_HOURS) when that stays allowed."""
    rng, count = block.rng, len(contact)
    added = block.added[contact]
    skip = np.where(restricted, 7 * DAY, 0)
    offset = (rng.random(count) * (block.end - added - skip)).astype(np.int64)
    raw = added + offset + np.where(offset >= DAY, skip, 0)
    hour = rng.choice(24, size=count, p=ADD_HOURS / ADD_HOURS.sum())
    snapped = local_day(raw) * DAY - TZ_OFFSET + hour * HOUR + rng.integers(0, HOUR, count)
    day = (snapped - added) // DAY
    ok = (snapped >= added) & (snapped < block.end) & ~(restricted & (day >= 1) & (day <= 7))
    return np.where(ok, snapped, raw)
