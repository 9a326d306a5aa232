"""Data import and export (数据导入 / 数据导出): uploading a CSV, JSONL or XLSX file that the durable
``transfer.import`` job imports in the background, following its progress, downloading its error
report and the sample files; and exporting contacts, events or orders as CSV or XLSX.

Who may do what: importing needs ``ingest:write`` (the same as the ingestion API). Exporting needs
``contacts:read``: whoever may page through the user pool (masked) may also download it (masked);
writing phone numbers, e-mails and names in full also needs ``pii:unmask``. Every export is audited.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse, RedirectResponse
from starlette.background import BackgroundTask

from siyu.audit import service as audit
from siyu.auth.permissions import Permission
from siyu.console.access import Page, PageAccess, PageForbidden
from siyu.console.forms import FormErrors
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, render
from siyu.errors import InvalidInput, NotFound
from siyu.kit.inputs import RowId
from siyu.kit.time import utcnow
from siyu.transfer import exports, service
from siyu.transfer.schemas import ImportRunOut

router = console_router()
P = Permission

ImportsViewer = Annotated[Page, Depends(PageAccess(P.ingest_write, form=False))]
ImportsWriter = Annotated[Page, Depends(PageAccess(P.ingest_write, form=True))]
ExportsViewer = Annotated[Page, Depends(PageAccess(P.contacts_read, form=False))]
ExportsWriter = Annotated[Page, Depends(PageAccess(P.contacts_read, form=True))]

Kind = Literal["contacts", "events", "orders"]
KINDS: Final[tuple[Kind, ...]] = ("contacts", "events", "orders")
KIND_LABELS: Final[dict[str, str]] = {"contacts": N_("Contacts"), "events": N_("Events"), "orders": N_("Orders")}
EXPORT_FORMAT_LABELS: Final[dict[str, str]] = {"csv": N_("CSV (UTF-8)"), "xlsx": N_("Excel workbook (XLSX)")}

# An import run is queued, running, then done or failed (a file that cannot be read at all).
RUN_STATUS_LABELS: Final[dict[str, str]] = {
    "queued": N_("Queued"),
    "running": N_("Running"),
    "done": N_("Done"),
    "failed": N_("Failed"),
}
ACTIVE_STATUSES: Final = frozenset({"queued", "running"})
RECENT_RUNS = 20

# The upload service's reasons, by their exact English text, as the form shows them.
_UPLOAD_REASONS: Final[dict[str, str]] = {
    "upload a .csv, .jsonl or .xlsx file": N_("Upload a .csv, .jsonl or .xlsx file"),
    "the file is empty": N_("The file is empty"),
}

_CONTENT_TYPES: Final[dict[str, str]] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_DOWNLOAD_HEADERS: Final[dict[str, str]] = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


# --- what a file holds --------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One or more columns of a file and what they hold (a msgid; notes are rendered as markup)."""

    names: tuple[str, ...]
    note: str
    required: bool = False


IDENTITIES: Final = Column(
    ("phone", "email", "wx_unionid", "wx_openid@<appid>", "buyer_id@<platform>", "wecom_external_userid@<corpid>"),
    N_("Who the row is about: at least one identity column, or contact_id"),
    required=True,
)

COLUMNS: Final[dict[str, tuple[Column, ...]]] = {
    "contacts": (
        IDENTITIES,
        Column(("nickname", "name", "region"), N_("Nickname, real name and region as text")),
        Column(("gender",), N_("male, female or unknown")),
        Column(("birthday",), N_("A date: 1992-05-17")),
        Column(("source", "channel_code"), N_("First touch; only filled when still empty")),
        Column(("owner_staff",), N_("WeCom userid of an existing staff member")),
        Column(("properties.<key>",), N_("A custom property; declare it in the property catalogue first")),
        Column(("consent",), N_('JSON: [{"purpose": "marketing", "granted": true, "channel": "sms"}]')),
    ),
    "events": (
        Column(("name",), N_("Event name in snake_case, e.g. page_view"), required=True),
        Column(("time",), N_("When it happened: 2026-05-20 10:15:00"), required=True),
        IDENTITIES,
        Column(("event_id",), N_("Your id for the event; without it, the row's content is its id")),
        Column(("source",), N_("Where it came from, e.g. miniprogram")),
        Column(("properties.<key>",), N_("Any event property, e.g. properties.page")),
    ),
    "orders": (
        Column(("order_id",), N_("Your order number; an order already stored is skipped"), required=True),
        Column(("amount_fen",), N_("Amount paid in fen: ¥258.00 is 25800"), required=True),
        Column(("paid_at",), N_("When it was paid: 2026-05-20 12:30:00"), required=True),
        Column(
            ("sales_channel",),
            N_("taobao, tmall, douyin, jd, pdd, youzan, store, miniprogram, wecom or other"),
            required=True,
        ),
        IDENTITIES,
        Column(("currency",), N_("Three letters; CNY when empty")),
        Column(("items",), N_('JSON: [{"sku": "A100", "qty": 2, "price_fen": 12900}]')),
        Column(("refunds",), N_('JSON: [{"refund_id": "R1", "amount_fen": 9900, "time": "2026-05-22 18:00:00"}]')),
    ),
}


