"""The contacts pages (用户): list with search and filters, profile with masking and audited unmasking,
the timeline's "load more", and merging and un-merging through the forms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from siyu.kit.db import transaction
from siyu.models import AuditEvent, Contact, MergeRecord
from tests.console.conftest import console_login, csrf_of
from tests.contact.factories import T0, add_consent, add_event, add_order, create_contact, create_staff
from tests.factories import Member


@dataclass
class People:
    li: int
    wang: int


@pytest.fixture
def people(owner: Member, session_factory: sessionmaker[Session]) -> People:
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        staff = create_staff(session, "zhang.wei", "张伟")
        li = create_contact(
            session,
            nickname="小娜",
            name="李娜",
            gender="female",
            region="上海",
            first_source="douyin",
            owner_staff_id=staff.id,
            created_at=T0,
            identities={"phone": "13812348000", "email": "li.na@example.com", "wx_openid@wxapp1": "o_li_123"},
            properties={"skin_type": "dry"},
        )
        wang = create_contact(
            session,
            nickname="Fang",
            name="王芳",
            region="杭州",
            first_source="taobao",
            created_at=T0 + timedelta(days=1),
            identities={"buyer_id@taobao": "tb_wang", "phone": "13900001111"},
        )
        add_event(session, li, "contact_added", T0)
        add_order(session, li, "SO-1", 12900, T0 + timedelta(hours=1))
        add_consent(session, li, "marketing", True, T0)
        add_event(session, wang, "page_view", T0 + timedelta(days=1))
        return People(li.id, wang.id)


def _pii_views(factory: sessionmaker[Session]) -> list[AuditEvent]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "pii.viewed")))


def _row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="contact-(\d+)"', html)]


@pytest.mark.parametrize("who", ["owner", "analyst"])
def test_pages_render_masked_for_every_reader(
    client: TestClient, people: People, who: str, request: pytest.FixtureRequest
) -> None:
    console_login(client, request.getfixturevalue(who))
    home = client.get("/").text
    assert 'href="/contacts"' in home
    assert "用户" in home
    listing = client.get("/contacts")
    assert listing.status_code == 200
    assert _row_ids(listing.text) == [people.wang, people.li]
    assert "李*" in listing.text
    assert "李娜" not in listing.text
    profile = client.get(f"/contacts/{people.li}")
    assert profile.status_code == 200
    for shown in ("138****8000", "l***@example.com", "o_li_123", "张伟", "¥129.00", "contact_added", "已同意"):
        assert shown in profile.text, shown
    assert "13812348000" not in profile.text
    assert client.get("/contacts/merge").status_code == 200
    english = client.get("/lang/en", params={"next": f"/contacts/{people.li}"}, follow_redirects=True)
    assert "Identities" in english.text
    assert "Timeline" in english.text


def test_search_and_filters(client: TestClient, owner: Member, people: People) -> None:
    console_login(client, owner)
    assert _row_ids(client.get("/contacts", params={"q": "138 1234 8000"}).text) == [people.li]
    assert _row_ids(client.get("/contacts", params={"q": "tb_wang"}).text) == [people.wang]
    assert _row_ids(client.get("/contacts", params={"q": "王"}).text) == [people.wang]
    assert _row_ids(client.get("/contacts", params={"identity_kind": "email"}).text) == [people.li]
    assert _row_ids(client.get("/contacts", params={"owner_staff": "zhang.wei"}).text) == [people.li]
    assert _row_ids(client.get("/contacts", params={"source": "taobao"}).text) == [people.wang]
    none = client.get("/contacts", params={"q": "nobody"})
    assert "没有符合条件的用户" in none.text
    partial = client.get("/contacts", params={"q": "小娜"}, headers={"HX-Request": "true"})
    assert "<html" not in partial.text
    assert _row_ids(partial.text) == [people.li]
    # Blank filters from the form are "any"; bad dates are shown on the field.
    blank = client.get("/contacts?q=&source=&channel_code=&owner_staff=&identity_kind=&created_from=&created_to=")
    assert blank.status_code == 200
    assert len(_row_ids(blank.text)) == 2
    bad = client.get("/contacts", params={"created_from": "2025-13-01"})
    assert bad.status_code == 422
    assert 'id="created_from-error"' in bad.text
    backwards = client.get("/contacts", params={"created_from": "2025-03-05", "created_to": "2025-03-01"})
    assert backwards.status_code == 422
    assert "结束日期早于开始日期" in backwards.text


def test_show_full_information_is_audited(
    client: TestClient, owner: Member, people: People, session_factory: sessionmaker[Session]
) -> None:
    console_login(client, owner)
    profile = client.get(f"/contacts/{people.li}").text
    assert f'href="/contacts/{people.li}?unmask=true"' in profile
    assert "显示完整信息" in profile
    assert _pii_views(session_factory) == []
    full = client.get(f"/contacts/{people.li}?unmask=true")
    assert full.status_code == 200
    for shown in ("13812348000", "li.na@example.com", "李娜", "已记入审计日志"):
        assert shown in full.text, shown
    (event,) = _pii_views(session_factory)
    assert event.entity_id == str(people.li)
    assert event.after == {"fields": ["name", "identities.email", "identities.phone"]}


def test_analyst_cannot_unmask(
    client: TestClient, analyst: Member, people: People, session_factory: sessionmaker[Session]
) -> None:
    console_login(client, analyst)
    assert "unmask=true" not in client.get(f"/contacts/{people.li}").text
    refused = client.get(f"/contacts/{people.li}?unmask=true")
    assert refused.status_code == 403
    assert "查看明文个人信息" in refused.text
    assert "13812348000" not in refused.text
    assert _pii_views(session_factory) == []


def test_timeline_loads_more(
    client: TestClient, owner: Member, people: People, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        wang = session.get(Contact, people.wang)
        assert wang is not None
        for n in range(24):
            add_event(session, wang, "message_opened", T0 + timedelta(days=2, minutes=n), properties={"n": n})
    console_login(client, owner)
    profile = client.get(f"/contacts/{people.wang}").text
    assert profile.count('class="timeline-item') == 20
    more = re.search(r'hx-get="(/contacts/\d+/timeline\?cursor=[^"]+)"', profile)
    assert more, "a load-more button"
    rest = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert rest.status_code == 200
    assert "<html" not in rest.text
    assert rest.text.count('class="timeline-item') == 5  # 4 more opens and the page view
    assert "timeline-more" not in rest.text
    filtered = client.get(f"/contacts/{people.wang}/timeline", params={"event": "page_view"})
    assert filtered.text.count('class="timeline-item') == 1
    assert client.get(f"/contacts/{people.wang}/timeline", params={"cursor": "junk"}).status_code == 422


def test_merge_preview_confirm_and_undo(
    client: TestClient, owner: Member, people: People, session_factory: sessionmaker[Session]
) -> None:
    console_login(client, owner)
    preview = client.get("/contacts/merge", params={"survivor": people.li, "merged": people.wang})
    assert preview.status_code == 200
    text = preview.text
    assert 'id="merge-preview"' in text
    assert "139****1111" in text  # the identities that would move, masked
    assert "13900001111" not in text
    assert 'id="merge-conflicts"' in text
    assert "王*" in text
    assert "王芳" not in text
    form = text.split('id="confirm-merge"')[1]
    merged = client.post(
        "/contacts/merge",
        data={
            "csrf_token": csrf_of(form),
            "survivor_id": str(people.li),
            "merged_id": str(people.wang),
            "reason": "电话确认",
        },
        follow_redirects=False,
    )
    assert merged.status_code == 303
    assert merged.headers["location"] == f"/contacts/{people.li}?notice=merged"
    survivor_page = client.get(merged.headers["location"]).text
    assert "已合并用户" in survivor_page
    assert "电话确认" in survivor_page
    assert "tb_wang" in survivor_page
    assert _row_ids(client.get("/contacts").text) == [people.li]

    old = client.get(f"/contacts/{people.wang}", follow_redirects=False)
    assert old.status_code == 303
    assert old.headers["location"] == f"/contacts/{people.li}?merged_from={people.wang}"
    assert f"用户 #{people.wang} 已合并到此用户" in client.get(old.headers["location"]).text

    with session_factory() as session:
        record_id = session.scalars(select(MergeRecord.id)).one()
    undo_action = f'action="/contacts/merges/{record_id}/undo"'
    assert undo_action in survivor_page
    undone = client.post(
        f"/contacts/merges/{record_id}/undo", data={"csrf_token": csrf_of(survivor_page)}, follow_redirects=False
    )
    assert undone.status_code == 303
    after = client.get(undone.headers["location"]).text
    assert "已撤销合并" in after
    assert undo_action not in after
    assert "tb_wang" not in after
    assert client.get(f"/contacts/{people.wang}").status_code == 200
    again = client.post(f"/contacts/merges/{record_id}/undo", data={"csrf_token": csrf_of(survivor_page)})
    assert again.status_code == 409
    assert "此合并已被撤销" in again.text
    with session_factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "merge_record").order_by(AuditEvent.id)
        ).all()
    assert actions == ["contact.merged", "contact.unmerged"]


def test_analyst_previews_but_cannot_merge(
    client: TestClient, analyst: Member, people: People, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, analyst)
    preview = client.get("/contacts/merge", params={"survivor": people.li, "merged": people.wang})
    assert preview.status_code == 200
    assert 'id="merge-preview"' in preview.text
    assert 'id="confirm-merge"' not in preview.text
    refused = client.post(
        "/contacts/merge", data={"csrf_token": csrf, "survivor_id": str(people.li), "merged_id": str(people.wang)}
    )
    assert refused.status_code == 403
    assert "/undo" not in client.get(f"/contacts/{people.li}").text
    with session_factory() as session:
        assert session.scalars(select(MergeRecord)).all() == []


def test_merge_form_errors(
    client: TestClient, owner: Member, people: People, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    itself = client.get("/contacts/merge", params={"survivor": people.li, "merged": people.li})
    assert itself.status_code == 422
    assert "用户不能合并到自身" in itself.text
    missing = client.get("/contacts/merge", params={"survivor": people.li, "merged": 987654})
    assert missing.status_code == 404
    assert 'id="merged-error"' in missing.text
    assert "没有此编号的用户" in missing.text
    words = client.get("/contacts/merge", params={"survivor": "abc", "merged": str(2**63)})
    assert words.status_code == 422
    assert 'id="survivor-error"' in words.text
    assert 'id="merged-error"' in words.text
    no_csrf = client.post("/contacts/merge", data={"survivor_id": str(people.li), "merged_id": str(people.wang)})
    assert no_csrf.status_code == 403
    empty = client.post("/contacts/merge", data={"csrf_token": csrf})
    assert empty.status_code == 422
    assert "必填" in empty.text
    ok = client.post(
        "/contacts/merge",
        data={"csrf_token": csrf, "survivor_id": str(people.li), "merged_id": str(people.wang)},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    stale = client.post(
        "/contacts/merge", data={"csrf_token": csrf, "survivor_id": str(people.wang), "merged_id": str(people.li)}
    )
    assert stale.status_code == 409
    assert f"该用户已合并到用户 {people.li}" in stale.text
    with session_factory() as session:
        assert len(session.scalars(select(MergeRecord)).all()) == 1


def test_bad_and_unknown_ids(client: TestClient, owner: Member, people: People) -> None:
    csrf = console_login(client, owner)
    for path in ("/contacts/0", "/contacts/abc", f"/contacts/{2**63}", "/contacts/1/timeline?cursor=%00"):
        response = client.get(path)
        assert response.status_code == 422, path
    assert client.get("/contacts/987654").status_code == 404
    assert client.get(f"/contacts/{people.li}?merged_from=x").status_code == 422
    assert client.get("/contacts?offset=-1").status_code == 422
    assert client.post("/contacts/merges/0/undo", data={"csrf_token": csrf}).status_code == 422
    assert client.post("/contacts/merges/987654/undo", data={"csrf_token": csrf}).status_code == 404
