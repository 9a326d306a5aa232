"""One block of contacts (a fixed-size slice of the population) and what its generators share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from siyu.demo.buffer import EventBuffer
from siyu.demo.calendar import Send
from siyu.demo.population import DAY, Population

Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]
BLOCK_SIZE: Final = 10_000  # fixed: the random streams are per block, so the data depends on it
NEVER: Final = np.int64(2**62)

# Identity slots of a contact, in the order its identity rows are written.
SLOT_WECOM, SLOT_UNIONID, SLOT_MP, SLOT_MINI, SLOT_PHONE, SLOT_EMAIL = range(6)
BUYER_PLATFORMS: Final = ("taobao", "douyin", "jd", "pdd", "youzan", "store")
SLOT_COUNT: Final = 6 + len(BUYER_PLATFORMS)
# Every sales channel the order model knows, and the identity slot its orders are named by.
SALES_CHANNELS: Final = ("miniprogram", "taobao", "tmall", "douyin", "jd", "pdd", "youzan", "store", "wecom", "other")
# The buyer_id scope of each platform's orders (天猫 and 淘宝 share the Taobao account).
BUYER_SCOPE: Final = {"taobao": "taobao", "tmall": "taobao", "douyin": "douyin", "jd": "jd", "pdd": "pdd",
                      "youzan": "youzan", "store": "store"}  # fmt: skip


def channel_slot(channel: str) -> int:
    if channel == "miniprogram":
        return SLOT_MINI
    if channel == "wecom":
        return SLOT_WECOM
    scope = BUYER_SCOPE.get(channel)
    return 6 + BUYER_PLATFORMS.index(scope) if scope else -1


CHANNEL_SLOTS: Final = np.asarray([channel_slot(c) for c in SALES_CHANNELS], np.int64)


@dataclass
class Ids:
    """First database id of each table's rows for this run (ids are assigned by the generator)."""

    contact: int
    identity: int
    order: int
    staff: int
    code: int


@dataclass
class Orders:
    """A block's orders, sorted by (contact, paid time)."""

    contact: Ints
    paid: Ints
    amount: Ints
    refunded: Ints
    channel: Ints  # index into SALES_CHANNELS
    tag: Ints  # 0 regular, 1 recall, 2 stock-up, 3 recent (VIP/Active)
    items: list[str]
    order_id: list[str]
    first: Ints  # per contact: first order time, NEVER when none
    refund_order: Ints  # per refund: index of its order
    refund_at: Ints


@dataclass
class Block:
    pop: Population
    lo: int
    hi: int
    rng: np.random.Generator
    buf: EventBuffer
    ids: Ids
    deleted: Ints = field(init=False)  # WeCom relation ended (contact_deleted), NEVER when not
    retained: Bools = field(init=False)  # designated active in days 1-7 after joining
    mp_follow: Bools = field(init=False)
    mp_since: Ints = field(init=False)  # when the contact followed the 公众号
    birthday: Ints = field(init=False)  # days since 1970-01-01; -1 when unknown
    birthday_vip: Ints = field(init=False)  # VIPs who get a birthday coupon, when, and who redeem it
    birthday_issue: Ints = field(init=False)
    birthday_redeem: Bools = field(init=False)
    used_slot: NDArray[np.bool_] = field(init=False)  # [contact, slot]: the contact has this identity
    # The WeCom broadcasts (企业群发) of the logged days and who in the block received each: the delivery
    # ledger's rows (siyu sends 企业群发; the 公众号's 群发 goes out from the 公众号 platform, not the ledger).
    ledger: list[tuple[Send, Ints]] = field(init=False)

    def __post_init__(self) -> None:
        self.deleted = np.full(self.n, NEVER, np.int64)
        self.retained = np.zeros(self.n, np.bool_)
        self.mp_follow = np.zeros(self.n, np.bool_)
        self.mp_since = np.full(self.n, NEVER, np.int64)
        self.birthday = np.full(self.n, -1, np.int64)
        self.birthday_vip = self.birthday_issue = np.zeros(0, np.int64)
        self.birthday_redeem = np.zeros(0, np.bool_)
        self.used_slot = np.zeros((self.n, SLOT_COUNT), np.bool_)
        self.ledger = []

    @property
    def n(self) -> int:
        return self.hi - self.lo

    @property
    def local(self) -> Ints:
        return np.arange(self.n, dtype=np.int64)

    @property
    def added(self) -> Ints:
        return self.pop.added[self.lo : self.hi]

    @property
    def tier(self) -> NDArray[np.int8]:
        return self.pop.tier[self.lo : self.hi]

    @property
    def route(self) -> NDArray[np.int8]:
        return self.pop.route[self.lo : self.hi]

    @property
    def end(self) -> int:
        return self.pop.window.end

    @property
    def recent(self) -> int:
        """Start of the last 30 days, where the seed-000 tier thresholds are read."""
        return self.pop.window.end - 30 * DAY

    def contact_id(self, local: Ints) -> Ints:
        return self.ids.contact + self.lo + local

    def uniform(self, low: Ints | int, high: Ints | int, size: int) -> Ints:
        """``size`` uniform integer seconds in [low, high) (bounds broadcast; an empty range gives low)."""
        lo = np.asarray(low, np.int64)
        span = np.maximum(np.asarray(high, np.int64) - lo, 1)
        return lo + (self.rng.random(size) * span).astype(np.int64)  # type: ignore[no-any-return]
