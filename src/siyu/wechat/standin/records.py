"""The stand-in's records: corps, staff, customers, relations, tags, 群发 tasks, groups, apps, tokens and
faults, and the error codes it answers with."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Any

CHINA = timezone(timedelta(hours=8))  # 群发 periods are natural days / weeks / months in Beijing time

ERRMSG: dict[int, str] = {
    -1: "system busy",
    40001: "invalid credential",
    40002: "invalid grant_type",
    40003: "invalid userid or openid",
    40008: "invalid message type",
    40013: "invalid corpid or appid",
    40014: "invalid access_token",
    40037: "invalid template_id",
    40050: "chatid not found",
    40058: "invalid parameter",
    40068: "invalid tagid",
    40071: "tag name already exists",
    40096: "invalid external userid",
    40125: "invalid appsecret",
    40126: "corp tag count reaches the limit 3000",
    41001: "access_token missing",
    41002: "corpid or appid missing",
    41004: "corpsecret missing",
    41049: "welcome code missing",
    41050: "invalid welcome code",
    41051: "customer and member have already started chatting",
    41064: "attachments count exceeds the limit",
    41065: "invalid attachment msgtype",
    41093: "group msg task has been cancelled",
    41094: "remind group msg exceeds the limit",
    41096: "welcome msg is being sent",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45009: "api freq out of limit",
    45015: "response out of time limit or subscription is canceled",
    45033: "api concurrent out of limit",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    60111: "userid not found",
    81017: "owner_filter is required when the app can see more than 1000 members",
    84061: "not external contact",
}


class ApiError(Exception):
    """A non-zero ``errcode`` answer (HTTP 200, as WeCom and WeChat answer them)."""

    def __init__(self, errcode: int, detail: str = "") -> None:
        self.errcode = errcode
        self.errmsg = f"{ERRMSG.get(errcode, 'error')}{': ' + detail if detail else ''}"
        super().__init__(f"errcode {errcode}: {self.errmsg}")


class ManualClock:
    """A clock that only moves when told to, so tokens and welcome codes expire without sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def new_id(prefix: str, length: int = 28) -> str:
    return prefix + secrets.token_urlsafe(length)[:length]


def new_version() -> str:
    return hashlib.md5(secrets.token_bytes(16), usedforsecurity=False).hexdigest()


@dataclass
class Staff:
    userid: str
    name: str
    department: list[int]
    status: int = 1
    follow: bool = True  # has 客户联系 permission (get_follow_user_list)
    licensed: bool = True  # has an interoperability licence (batch/get_by_user lists it in fail_info otherwise)


@dataclass
class Customer:
    external_userid: str
    name: str
    type: int = 1
    gender: int = 0
    unionid: str | None = None
    avatar: str = ""


@dataclass
class Relation:
    userid: str
    external_userid: str
    createtime: int
    add_way: int = 1
    state: str | None = None
    oper_userid: str = ""
    remark: str = ""
    description: str = ""
    remark_corp_name: str = ""
    remark_mobiles: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    one_way: bool = False  # the customer deleted the member (del_follow_user): the APIs still answer


@dataclass
class Tag:
    id: str
    name: str
    create_time: int
    order: int = 0


@dataclass
class TagGroup:
    group_id: str
    group_name: str
    create_time: int
    order: int = 0
    tags: list[Tag] = field(default_factory=list)


@dataclass
class WelcomeCode:
    code: str
    corpid: str
    userid: str
    external_userid: str
    issued_at: float
    used: bool = False
    claimed: bool = False  # another app is distributing it (41096)


@dataclass
class Recipient:
    target: str  # external_userid, or chat_id for a group task
    status: int = 0
    send_time: int = 0


@dataclass
class SenderTask:
    userid: str
    recipients: list[Recipient]
    status: int = 0  # 0 not yet confirmed, 2 sent
    send_time: int = 0


@dataclass
class MsgTemplate:
    msgid: str
    chat_type: str
    creator: str
    create_time: int
    text: dict[str, Any] | None
    attachments: list[dict[str, Any]]
    tasks: dict[str, SenderTask]
    cancelled: bool = False
    reminders: list[float] = field(default_factory=list)


@dataclass
class GroupMember:
    userid: str
    type: int
    join_time: int
    join_scene: int
    invitor: str | None = None
    name: str = ""
    unionid: str | None = None
    group_nickname: str = ""


@dataclass
class Group:
    chat_id: str
    name: str
    owner: str
    create_time: int
    members: dict[str, GroupMember]
    member_version: str
    admins: list[str] = field(default_factory=list)
    notice: str = ""
    status: int = 0


@dataclass
class Corp:
    corpid: str
    secret: str
    token: str
    encoding_aes_key: str
    callback_url: str | None
    agent_id: str
    staff: dict[str, Staff] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    relations: dict[tuple[str, str], Relation] = field(default_factory=dict)
    tag_groups: dict[str, TagGroup] = field(default_factory=dict)
    contact_ways: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, MsgTemplate] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    received: dict[str, list[float]] = field(default_factory=dict)  # 群发 receipts per customer / group

    def tag(self, tag_id: str) -> tuple[TagGroup, Tag] | None:
        for group in self.tag_groups.values():
            for tag in group.tags:
                if tag.id == tag_id:
                    return group, tag
        return None


@dataclass
class Grant:
    """A customer-service window: ``remaining`` messages until ``expires_at``."""

    expires_at: float
    remaining: int


@dataclass
class MpUser:
    openid: str
    unionid: str | None = None
    grants: dict[str, Grant] = field(default_factory=dict)  # by the user action that opened it
    subscriptions: Counter[str] = field(default_factory=Counter)  # one-time acceptances per template_id


@dataclass
class App:
    appid: str
    secret: str
    kind: str
    token: str
    encoding_aes_key: str
    users: dict[str, MpUser] = field(default_factory=dict)
    templates: dict[str, list[str]] = field(default_factory=dict)
    client_msg_ids: dict[str, int] = field(default_factory=dict)


@dataclass
class Token:
    value: str
    owner: str
    secret: str
    kind: str  # "corp", "app" (cgi-bin/token) or "stable" (cgi-bin/stable_token)
    expires_at: float
    revoked: bool = False


@dataclass
class Fault:
    suffix: str
    errcode: int | None
    http_status: int | None
    delay: float
    times: int
