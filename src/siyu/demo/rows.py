"""Turning a generated block into table rows: contacts, identities, consent, orders, refunds and events,
shaped exactly as ingestion stores them (normalized identity values, JSON properties, UTC times)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from siyu.demo import calibration as cal
from siyu.demo import names as vocab
from siyu.demo.block import (
    BUYER_PLATFORMS,
    CHANNEL_SLOTS,
    SALES_CHANNELS,
    SLOT_COUNT,
    SLOT_EMAIL,
    SLOT_MINI,
    SLOT_MP,
    SLOT_PHONE,
    SLOT_UNIONID,
    SLOT_WECOM,
    Block,
    Ints,
    Orders,
)
from siyu.demo.buffer import EVENT_NAMES, SOURCES, dumps
from siyu.demo.population import ROUTE_MP, ROUTE_PLATFORM, ROUTE_WECOM
from siyu.demo.store import Sink

CONTACT_COLUMNS: Final = (
    "id",
    "workspace_id",
    "nickname",
    "name",
    "gender",
    "birthday",
    "region",
    "first_source",
    "first_channel_code",
    "owner_staff_id",
    "properties",
    "last_seen_at",
    "created_at",
    "updated_at",
)
IDENTITY_COLUMNS: Final = ("id", "workspace_id", "contact_id", "kind", "scope", "value", "created_at")
CONSENT_COLUMNS: Final = (
    "workspace_id",
    "contact_id",
    "purpose",
    "channel",
    "granted",
    "source",
    "recorded_at",
    "created_at",
)
ORDER_COLUMNS: Final = (
    "id",
    "workspace_id",
    "contact_id",
    "identity_id",
    "order_id",
    "amount_fen",
    "refunded_fen",
    "currency",
    "paid_at",
    "sales_channel",
    "items",
    "created_at",
    "updated_at",
)
REFUND_COLUMNS: Final = ("workspace_id", "order_pk", "refund_id", "amount_fen", "refunded_at", "reason", "created_at")
EVENT_COLUMNS: Final = (
    "workspace_id",
    "contact_id",
    "identity_id",
    "event_id",
    "name",
    "occurred_at",
    "received_at",
    "source",
    "properties",
)
DELIVERY_COLUMNS: Final = (
    "workspace_id",
    "contact_id",
    "dedup_key",
    "source",
    "channel",
    "priority",
    "promotional",
    "content",
    "status",
    "attempts",
    "created_at",
    "sent_at",
)
# Salts of the opaque identity values (distinct per kind, shifted by the seed).
_SALTS: Final = {SLOT_WECOM: 11, SLOT_UNIONID: 13, SLOT_MP: 17, SLOT_MINI: 19, SLOT_EMAIL: 23, SLOT_PHONE: 29}
# assumption; a 小程序 openid comes only with a 小程序 visit (visits.py), so it has no share here
EXTRA_SHARES: Final = {SLOT_UNIONID: 0.8, SLOT_PHONE: 0.55, SLOT_EMAIL: 0.05}
SMS_OPT_OUT: Final = 0.03  # assumption: phone holders who answered 退订 to an SMS


@dataclass
class Rows:
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        self.tables.setdefault(table, []).extend(rows)

    def count(self, table: str) -> int:
        return len(self.tables.get(table, []))


def identities(block: Block) -> None:
    """Decide which identities each contact has (WeChat ones for WeChat users, phone for platform buyers;
    the 小程序 openid is already set for every 小程序 visitor)."""
    rng, used = block.rng, block.used_slot
    wechat = used[:, SLOT_WECOM] | used[:, SLOT_MP] | used[:, SLOT_MINI]
    used[:, SLOT_UNIONID] |= wechat & (rng.random(block.n) < EXTRA_SHARES[SLOT_UNIONID])
    used[:, SLOT_PHONE] |= (block.route == ROUTE_PLATFORM) | (rng.random(block.n) < EXTRA_SHARES[SLOT_PHONE])
    used[:, SLOT_EMAIL] |= rng.random(block.n) < EXTRA_SHARES[SLOT_EMAIL]


def identity_rows(block: Block, sink: Sink, workspace_id: int, base: int, seed: int, rows: Rows) -> Ints:
    """Identity rows, contact by contact; returns the id of each (contact, slot), -1 where none."""
    preset = block.pop.preset
    where = np.argwhere(block.used_slot)  # row-major: contact by contact, slots in order
    contact, slot = where[:, 0].astype(np.int64), where[:, 1].astype(np.int64)
    ids = np.full((block.n, SLOT_COUNT), -1, np.int64)
    ids[contact, slot] = base + np.arange(len(contact))
    glob = block.lo + contact
    values: list[str] = [""] * len(contact)
    scopes = {SLOT_WECOM: preset.corp_id, SLOT_MP: preset.mp_appid, SLOT_MINI: preset.mini_appid}
    kinds = {
        SLOT_WECOM: "wecom_external_userid",
        SLOT_UNIONID: "wx_unionid",
        SLOT_MP: "wx_openid",
        SLOT_MINI: "wx_openid",
        SLOT_PHONE: "phone",
        SLOT_EMAIL: "email",
    }
    for s in range(SLOT_COUNT):
        pick = np.flatnonzero(slot == s)
        if len(pick) == 0:
            continue
        made = _values(s, glob[pick], seed)
        for i, v in zip(pick.tolist(), made, strict=True):
            values[i] = v
    kind = [kinds.get(s, "buyer_id") for s in slot.tolist()]
    scope = [scopes.get(s) or (BUYER_PLATFORMS[s - 6] if s >= 6 else "") for s in slot.tolist()]
    created = sink.times(block.added[contact])
    rows.add(
        "identity",
        list(
            zip(
                ids[contact, slot].tolist(),
                [workspace_id] * len(contact),
                block.contact_id(contact).tolist(),
                kind,
                scope,
                values,
                created,
                strict=True,
            )
        ),
    )
    return ids


def _values(slot: int, index: Ints, seed: int) -> list[str]:
    salt = _SALTS.get(slot, 37 + slot) + 1000 * seed
    if slot == SLOT_WECOM:
        return vocab.opaque(index, "wm", salt, width=10, tail=12)
    if slot in (SLOT_UNIONID, SLOT_MP, SLOT_MINI):
        return vocab.opaque(index, "o", salt, width=10, tail=17)
    if slot == SLOT_PHONE:
        return vocab.phones(index, salt)
    if slot == SLOT_EMAIL:
        domains = vocab.EMAIL_DOMAINS
        return [
            f"{n}@{domains[int(i) % len(domains)]}"
            for n, i in zip(vocab.numeric(index, "u", salt, 10), index.tolist(), strict=True)
        ]
    platform = BUYER_PLATFORMS[slot - 6]
    prefix = {"taobao": "tb", "douyin": "dy", "jd": "jd_", "pdd": "pdd", "youzan": "yz", "store": "M"}[platform]
    return vocab.numeric(index, prefix, salt, 12)


def contact_rows(
    block: Block, sink: Sink, workspace_id: int, last_seen: Ints, staff_ids: list[int], rows: Rows
) -> None:
    pop, rng, n = block.pop, block.rng, block.n
    preset = pop.preset
    heads, tails, marks = vocab.NICK_HEADS, vocab.NICK_TAILS, vocab.NICK_MARKS
    h, t, m = rng.integers(0, len(heads), n), rng.integers(0, len(tails), n), rng.integers(0, len(marks), n)
    nickname = [heads[a] + tails[b] + marks[c] for a, b, c in zip(h.tolist(), t.tolist(), m.tolist(), strict=True)]
    female = rng.random(n) < preset.female_share
    unknown = rng.random(n) < 0.05
    gender = np.where(unknown, "unknown", np.where(female, "female", "male")).tolist()
    named = block.used_slot[:, SLOT_PHONE] & (rng.random(n) < 0.6)
    s_i, f_i, m_i = (
        rng.integers(0, len(vocab.SURNAMES), n),
        rng.integers(0, len(vocab.GIVEN_FEMALE), n),
        rng.integers(0, len(vocab.GIVEN_MALE), n),
    )
    name = [
        (vocab.SURNAMES[s] + (vocab.GIVEN_FEMALE[f] if fem else vocab.GIVEN_MALE[mm])) if ok else None
        for s, f, mm, fem, ok in zip(
            s_i.tolist(), f_i.tolist(), m_i.tolist(), female.tolist(), named.tolist(), strict=True
        )
    ]
    birthday = [str(np.datetime64(d, "D")) if d >= 0 else None for d in block.birthday.tolist()]
    weights = np.asarray([w for _, w in vocab.REGIONS])
    region = [vocab.REGIONS[i][0] for i in rng.choice(len(weights), size=n, p=weights / weights.sum()).tolist()]
    campaign = pop.campaign[block.lo : block.hi]
    staff = pop.staff[block.lo : block.hi]
    platform = pop.platform[block.lo : block.hi]
    route = block.route
    source: list[str] = []
    code: list[str | None] = []
    owner: list[int | None] = []
    for r, c, s, p in zip(route.tolist(), campaign.tolist(), staff.tolist(), platform.tolist(), strict=True):
        if r == ROUTE_WECOM:
            source.append(preset.campaigns[c].source)
            code.append(f"{preset.campaigns[c].key}-{s + 1:04d}")
            owner.append(staff_ids[s])
        else:
            source.append("mp" if r == ROUTE_MP else preset.sales_channels[p][0])
            code.append(None)
            owner.append(None)
    persona = rng.random(n) < 0.7
    choice = rng.integers(0, len(preset.persona_options), n)
    texts = [dumps({preset.persona_key: o}) for o in preset.persona_options]
    props = [texts[c] if ok else "{}" for c, ok in zip(choice.tolist(), persona.tolist(), strict=True)]
    seen = sink.times(np.where(last_seen > 0, last_seen, block.added))
    created = sink.times(block.added)
    ids = block.contact_id(block.local).tolist()
    rows.add(
        "contact",
        list(
            zip(
                ids,
                [workspace_id] * n,
                nickname,
                name,
                gender,
                birthday,
                region,
                source,
                code,
                owner,
                props,
                seen,
                created,
                created,  # updated_at: a demo contact was last changed when it was added
                strict=True,
            )
        ),
    )


def consent_rows(block: Block, sink: Sink, workspace_id: int, rows: Rows) -> None:
    route = block.route
    platform = block.pop.platform[block.lo : block.hi]
    source = [
        "wecom" if r == ROUTE_WECOM else "mp" if r == ROUTE_MP else block.pop.preset.sales_channels[p][0]
        for r, p in zip(route.tolist(), platform.tolist(), strict=True)
    ]
    ids = block.contact_id(block.local).tolist()
    at = sink.times(block.added)
    granted = sink.flag(True)
    rows.add(
        "consent_record",
        [(workspace_id, c, "marketing", None, granted, s, t, t) for c, s, t in zip(ids, source, at, strict=True)],
    )
    out = np.flatnonzero(block.used_slot[:, SLOT_PHONE] & (block.rng.random(block.n) < SMS_OPT_OUT))
    when = block.added[out] + block.uniform(86_400, 90 * 86_400, len(out))
    out, when = out[when < block.end], when[when < block.end]
    times = sink.times(when)
    rows.add(
        "consent_record",
        [
            (workspace_id, int(block.contact_id(np.asarray([c]))[0]), "marketing", "sms", sink.flag(False), "sms", t, t)
            for c, t in zip(out.tolist(), times, strict=True)
        ],
    )


def delivery_rows(block: Block, sink: Sink, workspace_id: int, rows: Rows) -> None:
    """The ledger's rows of the WeCom broadcasts the block's contacts received, as ``broadcast.send`` writes
    them (source ``broadcast:<content id>``, dedup ``broadcast:<key>:<contact>``), all ``delivered``: the
    seeds give no figures for staff who do not confirm a 群发 or for refusals, so none are made up."""
    for send, heard in block.ledger:
        source = f"broadcast:{send.content_id}"
        content = dumps({"text": send.title})
        promotional = sink.flag(send.content_type == cal.PROMOTION)
        at = sink.times(np.asarray([send.at], np.int64))[0]
        rows.add(
            "delivery",
            [
                (
                    workspace_id,
                    c,
                    f"{source}:{c}",
                    source,
                    "wecom",
                    "marketing",
                    promotional,
                    content,
                    "delivered",
                    1,
                    at,
                    at,
                )
                for c in block.contact_id(heard).tolist()
            ],
        )


def order_rows(block: Block, sink: Sink, workspace_id: int, orders: Orders, ident: Ints, base: int, rows: Rows) -> None:
    count = len(orders.contact)
    slot = CHANNEL_SLOTS[orders.channel]
    identity = np.where(slot >= 0, ident[orders.contact, np.maximum(slot, 0)], -1)
    identity_list = [None if i < 0 else i for i in identity.tolist()]
    paid = sink.times(orders.paid)
    updated: list[str | None] = [None] * count
    refund_times = sink.times(orders.refund_at)
    for i, t in zip(orders.refund_order.tolist(), refund_times, strict=True):
        updated[i] = t
    pks = (base + np.arange(count)).tolist()
    channel = [SALES_CHANNELS[c] for c in orders.channel.tolist()]
    contacts = block.contact_id(orders.contact).tolist()
    rows.add(
        "sales_order",
        list(
            zip(
                pks,
                [workspace_id] * count,
                contacts,
                identity_list,
                orders.order_id,
                orders.amount.tolist(),
                orders.refunded.tolist(),
                ["CNY"] * count,
                paid,
                channel,
                orders.items,
                paid,
                updated,
                strict=True,
            )
        ),
    )
    r = orders.refund_order.tolist()
    rows.add(
        "order_refund",
        [
            (workspace_id, pks[i], f"RF{orders.order_id[i]}", int(orders.refunded[i]), t, None, t)
            for i, t in zip(r, refund_times, strict=True)
        ],
    )


def event_rows(block: Block, sink: Sink, workspace_id: int, cols: dict[str, Ints], ident: Ints, rows: Rows) -> Ints:
    """Event rows sorted per contact and time; returns each contact's last event time (0 when none)."""
    order = np.lexsort((cols["name"], cols["time"], cols["contact"]))
    contact, time, name = cols["contact"][order], cols["time"][order], cols["name"][order]
    slot, explicit, props = cols["slot"][order], cols["explicit"][order], cols["props"][order]
    count = len(contact)
    start = np.concatenate(([True], contact[1:] != contact[:-1])) if count else np.zeros(0, np.bool_)
    rank = np.arange(count) - np.maximum.accumulate(np.where(start, np.arange(count), 0))
    own = np.where(slot >= 0, ident[contact, np.maximum(slot, 0)], -1)
    fallback = ident[contact, SLOT_WECOM]
    identity = np.where(own >= 0, own, fallback)
    texts = block.buf.texts
    glob = (block.lo + contact).tolist()
    event_id = [
        texts[e] if e >= 0 else f"demo:{g:09d}:{k:04d}"
        for e, g, k in zip(explicit.tolist(), glob, rank.tolist(), strict=True)
    ]
    occurred = sink.times(time)
    received = sink.times(time + 1 + (contact * 7919 + rank * 104729) % 90)
    rows.add(
        "event",
        list(
            zip(
                [workspace_id] * count,
                block.contact_id(contact).tolist(),
                [None if i < 0 else i for i in identity.tolist()],
                event_id,
                [EVENT_NAMES[i] for i in name.tolist()],
                occurred,
                received,
                [SOURCES[i] for i in cols["source"][order].tolist()],
                [texts[p] for p in props.tolist()],
                strict=True,
            )
        ),
    )
    last = np.zeros(block.n, np.int64)
    np.maximum.at(last, contact, time)
    return last
