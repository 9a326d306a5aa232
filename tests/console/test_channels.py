"""The channels and WeCom pages as an operator meets them, against the stand-in: the settings form made from
the plugin's schema (secrets never shown back, bad values refused on their field), the connection test, the
callback URL, channel codes made in WeCom and what they brought, staff and groups; readers see only."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from siyu.channel import sync
from siyu.dispatch import channels
from siyu.kit.db import transaction
from siyu.wechat.client import TokenCache, WeComClient
from tests.console.conftest import console_login, csrf_of
from tests.factories import Member
from tests.wechat.standin_fixture import AES_KEY, CORPID, SECRET, TOKEN, StandInFixture


def test_set_up_wecom_and_make_a_channel_code(
    client: TestClient,
    owner: Member,
    analyst: Member,
    standin: StandInFixture,
    session_factory: sessionmaker[Session],
) -> None:
    state = standin.state
    state.add_corp(CORPID, SECRET, TOKEN, AES_KEY)
    state.add_staff(CORPID, "zhangsan", "张三")
    console_login(client, owner)
    listing = client.get("/channels")
    assert listing.status_code == 200
    assert 'data-channel="wecom"' in listing.text
    form = client.get("/channels/wecom")
    token = csrf_of(form.text)
    settings = {"corpid": CORPID, "secret": SECRET, "token": TOKEN, "api_base": standin.url, "csrf_token": token}
    bad = client.post("/channels/wecom", data={**settings, "encoding_aes_key": "too-short"})
    assert bad.status_code == 422
    assert 'id="encoding_aes_key-error"' in bad.text
    assert SECRET not in bad.text  # a refused form does not echo the secret
    saved = client.post("/channels/wecom", data={**settings, "encoding_aes_key": AES_KEY}, follow_redirects=False)
    assert saved.status_code == 303
    page = client.get(saved.headers["location"])
    assert SECRET not in page.text
    assert AES_KEY not in page.text
    assert "/callbacks/wecom/acme" in page.text
    tested = client.post("/channels/wecom/test", data={"csrf_token": token})
    assert 'data-testid="test-result"' in tested.text
    assert "1 staff members" in tested.text

    empty = client.get("/wecom")
    assert empty.status_code == 200
    refused = client.post(
        "/wecom/contact-ways", data={"label": "门店码", "source": "store", "staff": "", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert 'id="staff-error"' in refused.text

    _sync(session_factory, owner.workspace_id, standin.url)  # siyu learns its staff
    made = client.post(
        "/wecom/contact-ways",
        data={"label": "上海门店", "source": "store", "staff": "zhangsan", "state": "sh-store", "csrf_token": token},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    (config,) = state.corp(CORPID).contact_ways.values()
    assert config["state"] == "sh-store"
    for _ in range(2):  # customers scan it; siyu hears of them through the next sync
        state.customer_adds(CORPID, "zhangsan", state_code="sh-store")
    _sync(session_factory, owner.workspace_id, standin.url)
    board = client.get("/wecom").text
    assert re.search(r'data-state="sh-store" data-adds="2"', board)
    assert 'data-userid="zhangsan" data-customers="2"' in board

    with TestClient(client.app) as reader:
        console_login(reader, analyst)
        seen = reader.get("/wecom")
        assert seen.status_code == 200
        assert 'action="/wecom/contact-ways"' not in seen.text  # no form to make codes
        assert 'data-state="sh-store"' in seen.text
        assert reader.post("/wecom/sync", data={"csrf_token": csrf_of(seen.text)}).status_code == 403


def _sync(factory: sessionmaker[Session], ws: int, url: str) -> None:
    with transaction(factory, workspace_id=ws) as session:
        settings = channels.settings_for(session, ws, "wecom")
    client = WeComClient(CORPID, SECRET, url, tokens=TokenCache())
    try:
        sync.sync(factory, ws, settings, client)
    finally:
        client.close()
