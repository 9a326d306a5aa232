"""客户群群发: a staff member's message to the customer groups they own (``add_msg_template`` with
``chat_type`` group). As with 1:1 群发 nothing arrives until the member confirms it in their client; its
results per group (``get_groupmsg_send_result``) are read when asked for. A group the sender does not own
is in WeCom's ``fail_list`` (kept as ``refused``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channel.sending import message_body
from siyu.errors import ChannelUnreachable, InvalidInput, NotFound
from siyu.kit.inputs import Text
from siyu.models import CustomerGroup, GroupMessage
from siyu.wechat.client import WeComClient
from siyu.wechat.errors import Unreachable, WeChatError

MAX_GROUPS = 2000  # WeCom: chat_id_list holds at most 2000 groups


class GroupContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=4000)
    title: Text | None = Field(None, max_length=200)
    url: str | None = Field(None, max_length=2000)


class GroupMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=1, max_length=128, description="The staff member (group owner) who sends it.")
    chat_ids: list[str] = Field(
        default_factory=list, max_length=MAX_GROUPS, description="Their groups to send to (none: all they own)."
    )
    content: GroupContent


def send(session: Session, client: WeComClient, data: GroupMessageIn, now: datetime) -> GroupMessage:
    owned = list(
        session.scalars(
            select(CustomerGroup.chat_id).where(
                CustomerGroup.owner_userid == data.sender, CustomerGroup.status == "active"
            )
        )
    )
    if not owned:
        raise InvalidInput.on("sender", "owns no active customer group here (sync WeCom first)")
    chat_ids = data.chat_ids or owned
    content = data.content.model_dump(exclude_none=True)
    body = {"chat_type": "group", "sender": data.sender, "chat_id_list": chat_ids, **message_body(content)}
    try:
        answer = client.add_msg_template(body)
    except (WeChatError, Unreachable) as exc:
        raise ChannelUnreachable(f"WeCom did not take the group message: {exc}") from None
    message = GroupMessage(
        msgid=str(answer["msgid"]),
        sender=data.sender,
        chat_ids=chat_ids,
        content=content,
        refused=list(answer.get("fail_list") or []),
        results={},
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message


def get(session: Session, message_id: int) -> GroupMessage:
    """A group message with WeCom's results as last read (``checked_at``)."""
    message = session.get(GroupMessage, message_id)
    if message is None:
        raise NotFound(f"no group message {message_id}")
    return message


def refresh(session: Session, client: WeComClient, message_id: int, now: datetime) -> GroupMessage:
    """WeCom's results for it, read now: per group 0 (not sent yet) or 1 (sent), with the send time."""
    message = get(session, message_id)
    try:
        results: dict[str, Any] = {
            r["chat_id"]: {"status": int(r.get("status") or 0), "send_time": r.get("send_time") or None}
            for r in client.group_message_results(message.msgid, message.sender)
            if r.get("chat_id")
        }
    except (WeChatError, Unreachable) as exc:
        raise ChannelUnreachable(f"WeCom did not answer for the group message: {exc}") from None
    message.results, message.checked_at = results, now
    session.flush()
    return message


def out(message: GroupMessage) -> dict[str, Any]:
    sent = sum(1 for r in message.results.values() if r.get("status") == 1)
    return {
        "id": message.id,
        "msgid": message.msgid,
        "sender": message.sender,
        "chat_ids": message.chat_ids,
        "content": message.content,
        "refused": message.refused,
        "sent": sent,
        "pending": len(message.chat_ids) - len(message.refused) - sent,
        "results": message.results,
        "created_at": message.created_at.isoformat(),
        "checked_at": message.checked_at.isoformat() if message.checked_at else None,
    }
