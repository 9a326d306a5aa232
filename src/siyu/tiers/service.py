"""Reading the built-in tiers (distributions for charts, one contact's scores with their explanation,
lifecycle flows) and changing a workspace's tier settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.audit import service as audit
from siyu.auth.context import AuthContext
from siyu.errors import NotFound
from siyu.kit.db import WORKSPACE_KEY
from siyu.lake.jobs import request_refresh
from siyu.lake.store import Lake, first_row
from siyu.models import Workspace
from siyu.tiers.explain import explain_scores
from siyu.tiers.scores import day_number
from siyu.tiers.settings import TierSettings, parse_settings

MODEL_COLUMNS = {
    "rfm": "rfm_cell",
    "threshold": "threshold_tier",
    "lifecycle": "lifecycle_stage",
    "value": "value_tier",
    "activity": "activity_tier",
}


def _workspace(session: Session) -> Workspace:
    workspace = session.get(Workspace, session.info[WORKSPACE_KEY])
    assert workspace is not None
    return workspace


def settings_of(session: Session) -> TierSettings:
    return parse_settings(_workspace(session).tier_settings)


def put_settings(session: Session, ctx: AuthContext, raw: dict[str, Any]) -> TierSettings:
    workspace = _workspace(session)
    before = workspace.tier_settings
    settings = parse_settings(raw)
    workspace.tier_settings = settings.model_dump(mode="json")
    session.flush()
    audit.record(
        session, ctx, "tiers.settings_changed", "workspace", workspace.id, before=before, after=workspace.tier_settings
    )
    request_refresh(session, workspace.id, mode="full")
    return settings


def distribution(lake: Lake, workspace_id: int) -> dict[str, Any]:
    """How many live contacts each model puts where, plus the R × F grid with its mean M."""
    out: dict[str, Any] = {}
    with lake.read() as con:
        total_row = first_row(
            con.execute("SELECT count(*), max(as_of) FROM contact_scores WHERE workspace_id = ?", [workspace_id])
        )
        out["contacts"] = int(total_row[0]) if total_row else 0
        out["as_of"] = total_row[1].isoformat() if total_row and total_row[1] else None
        for model, column in MODEL_COLUMNS.items():
            rows = con.execute(
                f"SELECT {column}, count(*) FROM contact_scores WHERE workspace_id = ? GROUP BY 1 ORDER BY 1",  # noqa: S608
                [workspace_id],
            ).fetchall()
            out[model] = {("none" if k is None else str(k)): int(n) for k, n in rows}
        grid = con.execute(
            "SELECT r_score, f_score, count(*), avg(net_fen_in_window) FROM contact_scores "
            "WHERE workspace_id = ? AND r_score IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
            [workspace_id],
        ).fetchall()
        out["rfm_grid"] = [
            {"r": int(r), "f": int(f), "contacts": int(n), "mean_net_fen": round(float(m or 0))} for r, f, n, m in grid
        ]
        clv = first_row(
            con.execute(
                "SELECT count(clv_value_fen), avg(clv_value_fen), sum(clv_value_fen), avg(clv_p_alive) "
                "FROM contact_scores WHERE workspace_id = ?",
                [workspace_id],
            )
        )
        out["clv"] = {
            "predicted_contacts": int(clv[0]) if clv else 0,
            "mean_value_fen": None if not clv or clv[1] is None else round(float(clv[1])),
            "total_value_fen": None if not clv or clv[2] is None else round(float(clv[2])),
            "mean_p_alive": None if not clv or clv[3] is None else round(float(clv[3]), 4),
        }
    return out


def contact_scores(session: Session, lake: Lake, contact_id: int) -> dict[str, Any]:
    workspace = _workspace(session)
    settings = parse_settings(workspace.tier_settings)
    with lake.read() as con:
        cursor = con.execute(
            "SELECT s.*, c.created_day FROM contact_scores AS s JOIN contacts AS c "
            "ON c.workspace_id = s.workspace_id AND c.contact_id = s.contact_id "
            "WHERE s.workspace_id = ? AND s.contact_id = ?",
            [workspace.id, contact_id],
        )
        names = [d[0] for d in cursor.description] if cursor.description else []
        found = first_row(cursor)
        history = con.execute(
            "SELECT from_stage, to_stage, changed_at FROM lifecycle_history WHERE workspace_id = ? AND contact_id = ? "
            "ORDER BY changed_at",
            [workspace.id, contact_id],
        ).fetchall()
    if found is None:
        raise NotFound(f"no scores for contact {contact_id} yet (not in the analytics store, or never refreshed)")
    row = dict(zip(names, found, strict=True))
    today = day_number(row["as_of"])
    row["days_since_touch"] = None if row["last_touch_day"] is None else today - row["last_touch_day"]
    row["days_since_joined"] = today - row["created_day"]
    row["days_since_active"] = None if row["last_active_day"] is None else today - row["last_active_day"]
    return {
        "contact_id": contact_id,
        "as_of": row["as_of"].isoformat(),
        "scores": {k: _plain(v) for k, v in row.items() if k not in {"workspace_id"}},
        "explanation": explain_scores(row, settings),
        "lifecycle_history": [{"from": f, "to": t, "at": at.isoformat()} for f, t, at in history],
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def lifecycle_flows(lake: Lake, workspace_id: int, days: int = 90) -> dict[str, Any]:
    """Stage changes in the last ``days`` (counted per from → to), for a Sankey chart."""
    with lake.read() as con:
        latest = first_row(
            con.execute("SELECT max(changed_at) FROM lifecycle_history WHERE workspace_id = ?", [workspace_id])
        )
        if not latest or latest[0] is None:
            return {"since": None, "flows": []}
        since = latest[0] - timedelta(days=days)
        rows = con.execute(
            "SELECT from_stage, to_stage, count(*) FROM lifecycle_history WHERE workspace_id = ? AND changed_at >= ? "
            "AND from_stage IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC",
            [workspace_id, since],
        ).fetchall()
    return {"since": since.isoformat(), "flows": [{"from": f, "to": t, "contacts": int(n)} for f, t, n in rows]}
