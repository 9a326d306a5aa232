"""The table of job handlers. A handler is registered once under a ``domain.verb`` name."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker


@dataclass(frozen=True)
class JobInfo:
    id: int
    name: str
    payload: dict[str, Any]
    workspace_id: int | None
    attempt: int


Handler = Callable[[Session, JobInfo], None]


@dataclass(frozen=True)
class LongJob:
    """What a long job's handler gets: no open transaction, but a session factory to commit its own
    chunks, the settings, and ``heartbeat()`` to call between chunks (it renews the lease and raises
    :class:`JobTakenOver` when another worker has the job)."""

    info: JobInfo
    factory: sessionmaker[Session]
    settings: Any
    heartbeat: Callable[[], None]


LongHandler = Callable[[LongJob], None]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    handler: Callable[..., None]
    max_attempts: int | None
    long: bool = False


class JobTakenOver(Exception):
    """The lease ran out and another worker took the job; the stale worker must stop."""


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (the job goes straight to dead)."""


_TASKS: dict[str, TaskSpec] = {}

# Modules whose import registers the built-in handlers. Later domains add their ``tasks`` module here.
BUILTIN_TASK_MODULES = (
    "siyu.worker.system_tasks",
    "siyu.transfer.tasks",
    "siyu.segment.tasks",
    "siyu.journey.tasks",
    "siyu.channel.tasks",
)


def task(name: str, *, max_attempts: int | None = None) -> Callable[[Handler], Handler]:
    """Register ``fn(session, job)`` as the handler of ``name``. Handlers must be idempotent: their
    database effects commit in the same transaction that marks the job done."""
    if "." not in name:
        raise ValueError("job names are 'domain.verb'")

    def register(fn: Handler) -> Handler:
        existing = _TASKS.get(name)
        if existing is not None and existing.handler is not fn:
            raise ValueError(f"job {name!r} is already registered")
        _TASKS[name] = TaskSpec(name, fn, max_attempts)
        return fn

    return register


def long_task(name: str, *, max_attempts: int | None = None) -> Callable[[LongHandler], LongHandler]:
    """Register a job too long for one transaction (a file import). The handler commits its own
    chunks and must be resumable: after a crash the job runs again and picks up where it stopped."""
    if "." not in name:
        raise ValueError("job names are 'domain.verb'")

    def register(fn: LongHandler) -> LongHandler:
        existing = _TASKS.get(name)
        if existing is not None and existing.handler is not fn:
            raise ValueError(f"job {name!r} is already registered")
        _TASKS[name] = TaskSpec(name, fn, max_attempts, long=True)
        return fn

    return register


# Loops a worker runs beside its queue, each in a thread of its own until the stop event is set:
# ``fn(settings, session_factory, stop)``. They must survive their own errors.
Loop = Callable[[Any, Any, threading.Event], None]
_LOOPS: dict[str, Loop] = {}


def loop(name: str) -> Callable[[Loop], Loop]:
    """Register a loop run beside the job queue by every worker (``siyu worker``, and the one in
    ``siyu serve``) — for work that cannot wait for the next poll of the queue."""

    def register(fn: Loop) -> Loop:
        _LOOPS[name] = fn
        return fn

    return register


def loops() -> dict[str, Loop]:
    return dict(_LOOPS)


def get(name: str) -> TaskSpec | None:
    return _TASKS.get(name)


def names() -> list[str]:
    return sorted(_TASKS)


def load(plugins: list[str] | tuple[str, ...] = ()) -> None:
    """Import the built-in task modules and the configured plugins."""
    for module in (*BUILTIN_TASK_MODULES, *plugins):
        importlib.import_module(module)
