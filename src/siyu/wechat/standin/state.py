"""The stand-in's memory (corps, customers, tags, 群发 tasks, groups, 公众号 / 小程序 apps, SMS) and the test hooks
that change it as a person in the WeCom or WeChat client would; hooks send callbacks, API writes never do."""

from __future__ import annotations

import calendar
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from siyu.wechat.standin import callbacks
from siyu.wechat.standin.gatekeeper import Gatekeeper
from siyu.wechat.standin.records import (
    CHINA,
    ApiError,
    App,
    Corp,
    Customer,
    Fault,
    Grant,
    Group,
    GroupMember,
    ManualClock,
    MpUser,
    MsgTemplate,
    Relation,
    Staff,
    Tag,
    TagGroup,
    Token,
    WelcomeCode,
    new_id,
    new_version,
)


class StandIn(Gatekeeper):
    """Everything the stand-in knows, behind one lock; the knobs below are plain attributes."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.corps: dict[str, Corp] = {}
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, Token] = {}
        self.token_calls = 0
        self.token_calls_by: Counter[str] = Counter()
        self.expires_in = 7200
        self.per_minute = 10_000
        self.per_hour = 150_000
        self.max_concurrent = 5
        self.receive_cap: tuple[int | None, str] = (None, "month")  # None: days in the month (or 7 / 1)
        self.welcome_window = 20.0
        self.follow_user_page = 500
        self.callbacks_async = False
        self.callback_timeout = 5.0
        self.callback_attempts = 3
        self.callback_retry_delay = 0.05
        self.verify_timeout = 1.0
        self.callback_log: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.welcome_codes: dict[str, WelcomeCode] = {}
        self.welcome_messages: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.sms_api_key = "standin-sms-key"
        self.sms_per_minute = 5  # per phone number
        self.sms_outcome = "delivered"
        self.sms_sent: list[dict[str, Any]] = []
        self.sms_status: dict[str, str] = {}
        self.sms_by_client_id: dict[str, str] = {}
        self._faults: list[Fault] = []
        self._windows: dict[tuple[str, str], list[int]] = {}
        self._in_flight: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()  # API calls by path (without /cgi-bin/), for tests to count
        self._next_msgid = 200228332

    # --- set-up ------------------------------------------------------------------------------------

    def add_corp(
        self,
        corpid: str,
        secret: str,
        token: str = "",
        encoding_aes_key: str = "",
        callback_url: str | None = None,
        agent_id: str = "1000002",
    ) -> None:
        with self.lock:
            self.corps[corpid] = Corp(corpid, secret, token, encoding_aes_key, callback_url, agent_id)

    def add_staff(
        self,
        corpid: str,
        userid: str,
        name: str,
        department: int | list[int] = 1,
        status: int = 1,
        follow: bool = True,
        licensed: bool = True,
    ) -> None:
        departments = [department] if isinstance(department, int) else list(department)
        with self.lock:
            self.corp(corpid).staff[userid] = Staff(userid, name, departments, status, follow, licensed)

    def add_customer(
        self,
        corpid: str,
        external_userid: str | None = None,
        name: str = "微信用户",
        unionid: str | None = None,
        gender: int = 0,
        type: int = 1,  # WeCom's field name
    ) -> str:
        external_userid = external_userid or new_id("wm")
        with self.lock:
            self.corp(corpid).customers[external_userid] = Customer(external_userid, name, type, gender, unionid)
        return external_userid

    def add_relation(
        self,
        corpid: str,
        userid: str,
        external_userid: str,
        add_way: int = 1,
        state: str | None = None,
        remark: str = "",
        tags: Iterable[str] = (),
        createtime: int | None = None,
    ) -> None:
        """A customer already connected to a member (no callback: it predates the test)."""
        with self.lock:
            self._relate(self.corp(corpid), userid, external_userid, add_way, state, createtime)
            relation = self.corp(corpid).relations[(userid, external_userid)]
            relation.remark, relation.tags = remark, list(tags)

    def add_app(
        self, appid: str, secret: str, kind: str = "official_account", token: str = "", encoding_aes_key: str = ""
    ) -> None:
        if kind not in ("official_account", "miniprogram"):
            raise ValueError(f"kind must be official_account or miniprogram, not {kind!r}")
        with self.lock:
            self.apps[appid] = App(appid, secret, kind, token, encoding_aes_key)

    def add_user(self, appid: str, openid: str, unionid: str | None = None) -> None:
        with self.lock:
            self.app(appid).users[openid] = MpUser(openid, unionid)

    def add_template(self, appid: str, template_id: str, keywords: list[str]) -> None:
        with self.lock:
            self.app(appid).templates[template_id] = list(keywords)

    def inject(
        self,
        path_suffix: str,
        errcode: int | None = None,
        http_status: int | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls to a path ending with ``path_suffix`` answer ``errcode`` or ``http_status``
        (after sleeping ``delay`` seconds), or only sleep ``delay`` seconds before answering normally."""
        with self.lock:
            self._faults.append(Fault(path_suffix, errcode, http_status, delay, times))

    def expire_tokens(self, corpid: str) -> None:
        """WeCom revoking tokens early: calls with them answer 40014 (40001 on 公众号 / 小程序)."""
        with self.lock:
            for token in self.tokens.values():
                if token.owner == corpid:
                    token.revoked = True

    def advance(self, seconds: float) -> None:
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs StandIn(clock=ManualClock())")
        self.clock.advance(seconds)

    # --- WeCom hooks: what a customer, member or admin does in the client -------------------------

    def customer_adds(
        self,
        corpid: str,
        userid: str,
        state_code: str | None = None,
        external_userid: str | None = None,
        name: str = "微信用户",
        half: bool = False,
    ) -> str:
        """A customer scans a 联系我 code of ``userid``: the relation, a welcome code valid for 20 s, and the
        ``add_external_contact`` (``add_half_external_contact`` when ``half``) callback."""
        with self.lock:
            corp = self.corp(corpid)
            self.staff(corp, userid)
            external_userid = external_userid or new_id("wm")
            if external_userid not in corp.customers:
                corp.customers[external_userid] = Customer(external_userid, name)
            self._relate(corp, userid, external_userid, 1, state_code, None)
            code = WelcomeCode(secrets.token_urlsafe(32), corpid, userid, external_userid, self.clock())
            self.welcome_codes[code.code] = code
        change = "add_half_external_contact" if half else "add_external_contact"
        self._contact_event(corp, change, userid, external_userid, State=state_code or "", WelcomeCode=code.code)
        return external_userid

    def welcome_code_for(self, corpid: str, userid: str, external_userid: str) -> str | None:
        with self.lock:
            codes = [
                c
                for c in self.welcome_codes.values()
                if (c.corpid, c.userid, c.external_userid) == (corpid, userid, external_userid)
            ]
            return codes[-1].code if codes else None

    def claim_welcome_code(self, code: str) -> None:
        """Another app of the corp is distributing this welcome code: send_welcome_msg answers 41096."""
        with self.lock:
            self.welcome_codes[code].claimed = True

    def staff_deletes_customer(self, corpid: str, userid: str, external_userid: str, by_transfer: bool = False) -> None:
        with self.lock:
            corp = self.corp(corpid)
            self.relation(corp, userid, external_userid)
            del corp.relations[(userid, external_userid)]
        extra = {"Source": "DELETE_BY_TRANSFER"} if by_transfer else {}
        self._contact_event(corp, "del_external_contact", userid, external_userid, **extra)

    def customer_deletes_staff(self, corpid: str, userid: str, external_userid: str) -> None:
        with self.lock:
            corp = self.corp(corpid)
            self.relation(corp, userid, external_userid).one_way = True
        self._contact_event(corp, "del_follow_user", userid, external_userid)

    def staff_edits_customer(
        self,
        corpid: str,
        userid: str,
        external_userid: str,
        remark: str | None = None,
        description: str | None = None,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
    ) -> None:
        with self.lock:
            corp = self.corp(corpid)
            relation = self.relation(corp, userid, external_userid)
            relation.remark = relation.remark if remark is None else remark
            relation.description = relation.description if description is None else description
            gone = set(remove_tags)
            relation.tags = [t for t in relation.tags if t not in gone]
            relation.tags += [t for t in add_tags if t not in relation.tags and corp.tag(t)]
        self._contact_event(corp, "edit_external_contact", userid, external_userid)

    def transfer_fails(
        self, corpid: str, takeover_userid: str, external_userid: str, reason: str = "customer_refused"
    ) -> None:
        """An inheritance the customer refused (or the takeover member is full): ``UserID`` is the takeover."""
        with self.lock:
            corp = self.corp(corpid)
        self._contact_event(corp, "transfer_fail", takeover_userid, external_userid, FailReason=reason)

    def admin_adds_tag(self, corpid: str, group_name: str, names: list[str]) -> list[str]:
        """An admin adds tags in the console (to the group named ``group_name``, new or not): their ids."""
        with self.lock:
            corp = self.corp(corpid)
            group = next((g for g in corp.tag_groups.values() if g.group_name == group_name), None)
            created = group is None
            if group is None:
                group = TagGroup(new_id("et", 30), group_name, int(self.clock()))
                corp.tag_groups[group.group_id] = group
            tags = [Tag(new_id("et", 30), name, int(self.clock())) for name in names]
            group.tags += tags
        if created:
            self._tag_event(corp, group.group_id, "tag_group", "create")
        for tag in tags:
            self._tag_event(corp, tag.id, "tag", "create")
        return [t.id for t in tags]

    def admin_edits_tag(self, corpid: str, tag_id: str, name: str) -> None:
        """Renames a tag or a tag group (``tag_id`` may be either)."""
        with self.lock:
            corp = self.corp(corpid)
            if tag_id in corp.tag_groups:
                corp.tag_groups[tag_id].group_name, kind = name, "tag_group"
            else:
                found = corp.tag(tag_id)
                if found is None:
                    raise ApiError(40068, tag_id)
                found[1].name, kind = name, "tag"
        self._tag_event(corp, tag_id, kind, "update")

    def admin_deletes_tag(self, corpid: str, tag_id: str) -> None:
        """Deletes a tag or a whole group (one event for the group, none for its tags, as WeCom does)."""
        with self.lock:
            corp = self.corp(corpid)
            kind = "tag_group" if tag_id in corp.tag_groups else "tag"
            self.delete_tags(corp, [tag_id] if kind == "tag" else [], [tag_id] if kind == "tag_group" else [])
        self._tag_event(corp, tag_id, kind, "delete")

    def members_confirm(self, msgid: str, userid: str | None = None) -> dict[str, int]:
        """Members (all, or ``userid``) confirm a 群发 task in their client: the send, with each recipient's
        status (1 sent, 2 not a friend / group gone, 3 over the receive cap). Answers target → status."""
        statuses: dict[str, int] = {}
        with self.lock:
            corp, template = self.template(msgid)
            if template.cancelled:
                return statuses
            now = self.clock()
            for task in template.tasks.values():
                if task.status == 2 or (userid is not None and task.userid != userid):
                    continue
                task.status, task.send_time = 2, int(now)
                for recipient in task.recipients:
                    if template.chat_type == "single":
                        relation = corp.relations.get((task.userid, recipient.target))
                        reachable = relation is not None and not relation.one_way
                    else:
                        reachable = recipient.target in corp.groups
                    received = corp.received.setdefault(recipient.target, [])
                    if not reachable:
                        recipient.status = 2
                    elif sum(1 for t in received if self._period(t) == self._period(now)) >= self._cap(now):
                        recipient.status = 3
                    else:
                        recipient.status, recipient.send_time = 1, int(now)
                        received.append(now)
                    statuses[recipient.target] = recipient.status
        return statuses

    def create_group(self, corpid: str, owner: str, name: str, members: Iterable[str] = ()) -> str:
        with self.lock:
            corp = self.corp(corpid)
            self.staff(corp, owner)
            now = int(self.clock())
            group = Group(new_id("wr"), name, owner, now, {}, new_version(), admins=[])
            for member in [owner, *members]:
                group.members[member] = self._member(corp, member, now, 1, None if member == owner else owner)
            corp.groups[group.chat_id] = group
        self._chat_event(corp, group.chat_id, "create")
        return group.chat_id

    def group_add_members(
        self, corpid: str, chat_id: str, members: list[str], join_scene: int = 1, invitor: str | None = None
    ) -> str:
        """Members join (JoinScene 1 invited directly, 3 by the group QR code): the new member_version."""
        with self.lock:
            corp = self.corp(corpid)
            group = self.group(corp, chat_id)
            for member in members:
                group.members[member] = self._member(corp, member, int(self.clock()), join_scene, invitor)
            last, group.member_version = group.member_version, new_version()
        self._chat_event(corp, chat_id, "update", "add_member", members, last, group.member_version, join=join_scene)
        return group.member_version

    def group_remove_members(self, corpid: str, chat_id: str, members: list[str], quit_scene: int = 0) -> str:
        """Members leave (QuitScene 0 by themselves, 1 removed by the owner or an admin)."""
        with self.lock:
            corp = self.corp(corpid)
            group = self.group(corp, chat_id)
            for member in members:
                group.members.pop(member, None)
            last, group.member_version = group.member_version, new_version()
        self._chat_event(corp, chat_id, "update", "del_member", members, last, group.member_version, quit=quit_scene)
        return group.member_version

    def dismiss_group(self, corpid: str, chat_id: str) -> None:
        with self.lock:
            corp = self.corp(corpid)
            self.group(corp, chat_id)
            del corp.groups[chat_id]
        self._chat_event(corp, chat_id, "dismiss")

    def verify_callback_url(self, corpid: str) -> bool:
        """WeCom's check when the callback URL is saved: the GET with an encrypted echostr, answered in plain."""
        with self.lock:
            corp = self.corp(corpid)
        return callbacks.verify_url(self, corp)

    # --- 公众号 / 小程序 hooks ----------------------------------------------------------------------

    def user_messages(self, appid: str, openid: str) -> None:
        """The user writes to the account: 5 customer-service messages within 48 hours."""
        with self.lock:
            self.mp_user(self.app(appid), openid).grants["message"] = Grant(self.clock() + 48 * 3600, 5)

    def user_follows(self, appid: str, openid: str) -> None:
        """The user follows (or scans a QR code): 3 customer-service messages within 1 minute."""
        with self.lock:
            app = self.app(appid)
            app.users.setdefault(openid, MpUser(openid)).grants["follow"] = Grant(self.clock() + 60, 3)

    def user_accepts_subscription(self, appid: str, openid: str, template_id: str) -> None:
        """One tap on 允许 in wx.requestSubscribeMessage: one message of that template."""
        with self.lock:
            self.mp_user(self.app(appid), openid).subscriptions[template_id] += 1

    def sms_set_status(self, message_id: str, status: str) -> None:
        with self.lock:
            self.sms_status[message_id] = status

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "corps": {
                    c.corpid: {
                        "staff": sorted(c.staff),
                        "customers": len(c.customers),
                        "relations": len(c.relations),
                        "tags": sum(len(g.tags) for g in c.tag_groups.values()),
                        "contact_ways": len(c.contact_ways),
                        "msg_templates": sorted(c.templates),
                        "groups": sorted(c.groups),
                    }
                    for c in self.corps.values()
                },
                "apps": {a.appid: {"kind": a.kind, "users": sorted(a.users)} for a in self.apps.values()},
                "token_calls": self.token_calls,
                "events": len(self.events),
                "callback_log": [{k: v for k, v in e.items() if k != "xml"} for e in self.callback_log[-20:]],
                "welcome_messages": len(self.welcome_messages),
                "sent": len(self.sent),
                "sms_sent": len(self.sms_sent),
            }

    # --- lookups and bookkeeping (callers hold the lock) ------------------------------------------

    def corp(self, corpid: str) -> Corp:
        if corpid not in self.corps:
            raise ApiError(40013, corpid)
        return self.corps[corpid]

    def app(self, appid: str) -> App:
        if appid not in self.apps:
            raise ApiError(40013, appid)
        return self.apps[appid]

    def mp_user(self, app: App, openid: str) -> MpUser:
        if openid not in app.users:
            raise ApiError(40003, openid)
        return app.users[openid]

    def staff(self, corp: Corp, userid: str) -> Staff:
        if userid not in corp.staff:
            raise ApiError(60111, userid)
        return corp.staff[userid]

    def customer(self, corp: Corp, external_userid: str) -> Customer:
        if external_userid not in corp.customers:
            raise ApiError(40096, external_userid)
        return corp.customers[external_userid]

    def relation(self, corp: Corp, userid: str, external_userid: str) -> Relation:
        self.staff(corp, userid)
        self.customer(corp, external_userid)
        if (userid, external_userid) not in corp.relations:
            raise ApiError(84061, f"{userid} / {external_userid}")
        return corp.relations[(userid, external_userid)]

    def group(self, corp: Corp, chat_id: str) -> Group:
        if chat_id not in corp.groups:
            raise ApiError(40050, chat_id)
        return corp.groups[chat_id]

    def template(self, msgid: str) -> tuple[Corp, MsgTemplate]:
        for corp in self.corps.values():
            if msgid in corp.templates:
                return corp, corp.templates[msgid]
        raise ApiError(40058, f"unknown msgid {msgid}")

    def delete_tags(self, corp: Corp, tag_ids: list[str], group_ids: list[str]) -> None:
        for tag_id in tag_ids:
            if corp.tag(tag_id) is None:
                raise ApiError(40068, tag_id)
        for group_id in group_ids:
            if group_id not in corp.tag_groups:
                raise ApiError(40068, group_id)
        gone = set(tag_ids) | {t.id for g in group_ids for t in corp.tag_groups[g].tags}
        for group_id in group_ids:
            del corp.tag_groups[group_id]
        for group in list(corp.tag_groups.values()):
            group.tags = [t for t in group.tags if t.id not in gone]
            if not group.tags:  # WeCom drops a group whose last tag is deleted
                del corp.tag_groups[group.group_id]
        for relation in corp.relations.values():
            relation.tags = [t for t in relation.tags if t not in gone]

    def next_msgid(self) -> int:
        self._next_msgid += 1
        return self._next_msgid

    def _relate(
        self, corp: Corp, userid: str, external_userid: str, add_way: int, state: str | None, createtime: int | None
    ) -> None:
        self.staff(corp, userid)
        self.customer(corp, external_userid)
        when = int(self.clock()) if createtime is None else createtime
        # The customer added the member (a QR code): oper_userid is the customer's id.
        corp.relations[(userid, external_userid)] = Relation(
            userid, external_userid, when, add_way, state, external_userid if add_way == 1 else userid
        )

    def _member(self, corp: Corp, member: str, now: int, scene: int, invitor: str | None) -> GroupMember:
        if member in corp.staff:
            return GroupMember(member, 1, now, scene, invitor, corp.staff[member].name)
        customer = corp.customers.get(member)
        name, unionid = (customer.name, customer.unionid) if customer else ("", None)
        return GroupMember(member, 2, now, scene, invitor, name, unionid)

    def _period(self, ts: float) -> tuple[int, int, int]:
        day = datetime.fromtimestamp(ts, CHINA)
        unit = self.receive_cap[1]
        if unit == "day":
            return (day.year, day.month, day.day)
        if unit == "week":
            iso = day.isocalendar()
            return (iso.year, iso.week, 0)
        return (day.year, day.month, 0)

    def _cap(self, ts: float) -> int:
        count, unit = self.receive_cap
        if count is not None:
            return count
        day = datetime.fromtimestamp(ts, CHINA)
        return {"day": 1, "week": 7}.get(unit, calendar.monthrange(day.year, day.month)[1])

    def _contact_event(self, corp: Corp, change: str, userid: str, external_userid: str, **extra: str) -> None:
        fields: list[tuple[str, callbacks.Value]] = [
            ("Event", "change_external_contact"),
            ("ChangeType", change),
            ("UserID", userid),
            ("ExternalUserID", external_userid),
            *extra.items(),
        ]
        callbacks.emit(self, corp, fields)

    def _tag_event(self, corp: Corp, tag_id: str, kind: str, change: str) -> None:
        fields: list[tuple[str, callbacks.Value]] = [
            ("Event", "change_external_tag"),
            ("Id", tag_id),
            ("TagType", kind),
            ("ChangeType", change),
        ]
        callbacks.emit(self, corp, fields)

    def _chat_event(
        self,
        corp: Corp,
        chat_id: str,
        change: str,
        detail: str = "",
        members: list[str] | None = None,
        last: str = "",
        current: str = "",
        join: int = 0,
        quit: int = 0,  # QuitScene
    ) -> None:
        fields: list[tuple[str, callbacks.Value]] = [
            ("Event", "change_external_chat"),
            ("ChatId", chat_id),
            ("ChangeType", change),
        ]
        if change == "update":
            fields += [
                ("UpdateDetail", detail),
                ("JoinScene", join),
                ("QuitScene", quit),
                ("MemChangeCnt", len(members or [])),
                ("MemChangeList", list(members or [])),
                ("LastMemVer", callbacks.Plain(last)),
                ("CurMemVer", callbacks.Plain(current)),
            ]
        callbacks.emit(self, corp, fields)
