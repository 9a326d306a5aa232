from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from siyu import __version__
from siyu.migrations import current_revision, head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="Readiness: the database answers and its schema is current")
def readyz(request: Request) -> JSONResponse:
    engine = request.app.state.engine
    checks: dict[str, Any] = {}
    ready = True
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = current_revision(engine), head_revision()
        checks["schema"] = "ok" if current == head else f"at {current}, expected {head}: run `siyu migrate`"
        ready = current == head
    except Exception as exc:  # noqa: BLE001 - any failure means not ready, and says why
        checks["database"] = f"unreachable: {type(exc).__name__}"
        ready = False
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)
