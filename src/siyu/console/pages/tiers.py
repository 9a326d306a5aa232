"""Tiers (分层看板): the built-in models at a glance — the RFM grid and its eight cells, the threshold,
value and activity tiers, lifecycle stages and how contacts moved between them, predicted value (CLV) —
and the workspace's tier settings.

Reading needs ``analytics:read``; changing the settings and queueing a full refresh need
``segments:manage``. Everything is read from the analytics store, which may be busy or never refreshed.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from fastapi import Depends, Form, Query, Response
from fastapi.responses import RedirectResponse

from siyu.auth.permissions import Permission
from siyu.console import definition_problems, vocabulary
from siyu.console.access import Page, PageAccess
from siyu.console.definition_problems import NodeProblem
from siyu.console.i18n import N_
from siyu.console.rendering import console_router, render
from siyu.console.vocabulary import (
    LIFECYCLE_COLOURS,
    LIFECYCLE_LABELS,
    RFM_CELL_LABELS,
    TIER_COLOURS,
    TIER_LABELS,
    TIER_MODEL_LABELS,
    yuan,
)
from siyu.errors import InvalidInput
from siyu.kit.inputs import NO_NUL
from siyu.lake.jobs import request_refresh
from siyu.lake.store import Lake
from siyu.tiers import service

router = console_router()
P = Permission

TiersReader = Annotated[Page, Depends(PageAccess(P.analytics_read, form=False))]
TiersManager = Annotated[Page, Depends(PageAccess(P.segments_manage, form=True))]

FLOW_DAYS = 90
SETTINGS_MAX = 100_000

NOTICES: Final = {
    "refresh_queued": N_("A full refresh is queued: every contact is scored again in a moment."),
    "settings_saved": N_("Tier settings saved. A full refresh is queued to score every contact with them."),
}

RFM_COLOURS: Final = {
    "重要价值": "#0f766e",
    "重要发展": "#14b8a6",
    "重要保持": "#3b82f6",
    "重要挽留": "#a855f7",
    "一般价值": "#10b981",
    "一般发展": "#f59e0b",
    "一般保持": "#60a5fa",
    "一般挽留": "#94a3b8",
}
NONE_COLOUR = "#cbd5e1"


def _lake(page: Page) -> Lake:
    lake: Lake = page.request.app.state.lake
    return lake


def _labelled(page: Page, counts: dict[str, int], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Counts in the labels' order (every label, zeros included), then anything else the store holds."""
    rows = [{"key": k, "label": page.gettext(v), "contacts": counts.get(k, 0)} for k, v in labels.items()]
    for key, n in counts.items():
        if key not in labels:
            label = page.gettext(N_("No order in the RFM window")) if key == "none" else key
            rows.append({"key": key, "label": label, "contacts": n})
    return rows


def _bars(rows: list[dict[str, Any]], colours: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "bar",
        "categories": [r["label"] for r in rows],
        "values": [r["contacts"] for r in rows],
        "colors": [colours.get(r["key"], NONE_COLOUR) for r in rows],
    }


def rfm_grid(page: Page, grid: list[dict[str, Any]]) -> dict[str, Any]:
    """The R × F heatmap: colour = contacts, tooltip = mean net spend in yuan (all 25 cells)."""
    cells = {(int(c["r"]), int(c["f"])): c for c in grid}
    points: list[dict[str, Any]] = []
    for r in range(1, 6):
        for f in range(1, 6):
            cell = cells.get((r, f))
            contacts = int(cell["contacts"]) if cell else 0
            mean = yuan(int(cell["mean_net_fen"])) if cell else "—"
            points.append({"r": r, "f": f, "contacts": contacts, "mean": mean})
    return {
        "type": "heatmap",
        "x": [f"F{f}" for f in range(1, 6)],
        "y": [f"R{r}" for r in range(1, 6)],
        "x_name": page.gettext(N_("F: frequency")),
        "y_name": page.gettext(N_("R: recency")),
        "points": [[p["f"] - 1, p["r"] - 1, p["contacts"], p["mean"]] for p in points],
        "max": max([p["contacts"] for p in points] + [1]),
        "labels": {
            "contacts": page.gettext(N_("Contacts")),
            "mean": page.gettext(N_("Mean net spend")),
        },
        "table": [
            [next(p for p in points if p["r"] == r and p["f"] == f) for f in range(1, 6)] for r in range(5, 0, -1)
        ],
    }


