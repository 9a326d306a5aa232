"""Callbacks from WeCom and the 公众号: checked, decrypted and kept as a :class:`CallbackReceipt` before
they are answered, then applied by the ``channel.apply_callbacks`` job.

WeCom drops a callback that is not answered within 5 seconds and sends it again (three times in all), so
the request only verifies, decrypts and stores: that takes milliseconds. A repeat has the same plaintext
(only the encryption's random differs), so its digest is the receipt's ``dedup_key`` and a repeat is
answered without being applied again. A callback whose signature, receive id or ciphertext is wrong is
refused (HTTP 400 with the library's error code) and nothing is stored.

Applying (:func:`apply`), for ``change_external_contact``: ``add_external_contact`` and
``add_half_external_contact`` → the customer (details from ``externalcontact/get``), the relation with its
渠道活码 ``state`` and the ``welcome_code`` (usable for ``welcome_seconds`` from the receipt), and a
``contact_added`` event; ``edit_external_contact`` → remark and corp tags again; ``del_external_contact`` /
``del_follow_user`` → the relation ended and a ``contact_deleted`` event (``by`` staff / customer);
``transfer_fail`` → a ``wecom_transfer_failed`` event. ``change_external_chat`` → the group (member by
member when the event's ``LastMemVer`` is the version siyu has, otherwise read again in full) with
``group_joined`` / ``group_left`` events. ``change_external_tag`` → the tag library read again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from siyu.channel import wecom
from siyu.channel.settings import OfficialAccountSettings, WeComSettings
from siyu.errors import SiyuError
from siyu.ingestion import events as event_ingestion
from siyu.ingestion.context import BatchContext
from siyu.ingestion.schemas import EventIn
from siyu.kit.db import transaction
from siyu.kit.time import utcnow
from siyu.models import CallbackReceipt, CustomerGroup, StaffRelation
from siyu.wechat.client import WeComClient
from siyu.wechat.crypto import CryptoError, MsgCrypt, parse_xml, verify_plain_url
from siyu.wechat.errors import Action, WeChatError
from siyu.worker.queue import enqueue

APPLY_JOB = "channel.apply_callbacks"
log = logging.getLogger("siyu.channel.callbacks")
PLAIN_WINDOW = 300  # seconds either side of now that a plain 公众号 push may be signed at


class CallbackRejected(SiyuError):
    status = 400
    code = "callback_rejected"
    title = "Callback rejected"


def _crypt(settings: WeComSettings | OfficialAccountSettings, receive_id: str) -> MsgCrypt:
    if not settings.token or not settings.encoding_aes_key:
        raise CallbackRejected("callbacks are not set up: save the channel's token and encoding_aes_key first")
    try:
        return MsgCrypt(settings.token, settings.encoding_aes_key, receive_id)
    except CryptoError as exc:
        raise CallbackRejected(f"errcode {exc.code}: {exc.reason}") from None


def verify_wecom_url(settings: WeComSettings, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """WeCom's URL check: the decrypted ``echostr``, to be answered as the whole body."""
    try:
        return _crypt(settings, settings.corpid).verify_url(msg_signature, timestamp, nonce, echostr)
    except CryptoError as exc:
        raise CallbackRejected(f"errcode {exc.code}: {exc.reason}", extra={"errcode": exc.code}) from None


