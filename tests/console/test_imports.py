"""Data import and export in the console (数据导入 / 数据导出): uploading through the form, the run page
that polls while the durable job works, the error report, sample files, refusals, and audited exports
that are masked unless an operator with the personal-data grant asks otherwise."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Role
from siyu.config import Settings
from siyu.console.pages.imports import KINDS, SAMPLES
from siyu.kit.db import transaction
from siyu.models import AuditEvent, ImportRun, Job, SalesOrder
from siyu.worker.runner import Worker
from tests.console.conftest import console_login, csrf_of
from tests.contact.factories import create_contact
from tests.factories import Member, create_member, create_workspace
from tests.transfer.test_import_export import HEADER, order_rows

_BOM = b"\xef\xbb\xbf"


def _orders_csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _upload(client: TestClient, csrf: str, kind: str, name: str, content: bytes) -> httpx.Response:
    response: httpx.Response = client.post(
        "/imports",
        data={"kind": kind, "csrf_token": csrf},
        files={"file": (name, content, "application/octet-stream")},
        follow_redirects=False,
    )
    return response


def _run_id(response: httpx.Response) -> int:
    location = response.headers["location"]
    found = re.fullmatch(r"/imports/(\d+)", location)
    assert found, location
    return int(found.group(1))


def _stat(html: str, label: str) -> str:
    found = re.search(rf"<dt>{label}</dt><dd>(\d+)</dd>", html)
    assert found, f"no {label} on the page"
    return found.group(1)


def _count(factory: sessionmaker[Session], model: type[ImportRun] | type[Job]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _exports(factory: sessionmaker[Session]) -> list[AuditEvent]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "data.exported")))


# --- import -----------------------------------------------------------------------------------


def test_upload_runs_in_the_background_with_progress_counts_and_an_error_report(
    client: TestClient, owner: Member, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    console_login(client, owner)
    page = client.get("/imports")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert "还没有导入记录" in page.text
    rows = order_rows(12)
    rows[3][1] = "oops"  # line 5 of the file: amount_fen is not a number
    response = _upload(client, csrf_of(page.text), "orders", "六月订单.csv", _orders_csv(rows))
    assert response.status_code == 303, response.text
    run_id = _run_id(response)

    queued = client.get(f"/imports/{run_id}")
    assert queued.status_code == 200
    assert "六月订单.csv" in queued.text
    assert "排队中" in queued.text
    assert 'hx-trigger="every 1s"' in queued.text  # polls while queued
    assert f"/imports/{run_id}/errors" not in queued.text
    fragment = client.get(f"/imports/{run_id}", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="run-progress"' in fragment.text
    assert 'hx-trigger="every 1s"' in fragment.text

    assert Worker(settings, session_factory).drain() == 1

    done = client.get(f"/imports/{run_id}", headers={"HX-Request": "true"})
    assert "已完成" in done.text
    assert "hx-trigger" not in done.text  # the swapped-in card stops the polling
    assert "12 / 12 行" in done.text
    assert (_stat(done.text, "已入库"), _stat(done.text, "已拒绝"), _stat(done.text, "已存在")) == ("11", "1", "0")
    assert int(_stat(done.text, "新增用户")) > 0
    assert f'href="/imports/{run_id}/errors"' in done.text

    report = client.get(f"/imports/{run_id}/errors")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    assert "5,amount_fen" in report.text
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        assert len(session.scalars(select(SalesOrder.id)).all()) == 11
        started = session.scalars(select(AuditEvent).where(AuditEvent.action == "import.started")).all()
        assert [e.actor_operator_id for e in started] == [owner.operator_id]

    listing = client.get("/imports").text
    assert f'href="/imports/{run_id}"' in listing
    assert "六月订单.csv" in listing
    audit = client.get("/audit").text
    assert "开始导入" in audit  # the new audit action has a label


def test_a_clean_import_has_no_error_report_and_other_runs_are_not_found(
    client: TestClient, owner: Member, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    run_id = _run_id(_upload(client, csrf, "orders", "clean.csv", _orders_csv(order_rows(3))))
    assert Worker(settings, session_factory).drain() == 1
    page = client.get(f"/imports/{run_id}").text
    assert "导入完成，没有被拒绝的行" in page
    assert "/errors" not in page
    assert client.get(f"/imports/{run_id}/errors").status_code == 404
    assert client.get("/imports/999999").status_code == 404

    # A run of another workspace does not exist for this one.
    other = create_workspace(session_factory, "other", "Other")
    with transaction(session_factory, workspace_id=other.id) as session:
        foreign = ImportRun(kind="orders", filename="x.csv", stored_path="/nowhere", status="done")
        session.add(foreign)
        session.flush()
        foreign_id = foreign.id
    assert client.get(f"/imports/{foreign_id}").status_code == 404
    assert client.get(f"/imports/{foreign_id}/errors").status_code == 404


def test_bad_uploads_are_shown_on_the_form(
    client: TestClient, owner: Member, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    wrong = _upload(client, csrf, "orders", "orders.pdf", b"%PDF-1.7")
    assert wrong.status_code == 422
    assert "请上传 .csv、.jsonl 或 .xlsx 文件" in wrong.text
    assert 'id="file-error"' in wrong.text
    assert 'value="orders" checked' in wrong.text  # the choice is kept

    empty = _upload(client, csrf, "contacts", "empty.csv", b"")
    assert empty.status_code == 422
    assert "文件是空的" in empty.text

    # A browser sends an empty part with no file name when no file was chosen.
    none_chosen = _upload(client, csrf, "events", "", b"")
    assert none_chosen.status_code == 422
    assert "请选择要上传的文件" in none_chosen.text
    no_file = client.post("/imports", data={"kind": "events", "csrf_token": csrf})
    assert no_file.status_code == 422
    assert "请选择要上传的文件" in no_file.text

    kind = _upload(client, csrf, "tags", "tags.csv", b"a\n1\n")
    assert kind.status_code == 422
    assert 'id="kind-error"' in kind.text

    assert _count(session_factory, ImportRun) == 0
    assert _count(session_factory, Job) == 0


def test_an_upload_without_the_csrf_token_is_refused(
    client: TestClient, owner: Member, session_factory: sessionmaker[Session]
) -> None:
    console_login(client, owner)
    refused = client.post(
        "/imports",
        data={"kind": "orders"},
        files={"file": ("o.csv", _orders_csv(order_rows(2)))},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    forged = client.post(
        "/imports",
        data={"kind": "orders", "csrf_token": "forged"},
        files={"file": ("o.csv", _orders_csv(order_rows(2)))},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert _count(session_factory, ImportRun) == 0


def test_an_analyst_cannot_import_but_may_export_masked(
    client: TestClient, owner: Member, analyst: Member, li_na: int, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, analyst)
    home = client.get("/").text
    assert 'href="/imports"' not in home
    assert 'href="/exports"' in home  # contacts:read is enough for a masked export
    for path in ("/imports", "/imports/sample/contacts.csv", "/imports/1", "/imports/1/errors"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "无权访问" in refused.text
    upload = _upload(client, csrf, "orders", "o.csv", _orders_csv(order_rows(2)))
    assert upload.status_code == 403
    assert _count(session_factory, ImportRun) == 0

    exports = client.get("/exports")
    assert exports.status_code == 200
    assert 'href="/imports"' not in exports.text
    assert 'name="unmask"' not in exports.text
    nothing = client.post("/exports", data={"kind": "orders", "fmt": "csv", "csrf_token": csrf})
    assert nothing.status_code == 422
    assert "没有可导出的数据" in nothing.text
    download = client.post("/exports", data={"kind": "contacts", "fmt": "csv", "csrf_token": csrf})
    assert download.status_code == 200
    assert download.content.startswith(_BOM)
    assert "138****8000" in download.content.decode("utf-8-sig")
    [event] = _exports(session_factory)
    assert event.actor_operator_id == analyst.operator_id


def test_sample_files_download_with_a_bom_and_import_cleanly(
    client: TestClient, owner: Member, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    page = client.get("/imports").text
    runs: dict[str, int] = {}
    for kind in KINDS:
        assert f'href="/imports/sample/{kind}.csv"' in page
        sample = client.get(f"/imports/sample/{kind}.csv")
        assert sample.status_code == 200
        assert sample.headers["content-type"].startswith("text/csv")
        assert f'filename="siyu-sample-{kind}.csv"' in sample.headers["content-disposition"]
        assert sample.content.startswith(_BOM)  # Excel reads UTF-8 only with it
        header = next(csv.reader(io.StringIO(sample.content.decode("utf-8-sig"))))
        assert header == SAMPLES[kind][0]
        response = _upload(client, csrf, kind, f"sample-{kind}.csv", sample.content)
        assert response.status_code == 303
        runs[kind] = _run_id(response)
    assert "李娜" in client.get("/imports/sample/contacts.csv").content.decode("utf-8-sig")
    assert client.get("/imports/sample/tags.csv").status_code == 422

    assert Worker(settings, session_factory).drain() == len(KINDS)
    for name, run_id in runs.items():
        html = client.get(f"/imports/{run_id}").text
        assert "已完成" in html, name
        assert _stat(html, "已拒绝") == "0", name
        assert _stat(html, "已入库") == str(len(SAMPLES[name][1])), name


# --- export -----------------------------------------------------------------------------------


@pytest.fixture
def li_na(owner: Member, session_factory: sessionmaker[Session]) -> int:
    with transaction(session_factory, workspace_id=owner.workspace_id) as session:
        contact = create_contact(
            session, nickname="小娜", name="李娜", identities={"phone": "13812348000", "email": "li.na@example.com"}
        )
        return contact.id


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_contacts_export_is_masked_unless_the_owner_asks_and_every_export_is_audited(
    client: TestClient, owner: Member, li_na: int, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    csrf = console_login(client, owner)
    page = client.get("/exports")
    assert page.status_code == 200
    assert 'name="unmask"' in page.text  # the owner holds pii:unmask
    assert '<span class="count" title="行数">1</span>' in page.text  # one contact to export

    masked = client.post("/exports", data={"kind": "contacts", "fmt": "csv", "csrf_token": csrf})
    assert masked.status_code == 200
    assert masked.headers["content-type"].startswith("text/csv")
    assert re.search(r'filename="contacts-\d{8}-\d{4}\.csv"', masked.headers["content-disposition"])
    assert masked.content.startswith(_BOM)
    [row] = _rows(masked.content)
    assert (row["contact_id"], row["nickname"], row["name"]) == (str(li_na), "小娜", "李*")
    assert "138****8000" in row["identities"]
    assert "13812348000" not in masked.text
    assert "li.na@example.com" not in masked.text

    full = client.post("/exports", data={"kind": "contacts", "fmt": "csv", "unmask": "true", "csrf_token": csrf})
    assert full.status_code == 200
    [row] = _rows(full.content)
    assert row["name"] == "李娜"
    assert "13812348000" in row["identities"]

    workbook = client.post("/exports", data={"kind": "contacts", "fmt": "xlsx", "csrf_token": csrf})
    assert workbook.status_code == 200
    assert "spreadsheetml" in workbook.headers["content-type"]
    sheet = load_workbook(io.BytesIO(workbook.content), read_only=True).active
    assert sheet is not None
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ["contact_id", "nickname", "name"]
    assert values[1][2] == "李*"

    events = _exports(session_factory)
    summary = [(e.entity_type, (e.after or {}).get("rows"), (e.after or {}).get("unmasked")) for e in events]
    assert summary == [("contacts", 1, False), ("contacts", 1, True), ("contacts", 1, False)]
    assert all(e.actor_operator_id == owner.operator_id for e in events)
    assert events[2].after is not None
    assert str(events[2].after["file"]).endswith(".xlsx")
    assert "导出数据" in client.get("/audit").text
    # The temporary files are gone once sent.
    assert list((Path(settings.data_dir) / "exports").iterdir()) == []


def test_an_admin_without_the_personal_data_grant_exports_masked_only(
    client: TestClient, owner: Member, li_na: int, session_factory: sessionmaker[Session]
) -> None:
    admin = create_member(session_factory, owner.workspace_id, Role.admin, "admin@acme.example")
    csrf = console_login(client, admin)
    page = client.get("/exports")
    assert page.status_code == 200
    assert 'name="unmask"' not in page.text
    assert "需要单独的个人信息授权" in page.text

    refused = client.post("/exports", data={"kind": "contacts", "fmt": "csv", "unmask": "true", "csrf_token": csrf})
    assert refused.status_code == 403
    assert "13812348000" not in refused.text
    assert _exports(session_factory) == []

    masked = client.post("/exports", data={"kind": "contacts", "fmt": "csv", "csrf_token": csrf})
    assert masked.status_code == 200
    assert "138****8000" in masked.content.decode("utf-8-sig")
    [event] = _exports(session_factory)
    assert event.after is not None
    assert event.after["unmasked"] is False
    assert event.actor_operator_id == admin.operator_id


def test_export_form_refusals(client: TestClient, owner: Member, session_factory: sessionmaker[Session]) -> None:
    csrf = console_login(client, owner)
    assert client.post("/exports", data={"kind": "contacts", "fmt": "csv"}).status_code == 403
    bad_kind = client.post("/exports", data={"kind": "tags", "fmt": "csv", "csrf_token": csrf})
    assert bad_kind.status_code == 422
    assert 'id="kind-error"' in bad_kind.text
    bad_format = client.post("/exports", data={"kind": "events", "fmt": "pdf", "csrf_token": csrf})
    assert bad_format.status_code == 422
    assert 'id="fmt-error"' in bad_format.text
    assert _exports(session_factory) == []
