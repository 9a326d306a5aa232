"""The four industries a demo workspace can be: catalogue, acquisition campaigns (channel codes), sales
channels, staff, persona property and the industry-specific rates (see ``calibration`` for the seeds)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from siyu.demo import calibration as cal


class Industry(StrEnum):
    beauty = "beauty"
    baby = "baby"
    coffee = "coffee"
    education = "education"


@dataclass(frozen=True)
class Sku:
    sku: str
    name: str
    category: str
    price_fen: int
    weight: float


@dataclass(frozen=True)
class Campaign:
    """One acquisition source; each staff member gets a channel code (渠道活码) for it.

    ``referral_coefficient`` marks a referral (裂变) campaign: new customers per inviting customer.
    ``headline`` campaigns only bring contacts on the ≤ 2 headline campaign windows a month."""

    key: str
    label: str
    source: str
    weight: float
    referral_coefficient: float | None = None
    headline: bool = False


@dataclass(frozen=True)
class Preset:
    industry: Industry
    label: str  # the industry in Chinese, as the console shows it
    workspace_name: str
    order_prefix: str
    corp_id: str
    mp_appid: str
    mini_appid: str
    skus: tuple[Sku, ...]
    stock_up_sku: str  # what a VIP's large 囤货 order is made of
    campaigns: tuple[Campaign, ...]
    sales_channels: tuple[tuple[str, float], ...]
    departments: tuple[str, ...]
    staff_names: tuple[str, ...]
    group_names: tuple[str, str]  # (community group, VIP group)
    content_titles: tuple[tuple[str, ...], ...]  # one tuple per calibration.CONTENT_TYPES entry
    persona_key: str
    persona_label: str
    persona_options: tuple[str, ...]
    female_share: float
    age_range: tuple[int, int]
    route_shares: tuple[float, float, float]  # WeCom channel code / 公众号 follow / platform order
    tier_shares: tuple[float, float]  # (VIP, Active) of all contacts
    buyer_share: float  # share of contacts who buy at least once in the window
    repurchase_30d: float
    retention_7d: float
    churn_30d: float
    group_leave_30d: float
    group_join: float
    first_order_days: float  # mean delay from joining to the first order
    gap_days: tuple[float, float, float]  # mean days between orders: Inactive, Active, VIP
    items_per_order: float  # mean number of order lines
    group_hours: tuple[int, ...]  # Shanghai hours when groups talk most
    home_page: str
    product_page: str  # a product's 小程序 page, followed by ?sku=<sku>


def _skus(prefix: str, rows: list[tuple[str, str, str, int, float]]) -> tuple[Sku, ...]:
    return tuple(Sku(f"{prefix}-{code}", name, category, price, weight) for code, name, category, price, weight in rows)


_DEFAULT_STAFF = ("小雅", "小美", "安安", "可可", "小鹿", "晴晴", "思思", "阿杰", "乐乐", "小雨", "依依", "糖糖")

BEAUTY = Preset(
    industry=Industry.beauty,
    label="美妆",
    workspace_name="澜肌 LANJI 美妆 (demo)",
    order_prefix="LJ",
    corp_id="ww4c1a7e52d9b3f801",
    mp_appid="wx6b2f0e9a4c7d1530",
    mini_appid="wx93d1c5a7e2f40b68",
    skus=_skus(
        "LJ",
        [
            ("SER01", "修护精华液 30ml", "精华", 36900, 1.6),
            ("SER02", "玻尿酸原液 15ml", "精华", 19900, 1.2),
            ("CRM01", "舒缓保湿面霜 50g", "面霜", 29900, 1.3),
            ("CRM02", "紧致眼霜 15g", "面霜", 35900, 0.6),
            ("MSK01", "补水面膜 10片", "面膜", 12900, 1.8),
            ("LIP01", "丝绒口红 #316", "彩妆", 16900, 1.4),
            ("LIP02", "水光唇釉 #05", "彩妆", 13900, 0.9),
            ("FDT01", "轻透粉底液 30ml", "彩妆", 25900, 0.7),
            ("CLN01", "氨基酸洁面乳 120g", "洁面", 8900, 1.5),
            ("SUN01", "清透防晒乳 SPF50", "防晒", 15900, 1.0),
            ("KIT01", "明星小样体验装", "小样", 2990, 1.2),
            ("GFT01", "修护精华礼盒", "礼盒", 89900, 0.3),
        ],
    ),
    stock_up_sku="LJ-GFT01",
    campaigns=(
        Campaign("xhs", "小红书种草笔记", "xiaohongshu", 0.24),
        Campaign("dy-live", "抖音直播间", "douyin", 0.18),
        Campaign("tmall-card", "天猫包裹卡", "tmall", 0.2),
        Campaign("store", "门店收银台", "store", 0.14),
        Campaign("mp-menu", "公众号菜单", "mp", 0.08),
        Campaign("share-coupon", "好友分享券", "referral", 0.16, referral_coefficient=cal.COEF_SHARE_COUPON),
        Campaign("live-draw", "直播抽奖", "referral", 1.0, referral_coefficient=cal.COEF_LIVE_DRAW, headline=True),
    ),
    sales_channels=(("miniprogram", 0.45), ("tmall", 0.25), ("douyin", 0.15), ("store", 0.1), ("wecom", 0.05)),
    departments=("华东导购部", "华南导购部", "社群运营部", "客服中心"),
    staff_names=_DEFAULT_STAFF,
    group_names=("澜肌护肤交流群", "澜肌 VIP 会员群"),
    content_titles=(
        ("敏感肌换季护理指南", "精华的正确用法", "口红妆容教程", "防晒怎么涂才够"),
        ("会员日限时 8 折", "新品体验装 0.1 元抢", "满 299 减 50"),
        ("用户故事：告别泛红的 30 天", "创始人的第一瓶精华"),
        ("你是干皮还是油皮？", "晒出你的妆容"),
        ("新品发布会直播", "澜肌 × 故宫联名"),
    ),
    persona_key="skin_type",
    persona_label="肤质",
    persona_options=("敏感肌", "干皮", "油皮", "混合皮", "中性皮"),
    female_share=0.88,
    age_range=(18, 42),
    route_shares=(0.86, 0.09, 0.05),
    tier_shares=(0.02, 0.08),
    buyer_share=0.42,
    repurchase_30d=cal.REPURCHASE_30D_HEALTHY,
    retention_7d=cal.RETENTION_7D_HEALTHY,
    churn_30d=cal.CHURN_30D_DEFAULT,
    group_leave_30d=cal.GROUP_LEAVE_30D_DEFAULT,
    group_join=0.35,
    first_order_days=12.0,
    gap_days=(120.0, 75.0, 24.0),
    items_per_order=1.6,
    group_hours=(10, 15, 20, 21),
    home_page="/pages/home/index",
    product_page="/pages/goods/detail",
)

BABY = Preset(
    industry=Industry.baby,
    label="母婴",
    workspace_name="贝初 BEICHU 母婴 (demo)",
    order_prefix="BC",
    corp_id="ww7d20b4e91c5a3f62",
    mp_appid="wx2e8a6c4f1b9d0753",
    mini_appid="wx5f1c9e3a7d2b6048",
    skus=_skus(
        "BC",
        [
            ("MLK1", "有机奶粉 1段 800g", "奶粉", 32800, 1.5),
            ("MLK2", "有机奶粉 2段 800g", "奶粉", 31800, 1.5),
            ("MLK3", "有机奶粉 3段 800g", "奶粉", 29800, 1.2),
            ("DPR1", "轻薄纸尿裤 M 码 ×64", "纸尿裤", 15900, 1.8),
            ("DPR2", "拉拉裤 L 码 ×48", "纸尿裤", 13900, 1.2),
            ("FOD1", "高铁米粉 225g", "辅食", 6900, 1.1),
            ("FOD2", "果泥 6 袋装", "辅食", 3900, 0.9),
            ("WSH1", "婴儿洗发沐浴露", "洗护", 5900, 0.8),
            ("TOY1", "安抚玩偶", "玩具", 8900, 0.4),
            ("MOM1", "孕妇叶酸 60 粒", "孕妈", 9900, 0.6),
            ("TRY1", "奶粉试用装", "试用装", 990, 0.8),
            ("BOX1", "奶粉整箱 6 罐", "奶粉", 176400, 0.2),
        ],
    ),
    stock_up_sku="BC-BOX1",
    campaigns=(
        Campaign("xhs", "小红书育儿笔记", "xiaohongshu", 0.18),
        Campaign("hospital", "产院合作地推", "offline", 0.12),
        Campaign("jd-card", "京东包裹卡", "jd", 0.16),
        Campaign("store", "母婴门店", "store", 0.16),
        Campaign("mp-menu", "公众号菜单", "mp", 0.1),
        Campaign("group-buy", "宝妈拼团", "referral", 0.14, referral_coefficient=cal.COEF_GROUP_BUY),
        Campaign("invite3", "邀请 3 人得试用装", "referral", 0.14, referral_coefficient=cal.COEF_LEVEL2_INVITE3),
        Campaign("mom-meetup", "宝妈交流会", "offline", 1.0, headline=True),
    ),
    sales_channels=(("miniprogram", 0.4), ("jd", 0.2), ("tmall", 0.15), ("pdd", 0.1), ("store", 0.15)),
    departments=("育儿顾问组", "社群运营部", "门店导购部", "客服中心"),
    staff_names=("育儿顾问·安安", "营养师·晴晴", "小贝", "初初", "乐妈", "朵朵", "小暖", "甜甜", "Coco", "米粒"),
    group_names=("贝初宝妈交流群", "贝初 VIP 妈妈群"),
    content_titles=(
        ("辅食添加顺序", "0-6 个月奶粉怎么选", "宝宝睡眠指南", "孕期营养清单"),
        ("奶粉整箱立减", "纸尿裤第二件半价", "会员日双倍积分"),
        ("新手妈妈的第一年", "爸爸带娃日记"),
        ("晒出宝宝的第一步", "辅食打卡挑战"),
        ("奶源溯源直播", "品牌十周年"),
    ),
    persona_key="baby_stage",
    persona_label="宝宝阶段",
    persona_options=("孕期妈妈", "0-6个月宝妈", "6个月+宝妈"),
    female_share=0.86,
    age_range=(25, 35),
    route_shares=(0.84, 0.11, 0.05),
    tier_shares=(0.02, 0.1),
    buyer_share=0.48,
    repurchase_30d=cal.REPURCHASE_30D_HEALTHY,
    retention_7d=cal.RETENTION_7D_HEALTHY,
    churn_30d=cal.CHURN_30D_DEFAULT,
    group_leave_30d=cal.GROUP_LEAVE_30D_DEFAULT,
    group_join=0.45,
    first_order_days=10.0,
    gap_days=(100.0, 60.0, 20.0),
    items_per_order=1.8,
    group_hours=(10, 15, 15, 21),
    home_page="/pages/index/index",
    product_page="/pages/goods/detail",
)

COFFEE = Preset(
    industry=Industry.coffee,
    label="咖啡",
    workspace_name="山隅咖啡 SHANYU COFFEE (demo)",
    order_prefix="SY",
    corp_id="ww1e9c3a5f7b2d4086",
    mp_appid="wx8c4e2a6d0f3b1957",
    mini_appid="wx0a7f3d9c5e1b4862",
    skus=_skus(
        "SY",
        [
            ("LAT", "生椰拿铁", "现制饮品", 2200, 2.2),
            ("AME", "冰美式", "现制饮品", 1800, 1.8),
            ("FLW", "澳白", "现制饮品", 2400, 1.0),
            ("TEA", "桂花乌龙", "现制饮品", 1900, 0.7),
            ("CRS", "可颂", "烘焙", 1500, 0.8),
            ("BNS", "云南咖啡豆 454g", "咖啡豆", 9800, 0.3),
            ("DRP", "挂耳咖啡 10 片", "挂耳", 6900, 0.4),
            ("CUP", "随行杯", "周边", 12900, 0.1),
            ("CRD", "储值卡 500 元", "储值卡", 50000, 0.05),
        ],
    ),
    stock_up_sku="SY-CRD",
    campaigns=(
        Campaign("store-qr", "门店扫码点单", "store", 0.38),
        Campaign("dy", "抖音团购", "douyin", 0.14),
        Campaign("xhs", "小红书探店", "xiaohongshu", 0.1),
        Campaign("mp-menu", "公众号菜单", "mp", 0.06),
        Campaign("bogo", "邀请好友得买一送一券", "referral", 0.22, referral_coefficient=cal.COEF_LEVEL1_FIRST_ORDER),
        Campaign("group-buy", "好友拼单", "referral", 0.1, referral_coefficient=cal.COEF_GROUP_BUY),
        Campaign("new-drink", "新品首发", "store", 1.0, headline=True),
    ),
    sales_channels=(("miniprogram", 0.68), ("store", 0.24), ("douyin", 0.08)),
    departments=("门店运营部", "社群运营部", "客服中心"),
    staff_names=("店长·阿杰", "咖啡师·小雨", "小隅", "山山", "豆豆", "拿铁", "阿May", "Leo"),
    group_names=("山隅咖啡福利群", "山隅咖啡 VIP 群"),
    content_titles=(
        ("手冲入门", "咖啡豆的烘焙度", "冷萃在家做"),
        ("周末第二杯半价", "9.9 元新品尝鲜", "储值 500 送 80"),
        ("清晨六点的咖啡师", "一杯咖啡的产地旅程"),
        ("你最爱的口味投票", "猜价格赢免单"),
        ("新店开业", "联名杯上线"),
    ),
    persona_key="favorite_drink",
    persona_label="口味偏好",
    persona_options=("拿铁", "美式", "澳白", "茶饮", "不喝咖啡"),
    female_share=0.56,
    age_range=(20, 40),
    route_shares=(0.86, 0.06, 0.08),
    tier_shares=(0.02, 0.1),
    buyer_share=0.58,
    repurchase_30d=cal.REPURCHASE_30D_COFFEE,
    retention_7d=cal.RETENTION_7D_HEALTHY,
    churn_30d=cal.CHURN_30D_DEFAULT,
    group_leave_30d=cal.GROUP_LEAVE_30D_DEFAULT,
    group_join=0.3,
    first_order_days=5.0,
    gap_days=(75.0, 40.0, 10.0),
    items_per_order=1.4,
    group_hours=(8, 12, 15, 20),
    home_page="/pages/menu/index",
    product_page="/pages/menu/item",
)

EDUCATION = Preset(
    industry=Industry.education,
    label="教育",
    workspace_name="启明学堂 QIMING 教育 (demo)",
    order_prefix="QM",
    corp_id="ww3b8e1d6a9c2f5047",
    mp_appid="wx4d9b7f1e3a6c2085",
    mini_appid="wx7e2c0a8f5d1b3946",
    skus=_skus(
        "QM",
        [
            ("TRY", "9.9 元体验课", "体验课", 990, 3.0),
            ("CMP1", "21 天英语训练营", "训练营", 39900, 1.0),
            ("CMP2", "数学思维训练营", "训练营", 49900, 0.8),
            ("SYS1", "英语系统课 (一学期)", "系统课", 299900, 0.35),
            ("SYS2", "数学系统课 (一学期)", "系统课", 359900, 0.25),
            ("BOK1", "配套练习册", "教材", 8900, 0.9),
            ("BOK2", "绘本套装", "教材", 19900, 0.5),
            ("VIP1", "学习会员年卡", "会员", 59900, 0.2),
        ],
    ),
    stock_up_sku="QM-SYS1",
    campaigns=(
        Campaign("dy-ad", "抖音投放", "douyin", 0.26),
        Campaign("zhihu", "知乎答主", "zhihu", 0.12),
        Campaign("school", "校区地推", "offline", 0.14),
        Campaign("mp-menu", "公众号菜单", "mp", 0.1),
        Campaign("help-free", "好友助力免费学", "referral", 0.24, referral_coefficient=cal.COEF_LEVEL2_INVITE3),
        Campaign(
            "live-class", "直播公开课抽奖", "referral", 1.0, referral_coefficient=cal.COEF_LIVE_DRAW, headline=True
        ),
    ),
    sales_channels=(("miniprogram", 0.55), ("wecom", 0.25), ("douyin", 0.2)),
    departments=("课程顾问组", "班主任组", "社群运营部", "客服中心"),
    staff_names=("课程顾问·思思", "班主任·乐乐", "学习顾问·依依", "Amy 老师", "小启", "明明", "Kevin 老师"),
    group_names=("启明学习打卡群", "启明系统课学员群"),
    content_titles=(
        ("Excel 高级函数", "英语启蒙的三个误区", "数学思维怎么练"),
        ("9.9 元体验课", "系统课早鸟价", "报二送一"),
        ("学员成长故事", "一位妈妈的陪读日记"),
        ("本周打卡挑战", "你家孩子几点睡？"),
        ("新学期开班", "名师直播"),
    ),
    persona_key="grade",
    persona_label="孩子年级",
    persona_options=("学龄前", "小学低年级", "小学高年级", "初中"),
    female_share=0.68,
    age_range=(28, 45),
    route_shares=(0.88, 0.1, 0.02),
    tier_shares=(0.015, 0.06),
    buyer_share=0.36,
    repurchase_30d=cal.REPURCHASE_30D_HEALTHY,
    retention_7d=cal.RETENTION_7D_WEAK,
    churn_30d=cal.CHURN_30D_EDUCATION,
    group_leave_30d=cal.CHURN_30D_EDUCATION,
    group_join=0.5,
    first_order_days=6.0,
    gap_days=(150.0, 80.0, 28.0),
    items_per_order=1.2,
    group_hours=(10, 15, 20, 21),
    home_page="/pages/course/index",
    product_page="/pages/course/detail",
)

PRESETS: dict[Industry, Preset] = {p.industry: p for p in (BEAUTY, BABY, COFFEE, EDUCATION)}