def lifecycle_sankey(page: Page, flows: dict[str, Any]) -> dict[str, Any] | None:
    """Stage changes as a Sankey: a column of stages before and one after (so that a → b and b → a do
    not make a cycle, which a Sankey cannot draw)."""
    links = [f for f in flows.get("flows", []) if f.get("from") and f.get("to")]
    if not links:
        return None
    names = {k: page.gettext(v) for k, v in LIFECYCLE_LABELS.items()}
    used_from = sorted({f["from"] for f in links}, key=lambda s: list(LIFECYCLE_LABELS).index(s) if s in names else 99)
    used_to = sorted({f["to"] for f in links}, key=lambda s: list(LIFECYCLE_LABELS).index(s) if s in names else 99)
    return {
        "type": "sankey",
        "nodes": [
            {"name": f"from:{s}", "label": names.get(s, s), "color": LIFECYCLE_COLOURS.get(s, NONE_COLOUR)}
            for s in used_from
        ]
        + [
            {"name": f"to:{s}", "label": names.get(s, s), "color": LIFECYCLE_COLOURS.get(s, NONE_COLOUR)}
            for s in used_to
        ],
        "links": [
            {"source": f"from:{f['from']}", "target": f"to:{f['to']}", "value": int(f["contacts"])} for f in links
        ],
        "rows": [
            {"from": names.get(f["from"], f["from"]), "to": names.get(f["to"], f["to"]), "contacts": int(f["contacts"])}
            for f in links
        ],
    }


def _clv(distribution: dict[str, Any]) -> dict[str, Any]:
    clv = distribution.get("clv") or {}
    p_alive = clv.get("mean_p_alive")
    return {
        "predicted": clv.get("predicted_contacts", 0),
        "mean": yuan(clv.get("mean_value_fen")),
        "total": yuan(clv.get("total_value_fen")),
        "p_alive": "—" if p_alive is None else f"{float(p_alive):.1%}",
    }


def _tiers_page(
    page: Page,
    *,
    notice: str | None = None,
    settings_text: str | None = None,
    settings_problems: list[NodeProblem] | None = None,
    status_code: int = 200,
) -> Response:
    unavailable: list[str] = []
    distribution: dict[str, Any] | None = None
    flows: dict[str, Any] = {"since": None, "flows": []}
    with vocabulary.analytics(page, unavailable):
        distribution = service.distribution(_lake(page), page.workspace.id)
        flows = service.lifecycle_flows(_lake(page), page.workspace.id, FLOW_DAYS)
    context: dict[str, Any] = {"distribution": distribution, "unavailable": unavailable}
    if distribution is not None:
        rfm_rows = _labelled(page, distribution.get("rfm", {}), RFM_CELL_LABELS)
        models = {}
        for model in ("threshold", "value", "activity"):
            rows = _labelled(page, distribution.get(model, {}), TIER_LABELS[model])
            models[model] = {"label": TIER_MODEL_LABELS[model], "rows": rows, "chart": _bars(rows, TIER_COLOURS)}
        lifecycle_rows = _labelled(page, distribution.get("lifecycle", {}), LIFECYCLE_LABELS)
        context.update(
            refreshed=bool(distribution.get("as_of")),
            as_of=(distribution.get("as_of") or "")[:16].replace("T", " "),
            contacts=distribution.get("contacts", 0),
            grid=rfm_grid(page, distribution.get("rfm_grid", [])),
            rfm_rows=rfm_rows,
            rfm_chart={
                "type": "pie",
                "items": [
                    {"name": r["label"], "value": r["contacts"], "color": RFM_COLOURS.get(r["key"], NONE_COLOUR)}
                    for r in rfm_rows
                    if r["contacts"]
                ],
            },
            models=models,
            lifecycle_rows=lifecycle_rows,
            lifecycle_chart=_bars(lifecycle_rows, LIFECYCLE_COLOURS),
            sankey=lifecycle_sankey(page, flows),
            flows_since=(flows.get("since") or "")[:10],
            clv=_clv(distribution),
        )
    current = service.settings_of(page.session).model_dump(mode="json")
    return render(
        page,
        "tiers.html",
        status_code,
        flow_days=FLOW_DAYS,
        can_manage=page.can(P.segments_manage),
        settings_text=settings_text if settings_text is not None else json.dumps(current, ensure_ascii=False, indent=2),
        settings_problems=settings_problems or [],
        notice=NOTICES.get(notice or ""),
        **context,
    )


@router.get("/tiers")
def tiers(page: TiersReader, notice: Annotated[str, Query(max_length=32)] = "") -> Response:
    return _tiers_page(page, notice=notice)


@router.post("/tiers/refresh")
def refresh(page: TiersManager) -> Response:
    request_refresh(page.session, page.workspace.id, mode="full")
    return RedirectResponse("/tiers?notice=refresh_queued", status_code=303)


@router.post("/tiers/settings")
def save_settings(page: TiersManager, settings: Annotated[str, Form(max_length=SETTINGS_MAX), NO_NUL] = "") -> Response:
    raw, problems = definition_problems.parse_json_object(page, settings)
    if raw is None:
        return _tiers_page(page, settings_text=settings, settings_problems=problems, status_code=422)
    try:
        service.put_settings(page.session, page.auth, raw)
    except InvalidInput as exc:
        page.discard_changes()
        problems = [
            NodeProblem(
                p.field.removeprefix("settings.").removeprefix("settings"),
                definition_problems.reason_text(page, p.reason),
            )
            for p in (exc.errors or [])
        ] or [NodeProblem("", exc.detail)]
        return _tiers_page(page, settings_text=settings, settings_problems=problems, status_code=exc.status)
    return RedirectResponse("/tiers?notice=settings_saved", status_code=303)
