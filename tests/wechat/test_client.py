"""The WeCom and WeChat clients against the stand-in: the token cache (one fetch, one refresh at a time,
renewed and repeated once on 40014/42001, WeChat's 40001), 45009 leaving the API alone for the minute,
45033 and 5xx repeated for reads, writes never repeated when they may have arrived, errors with actions."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from siyu.wechat.client import TokenCache, WeChatClient, WeComClient
from siyu.wechat.errors import Action, Unreachable, WeChatError
from tests.wechat.standin_fixture import CORPID, SECRET, StandInFixture


@pytest.fixture
def corp(standin: StandInFixture) -> StandInFixture:
    standin.state.add_corp(CORPID, SECRET)
    standin.state.add_staff(CORPID, "zhangsan", "张三")
    return standin


def client(standin: StandInFixture, **options: Any) -> WeComClient:
    return WeComClient(CORPID, SECRET, standin.url, tokens=TokenCache(), sleep=lambda s: None, **options)


def test_one_token_for_many_calls_and_for_many_threads(corp: StandInFixture) -> None:
    wecom = client(corp)
    for _ in range(5):
        assert wecom.follow_users() == ["zhangsan"]
    assert wecom.tokens.fetches == 1
    fresh = client(corp)
    threads = [threading.Thread(target=fresh.follow_users) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fresh.tokens.fetches == 1  # one refresh at a time: the others found it


def test_a_revoked_or_expired_token_is_renewed_and_the_call_repeated_once(corp: StandInFixture) -> None:
    wecom = client(corp)
    wecom.follow_users()
    corp.state.expire_tokens(CORPID)
    assert wecom.follow_users() == ["zhangsan"]
    assert wecom.tokens.fetches == 2
    corp.state.inject("get_follow_user_list", errcode=40014, times=2)
    with pytest.raises(WeChatError) as caught:
        wecom.follow_users()  # renewed once, refused again: no loop
    assert caught.value.errcode == 40014
    assert caught.value.action is Action.refresh_token


def test_the_frequency_limit_leaves_the_api_alone_for_the_minute(corp: StandInFixture) -> None:
    wecom = client(corp)
    corp.state.inject("get_follow_user_list", errcode=45009)
    with pytest.raises(WeChatError) as first:
        wecom.follow_users()
    assert first.value.action is Action.back_off
    calls = wecom.calls
    with pytest.raises(WeChatError) as second:
        wecom.follow_users()
    assert second.value.errcode == 45009
    assert wecom.calls == calls  # not even asked
    assert wecom.user("zhangsan")["name"] == "张三"  # other APIs are not blocked


def test_reads_are_repeated_after_5xx_and_45033_writes_are_not(corp: StandInFixture) -> None:
    wecom = client(corp)
    corp.state.inject("get_follow_user_list", http_status=502, times=2)
    assert wecom.follow_users() == ["zhangsan"]
    corp.state.inject("externalcontact/list", errcode=45033)
    assert wecom.customers_of("zhangsan") == []
    corp.state.inject("add_msg_template", http_status=502)
    with pytest.raises(Unreachable) as caught:
        wecom.add_msg_template({"chat_type": "single", "sender": "zhangsan", "text": {"content": "hi"}})
    assert caught.value.sent_maybe is True
    assert corp.state.corp(CORPID).templates == {}


def test_timeouts_and_refused_connections(corp: StandInFixture) -> None:
    wecom = client(corp, timeout=0.3, max_retries=1)
    corp.state.inject("get_follow_user_list", delay=1.0, times=2)
    with pytest.raises(Unreachable) as read:
        wecom.follow_users()
    assert read.value.sent_maybe is False  # a read: nothing to lose
    nowhere = WeComClient(CORPID, SECRET, "http://127.0.0.1:9", tokens=TokenCache(), sleep=lambda s: None)
    with pytest.raises(Unreachable) as refused:
        nowhere.follow_users()
    assert refused.value.sent_maybe is False


def test_a_wrong_secret_is_a_configuration_error(corp: StandInFixture) -> None:
    wrong = WeComClient(CORPID, "wrong", corp.url, tokens=TokenCache(), sleep=lambda s: None)
    with pytest.raises(WeChatError) as caught:
        wrong.follow_users()
    assert caught.value.action is Action.configuration


def test_wechat_renews_a_replaced_token_on_40001(standin: StandInFixture) -> None:
    standin.state.add_app("wxapp0000000001", "app-secret", "official_account")
    standin.state.add_user("wxapp0000000001", "o-1")
    standin.state.user_messages("wxapp0000000001", "o-1")
    mp = WeChatClient("wxapp0000000001", "app-secret", standin.url, tokens=TokenCache(), sleep=lambda s: None)
    mp.token()
    standin.state.expire_tokens("wxapp0000000001")
    mp.send_custom({"touser": "o-1", "msgtype": "text", "text": {"content": "你好"}})
    assert mp.tokens.fetches == 2
    assert [m["kind"] for m in standin.state.sent] == ["custom"]


def test_access_tokens_never_reach_the_logs() -> None:
    import logging

    from siyu.kit.logging import configure_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("DEBUG")
        # httpx logs each URL (with ?access_token=…) at INFO: kept quiet whatever siyu's level
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, text="<html>not here</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"errcode": 0, "expires_in": 7200}),
        httpx.Response(200, json={"access_token": "t", "expires_in": "soon"}),
    ],
    ids=["html", "list", "no-token", "bad-expiry"],
)
def test_a_token_answer_that_makes_no_sense_is_unreachable_not_a_crash(answer: httpx.Response) -> None:
    """A proxy's error page or a garbled answer where the token should be: the caller gets Unreachable
    (a 502 in the API, a retry in the dispatcher), never a ValueError or KeyError."""
    http = httpx.Client(transport=httpx.MockTransport(lambda request: answer))
    wecom = WeComClient(CORPID, SECRET, "http://wecom.invalid", http=http, tokens=TokenCache(), sleep=lambda s: None)
    with pytest.raises(Unreachable) as caught:
        wecom.follow_users()
    assert caught.value.sent_maybe is False