# The sample files: the columns, then a few rows (empty cells left out) that import cleanly into an
# empty workspace, and show the conventions: identity columns, JSON cells, times without an offset, fen.
def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


_SERUM = {"sku": "A100", "name": "玻尿酸精华 30ml", "category": "护肤", "price_fen": 12900}
_MASK = {"sku": "B200", "name": "保湿面膜 5片", "category": "面膜", "price_fen": 9900}

SAMPLES: Final[dict[str, tuple[list[str], list[dict[str, str]]]]] = {
    "contacts": (
        [
            "phone",
            "email",
            "wx_unionid",
            "buyer_id@taobao",
            "nickname",
            "name",
            "gender",
            "birthday",
            "region",
            "source",
            "consent",
        ],
        [
            {
                "phone": "13800138000",
                "email": "lina@example.com",
                "wx_unionid": "oUnion_lina_01",
                "buyer_id@taobao": "tb_lina88",
                "nickname": "小娜",
                "name": "李娜",
                "gender": "female",
                "birthday": "1992-05-17",
                "region": "上海",
                "source": "douyin",
                "consent": _json([{"purpose": "marketing", "granted": True, "channel": "sms"}]),
            },
            {
                "phone": "13900139000",
                "buyer_id@taobao": "tb_wangfang",
                "nickname": "芳芳",
                "name": "王芳",
                "gender": "female",
                "birthday": "1988-11-02",
                "region": "杭州",
                "source": "taobao",
            },
            {
                "phone": "+86 137 0013 7000",
                "wx_unionid": "oUnion_zhaojie_02",
                "nickname": "阿杰",
                "name": "赵杰",
                "gender": "male",
                "region": "北京",
                "source": "miniprogram",
                "consent": _json([{"purpose": "marketing", "granted": False}]),
            },
        ],
    ),
    "events": (
        ["event_id", "name", "time", "phone", "buyer_id@taobao", "source", "properties.page", "properties.coupon_id"],
        [
            {
                "event_id": "ev-20260520-0001",
                "name": "page_view",
                "time": "2026-05-20 10:15:00",
                "phone": "13800138000",
                "source": "miniprogram",
                "properties.page": "/pages/product?id=A100",
            },
            {
                "event_id": "ev-20260520-0002",
                "name": "coupon_issued",
                "time": "2026-05-20 10:16:30",
                "phone": "13800138000",
                "source": "miniprogram",
                "properties.coupon_id": "CP-618-20",
            },
            {"name": "login", "time": "2026-05-21 21:03:00", "buyer_id@taobao": "tb_wangfang", "source": "taobao"},
        ],
    ),
    "orders": (
        ["order_id", "amount_fen", "paid_at", "sales_channel", "buyer_id@taobao", "phone", "items", "refunds"],
        [
            {
                "order_id": "TB20260520001",
                "amount_fen": "25800",
                "paid_at": "2026-05-20 12:30:00",
                "sales_channel": "taobao",
                "buyer_id@taobao": "tb_lina88",
                "phone": "13800138000",
                "items": _json([{**_SERUM, "qty": 2}]),
            },
            {
                "order_id": "TB20260521002",
                "amount_fen": "9900",
                "paid_at": "2026-05-21 09:05:00",
                "sales_channel": "taobao",
                "buyer_id@taobao": "tb_wangfang",
                "items": _json([{**_MASK, "qty": 1}]),
                "refunds": _json([{"refund_id": "RF20260522001", "amount_fen": 9900, "time": "2026-05-22 18:00:00"}]),
            },
            {
                "order_id": "MP20260521003",
                "amount_fen": "12900",
                "paid_at": "2026-05-21 20:45:00",
                "sales_channel": "miniprogram",
                "phone": "13700137000",
                "items": _json([{**_SERUM, "qty": 1}]),
            },
        ],
    ),
}


def sample_csv(kind: str) -> bytes:
    """A sample file for ``kind``: UTF-8 with a byte-order mark, so Excel shows the Chinese correctly."""
    header, rows = SAMPLES[kind]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _labels() -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "run_status_labels": RUN_STATUS_LABELS,
        "active_statuses": ACTIVE_STATUSES,
    }


# --- import -----------------------------------------------------------------------------------


def _uploads_dir(request: Request) -> Path:
    return Path(request.app.state.settings.data_dir) / "uploads"