def verify_mp_url(settings: OfficialAccountSettings, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    if not settings.token:
        raise CallbackRejected("callbacks are not set up: save the channel's token first")
    try:
        return verify_plain_url(settings.token, signature, timestamp, nonce, echostr)
    except CryptoError as exc:
        raise CallbackRejected(f"errcode {exc.code}: {exc.reason}", extra={"errcode": exc.code}) from None


def open_wecom(settings: WeComSettings, body: bytes, msg_signature: str, timestamp: str, nonce: str) -> dict[str, str]:
    try:
        return parse_xml(_crypt(settings, settings.corpid).decrypt_message(body, msg_signature, timestamp, nonce))
    except CryptoError as exc:
        raise CallbackRejected(f"errcode {exc.code}: {exc.reason}", extra={"errcode": exc.code}) from None


def open_mp(
    settings: OfficialAccountSettings, body: bytes, query: dict[str, str], now: float | None = None
) -> dict[str, str]:
    """A 公众号 push: 安全模式 (``encrypt_type=aes``, checked with ``msg_signature``, which covers the body)
    or plain (checked with the three-item ``signature``, which does not). With an ``encoding_aes_key`` saved
    only 安全模式 is taken; a plain push must be signed within :data:`PLAIN_WINDOW` seconds of now, so an old
    signature cannot carry a made-up body."""
    try:
        if query.get("encrypt_type") == "aes":
            crypt = _crypt(settings, settings.appid)
            plain = crypt.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
            return parse_xml(plain)
        if settings.encoding_aes_key:
            raise CallbackRejected("安全模式 is set up (encoding_aes_key saved): plain pushes are refused")
        timestamp = query.get("timestamp", "")
        verify_mp_url(settings, query.get("signature", ""), timestamp, query.get("nonce", ""), "")
        if not timestamp.isdigit() or abs(int(timestamp) - (time.time() if now is None else now)) > PLAIN_WINDOW:
            raise CallbackRejected(f"a plain push must be signed within {PLAIN_WINDOW} seconds of now")
        return parse_xml(body)
    except KeyError as exc:
        raise CallbackRejected(f"missing query parameter {exc.args[0]}") from None
    except CryptoError as exc:
        raise CallbackRejected(f"errcode {exc.code}: {exc.reason}", extra={"errcode": exc.code}) from None


def receive(session: Session, workspace_id: int, channel: str, message: dict[str, str], now: datetime) -> bool:
    """Keep a decrypted callback and queue its application; False when it was a repeat."""
    digest = hashlib.sha256(json.dumps(message, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    dedup_key = f"{channel}:{digest}"
    found = session.scalar(select(CallbackReceipt).where(CallbackReceipt.dedup_key == dedup_key))
    if found is not None:
        found.repeats += 1
        return False
    event = message.get("Event") or message.get("MsgType") or "unknown"
    session.add(
        CallbackReceipt(
            dedup_key=dedup_key,
            channel=channel,
            event=event[:64],
            change_type=(message.get("ChangeType") or None) and message["ChangeType"][:64],
            payload=message,
            received_at=now,
        )
    )
    session.flush()
    enqueue(session, APPLY_JOB, {}, workspace_id=workspace_id, dedup_key=f"{APPLY_JOB}:{workspace_id}:{digest}")
    return True


# --- applying ---------------------------------------------------------------------------------------------------


def apply_pending(
    factory: sessionmaker[Session],
    workspace_id: int,
    client: WeComClient | None,
    settings: WeComSettings | None,
    mp_appid: str | None = None,
) -> int:
    """Apply every receipt not applied yet, oldest first, each in its own transaction; returns how many."""
    with transaction(factory, workspace_id=workspace_id) as session:
        ids = list(
            session.scalars(
                select(CallbackReceipt.id).where(CallbackReceipt.processed_at.is_(None)).order_by(CallbackReceipt.id)
            )
        )
    done = 0
    for receipt_id in ids:
        with transaction(factory, workspace_id=workspace_id) as session:
            receipt = session.get(CallbackReceipt, receipt_id)
            if receipt is None or receipt.processed_at is not None:
                continue
            payload, channel, received_at = dict(receipt.payload), receipt.channel, receipt.received_at
        # WeCom is asked for the details outside any transaction (SQLite's writer waits for nobody's call).
        # Transient trouble and a wrong set-up raise: the job runs again later, from this receipt on.
        details = _details(client, payload) if channel == "wecom" and client is not None else {}
        try:
            with transaction(factory, workspace_id=workspace_id) as session:
                receipt = session.get(CallbackReceipt, receipt_id)
                if receipt is None or receipt.processed_at is not None:
                    continue
                ctx = BatchContext.open(session, workspace_id, wecom.ACTOR)
                if channel == "wecom" and settings is not None:
                    apply(session, ctx, settings, receipt, details, received_at)
                elif channel == "official_account" and mp_appid:
                    apply_mp(session, ctx, receipt, mp_appid)
                receipt.processed_at = utcnow()
        except Exception as exc:  # one receipt that cannot be applied must not hold up the rest
            log.exception("callback receipt %s could not be applied", receipt_id)
            with transaction(factory, workspace_id=workspace_id) as session:
                receipt = session.get(CallbackReceipt, receipt_id)
                if receipt is not None:
                    receipt.error = f"failed: {type(exc).__name__}: {exc}"[:500]
                    receipt.processed_at = utcnow()
        done += 1
    return done


def _details(client: WeComClient, message: dict[str, str]) -> dict[str, Any]:
    """What the event's ids stand for, read from WeCom (events carry ids only). A relation or group that is
    already gone answers an error: the event is applied with what it carries."""
    event, change = message.get("Event"), message.get("ChangeType")
    try:
        if event == "change_external_contact" and change in (
            "add_external_contact",
            "add_half_external_contact",
            "edit_external_contact",
        ):
            return {"customer": client.customer(message["ExternalUserID"])}
        if event == "change_external_chat" and change != "dismiss":
            return {"group": client.group(message["ChatId"])}
        if event == "change_external_tag":
            return {"tags": client.corp_tags()}
    except WeChatError as exc:
        if exc.action in (Action.relation_gone, Action.refused, Action.do_not_retry):
            return {"error": str(exc)}
        raise
    return {}


def apply(
    session: Session,
    ctx: BatchContext,
    settings: WeComSettings,
    receipt: CallbackReceipt,
    details: dict[str, Any],
    received_at: datetime,
) -> None:
    message = receipt.payload
    event, change = message.get("Event"), message.get("ChangeType")
    at = wecom.when(message.get("CreateTime")) or received_at
    event_id = f"wecom:{receipt.dedup_key.partition(':')[2][:40]}"
    if event == "change_external_contact":
        _contact_change(session, ctx, settings, message, details, at, received_at, event_id)
    elif event == "change_external_chat":
        _chat_change(session, ctx, settings, message, details, at, event_id)
    elif event == "change_external_tag" and "tags" in details:
        wecom.sync_corp_tags(session, details["tags"])
    else:
        receipt.error = f"not applied: {event}/{change}"[:500]


def _contact_change(
    session: Session,
    ctx: BatchContext,
    settings: WeComSettings,
    message: dict[str, str],
    details: dict[str, Any],
    at: datetime,
    received_at: datetime,
    event_id: str,
) -> None:
    change, userid, external = message.get("ChangeType"), message.get("UserID", ""), message.get("ExternalUserID", "")
    corpid = settings.corpid
    if change in ("add_external_contact", "add_half_external_contact", "edit_external_contact"):
        customer = details.get("customer") or {"external_contact": {"external_userid": external}, "follow_user": []}
        follows = [wecom.Follow.of(f) for f in customer.get("follow_user") or []]
        mine = next((f for f in follows if f.userid == userid), None)
        if mine is None and change != "edit_external_contact":
            mine = wecom.Follow(userid=userid, state=message.get("State") or None, added_at=at)
            follows.append(mine)
        elif mine is not None and message.get("State"):
            mine.state = message["State"]
        person = {**customer["external_contact"], "external_userid": external}
        half = change == "add_half_external_contact"
        pending = frozenset({(userid, external)}) if half else frozenset()
        # without WeCom's details (the relation already gone) the follows are not the whole list
        complete = "customer" in details
        ids = wecom.upsert_customers(session, ctx, corpid, [(person, follows)], pending, complete=complete)
        contact_id = ids.get(external)
        if contact_id is None or change == "edit_external_contact":
            return
        staff = wecom.upsert_staff(session, userid)
        relation = wecom.relate(
            session,
            staff,
            contact_id,
            external,
            mine or wecom.Follow(userid=userid),
            at,
            status="half" if half else "active",
        )
        if message.get("WelcomeCode"):
            relation.welcome_code = message["WelcomeCode"]
            relation.welcome_until = wecom.welcome_window(received_at, settings.welcome_seconds)
        props: dict[str, Any] = {"staff": userid, "state": (mine.state if mine else None) or None, "half": half}
        wecom.record_event(session, ctx, event_id, "contact_added", contact_id, at, props)
    elif change in ("del_external_contact", "del_follow_user"):
        by_staff = change == "del_external_contact"
        status = (
            "customer_deleted"
            if not by_staff
            else ("transferred" if message.get("Source") == "DELETE_BY_TRANSFER" else "staff_deleted")
        )
        ended = wecom.end_relation(session, userid, external, status, at)
        contact_id = ended.contact_id if ended else wecom.contact_of(session, ctx.workspace_id, corpid, external)
        if contact_id is not None and status != "transferred":
            props = {"staff": userid, "by": "staff" if by_staff else "customer"}
            wecom.record_event(session, ctx, event_id, "contact_deleted", contact_id, at, props)
    elif change == "transfer_fail":
        contact_id = wecom.contact_of(session, ctx.workspace_id, corpid, external)
        if contact_id is not None:
            props = {"staff": userid, "reason": message.get("FailReason")}
            wecom.record_event(session, ctx, event_id, "wecom_transfer_failed", contact_id, at, props)


def _chat_change(
    session: Session,
    ctx: BatchContext,
    settings: WeComSettings,
    message: dict[str, str],
    details: dict[str, Any],
    at: datetime,
    event_id: str,
) -> None:
    chat_id = message.get("ChatId", "")
    group = session.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == chat_id))
    if message.get("ChangeType") == "dismiss":
        if group is not None:
            group.status, group.dismissed_at = "dismissed", at
        return
    joined: list[int] = []
    left: list[int] = []
    changed = [m for m in (message.get("MemChangeList") or "").split(",") if m]
    detail = message.get("UpdateDetail")
    incremental = (
        group is not None
        and detail in ("add_member", "del_member")
        and message.get("LastMemVer")
        and message.get("LastMemVer") == group.member_version
    )
    if incremental:
        assert group is not None
        added, removed = (changed, []) if detail == "add_member" else ([], changed)
        scene = int(message["JoinScene"]) if message.get("JoinScene", "").isdigit() else None
        joined, left = wecom.apply_member_changes(
            session, ctx, settings.corpid, group, added, removed, scene, message.get("CurMemVer") or None, at
        )
    elif "group" in details:
        group, joined, left = wecom.upsert_group(session, ctx, settings.corpid, details["group"], at)
    else:
        return
    for name, contacts in (("group_joined", joined), ("group_left", left)):
        for contact_id in contacts:
            props = {"group_id": chat_id}
            wecom.record_event(session, ctx, f"{event_id}:{name}:{contact_id}", name, contact_id, at, props)


def apply_mp(session: Session, ctx: BatchContext, receipt: CallbackReceipt, appid: str) -> None:
    """公众号 pushes: follows and unfollows, and a user's message (which opens the 48-hour 客服 window)."""
    message = receipt.payload
    openid, kind = message.get("FromUserName", ""), message.get("MsgType")
    name = None
    if kind == "event" and message.get("Event") in ("subscribe", "unsubscribe"):
        name = "subscribed" if message["Event"] == "subscribe" else "unsubscribed"
    elif kind in ("text", "image", "voice", "video", "location", "link"):
        name = "message_received"
    if name is None or not openid:
        receipt.error = f"not applied: {kind}/{message.get('Event')}"[:500]
        return
    event = EventIn(
        name=name,
        time=wecom.when(message.get("CreateTime")) or receipt.received_at,
        identities={f"wx_openid@{appid}": openid},
        event_id=f"mp:{receipt.dedup_key.partition(':')[2][:40]}",
        source="official_account",
        properties={"channel": "official_account", "msg_type": kind},
    )
    event_ingestion.ingest(session, ctx, [event])


def pending_welcome(session: Session, contact_id: int, now: datetime) -> StaffRelation | None:
    """The contact's relation with a welcome code still inside its window, newest first."""
    return session.scalar(
        select(StaffRelation)
        .where(
            StaffRelation.contact_id == contact_id,
            StaffRelation.welcome_code.is_not(None),
            StaffRelation.welcome_until > now,
        )
        .order_by(StaffRelation.welcome_until.desc())
        .limit(1)
    )


def use_welcome(session: Session, relation_id: int) -> None:
    session.execute(update(StaffRelation).where(StaffRelation.id == relation_id).values(welcome_code=None))
