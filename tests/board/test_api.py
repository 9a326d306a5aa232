"""The board API on both databases, on the hand-computed workspace of fixture.py: every KPI, the previous
period and the health status; each KPI equal to the metrics library's figure for the same filters; the
health check; thresholds per workspace; chart tables as JSON, CSV and XLSX; bad input refused."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from siyu.auth.permissions import Permission
from siyu.filters.context import local_now
from siyu.kit.db import transaction
from siyu.models import Contact
from siyu.segment.flows import refresh_workspace
from tests.board.fixture import EXPECTED, RANGE, build, noon
from tests.contact.factories import add_event, add_order, create_contact
from tests.factories import create_token, create_workspace


class Board:
    def __init__(self, client: TestClient, app: FastAPI, factory: sessionmaker[Session]) -> None:
        self.client = client
        self.ws = create_workspace(factory).id
        self.ids = build(factory, self.ws)
        token = create_token(factory, self.ws, [Permission.analytics_read, Permission.segments_manage])
        self.headers = {"Authorization": f"Bearer {token}"}
        refresh_workspace(factory, app.state.lake, self.ws, mode="full")

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, headers=self.headers, params={**RANGE, **params})

    def kpis(self, **params: Any) -> dict[str, dict[str, Any]]:
        response = self.get("/api/v1/board", **params)
        assert response.status_code == 200, response.text
        return {k["id"]: k for k in response.json()["kpis"]}


@pytest.fixture
def board(client: TestClient, app: FastAPI, session_factory: sessionmaker[Session]) -> Board:
    return Board(client, app, session_factory)


def test_every_kpi_equals_the_hand_computed_figure(board: Board) -> None:
    response = board.get("/api/v1/board")
    body = response.json()
    assert body["previous"] == {"start": "2026-09-01", "end": "2026-09-30"}
    kpis = {k["id"]: k for k in body["kpis"]}
    assert set(kpis) == set(EXPECTED)
    for kpi, (value, previous, status) in EXPECTED.items():
        assert (kpis[kpi]["value"], kpis[kpi]["previous"], kpis[kpi]["status"]) == (value, previous, status), kpi
    assert kpis["gmv"]["change"] == 1.0  # relative
    assert (kpis["open_rate"]["change"], kpis["open_rate"]["change_kind"]) == (0.0417, "points")
    assert kpis["retention_7d"]["threshold"] == {"good": 0.4, "warn": 0.3, "direction": "higher"}
    daily = {p["period"]: p["value"] for p in kpis["new_contacts"]["trend"]}
    assert daily == {"2026-10-01": 2, "2026-10-02": 1, "2026-10-03": 1, "2026-10-10": 1, "2026-10-20": 1}
    assert [p["value"] for p in kpis["gmv"]["trend"]] == [10_000, 30_000, 20_000, 40_000]


def test_each_kpi_is_the_metrics_librarys_figure_for_the_same_filters(board: Board) -> None:
    douyin = board.kpis(source="douyin")

    def metric(body: dict[str, Any]) -> dict[str, Any]:
        response = board.client.post(
            "/api/v1/metrics", json={**body, **RANGE, "source": "douyin"}, headers=board.headers
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    (commerce,) = metric({"kind": "commerce", "period": "total"})["rows"]
    assert douyin["gmv"]["value"] == commerce["gmv_fen"] == 70_000  # A and E
    assert douyin["aov"]["value"] == commerce["aov_fen"]
    assert douyin["arpu"]["value"] == commerce["arpu_fen"]
    assert douyin["open_rate"]["value"] == metric({"kind": "messages"})["total"]["open_rate"] == 0.25  # A of A B ×2
    assert douyin["retention_7d"]["value"] == metric({"kind": "retention_7d"})["rate"]
    assert douyin["repurchase_30d"]["value"] == metric({"kind": "repurchase_30d"})["rate"] == 0.5
    assert douyin["speaker_ratio"]["value"] == metric({"kind": "groups"})["speaker_ratio"] == 0.5
    new = metric({"kind": "new_contacts"})["rows"]
    assert douyin["new_contacts"]["basis"]["total"] == sum(r["contacts"] for r in new) == 3


def test_a_recent_range_reads_the_latest_matured_cohorts(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    """The default range ends yesterday, when a 30-day cohort of those days has no outcome yet: the cohort
    KPIs read the latest 30 days whose outcome is known (and say which), the previous period the 30 before."""
    ws = create_workspace(session_factory).id
    headers = {"Authorization": f"Bearer {create_token(session_factory, ws, [Permission.analytics_read])}"}
    zone = ZoneInfo("Asia/Shanghai")  # the workspace's timezone
    today = local_now(zone.key).date()

    def ago(days: int) -> datetime:
        return datetime.combine(today - timedelta(days=days), time(12), zone)

    with transaction(session_factory, workspace_id=ws) as session:
        for i, (joined, orders) in enumerate(
            (
                (45, (45, 40)),  # first order 45 days ago, again on day 5: repurchased
                (44, (44,)),  # never again
                (70, (70,)),  # the previous cohort (60–89 days ago): never again
                (5, (5, 3)),  # too young: its 30 days are not over
            )
        ):
            contact = create_contact(session, identities={"phone": f"1390000{i:04d}"}, created_at=ago(joined))
            for n, day in enumerate(orders):
                add_order(session, contact, f"R-{i}-{n}", 10_000, ago(day))
    refresh_workspace(session_factory, app.state.lake, ws, mode="full")
    response = client.get("/api/v1/board", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["end"] == (today - timedelta(days=1)).isoformat()
    kpis = {k["id"]: k for k in body["kpis"]}
    repurchase = kpis["repurchase_30d"]
    assert repurchase["basis"]["cohort_start"] == (today - timedelta(days=59)).isoformat()
    assert repurchase["basis"]["cohort_end"] == (today - timedelta(days=30)).isoformat()
    assert (repurchase["value"], repurchase["basis"]["cohort"], repurchase["previous"]) == (0.5, 2, 0.0)
    seven = kpis["retention_7d"]["basis"]
    assert (seven["cohort_start"], seven["cohort_end"]) == (
        (today - timedelta(days=36)).isoformat(),
        (today - timedelta(days=7)).isoformat(),
    )
    cohort = {"start": repurchase["basis"]["cohort_start"], "end": repurchase["basis"]["cohort_end"]}
    found = client.post("/api/v1/metrics", json={"kind": "repurchase_30d", **cohort}, headers=headers)
    assert found.status_code == 200, found.text
    assert found.json()["rate"] == repurchase["value"]


def test_the_health_check_lists_what_to_fix_with_the_seeds_reasons(board: Board) -> None:
    response = board.get("/api/v1/board/health")
    assert response.status_code == 200, response.text
    body = response.json()
    found = {f["kpi"]: f for f in body["findings"]}
    assert set(found) == {"new_contacts", "group_messages", "retention_30d"}
    assert found["retention_30d"]["seed"] == "003"
    assert "20%" in found["retention_30d"]["reason"]
    assert found["retention_30d"]["link"] == "/journeys"
    assert found["new_contacts"]["link"] == "/wecom"
    assert set(body["passing"]) == {"open_rate", "promotion_open_rate", "gmv_growth", "retention_7d", "repurchase_30d"}
    assert body["score"] == 62  # 5 of 8


def test_thresholds_are_kept_per_workspace_and_bad_ones_are_refused(board: Board) -> None:
    settings = board.client.get("/api/v1/board/settings", headers=board.headers).json()
    assert settings["thresholds"]["open_rate"] == {"good": 0.15, "warn": 0.1, "direction": "higher"}
    put = board.client.put(
        "/api/v1/board/settings",
        json={
            "thresholds": {
                "open_rate": {"good": 0.5, "warn": 0.3},
                "deletions": {"good": 0.01, "warn": 0.05, "direction": "lower"},
            }
        },
        headers=board.headers,
    )
    assert put.status_code == 200, put.text
    kpis = board.kpis()
    assert kpis["open_rate"]["status"] == "amber"  # 0.375 between 0.3 and 0.5
    assert kpis["deletions"]["status"] == "amber"  # 0.03 between 0.01 and 0.05, lower is better
    assert kpis["retention_7d"]["threshold"]["good"] == 0.4  # left out: the default stays
    for bad, field in (
        ({"thresholds": {"open_rate": {"good": 0.1, "warn": 0.3}}}, "thresholds.open_rate"),
        ({"thresholds": {"nps": {"good": 1, "warn": 1}}}, "thresholds.nps"),
        ({"thresholds": {"gmv": {"good": -1, "warn": -2}}}, "thresholds.gmv.good"),
        ({"promotion_content_types": []}, "promotion_content_types"),
        ({"colour": "red"}, "colour"),
    ):
        refused = board.client.put("/api/v1/board/settings", json=bad, headers=board.headers)
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == field, refused.json()
    assert board.kpis()["open_rate"]["status"] == "amber"  # nothing of the refused changes was kept


def test_chart_tables_download_as_csv_and_xlsx_equal_to_the_json(board: Board) -> None:
    for name in ("traffic", "acquisition_source", "acquisition_code", "engagement", "content", "groups",
                 "touchpoints", "commerce", "cohorts", "funnel", "journeys"):  # fmt: skip
        table = board.get(f"/api/v1/board/charts/{name}").json()
        as_csv = board.get(f"/api/v1/board/charts/{name}", format="csv")
        assert as_csv.status_code == 200, name
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert f"siyu-{name}-2026-10-01-2026-10-30.csv" in as_csv.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert rows[0] == table["columns"], name
        assert rows[1:] == [["" if v is None else str(v) for v in row] for row in table["rows"]], name
        as_xlsx = board.get(f"/api/v1/board/charts/{name}", format="xlsx")
        sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
        assert sheet is not None
        cells = [["" if v is None else v for v in r] for r in sheet.iter_rows(values_only=True)]
        assert cells[0] == table["columns"]
        assert cells[1:] == [["" if v is None else v for v in r] for r in table["rows"]], name  # blank = None
    touch = {r[0]: r[1:] for r in board.get("/api/v1/board/charts/touchpoints").json()["rows"]}
    assert touch["group_participation"] == [2, 3, 0.666667]
    assert touch["one_to_one_response"] == [0, 8, 0.0]
    funnel = board.get("/api/v1/board/charts/funnel").json()["rows"]
    assert [r[2] for r in funnel] == [6, 3, 0, 0]  # joined; A C D interacted; no order_paid events here
    content = board.get("/api/v1/board/charts/content").json()
    assert [(r[0], r[4], r[5]) for r in content["rows"]] == [("b1", 4, 2), ("t1", 4, 1)]
    source = board.get("/api/v1/board/charts/acquisition_source").json()["rows"]
    assert source == [["douyin", 3], ["mp", 2], ["store", 1]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-10-30", "end": "2026-10-01"}, "end"),
        ({"start": "2025-01-01", "end": "2026-10-01"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"segment_id": "0"}, "segment_id"),
        ({"funnel_steps": "joined,Not An Event"}, "funnel_steps"),
    ],
)
def test_bad_filters_are_refused_with_the_field(board: Board, params: dict[str, str], field: str) -> None:
    response = board.get("/api/v1/board/charts/funnel", **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in str(response.json()), response.json()


def test_an_unknown_chart_is_not_found_and_the_board_needs_analytics_read(board: Board) -> None:
    assert board.get("/api/v1/board/charts/weather").status_code == 404
    assert board.client.get("/api/v1/board").status_code == 401


def test_a_late_open_and_a_group_leave_reach_the_board_through_an_incremental_sync(
    board: Board, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    assert board.kpis()["open_rate"]["value"] == 0.375
    with transaction(session_factory, workspace_id=board.ws) as session:
        contact = session.get(Contact, board.ids["B"])
        assert contact is not None
        add_event(session, contact, "message_opened", noon(10, 7), properties={"content_id": "t1"})  # 1 day late
        add_event(session, contact, "message_received", noon(10, 7, 5), properties={"channel": "wecom"})
        speaker = session.get(Contact, board.ids["C"])
        assert speaker is not None
        add_event(session, speaker, "group_left", noon(10, 20), properties={"group_id": "g1"})
    refresh_workspace(session_factory, app.state.lake, board.ws, mode="incremental")
    assert board.kpis()["open_rate"]["value"] == 0.5  # 4 of 8: the send's row was rebuilt with its first open
    touch = {r[0]: r[1:] for r in board.get("/api/v1/board/charts/touchpoints").json()["rows"]}
    assert touch["one_to_one_response"] == [1, 8, 0.125]  # B answered t1 within 48 h (b1 was 50 h before)
    assert board.kpis()["speaker_ratio"]["value"] == 0.5  # C left: of A and B, only A spoke
