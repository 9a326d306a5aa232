"""The documented API calls, one function each: WeCom 客户联系 and the 公众号 / 小程序 message APIs. Each runs under
the state's lock with the caller's corp or app and answers the JSON body (less errcode) or raises ApiError."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from siyu.wechat.standin.params import _content, _ids, _limit, _text, page
from siyu.wechat.standin.records import (
    ApiError,
    App,
    Corp,
    MsgTemplate,
    Recipient,
    Relation,
    SenderTask,
    Tag,
    TagGroup,
    new_id,
)
from siyu.wechat.standin.state import StandIn

T = TypeVar("T")
Query = Mapping[str, str]
Body = dict[str, Any]
WeComCall = Callable[[StandIn, Corp, Query, Body], Body]
AppCall = Callable[[StandIn, App, Query, Body], Body]

MAX_TAGS = 3000
ATTACHMENT_TYPES = frozenset({"image", "link", "miniprogram", "video", "file"})
CUSTOM_TYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "miniprogrampage"}
)
# 小程序 subscribe message field types with a length limit (47003 beyond it)
FIELD_LIMITS = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "phrase": 5,
}


# --- staff and customers -----------------------------------------------------------------------------


def user_get(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    staff = s.staff(corp, q.get("userid", ""))
    return {"userid": staff.userid, "name": staff.name, "department": staff.department, "status": staff.status}


def follow_user_list(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    return {"follow_user": [u.userid for u in corp.staff.values() if u.follow]}


def contact_list(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    userid = s.staff(corp, q.get("userid", "")).userid
    return {"external_userid": [ext for (uid, ext) in corp.relations if uid == userid]}


def _tags(corp: Corp, relation: Relation) -> list[dict[str, Any]]:
    found = [corp.tag(t) for t in relation.tags]
    return [{"group_name": g.group_name, "tag_name": t.name, "tag_id": t.id, "type": 1} for g, t in filter(None, found)]


def _follow(corp: Corp, relation: Relation, batch: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "userid": relation.userid,
        "remark": relation.remark,
        "description": relation.description,
        "createtime": relation.createtime,
    }
    if batch:
        entry["tag_id"] = list(relation.tags)
    else:
        entry["tags"] = _tags(corp, relation)
    if relation.remark_corp_name:
        entry["remark_corp_name"] = relation.remark_corp_name
    entry |= {
        "remark_mobiles": relation.remark_mobiles,
        "oper_userid": relation.oper_userid,
        "add_way": relation.add_way,
    }
    if relation.state is not None:
        entry["state"] = relation.state
    return entry


def _external_contact(s: StandIn, corp: Corp, external_userid: str) -> dict[str, Any]:
    customer = s.customer(corp, external_userid)
    contact: dict[str, Any] = {
        "external_userid": customer.external_userid,
        "name": customer.name,
        "avatar": customer.avatar,
        "type": customer.type,
        "gender": customer.gender,
    }
    if customer.unionid:
        contact["unionid"] = customer.unionid
    return contact


def contact_get(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    external_userid = q.get("external_userid", "")
    contact = _external_contact(s, corp, external_userid)
    relations = sorted((r for r in corp.relations.values() if r.external_userid == external_userid), key=_created)
    if not relations:
        raise ApiError(84061, external_userid)
    chunk, next_cursor = page(relations, q.get("cursor"), s.follow_user_page)
    return {"external_contact": contact, "follow_user": [_follow(corp, r) for r in chunk], "next_cursor": next_cursor}


def _created(relation: Relation) -> int:
    return relation.createtime


def batch_get_by_user(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    userids = _ids(b, "userid_list")
    if not 1 <= len(userids) <= 100:
        raise ApiError(40058, "userid_list must hold 1..100 userids")
    unlicensed = [u for u in userids if not s.staff(corp, u).licensed]
    served = [u for u in userids if u not in unlicensed]
    pairs = [r for u in served for r in sorted(corp.relations.values(), key=_created) if r.userid == u]
    chunk, next_cursor = page(pairs, b.get("cursor"), _limit(b, 50, 100))
    return {
        "external_contact_list": [
            {
                "external_contact": _external_contact(s, corp, r.external_userid),
                "follow_info": _follow(corp, r, batch=True),
            }
            for r in chunk
        ],
        "next_cursor": next_cursor,
        "fail_info": {"unlicensed_userid_list": unlicensed},
    }


def remark(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    relation = s.relation(corp, str(b.get("userid", "")), str(b.get("external_userid", "")))
    fields = ("remark", "description", "remark_company", "remark_mobiles", "remark_pic_mediaid")
    if all(b.get(k) in (None, "") for k in fields):
        raise ApiError(40058, "nothing to change")
    if "remark" in b:
        relation.remark = _text(b, "remark", 20)
    if "description" in b:
        relation.description = _text(b, "description", 150)
    if "remark_company" in b:
        relation.remark_corp_name = _text(b, "remark_company", 20)
    if "remark_mobiles" in b:
        relation.remark_mobiles = [m for m in _ids(b, "remark_mobiles") if m]  # [""] clears them
    return {}


# --- corp tags -----------------------------------------------------------------------------------------


def _tag_json(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "create_time": tag.create_time, "order": tag.order}


def _group_json(group: TagGroup, tags: list[Tag]) -> dict[str, Any]:
    return {
        "group_id": group.group_id,
        "group_name": group.group_name,
        "create_time": group.create_time,
        "order": group.order,
        "tag": [_tag_json(t) for t in sorted(tags, key=lambda t: -t.order)],
    }


def get_corp_tag_list(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    group_ids, tag_ids = set(_ids(b, "group_id")), set(_ids(b, "tag_id"))
    groups = sorted(corp.tag_groups.values(), key=lambda g: -g.order)
    if group_ids:  # group_id wins over tag_id
        return {"tag_group": [_group_json(g, g.tags) for g in groups if g.group_id in group_ids]}
    if tag_ids:
        picked = [(g, [t for t in g.tags if t.id in tag_ids]) for g in groups]
        return {"tag_group": [_group_json(g, tags) for g, tags in picked if tags]}
    return {"tag_group": [_group_json(g, g.tags) for g in groups]}


def add_corp_tag(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    new = b.get("tag") or []
    if not isinstance(new, list) or not new or not all(isinstance(t, dict) and t.get("name") for t in new):
        raise ApiError(40058, "tag must list at least one {name}")
    group_id = b.get("group_id")
    now = int(s.clock())
    if group_id:
        if group_id not in corp.tag_groups:
            raise ApiError(40068, str(group_id))
        group = corp.tag_groups[group_id]
    else:
        name = _text(b, "group_name", 30, required=True)
        found = next((g for g in corp.tag_groups.values() if g.group_name == name), None)
        group = found or TagGroup(new_id("et", 30), name, now, int(b.get("order") or 0))
    if sum(len(g.tags) for g in corp.tag_groups.values()) + len(new) > MAX_TAGS:
        raise ApiError(40126)
    names = {t.name for t in group.tags}
    tags = []
    for item in new:
        name = _text(item, "name", 30, required=True)
        if name in names:
            raise ApiError(40071, name)
        names.add(name)
        tags.append(Tag(new_id("et", 30), name, now, int(item.get("order") or 0)))
    corp.tag_groups[group.group_id] = group
    group.tags += tags
    return {"tag_group": _group_json(group, tags)}


def edit_corp_tag(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    target = str(b.get("id") or "")
    name = _text(b, "name", 30)
    if target in corp.tag_groups:
        group = corp.tag_groups[target]
        group.group_name = name or group.group_name
        group.order = int(b.get("order", group.order))
        return {}
    found = corp.tag(target)
    if found is None:
        raise ApiError(40068, target)
    tag = found[1]
    tag.name, tag.order = name or tag.name, int(b.get("order", tag.order))
    return {}


def del_corp_tag(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    tag_ids, group_ids = _ids(b, "tag_id"), _ids(b, "group_id")
    if not tag_ids and not group_ids:
        raise ApiError(40058, "tag_id or group_id is required")
    s.delete_tags(corp, tag_ids, group_ids)
    return {}


def mark_tag(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    relation = s.relation(corp, str(b.get("userid", "")), str(b.get("external_userid", "")))
    add, remove = _ids(b, "add_tag"), _ids(b, "remove_tag")
    if not add and not remove:
        raise ApiError(40058, "add_tag or remove_tag is required")
    for tag_id in add + remove:
        if corp.tag(tag_id) is None:
            raise ApiError(40068, tag_id)
    relation.tags = [t for t in relation.tags if t not in remove]
    relation.tags += [t for t in dict.fromkeys(add) if t not in relation.tags]
    return {}


# --- 联系我 ----------------------------------------------------------------------------------------------

WAY_FIELDS = (
    "type",
    "scene",
    "style",
    "remark",
    "skip_verify",
    "state",
    "user",
    "party",
    "is_temp",
    "expires_in",
    "chat_expires_in",
    "unionid",
    "is_exclusive",
    "conclusions",
)


def _check_way(s: StandIn, corp: Corp, way: Body) -> None:
    if way.get("type") not in (1, 2):
        raise ApiError(40058, "type must be 1 or 2")
    if way.get("scene") not in (1, 2):
        raise ApiError(40058, "scene must be 1 or 2")
    _text(way, "state", 30)
    _text(way, "remark", 30)
    users, party = _ids(way, "user"), way.get("party") or []
    if way["type"] == 1 and (len(users) != 1 or party):
        raise ApiError(40058, "type 1 takes exactly one user and no party")
    if way["type"] == 2 and not (users or party):
        raise ApiError(40058, "type 2 takes users or parties")
    for userid in users:
        s.staff(corp, userid)


def add_contact_way(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    way: Body = {"skip_verify": True, "is_temp": False, "style": 0} | {k: b[k] for k in WAY_FIELDS if k in b}
    _check_way(s, corp, way)
    config_id = secrets.token_hex(16)
    way |= {"config_id": config_id, "create_time": int(s.clock())}
    if way["scene"] == 2:
        way["qr_code"] = f"http://p.qpic.cn/wwhead/{config_id}/0"
    corp.contact_ways[config_id] = way
    return {"config_id": config_id} | ({"qr_code": way["qr_code"]} if "qr_code" in way else {})


def _way(corp: Corp, b: Body) -> Body:
    config_id = str(b.get("config_id") or "")
    if config_id not in corp.contact_ways:
        raise ApiError(40058, f"invalid config_id {config_id}")
    return corp.contact_ways[config_id]


def get_contact_way(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    way = _way(corp, b)
    return {"contact_way": {k: v for k, v in way.items() if k != "create_time"}}


def list_contact_way(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    start, end = int(b.get("start_time") or 0), int(b.get("end_time") or 2**62)
    ways = [w for w in corp.contact_ways.values() if start <= w["create_time"] <= end]
    chunk, next_cursor = page(ways, b.get("cursor"), _limit(b, 100, 1000))
    return {"contact_way": [{"config_id": w["config_id"]} for w in chunk], "next_cursor": next_cursor}


def update_contact_way(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    way = _way(corp, b)
    changed = way | {k: b[k] for k in WAY_FIELDS if k in b and k not in ("type", "scene")}
    _check_way(s, corp, changed)
    way.update(changed)
    return {}


def del_contact_way(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    del corp.contact_ways[_way(corp, b)["config_id"]]
    return {}


# --- welcome message and 企业群发 ------------------------------------------------------------------------


def send_welcome_msg(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    value = b.get("welcome_code")
    if not value:
        raise ApiError(41049)
    code = s.welcome_codes.get(str(value))
    if code is None or code.corpid != corp.corpid or s.clock() - code.issued_at > s.welcome_window:
        raise ApiError(41050)
    if code.used:
        raise ApiError(41051)
    if code.claimed:
        raise ApiError(41096)
    text, attachments = _content(b)
    code.used = True
    s.welcome_messages.append(
        {
            "corpid": corp.corpid,
            "welcome_code": code.code,
            "userid": code.userid,
            "external_userid": code.external_userid,
            "text": text,
            "attachments": attachments,
            "at": s.clock(),
        }
    )
    return {}


def _matches(relation: Relation, tag_filter: Any) -> bool:
    """tag_filter: every group_list entry must have one of its tags on the relation."""
    groups = tag_filter.get("group_list") if isinstance(tag_filter, dict) else None
    return all(set(g.get("tag_list") or []) & set(relation.tags) for g in groups or [])


def add_msg_template(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    chat_type = b.get("chat_type") or "single"
    if chat_type not in ("single", "group"):
        raise ApiError(40058, "chat_type must be single or group")
    text, attachments = _content(b)
    sender = b.get("sender")
    if sender is not None:
        s.staff(corp, str(sender))
    tasks: dict[str, list[str]] = {}
    fail: list[str] = []
    if chat_type == "group":
        if not sender:
            raise ApiError(40058, "sender is required for group")
        chat_ids = _ids(b, "chat_id_list")
        if len(chat_ids) > 2000:
            raise ApiError(40058, "chat_id_list holds at most 2000 groups")
        owned = [g.chat_id for g in corp.groups.values() if g.owner == sender]
        fail = [c for c in chat_ids if c not in owned]
        tasks[str(sender)] = [c for c in owned if not chat_ids or c in chat_ids]
    else:
        wanted = _ids(b, "external_userid")
        if len(wanted) > 10_000:
            raise ApiError(40058, "external_userid holds at most 10000 customers")
        relations = sorted(corp.relations.values(), key=_created)
        candidates = wanted or list(dict.fromkeys(r.external_userid for r in relations))
        for external_userid in candidates:
            mine = [r for r in relations if r.external_userid == external_userid and r.userid == (sender or r.userid)]
            if not mine:
                fail.append(external_userid)
            elif _matches(mine[-1], b.get("tag_filter")):
                # Without a sender the task goes to the member who added the customer last.
                tasks.setdefault(mine[-1].userid, []).append(external_userid)
    msgid = new_id("msg")
    corp.templates[msgid] = MsgTemplate(
        msgid,
        chat_type,
        str(sender or ""),
        int(s.clock()),
        text,
        attachments,
        {u: SenderTask(u, [Recipient(t) for t in targets]) for u, targets in tasks.items()},
    )
    return {"fail_list": fail, "msgid": msgid}


def _template(s: StandIn, corp: Corp, b: Body) -> MsgTemplate:
    msgid = str(b.get("msgid") or "")
    if msgid not in corp.templates:
        raise ApiError(40058, f"invalid msgid {msgid}")
    return corp.templates[msgid]


def get_groupmsg_list_v2(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    chat_type = b.get("chat_type")
    start, end = b.get("start_time"), b.get("end_time")
    if chat_type not in ("single", "group") or not isinstance(start, int) or not isinstance(end, int):
        raise ApiError(40058, "chat_type, start_time and end_time are required")
    if not 0 <= end - start <= 31 * 86400:
        raise ApiError(40058, "the time range is at most one month")
    # Every task here was made through the API (企业发表, create_type 0): WeCom returns no creator for those
    # (doc 93338), so a creator filter or a personal-only filter (filter_type 1) finds none of them.
    if b.get("filter_type", 2) == 1 or b.get("creator"):
        found: list[MsgTemplate] = []
    else:
        found = [t for t in corp.templates.values() if t.chat_type == chat_type and start <= t.create_time <= end]
    chunk, next_cursor = page(found, b.get("cursor"), _limit(b, 50, 100))
    return {
        "group_msg_list": [
            {
                "msgid": t.msgid,
                "create_time": t.create_time,
                "create_type": 0,
                "text": t.text,
                "attachments": t.attachments,
            }
            for t in chunk
        ],
        "next_cursor": next_cursor,
    }


def get_groupmsg_task(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    tasks = list(_template(s, corp, b).tasks.values())
    chunk, next_cursor = page(tasks, b.get("cursor"), _limit(b, 500, 1000))
    rows = [{"userid": t.userid, "status": t.status} | ({"send_time": t.send_time} if t.status else {}) for t in chunk]
    return {"task_list": rows, "next_cursor": next_cursor}


def get_groupmsg_send_result(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    template = _template(s, corp, b)
    userid = str(b.get("userid") or "")
    s.staff(corp, userid)
    task = template.tasks.get(userid)
    chunk, next_cursor = page(task.recipients if task else [], b.get("cursor"), _limit(b, 500, 1000))
    key = "external_userid" if template.chat_type == "single" else "chat_id"
    rows = [
        {key: r.target, "userid": userid, "status": r.status} | ({"send_time": r.send_time} if r.status == 1 else {})
        for r in chunk
    ]
    return {"send_list": rows, "next_cursor": next_cursor}


def cancel_groupmsg_send(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    template = _template(s, corp, b)
    if template.cancelled:
        raise ApiError(41093)
    template.cancelled = True
    return {}


def remind_groupmsg_send(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    template = _template(s, corp, b)
    if template.cancelled:
        raise ApiError(41093)
    now = s.clock()
    template.reminders = [t for t in template.reminders if t > now - 86400]
    if len(template.reminders) >= 3:
        raise ApiError(41094)
    template.reminders.append(now)
    return {}


# --- customer groups ---------------------------------------------------------------------------------


def groupchat_list(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    owners = _ids(b.get("owner_filter") or {}, "userid_list")
    if not owners and len(corp.staff) > 1000:
        raise ApiError(81017)
    status_filter = b.get("status_filter", 0)
    groups = [
        g
        for g in corp.groups.values()
        if (not owners or g.owner in owners) and (status_filter == 0 or g.status == status_filter)
    ]
    limit = b.get("limit")
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ApiError(40058, "limit must be 1..1000")
    chunk, next_cursor = page(groups, b.get("cursor"), limit)
    return {"group_chat_list": [{"chat_id": g.chat_id, "status": g.status} for g in chunk], "next_cursor": next_cursor}


def groupchat_get(s: StandIn, corp: Corp, q: Query, b: Body) -> Body:
    group = s.group(corp, str(b.get("chat_id") or ""))
    need_name = b.get("need_name") == 1
    members = []
    for m in group.members.values():
        member: dict[str, Any] = {"userid": m.userid, "type": m.type}
        if m.type == 2 and m.unionid:
            member["unionid"] = m.unionid
        member |= {"join_time": m.join_time, "join_scene": m.join_scene}
        if m.invitor:
            member["invitor"] = {"userid": m.invitor}
        member["group_nickname"] = m.group_nickname
        if need_name:
            member["name"] = m.name
        members.append(member)
    return {
        "group_chat": {
            "chat_id": group.chat_id,
            "name": group.name,
            "owner": group.owner,
            "create_time": group.create_time,
            "notice": group.notice,
            "member_list": members,
            "admin_list": [{"userid": a} for a in group.admins],
            "member_version": group.member_version,
        }
    }


WECOM: dict[str, tuple[str, WeComCall]] = {
    "user/get": ("GET", user_get),
    "externalcontact/get_follow_user_list": ("GET", follow_user_list),
    "externalcontact/list": ("GET", contact_list),
    "externalcontact/get": ("GET", contact_get),
    "externalcontact/batch/get_by_user": ("POST", batch_get_by_user),
    "externalcontact/remark": ("POST", remark),
    "externalcontact/get_corp_tag_list": ("POST", get_corp_tag_list),
    "externalcontact/add_corp_tag": ("POST", add_corp_tag),
    "externalcontact/edit_corp_tag": ("POST", edit_corp_tag),
    "externalcontact/del_corp_tag": ("POST", del_corp_tag),
    "externalcontact/mark_tag": ("POST", mark_tag),
    "externalcontact/add_contact_way": ("POST", add_contact_way),
    "externalcontact/get_contact_way": ("POST", get_contact_way),
    "externalcontact/list_contact_way": ("POST", list_contact_way),
    "externalcontact/update_contact_way": ("POST", update_contact_way),
    "externalcontact/del_contact_way": ("POST", del_contact_way),
    "externalcontact/send_welcome_msg": ("POST", send_welcome_msg),
    "externalcontact/add_msg_template": ("POST", add_msg_template),
    "externalcontact/get_groupmsg_list_v2": ("POST", get_groupmsg_list_v2),
    "externalcontact/get_groupmsg_task": ("POST", get_groupmsg_task),
    "externalcontact/get_groupmsg_send_result": ("POST", get_groupmsg_send_result),
    "externalcontact/cancel_groupmsg_send": ("POST", cancel_groupmsg_send),
    "externalcontact/remind_groupmsg_send": ("POST", remind_groupmsg_send),
    "externalcontact/groupchat/list": ("POST", groupchat_list),
    "externalcontact/groupchat/get": ("POST", groupchat_get),
}
# Data-heavy endpoints that WeCom limits by concurrency (45033).
CONCURRENT = frozenset({"externalcontact/list", "externalcontact/batch/get_by_user", "externalcontact/groupchat/list"})
