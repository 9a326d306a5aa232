"""WeCom and WeChat error codes, and what siyu does about each: the table of the reference's 全局错误码 that
the client, the sync and the dispatcher act on. A code not listed is a refusal of that one request."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    retry = "retry"  # transient on their side: again after a short back-off
    refresh_token = "refresh_token"  # noqa: S105 — the token is invalid or expired: a new one, then the call once more
    back_off = "back_off"  # frequency limit: nothing more to this API until the window ends
    lower_concurrency = "lower_concurrency"  # too many calls at once: one at a time, then again
    relation_gone = "relation_gone"  # the customer and the staff member are no longer connected
    do_not_retry = "do_not_retry"  # the same call can never succeed (welcome already delivered, …)
    configuration = "configuration"  # the corp's set-up is wrong (secret, permission, trusted IP)
    refused = "refused"  # this request is wrong; others may succeed


ERRORS: dict[int, tuple[str, Action]] = {
    -1: ("系统繁忙 (system busy)", Action.retry),
    40001: ("不合法的secret参数 (invalid secret or credential)", Action.configuration),
    40003: ("无效的UserID / openid", Action.refused),
    40013: ("不合法的CorpID / AppID", Action.configuration),
    40014: ("不合法的access_token", Action.refresh_token),
    40037: ("invalid template_id", Action.refused),
    40058: ("不合法的参数", Action.refused),
    40068: ("不合法的标签/标签组ID", Action.refused),
    40091: ("secret is invalid", Action.configuration),
    40096: ("不合法的外部联系人userid", Action.refused),
    40099: ("外部联系人的数量已达上限", Action.refused),
    40125: ("invalid appsecret", Action.configuration),
    40126: ("企业标签个数达到上限", Action.refused),
    40128: ("客户转接过于频繁", Action.do_not_retry),
    40164: ("IP not in whitelist", Action.configuration),
    41001: ("缺少access_token参数", Action.refresh_token),
    41049: ("缺少欢迎语code", Action.refused),
    41050: ("无效的欢迎语code (expired or unknown)", Action.do_not_retry),
    41051: ("客户和服务人员已经开始聊天了 (welcome already delivered)", Action.do_not_retry),
    41063: ("群发消息正在被派发中", Action.retry),
    41064: ("附件数量超过限制", Action.refused),
    41065: ("无效的附件类型", Action.refused),
    41093: ("群发任务已取消", Action.do_not_retry),
    41094: ("群发提醒超过频率限制", Action.do_not_retry),
    41096: ("欢迎语已在发送中", Action.retry),
    42001: ("access_token已过期", Action.refresh_token),
    43101: ("user refuse to accept the msg (no subscription left)", Action.do_not_retry),
    45009: ("接口调用超过限制", Action.back_off),
    45015: ("回复时间超过限制 (outside the 48-hour window)", Action.do_not_retry),
    45033: ("接口并发调用超过限制", Action.lower_concurrency),
    45047: ("客服消息下发条数超限", Action.do_not_retry),
    47003: ("模板参数不准确 (argument invalid)", Action.refused),
    48002: ("API接口无权限调用", Action.configuration),
    60011: ("指定的成员/部门/标签参数无权限", Action.configuration),
    60020: ("不安全的访问IP", Action.configuration),
    60111: ("UserID不存在", Action.refused),
    81013: ("UserID、部门ID、标签ID全部非法或无权限", Action.refused),
    81017: ("客户群列表需要 owner_filter", Action.refused),
    84061: ("不存在外部联系人的关系", Action.relation_gone),
    84074: ("没有外部联系人权限", Action.configuration),
}


def action(errcode: int) -> Action:
    return ERRORS.get(errcode, ("", Action.refused))[1]


class WeChatError(Exception):
    """An API answer with a non-zero ``errcode``; ``action`` says what to do about it."""

    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        self.errcode, self.errmsg, self.path = errcode, errmsg, path
        self.action = action(errcode)
        super().__init__(f"{path}: errcode {errcode} ({errmsg or ERRORS.get(errcode, ('?',))[0]})")


class Unreachable(Exception):
    """No answer (a timeout, a refused connection, a 5xx) after the retries an idempotent call is allowed.
    ``sent_maybe``: the request may have reached them (a call that is not idempotent is never repeated)."""

    def __init__(self, path: str, reason: str, *, sent_maybe: bool) -> None:
        self.path, self.reason, self.sent_maybe = path, reason, sent_maybe
        super().__init__(f"{path}: {reason}")
