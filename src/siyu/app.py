"""The application factory: settings, database, middleware order, error rendering, routers, and the
in-process worker of the embedded default."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from siyu import __version__, problems
from siyu.audit.endpoints import router as audit_router
from siyu.auth.endpoints import router as auth_router
from siyu.board.endpoints import router as board_router
from siyu.channel.endpoints import callback_router
from siyu.channel.endpoints import router as channel_router
from siyu.config import Settings, load_settings
from siyu.console import STATIC_DIR
from siyu.console.routes import router as console_router
from siyu.contact.endpoints import router as contact_router
from siyu.dispatch.endpoints import router as channels_router
from siyu.ingestion.endpoints import router as ingestion_router
from siyu.journey.endpoints import router as journey_router
from siyu.kit.db import make_engine, make_sessionmaker
from siyu.lake.store import lake_for
from siyu.metrics.endpoints import router as metrics_router
from siyu.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from siyu.ops.endpoints import router as ops_router
from siyu.segment.endpoints import router as segment_router
from siyu.tag.endpoints import router as tag_router
from siyu.tiers.endpoints import router as tiers_router
from siyu.transfer.endpoints import router as transfer_router
from siyu.worker import queue, registry
from siyu.worker.endpoints import router as jobs_router
from siyu.worker.runner import Worker, start_in_thread
from siyu.workspace.endpoints import router as workspace_router

log = logging.getLogger("siyu.app")

# How `siyu serve` hands its settings (environment, config and command-line options) to the HTTP
# processes it starts: they are fresh interpreters that import :func:`serving_app`.
SERVING_SETTINGS_ENV = "SIYU_SERVING_SETTINGS"

# File uploads may be larger than other requests (SIYU_MAX_UPLOAD_BYTES).
UPLOAD_PATHS = ("/api/v1/imports", "/imports")

API_ROUTERS = (
    auth_router,
    workspace_router,
    audit_router,
    jobs_router,
    ingestion_router,
    contact_router,
    transfer_router,
    tag_router,
    segment_router,
    tiers_router,
    metrics_router,
    board_router,
    journey_router,
    channels_router,
    channel_router,
)

# Routes outside the API that callers reach without siyu credentials; each checks its request's signature.
SIGNED_ROUTERS = (callback_router,)


def create_app(settings: Settings | None = None, *, start_worker: bool | None = None) -> FastAPI:
    settings = settings or load_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    factory = make_sessionmaker(engine)
    queue.install_listeners(factory)
    registry.load(settings.plugins)
    run_worker = settings.run_worker_in_process if start_worker is None else start_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if run_worker:
            worker = Worker(settings, factory, name="in-process")
            start_in_thread(worker)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            engine.dispose()

    app = FastAPI(
        title="siyu API",
        version=__version__,
        description="私域 — private-domain customer operations. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = factory
    app.state.lake = lake_for(settings)

    problems.install(app)
    for router in (ops_router, *SIGNED_ROUTERS, *API_ROUTERS, console_router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Outermost first at request time: request context (ids, logs, 500s), then the size limit.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        upload_paths=UPLOAD_PATHS,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(RequestContextMiddleware)
    return app


def tune_runtime() -> None:
    """Interpreter settings for a serving process.

    Long-lived objects (app, ORM, schemas) move out of the collector's reach, and young-generation
    collections run less often: batch ingestion keeps thousands of records alive per request, and with
    default thresholds full collections re-scanned the whole heap several times per batch (measured:
    9 ms of 32 ms per 1,000 events).

    Threads switch every 0.5 ms instead of 5 ms: a request that holds SQLite's writer lock gives up the
    GIL at every statement and, with the default interval, could wait up to 5 ms to get it back from a
    thread that is parsing the next batch, keeping every other writer waiting too."""
    import gc
    import sys

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    sys.setswitchinterval(0.0005)


def serving_app() -> FastAPI:
    """The app of one HTTP process started by ``siyu serve`` when it runs several (uvicorn imports
    this factory in each). The job worker runs in the supervising process, not here."""
    import os

    from siyu.kit.logging import configure_logging

    settings = Settings.model_validate_json(os.environ[SERVING_SETTINGS_ENV])
    configure_logging(settings.log_level, settings.log_format.value)
    app = create_app(settings, start_worker=False)
    tune_runtime()
    return app
