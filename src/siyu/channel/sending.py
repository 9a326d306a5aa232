"""The WeCom channels the dispatcher sends through.

* ``wecom`` — 1:1 企业群发: the ledger's rows go to WeCom as ``add_msg_template`` tasks, one per staff member
  and content (the member who owns the relation with each customer sends it from their client). A row is
  ``handed_to_staff`` with the task's ``msgid``; the status poll (``get_groupmsg_task`` and
  ``get_groupmsg_send_result``, every ``poll_minutes``) moves it to ``delivered`` (status 1) or ``failed``
  (2: no longer a friend; 3: the customer's receive cap; or not sent by the member within
  ``confirm_days``). The receive cap is also a dispatcher limit: a customer who got ``receive_cap``
  messages this ``receive_period`` is failed before WeCom is asked. A task whose creation timed out is
  ``unknown`` and is reconciled by finding it in ``get_groupmsg_list_v2`` (its text, and its recipients in
  ``get_groupmsg_send_result``: the API's tasks carry no creator), or sent
  again once WeCom has had ten minutes to show it and has not.
* ``wecom_welcome`` — the 欢迎语 (``send_welcome_msg``) with the ``welcome_code`` of the customer's add,
  within its 20 seconds, once. It uses the ``wecom`` settings. A ``41051`` on a second attempt means the
  first one arrived (a welcome code works once), so the row is ``sent``.

WeCom's answers map to outcomes by :mod:`siyu.wechat.errors`: ``45009`` → ``deferred`` a minute (no attempt
spent), transient and token problems → ``retry`` with back-off, a relation gone or a refusal → ``failed``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.channel import callbacks
from siyu.channel.settings import WeComSettings
from siyu.dispatch.calling import CallChannel, Outcome, Sender
from siyu.errors import ChannelUnreachable
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import Contact, Delivery, StaffMember, StaffRelation
from siyu.wechat.client import WeComClient
from siyu.wechat.errors import Action, Unreachable, WeChatError

TASK_SIZE = 10_000  # customers per 群发 task
SHOW_DELAY = timedelta(minutes=10)  # after this a task that timed out and is not listed was never made
PERIOD_DAYS = {"day": 1, "week": 7, "month": 31}


def client_for(settings: WeComSettings) -> WeComClient:
    return WeComClient(
        settings.corpid,
        settings.secret,
        settings.api_base,
        timeout=settings.timeout_seconds,
        per_minute=settings.api_per_minute,
    )


def message_body(content: dict[str, Any]) -> dict[str, Any]:
    """A ledger row's content as WeCom's ``text`` and ``attachments`` (a link card for its ``url``)."""
    text = str(content.get("text") or "")
    body: dict[str, Any] = {"text": {"content": text}}
    if content.get("url"):
        title = str(content.get("title") or text[:30] or content["url"])[:128]
        body["attachments"] = [{"msgtype": "link", "link": {"title": title, "url": str(content["url"])}}]
    return body


def outcome_of(error: Exception, attempts: int) -> Outcome:
    if isinstance(error, Unreachable):
        if error.sent_maybe:
            return "unknown", f"attempt {attempts}: {error}"
        return "retry", f"attempt {attempts}: {error}"
    assert isinstance(error, WeChatError)
    if error.action is Action.back_off:
        return "deferred", f"WeCom's frequency limit (45009): again in a minute; {error}"
    if error.action in (Action.retry, Action.lower_concurrency, Action.refresh_token, Action.configuration):
        return "retry", f"attempt {attempts}: {error}"
    return "failed", str(error)


def relations(session: Session, contact_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """contact → (staff userid, external_userid) of the relation a message goes through: the owner's when
    active, else the newest active one."""
    owners = dict(session.execute(select(Contact.id, Contact.owner_staff_id).where(Contact.id.in_(contact_ids))).all())
    found: dict[int, tuple[str, str]] = {}
    rows = session.execute(
        select(StaffRelation.contact_id, StaffRelation.staff_id, StaffMember.userid, StaffRelation.external_userid)
        .join(StaffMember, StaffMember.id == StaffRelation.staff_id)
        .where(StaffRelation.contact_id.in_(contact_ids), StaffRelation.status == "active")
        .order_by(StaffRelation.added_at)
    )
    owned: set[int] = set()
    for contact_id, staff_id, userid, external in rows:  # oldest first: a newer relation replaces an older
        if contact_id in owned:
            continue
        found[contact_id] = (userid, external)
        if owners.get(contact_id) == staff_id:
            owned.add(contact_id)
    return found


def external_ids(session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
    return dict(
        session.execute(
            select(StaffRelation.contact_id, StaffRelation.external_userid).where(
                StaffRelation.contact_id.in_(contact_ids)
            )
        ).all()
    )


class WeComChannel(CallChannel):
    name = "wecom"
    title = "企业微信 1:1 群发"
    settings_model = WeComSettings
    capabilities = frozenset({"send", "reconcile", "status", "callbacks", "welcome", "group_send"})

    def __init__(self, client: WeComClient | None = None) -> None:
        self.client = client

    def _client(self, settings: WeComSettings) -> WeComClient:
        return self.client or client_for(settings)

    def test_connection(self, settings: WeComSettings) -> str:
        client = self._client(settings)
        try:
            staff = client.follow_users()
        except (WeChatError, Unreachable) as exc:
            raise ChannelUnreachable(str(exc)) from None
        return f"corp {settings.corpid}: a token, and {len(staff)} staff members with 客户联系"

    def items(
        self, session: Session, settings: WeComSettings, rows: Sequence[Delivery], now: datetime
    ) -> list[dict[str, Any]]:
        ids = [r.contact_id for r in rows]
        through = relations(session, ids)
        received = self._received(session, ids, settings, now)
        out: list[dict[str, Any]] = []
        for row in rows:
            if row.contact_id not in through:
                out.append({"id": row.id, "outcome": ("failed", "no active WeCom relation with a staff member")})
                continue
            if received.get(row.contact_id, 0) >= settings.receive_cap:
                reason = f"receive cap: {settings.receive_cap} 群发 messages a {settings.receive_period} reached"
                out.append({"id": row.id, "outcome": ("failed", reason)})
                continue
            received[row.contact_id] = received.get(row.contact_id, 0) + 1
            userid, external = through[row.contact_id]
            row.external_ref = f"sender:{userid}:{external}"  # what an unknown row is reconciled with
            content = row.content if isinstance(row.content, dict) else {}
            out.append(
                {"id": row.id, "attempts": row.attempts, "userid": userid, "external": external, "content": content}
            )
        return out

    def _received(
        self, session: Session, contact_ids: Sequence[int], settings: WeComSettings, now: datetime
    ) -> dict[int, int]:
        since = now - timedelta(days=PERIOD_DAYS[settings.receive_period])
        if settings.receive_period == "month":
            since = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        elif settings.receive_period == "day":
            since = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return dict(
            session.execute(
                select(Delivery.contact_id, func.count())
                .where(
                    Delivery.contact_id.in_(contact_ids),
                    Delivery.channel == self.name,
                    Delivery.status.in_(("handed_to_staff", "delivered")),
                    Delivery.sent_at >= since,
                )
                .group_by(Delivery.contact_id)
            ).all()
        )

    @contextmanager
    def connect(self, settings: WeComSettings, now: datetime) -> Iterator[Sender]:
        client = self._client(settings)

        def send_all(items: list[dict[str, Any]]) -> list[Outcome]:
            outcomes: dict[int, Outcome] = {}
            tasks: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for item in items:
                digest = hashlib.sha256(repr(sorted(item["content"].items())).encode()).hexdigest()
                tasks.setdefault((item["userid"], digest), []).append(item)
            for (userid, _), group in tasks.items():
                for start in range(0, len(group), TASK_SIZE):
                    outcomes.update(_task(client, userid, group[start : start + TASK_SIZE]))
            return [outcomes[item["id"]] for item in items]

        try:
            yield send_all
        finally:
            if self.client is None:
                client.close()

    def reconcile(self, settings: WeComSettings, rows: Sequence[dict[str, Any]]) -> dict[int, Outcome]:
        client = self._client(settings)
        settled: dict[int, Outcome] = {}
        now = max((r["now"] for r in rows if r.get("now")), default=utcnow())
        groups: dict[tuple[str, str], list[tuple[dict[str, Any], str]]] = {}
        for row in rows:
            ref = str(row.get("external_ref") or "")
            if not ref.startswith("sender:") or row.get("sent_at") is None:
                continue
            userid, _, external = ref.removeprefix("sender:").partition(":")
            text = str((row.get("content") or {}).get("text") or "")
            groups.setdefault((userid, text), []).append((row, external))
        try:
            for (userid, text), group in groups.items():
                sent_at = min(r["sent_at"] for r, _ in group)
                start = int((sent_at - timedelta(minutes=5)).timestamp())
                found = _tasks_for(client, userid, text, start, int(now.timestamp()) + 60)
                for row, external in group:
                    msgid = found.get(external)
                    if msgid is not None:
                        settled[row["id"]] = ("handed_to_staff", msgid)
                    elif now - sent_at > SHOW_DELAY:
                        settled[row["id"]] = ("queued", "reconciled: WeCom has no such 群发 task; sent again")
        except (WeChatError, Unreachable):
            pass  # asked again on the next pass
        finally:
            if self.client is None:
                client.close()
        return settled

    def poll(self, factory: sessionmaker[Session], workspace_id: int, settings: WeComSettings, now: datetime) -> int:
        with transaction(factory, workspace_id=workspace_id) as session:
            refs = list(
                session.scalars(
                    select(Delivery.external_ref)
                    .where(
                        Delivery.channel == self.name,
                        Delivery.status == "handed_to_staff",
                        Delivery.external_ref.is_not(None),
                        (Delivery.not_before.is_(None)) | (Delivery.not_before <= now),
                    )
                    .distinct()
                    .limit(50)
                )
            )
        if not refs:
            return 0
        client = self._client(settings)
        moved = 0
        try:
            for msgid in refs:
                assert msgid is not None
                try:
                    results = {
                        r["external_userid"]: r
                        for task in client.group_message_tasks(msgid)
                        for r in client.group_message_results(msgid, task["userid"])
                        if r.get("external_userid")
                    }
                except (WeChatError, Unreachable):
                    continue
                with transaction(factory, workspace_id=workspace_id) as session:
                    moved += _settle(session, msgid, results, settings, now)
        finally:
            if self.client is None:
                client.close()
        return moved


def _tasks_for(client: WeComClient, userid: str, text: str, start: int, end: int) -> dict[str, str]:
    """external_userid → msgid of the corp's 群发 tasks with this text that ``userid`` is to send: tasks are
    told apart by their recipients (a broadcast makes several with one sender and text, and the API's own
    tasks carry no creator)."""
    found: dict[str, str] = {}
    for task in client.group_messages(start, end):
        msgid = str(task.get("msgid") or "")
        if not msgid or (task.get("text") or {}).get("content") != text:
            continue
        try:
            for result in client.group_message_results(msgid, userid):
                if result.get("external_userid"):
                    found.setdefault(str(result["external_userid"]), msgid)
        except WeChatError as exc:
            if exc.action not in (Action.refused, Action.relation_gone):
                raise  # another member's task answers a refusal; anything else is asked again next pass
    return found


def _task(client: WeComClient, userid: str, group: list[dict[str, Any]]) -> dict[int, Outcome]:
    body = {
        "chat_type": "single",
        "sender": userid,
        "external_userid": [i["external"] for i in group],
        **message_body(group[0]["content"]),
    }
    try:
        answer = client.add_msg_template(body)
    except (WeChatError, Unreachable) as exc:
        return {i["id"]: outcome_of(exc, i["attempts"]) for i in group}
    refused = set(answer.get("fail_list") or [])
    msgid = str(answer.get("msgid") or "")
    return {
        i["id"]: ("failed", f"WeCom refused {i['external']} for {userid} (fail_list)")
        if i["external"] in refused
        else ("handed_to_staff", msgid)
        for i in group
    }


def _settle(
    session: Session, msgid: str, results: dict[str, dict[str, Any]], settings: WeComSettings, now: datetime
) -> int:
    rows = list(
        session.scalars(
            select(Delivery).where(
                Delivery.channel == "wecom", Delivery.external_ref == msgid, Delivery.status == "handed_to_staff"
            )
        )
    )
    externals = external_ids(session, [r.contact_id for r in rows])
    moved = 0
    for row in rows:
        result = results.get(externals.get(row.contact_id, ""))
        status = int(result.get("status") or 0) if result else 0
        if status == 1:
            row.status, row.reason = "delivered", None
            send_time = result.get("send_time") if result else None
            row.sent_at = datetime.fromtimestamp(int(send_time), now.tzinfo) if send_time else row.sent_at
        elif status == 2:
            row.status, row.reason = "failed", "WeCom: the customer is no longer the staff member's friend (status 2)"
        elif status == 3:
            row.status, row.reason = "failed", "WeCom: the customer had received another 群发 (receive cap, status 3)"
            row.rule = "receive_cap"
        elif row.sent_at is not None and now - row.sent_at > timedelta(days=settings.confirm_days):
            row.status = "failed"
            row.reason = f"the staff member did not send it within {settings.confirm_days} days"
        else:
            row.not_before = now + timedelta(minutes=settings.poll_minutes)
            continue
        row.not_before = None
        moved += 1
    return moved


class WeComWelcome(CallChannel):
    name = "wecom_welcome"
    title = "企业微信 欢迎语"
    settings_model = WeComSettings
    settings_from = "wecom"
    capabilities = frozenset({"send", "reconcile", "welcome"})

    def __init__(self, client: WeComClient | None = None) -> None:
        self.client = client

    def items(
        self, session: Session, settings: WeComSettings, rows: Sequence[Delivery], now: datetime
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for row in rows:
            relation = callbacks.pending_welcome(session, row.contact_id, now)
            if relation is None or relation.welcome_code is None:
                reason = "no welcome_code inside its window (WeCom sent none, or the 20 seconds had passed)"
                out.append({"id": row.id, "outcome": ("failed", reason)})
                continue
            content = row.content if isinstance(row.content, dict) else {}
            out.append({"id": row.id, "attempts": row.attempts, "code": relation.welcome_code, "content": content})
        return out

    @contextmanager
    def connect(self, settings: WeComSettings, now: datetime) -> Iterator[Sender]:
        client = self.client or client_for(settings)

        def send_all(items: list[dict[str, Any]]) -> list[Outcome]:
            return [_welcome(client, item) for item in items]

        try:
            yield send_all
        finally:
            if self.client is None:
                client.close()

    def reconcile(self, settings: WeComSettings, rows: Sequence[dict[str, Any]]) -> dict[int, Outcome]:
        # A welcome code works once: sent again, WeCom answers 41051 if the first one arrived.
        return {
            r["id"]: ("queued", "sent again: a welcome code works once, so a repeat cannot arrive twice") for r in rows
        }


def _welcome(client: WeComClient, item: dict[str, Any]) -> Outcome:
    try:
        client.send_welcome(item["code"], message_body(item["content"]))
    except WeChatError as exc:
        if exc.errcode == 41051 and item["attempts"] > 1:
            return "sent", "WeCom had it from an earlier attempt (41051)"
        if exc.errcode == 41096:
            return "failed", "another app is sending this customer's welcome message (41096)"
        return outcome_of(exc, item["attempts"])
    except Unreachable as exc:
        return outcome_of(exc, item["attempts"])
    return "sent", ""
