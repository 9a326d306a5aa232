"""A mid-size demo reproduces the rates it is calibrated on (calibration.py, docs/demo.md) within sampling
tolerance: tiers, repurchase, retention, churn, open and click rates by content type, the send-time curve,
referral coefficients, group participation and the coupon rates."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from siyu.demo import DemoConfig
from siyu.demo import calibration as cal
from siyu.demo.generator import calendar
from siyu.demo.presets import PRESETS, Industry
from tests.demo.helpers import DAY, UNTIL, Data, build, churn_30d, load, repurchase_30d, retention_7d, tier_shares

SIZE = 5000
PRESET = PRESETS[Industry.beauty]
WINDOW, SENDS = calendar(DemoConfig(contacts=SIZE, until=UNTIL))


@pytest.fixture
def data(session_factory: sessionmaker[Session]) -> Data:
    ws, _ = build(session_factory, contacts=SIZE)
    return load(session_factory, ws)


def test_rates_match_the_seeds(data: Data) -> None:
    # One generation, every check: the fixture is the slow part.
    _tiers_repurchase_retention_churn(data)
    _opens_and_clicks(data)
    _referrals(data)
    _groups(data)
    _coupons(data)


def _tiers_repurchase_retention_churn(data: Data) -> None:
    vip, active = tier_shares(data, WINDOW.end)
    assert vip == pytest.approx(PRESET.tier_shares[0], abs=0.002)
    assert active == pytest.approx(PRESET.tier_shares[1], abs=0.003)
    assert repurchase_30d(data, WINDOW.end) == pytest.approx(PRESET.repurchase_30d, abs=0.035)
    assert retention_7d(data, WINDOW.end) == pytest.approx(PRESET.retention_7d, abs=0.03)
    assert churn_30d(data, WINDOW.end) == pytest.approx(PRESET.churn_30d, abs=0.025)
    assert len(data.orders) / SIZE == pytest.approx(PRESET.buyer_share, abs=0.04)


def _opens_and_clicks(data: Data) -> None:
    """Open rate per delivered message, by content type; clicks per delivered message; opens by hour."""
    joined = np.asarray(sorted(t for _, t, _ in data.named("contact_added")))
    left = np.asarray(sorted(t for _, t, _ in data.named("contact_deleted")))
    followed = np.asarray(sorted(t for _, t, _ in data.named("subscribed")))
    delivered: Counter[int] = Counter()
    kind_of = {}
    for send in SENDS:
        kind_of[send.content_id] = send.content_type
        if send.channel == "wecom":
            # joined before, not deleted before (everyone deleted joined earlier)
            delivered[send.content_type] += int(np.searchsorted(joined, send.at) - np.searchsorted(left, send.at))
        else:
            delivered[send.content_type] += int(np.searchsorted(followed, send.at))
    opens = Counter(kind_of[p["content_id"]] for _, _, p in data.named("message_opened"))
    clicks = len(data.named("link_clicked"))
    for kind, rate in enumerate(cal.OPEN_RATE):
        assert opens[kind] / delivered[kind] == pytest.approx(rate, rel=0.12), cal.CONTENT_TYPES[kind]
    assert clicks / sum(delivered.values()) == pytest.approx(cal.CLICK_RATE, rel=0.15)
    sent = Counter(s.content_type for s in SENDS)
    for kind, share in enumerate(cal.CONTENT_MIX):
        assert sent[kind] / len(SENDS) == pytest.approx(share, abs=1.5 / len(SENDS) + 0.01)
    for channel in ("wecom", "mp"):  # seed 000: after 3 promotions, 2 non-commercial posts
        kinds = [s.content_type == cal.PROMOTION for s in SENDS if s.channel == channel]
        for i in range(len(kinds) - cal.PROMOTIONS_BEFORE_BREAK):
            run = kinds[i : i + cal.PROMOTIONS_BEFORE_BREAK]
            after = kinds[i + cal.PROMOTIONS_BEFORE_BREAK : i + cal.PROMOTIONS_BEFORE_BREAK + cal.NON_COMMERCIAL_BREAK]
            assert not (all(run) and any(after))
        assert not any(kinds[i] and kinds[i + 1] for i in range(len(kinds) - 1))
    hours = Counter(int((t + 8 * 3600) // 3600 % 24) for _, t, _ in data.named("message_opened"))
    busiest = {h for h, _ in hours.most_common(5)}
    assert busiest <= {8, 9, 12, 13, 19, 20, 21}  # the seed's best times and the 20-22 evening reading


def _referrals(data: Data) -> None:
    """New customers per inviter, by referral campaign, are the seed coefficients."""
    converted: Counter[str] = Counter(p["campaign"] for _, _, p in data.named("referral_converted"))
    inviters: dict[str, set[str]] = defaultdict(set)
    for _, _, p in data.named("referral_invited"):
        inviters[p["campaign"]].add(p["code"])
    for campaign in PRESET.campaigns:
        if campaign.referral_coefficient is None:
            continue
        assert converted[campaign.key] / len(inviters[campaign.key]) == pytest.approx(
            campaign.referral_coefficient, rel=0.12
        ), campaign.key
    invited = Counter(p["code"] for _, _, p in data.named("referral_invited"))
    assert min(invited.values()) >= cal.MIN_INVITATIONS


def _groups(data: Data) -> None:
    """Monthly share of members who speak ≈ 20% (seed 000: 15%-25%); daily speakers < 10% (seed 003)."""
    joined = {c: t for c, t, _ in data.named("group_joined")}
    left = {c: t for c, t, _ in data.named("group_left")}
    messages = data.named("group_message")
    rates = []
    for month in range(3, 10):  # full months before the last-30-days window
        lo, hi = WINDOW.start + month * 30 * DAY, WINDOW.start + (month + 1) * 30 * DAY
        members = {c for c, t in joined.items() if t < hi and left.get(c, hi) > lo}
        speakers = {c for c, t, _ in messages if lo <= t < hi}
        rates.append(len(speakers & members) / len(members))
    assert 0.15 <= float(np.mean(rates)) <= 0.25
    per_day: dict[int, set[int]] = defaultdict(set)
    for c, t, _ in messages:
        per_day[int(t // DAY)].add(c)
    assert max(len(s) for s in per_day.values()) / len(joined) < cal.GROUP_DAILY_SPEAKERS_MAX


def _coupons(data: Data) -> None:
    issued = Counter(p["coupon_id"].split("-")[0] for _, _, p in data.named("coupon_issued"))
    redeemed = Counter(p["coupon_id"].split("-")[0] for _, _, p in data.named("coupon_redeemed"))
    assert redeemed["birthday"] / issued["birthday"] == pytest.approx(cal.BIRTHDAY_REDEMPTION, abs=0.12)
    assert redeemed["recall"] / issued["recall"] == pytest.approx(cal.RECALL_REPURCHASE, abs=0.04)