def _imports_page(
    page: Page, *, form: dict[str, str] | None = None, errors: FormErrors | None = None, status_code: int = 200
) -> Response:
    runs = [service.out(run) for run in service.list_runs(page.session, limit=RECENT_RUNS)]
    settings = page.request.app.state.settings
    return render(
        page,
        "imports.html",
        status_code,
        runs=runs,
        kinds=KINDS,
        columns=COLUMNS,
        form=form or {"kind": "contacts"},
        errors=errors or FormErrors(),
        max_upload_mb=max(1, settings.max_upload_bytes // (1024 * 1024)),
        can_export=page.can(P.contacts_read),
        **_labels(),
    )


@router.get("/imports")
def imports(page: ImportsViewer) -> Response:
    return _imports_page(page)


@router.post("/imports")
def upload(
    page: ImportsWriter,
    kind: Annotated[str, Form(max_length=16)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    form = {"kind": kind}
    errors = FormErrors()
    if kind not in KINDS:
        errors.add("kind", page.gettext(N_("Choose one of the options")))
    if file is None or not file.filename:
        errors.add("file", page.gettext(N_("Choose a file to upload")))
    if errors or file is None:
        return _imports_page(page, form=form, errors=errors, status_code=422)
    try:
        run = service.start_import(
            page.session, page.auth, kind, file.filename or "upload", file.file, _uploads_dir(page.request)
        )
    except InvalidInput as exc:
        page.discard_changes()
        for problem in exc.errors or []:
            known = _UPLOAD_REASONS.get(problem.reason)
            errors.add(problem.field, page.gettext(known) if known else problem.reason)
        if not errors:
            errors.add("file", exc.detail)
        return _imports_page(page, form=form, errors=errors, status_code=exc.status)
    return RedirectResponse(f"/imports/{run.id}", status_code=303)


# Before /imports/{run_id}, whose id would not take "sample".
@router.get("/imports/sample/{kind}.csv")
def sample(page: ImportsViewer, kind: Kind) -> Response:
    headers = {**_DOWNLOAD_HEADERS, "Content-Disposition": f'attachment; filename="siyu-sample-{kind}.csv"'}
    return Response(sample_csv(kind), media_type="text/csv; charset=utf-8", headers=headers)


def progress_percent(run: ImportRunOut) -> int:
    if run.status == "done":
        return 100
    if run.total <= 0:
        return 0
    return min(100, run.done * 100 // run.total)


@router.get("/imports/{run_id}")
def import_run(request: Request, page: ImportsViewer, run_id: RowId) -> Response:
    run = service.out(service.get_run(page.session, run_id))
    # HTMX polls for the progress card alone while the run is queued or running.
    template = "partials/import_progress.html" if request.headers.get("hx-request") else "imports_run.html"
    return render(page, template, run=run, percent=progress_percent(run), **_labels())


@router.get("/imports/{run_id}/errors")
def error_report(page: ImportsViewer, run_id: RowId) -> Response:
    run = service.get_run(page.session, run_id)
    if not run.error_report or not Path(run.error_report).exists():
        raise NotFound("this import has no error report")
    return FileResponse(
        run.error_report,
        media_type="text/csv; charset=utf-8",
        filename=f"{Path(run.filename).stem}-errors.csv",
        headers=_DOWNLOAD_HEADERS,
    )


# --- export -----------------------------------------------------------------------------------


def _exports_page(page: Page, *, errors: FormErrors | None = None, status_code: int = 200) -> Response:
    return render(
        page,
        "imports_export.html",
        status_code,
        kinds=KINDS,
        counts={kind: exports.count(page.session, kind) for kind in KINDS},
        formats=exports.EXPORT_FORMATS,
        format_labels=EXPORT_FORMAT_LABELS,
        can_unmask=page.can(P.pii_unmask),
        can_import=page.can(P.ingest_write),
        errors=errors or FormErrors(),
        **_labels(),
    )


@router.get("/exports")
def exports_page(page: ExportsViewer) -> Response:
    return _exports_page(page)


@router.post("/exports")
def export(
    page: ExportsWriter,
    kind: Annotated[str, Form(max_length=16)] = "",
    fmt: Annotated[str, Form(max_length=8)] = "csv",
    unmask: Annotated[bool, Form()] = False,
) -> Response:
    errors = FormErrors()
    if kind not in KINDS:
        errors.add("kind", page.gettext(N_("Choose one of the options")))
    if fmt not in exports.EXPORT_FORMATS:
        errors.add("fmt", page.gettext(N_("Choose one of the options")))
    if errors:
        return _exports_page(page, errors=errors, status_code=422)
    if unmask and not page.can(P.pii_unmask):
        raise PageForbidden(page, P.pii_unmask)
    if exports.count(page.session, kind) == 0:
        errors.add("kind", page.gettext(N_("Nothing to export: there are no rows of this kind yet")))
        return _exports_page(page, errors=errors, status_code=422)
    stamp = utcnow().astimezone(ZoneInfo(page.workspace.timezone)).strftime("%Y%m%d-%H%M")
    filename = f"{kind}-{stamp}.{fmt}"
    folder = Path(page.request.app.state.settings.data_dir) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="console-", suffix=f".{fmt}", dir=folder)
    os.close(handle)
    path = Path(name)
    try:
        written = exports.export(page.session, kind, path, fmt=fmt, unmask=unmask)
        audit.record(
            page.session,
            page.auth,
            "data.exported",
            kind,
            None,
            after={"rows": written, "unmasked": unmask, "file": filename},
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    # The audit event commits with the request (before the response is sent); the file is removed
    # once it has been sent.
    return FileResponse(
        path,
        media_type=_CONTENT_TYPES[fmt],
        filename=filename,
        headers=_DOWNLOAD_HEADERS,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
