"""The table of job handlers. A handler is registered once under a ``domain.verb`` name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class JobInfo:
    id: int
    name: str
    payload: dict[str, Any]
    workspace_id: int | None
    attempt: int


Handler = Callable[[Session, JobInfo], None]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    handler: Handler
    max_attempts: int | None


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (the job goes straight to dead)."""


_TASKS: dict[str, TaskSpec] = {}

# Modules whose import registers the built-in handlers. Later domains add their ``tasks`` module here.
BUILTIN_TASK_MODULES = ("siyu.worker.system_tasks",)


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


def get(name: str) -> TaskSpec | None:
    return _TASKS.get(name)


def names() -> list[str]:
    return sorted(_TASKS)


def load(plugins: list[str] | tuple[str, ...] = ()) -> None:
    """Import the built-in task modules and the configured plugins."""
    for module in (*BUILTIN_TASK_MODULES, *plugins):
        importlib.import_module(module)
