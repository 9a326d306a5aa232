"""Vocabularies for people: WeChat-style nicknames, real names, regions, and identity value encodings."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

NICK_HEADS: Final = (
    "爱吃草莓的", "晴天", "小", "阿", "慢慢", "快乐的", "安静的", "追光的", "今天也要", "努力的", "温柔", "元气",
    "橘子味的", "不想起床的", "爱喝奶茶的", "会飞的", "小小", "大大", "", "", "", "",
)  # fmt: skip
NICK_TAILS: Final = (
    "小鹿", "鱼", "雨", "May", "Lily", "Coco", "momo", "兔子", "猫猫", "喵", "小熊", "星星", "月亮", "西瓜",
    "橙子", "柚子", "桃子", "麦兜", "豆豆", "糖", "Amy", "Grace", "Kiki", "Yuki", "妈咪", "向日葵", "小太阳",
    "木木", "一一", "七七", "Luna", "Echo", "Mia", "Zoe", "阿飞", "老王", "Jason", "Leo", "Tony", "大熊",
)  # fmt: skip
NICK_MARKS: Final = ("", "", "", "", "", "🌸", "🍓", "✨", "🌙", "☀️", "～", "_", "💕")
SURNAMES: Final = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林",
    "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
)  # fmt: skip
GIVEN_FEMALE: Final = (
    "静", "丽", "敏", "婷", "雪", "琳", "欣怡", "诗涵", "梓萱", "雨桐", "佳怡", "思雨", "晓燕", "慧", "娜", "颖",
    "子涵", "若曦", "梦琪", "一诺",
)  # fmt: skip
GIVEN_MALE: Final = (
    "伟", "强", "磊", "洋", "勇", "军", "杰", "涛", "浩然", "子轩", "宇航", "俊杰", "博文", "天佑", "明", "超",
)  # fmt: skip
# (region, weight): roughly where urban WeChat shoppers live.
REGIONS: Final = (
    ("上海市", 8.0), ("北京市", 7.0), ("广东省深圳市", 6.5), ("广东省广州市", 6.0), ("浙江省杭州市", 5.5),
    ("四川省成都市", 5.0), ("江苏省南京市", 4.0), ("江苏省苏州市", 4.0), ("湖北省武汉市", 4.0), ("重庆市", 4.0),
    ("陕西省西安市", 3.5), ("湖南省长沙市", 3.5), ("天津市", 3.0), ("山东省青岛市", 3.0), ("福建省厦门市", 2.5),
    ("河南省郑州市", 3.0), ("浙江省宁波市", 2.5), ("安徽省合肥市", 2.5), ("云南省昆明市", 2.0),
    ("辽宁省沈阳市", 2.0), ("山东省济南市", 2.0), ("福建省福州市", 2.0), ("江苏省无锡市", 2.0),
    ("广东省东莞市", 2.0), ("广东省佛山市", 2.0), ("黑龙江省哈尔滨市", 1.5), ("吉林省长春市", 1.2),
    ("广西壮族自治区南宁市", 1.5), ("贵州省贵阳市", 1.2), ("江西省南昌市", 1.5), ("河北省石家庄市", 1.5),
    ("山西省太原市", 1.2), ("海南省海口市", 0.8), ("新疆维吾尔自治区乌鲁木齐市", 0.8), ("内蒙古自治区呼和浩特市", 0.6),
)  # fmt: skip
# Mainland mobile prefixes (1[3-9]x) the phone numbers are spread over.
PHONE_PREFIXES: Final = (
    130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 156, 157, 158, 159, 166, 176, 177,
    180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198, 199,
)  # fmt: skip
EMAIL_DOMAINS: Final = ("example.com", "example.net", "example.org")  # RFC 2606: never a real mailbox

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_MASK59 = np.uint64((1 << 59) - 1)


def scramble(index: NDArray[np.int64], salt: int) -> NDArray[np.uint64]:
    """A bijection of [0, 2^59): distinct indexes give distinct, random-looking numbers (per salt)."""
    mult = np.uint64((0x9E3779B97F4A7C15 ^ (salt * 0x632BE59BD9B4E019)) & ((1 << 64) - 1) | 1)
    add = np.uint64((salt * 0xD6E8FEB86659FD93) & ((1 << 59) - 1))
    x = index.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x * mult + add) & _MASK59
        x ^= x >> np.uint64(29)
        x = (x * mult) & _MASK59
        x ^= x >> np.uint64(31)
    return x


def base62(values: NDArray[np.uint64], width: int) -> list[str]:
    """Fixed-width base-62 text of each value (values must be < 62**width)."""
    digits = np.empty((len(values), width), dtype=np.uint8)
    x = values.copy()
    for pos in range(width - 1, -1, -1):
        digits[:, pos] = _ALPHABET[(x % np.uint64(62)).astype(np.intp)]
        x //= np.uint64(62)
    return digits.view(f"S{width}").ravel().astype(str).tolist()


def opaque(index: NDArray[np.int64], prefix: str, salt: int, width: int = 10, tail: int = 0) -> list[str]:
    """Unique opaque ids such as WeCom external_userid or WeChat openid: prefix + base-62 digits (the first
    ``width`` are a bijection of the index; ``tail`` more are noise)."""
    parts = [base62(scramble(index, salt), width)]
    step = 1
    while tail > 0:
        chars = min(9, tail)
        parts.append(base62(scramble(index, salt + 7919 * step) % np.uint64(62**chars), chars))
        tail -= chars
        step += 1
    return [prefix + "".join(p) for p in zip(*parts, strict=True)]


def numeric(index: NDArray[np.int64], prefix: str, salt: int, digits: int) -> list[str]:
    """Unique decimal ids (``digits`` ≥ 10): prefix + zero-padded digits."""
    modulus = np.uint64(10**digits)
    mult = np.uint64(((salt * 2654435761) % 10**6) * 10 + 3)  # ends in 3: coprime with 10^digits
    add = np.uint64((salt * 40503) % 10**digits)
    with np.errstate(over="ignore"):
        x = (index.astype(np.uint64) * mult + add) % modulus
    return [f"{prefix}{v:0{digits}d}" for v in x.tolist()]


def phones(index: NDArray[np.int64], salt: int) -> list[str]:
    """Unique 11-digit mainland mobile numbers: a prefix from the list and 8 scrambled digits."""
    count = len(PHONE_PREFIXES)
    prefix = np.asarray(PHONE_PREFIXES, dtype=np.int64)[index % count]
    mult = np.int64(((salt * 7919) % 10**5) * 10 + 7)  # ends in 7: coprime with 10^8
    rest = ((index // count) * mult + (salt * 104729) % 10**8) % 10**8
    return [str(v) for v in (prefix * 10**8 + rest).tolist()]
