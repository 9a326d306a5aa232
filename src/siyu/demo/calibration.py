"""Rates the demo generator is calibrated on, each quoting the seed article (``/seeds/NNN_*.txt``) and the
figure it comes from. Where a seed gives a range we use its midpoint; where no seed gives a figure the
constant says ``assumption``. ``docs/demo.md`` has the same table for readers."""

from __future__ import annotations

from typing import Final

# --- Content (seed 000 微信私域运营攻略, 三、内容运营体系设计) -------------------------------------------
# 内容类型 | 占比 | 最佳发布时间 | 平均打开率
CONTENT_TYPES: Final = ("干货/教程", "福利/促销", "情感/故事", "互动/话题", "品牌/热点")
PROMOTION: Final = 1  # index of 福利/促销 in CONTENT_TYPES
# 产品教程 30% · 限时福利 25% · 用户故事 20% · 互动话题 15% · 品牌动态 10%
CONTENT_MIX: Final = (0.30, 0.25, 0.20, 0.15, 0.10)
# 平均打开率 18%-22% · 25%-30% · 15%-18% · 12%-15% · 8%-12% (midpoints)
OPEN_RATE: Final = (0.20, 0.275, 0.165, 0.135, 0.10)
# 最佳发布时间 (Asia/Shanghai): (weekday, weekend) allowed, first hour, last hour (exclusive).
# 工作日早 8:00-9:00 · 周末晚 20:00-21:00 · 周一至周五午间 12:00 · 工作日晚间 19:00-20:00 ·
# 热点事件爆发后 2 小时内 (hot topics break at any daytime hour; we send 10:00-22:00 on any day)
SEND_SLOTS: Final = (
    (True, False, 8, 9),
    (False, True, 20, 21),
    (True, False, 12, 13),
    (True, False, 19, 20),
    (True, True, 10, 22),
)
# 建议每发布 3 次促销内容后，穿插 2 次非商业内容 — the calendar never schedules promotions closer than this.
PROMOTIONS_BEFORE_BREAK: Final = 3
NON_COMMERCIAL_BREAK: Final = 2
# 过度促销会导致用户取关率上升 40%: the per-send deletion hazard after a promotion is ×1.4.
PROMOTION_UNFOLLOW_UPLIFT: Final = 1.4
# Per-send deletion hazard for contacts past their first month (assumption; gives ~15% a year).
UNFOLLOW_PER_SEND: Final = 0.0035
# 触点 公众号 | 1%-3%(点击率): clicks per delivered message (midpoint).
CLICK_RATE: Final = 0.02
# 触点 个人号 | 5%-10%(响应率): share of 1:1 staff messages the customer answers (midpoint).
REPLY_RATE: Final = 0.075
# Broadcasts a month per channel (assumption: one every other week on WeCom 企业群发 and on the 公众号).
SENDS_PER_MONTH: Final = 2
# Share of WeCom contacts who also follow the 公众号 (assumption).
MP_FOLLOW_SHARE: Final = 0.4

# --- Open times (seed 003 私域流量护城河) ------------------------------------------------------------------
# 上班族用户在晚上 8 点 - 10 点打开消息的概率最高: opens not read at once are read 20:00-22:00.
EVENING_OPEN_HOURS: Final = (20, 22)
EVENING_OPEN_SHARE: Final = 0.3  # assumption: the rest is read within minutes of the send
OPEN_DELAY_MINUTES: Final = 25.0  # assumption: mean delay of an immediate open

# --- Tiers (seed 000 二、用户分层与精准运营, thresholds editable per workspace) -------------------------
# VIP: 近30天消费次数 ≥5次, 累计消费金额 ≥5000元, 社群每日互动
VIP_MIN_ORDERS_30D: Final = 5
VIP_MIN_TOTAL_FEN: Final = 500_000
# Active (潜力): 2-4次, 1000-5000元, 每周参与
ACTIVE_ORDERS_30D: Final = (2, 4)
ACTIVE_MIN_TOTAL_FEN: Final = 100_000
# Inactive (沉默): ≤1次, <1000元, 无互动 — no group messages in the last 30 days.
# The seeds give thresholds, not shares; the VIP/Active shares in presets are assumptions.

# --- Retention and repurchase ----------------------------------------------------------------------
# seed 000 五、数据监控: 7日留存率 >40% · 30日复购率 >25% (健康阈值). We sit just above them.
RETENTION_7D_HEALTHY: Final = 0.45
REPURCHASE_30D_HEALTHY: Final = 0.28
# seed 003: 如果 7 天留存低于 30%,说明欢迎流程有问题 — the education demo has this problem to find.
RETENTION_7D_WEAK: Final = 0.28
# seed 001: 瑞幸私域用户复购率高达40%以上 — the coffee preset.
REPURCHASE_30D_COFFEE: Final = 0.42
# seed 002: 某在线教育平台 … 短短一个月内,就有近 30% 的用户选择退群或取消关注.
CHURN_30D_EDUCATION: Final = 0.30
# Other industries: deletions in the first month (assumption, a third of the education figure).
CHURN_30D_DEFAULT: Final = 0.10
GROUP_LEAVE_30D_DEFAULT: Final = 0.10  # assumption

# --- Welcome flow (seed 003: 前 72 小时 — 自动回复带新人福利，客服 1 小时内主动打招呼) ----------------------
WELCOME_COUPON_DAYS: Final = 7  # assumption: the new-customer coupon is valid a week
GREETING_WITHIN_MINUTES: Final = 60

# --- Coupons (seed 000 二) -----------------------------------------------------------------------------
# 针对 VIP 用户推出的生日礼遇活动核销率达 78%
BIRTHDAY_REDEMPTION: Final = 0.78
# 沉默用户通过 0.1 元秒杀券召回后复购率为 12%
RECALL_REPURCHASE: Final = 0.12
RECALL_SILENT_DAYS: Final = 60  # assumption: "silent" = a buyer with no order for 60 days
# seed 004: 会员日(每月8号双倍积分); 签到打卡(连续7天送积分)
MEMBER_DAY: Final = 8
CHECKIN_STREAK_BONUS_DAYS: Final = 7
CHECKIN_STREAK_BONUS_POINTS: Final = 50  # assumption

# --- Referral (seed 000 四、活动策划 and 六、裂变增长模型) -------------------------------------------------
# 拼团活动 1:1.8 · 好友分享券 1:2.5 · 直播抽奖 1:3.2 (平均带来的新用户)
COEF_GROUP_BUY: Final = 1.8
COEF_SHARE_COUPON: Final = 2.5
COEF_LIVE_DRAW: Final = 3.2
# 一级裂变(完成首次购买) 1:1.2 · 二级裂变(邀请3位好友注册) 1:4.5. 三级裂变(现金返现分成) is left out:
# multi-level cash commissions are not a compliant design (SPEC C7).
COEF_LEVEL1_FIRST_ORDER: Final = 1.2
COEF_LEVEL2_INVITE3: Final = 4.5
# 用户推荐率可达 30%-50%: inviters never exceed 30% of the contacts they are drawn from.
MAX_INVITER_SHARE: Final = 0.30
# 发送链接给 3 位好友 / 邀请 3 人: every inviter sends at least three invitations.
MIN_INVITATIONS: Final = 3
# seed 000: 每月主打活动不超过2次 — two 3-day headline windows a month bring extra contacts.
HEADLINE_PER_MONTH: Final = 2
HEADLINE_DAYS: Final = 3  # seed 004: 活动前3天预热
HEADLINE_SHARE: Final = 0.12  # assumption: share of all contacts added in headline windows

# --- Groups (社群) --------------------------------------------------------------------------------------
# seed 000 触点 社群 | 15%-25%(参与率): share of members who speak in a month (midpoint).
GROUP_MONTHLY_PARTICIPATION: Final = 0.20
# seed 002: 成员超过千人,但每天参与交流互动的人数不足 10% — daily speakers stay under 10%.
GROUP_DAILY_SPEAKERS_MAX: Final = 0.10
GROUP_CAPACITY: Final = (400, 200)  # assumption: community and VIP groups (WeCom allows 500)
GROUP_MESSAGES_PER_SPEAKER: Final = 2.0  # assumption: mean messages of a member who speaks in a month

# --- 小程序 visits ----------------------------------------------------------------------------------------
# Share of the window's 小程序 visitors (contacts with a page_view) who order there (assumption, not from
# the seeds: browsing that ends in no order is added until buyers are this share of visitors; a preset
# whose buyers are most of its WeChat contacts, such as coffee, stays above it).
VISITOR_PURCHASE_SHARE: Final = 0.35
BROWSE_VIEWS_PER_VISITOR: Final = 1.5  # assumption: mean page views of a visitor who does not order
ORDER_VIEW_MINUTES: Final = (1, 30)  # assumption: a 小程序 order is paid this long after its page view

# --- Surveys (NPS after the first order; response at the 个人号 rate above) -------------------------------
NPS_SHARES: Final = (0.2, 0.35, 0.45)  # assumption: detractors 0-6, passives 7-8, promoters 9-10 (NPS +25)

# --- Refunds --------------------------------------------------------------------------------------------
REFUND_RATE: Final = 0.04  # assumption: share of orders refunded, 70% in full
REFUND_FULL_SHARE: Final = 0.7

# --- Staff ----------------------------------------------------------------------------------------------
# seed 002: 认证后的企业微信允许员工添加 2 万人好友 — staff are sized to stay well under that.
CONTACTS_PER_STAFF: Final = 12_000
MIN_STAFF: Final = 6
