"""Every runtime setting of siyu, read once from the environment (prefix ``SIYU_``).

Each field's ``description`` is its documentation: ``docs/settings.md`` is generated from this class and a
test fails when the two disagree.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIYU_", env_file=None, extra="ignore")

    data_dir: Path = Field(
        default=Path("./siyu-data"),
        description="Folder of the embedded default: the SQLite database, DuckDB files, uploads and exports.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the operational store, e.g. `postgresql+psycopg://user@host/db`. "
            "Empty means the embedded SQLite file `<data_dir>/siyu.db`."
        ),
    )
    secret_key: str = Field(
        default="change-me-in-production",
        description="Secret used to sign console cookies. Set a long random value in production.",
        min_length=8,
    )
    host: str = Field(default="127.0.0.1", description="Address `siyu serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `siyu serve` listens on.")
    web_processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Processes `siyu serve` answers HTTP with. 0 means one per CPU core, at most 4. "
        "Each has its own interpreter, so request handling (parsing, validation) runs in parallel "
        "while the database serialises writes.",
    )
    log_level: str = Field(default="INFO", description="Python log level: DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field(
        default=LogFormat.text, description="`text` for people, `json` for one JSON object per line."
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted, in bytes; larger bodies get 413.",
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Largest file accepted by the import upload (API and console), in bytes.",
    )
    session_ttl_hours: int = Field(
        default=12, ge=1, description="How long a console login lasts without activity, in hours."
    )
    cookie_secure: bool = Field(default=False, description="Mark console cookies `Secure` (set to true behind HTTPS).")
    default_locale: str = Field(
        default="zh_CN", description="Console language when the operator has not chosen one: `zh_CN` or `en`."
    )
    run_worker_in_process: bool = Field(
        default=True,
        description="`siyu serve` also runs one job worker thread (the embedded default). "
        "Set false when separate `siyu worker` processes run the queue.",
    )
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often an idle worker looks for due jobs, in seconds."
    )
    job_lease_seconds: int = Field(
        default=60,
        ge=1,
        description="Seconds after which a job claimed by a worker that died is taken over by another. "
        "A live worker keeps its job locked however long it runs.",
    )
    job_max_attempts: int = Field(
        default=8, ge=1, description="Attempts before a failing job is moved to the dead-letter state."
    )
    job_backoff_seconds: float = Field(
        default=2.0, gt=0, description="First retry delay; each further retry doubles it (with jitter)."
    )
    job_backoff_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest delay between two attempts of a job, in seconds."
    )
    job_retention_days: int = Field(
        default=14, ge=1, description="Finished jobs and ended console sessions are purged after this many days."
    )
    lake_path: Path | None = Field(
        default=None,
        description="DuckDB file of the analytics store. Empty means `<data_dir>/analytics.duckdb`.",
    )
    lake_memory_limit: str = Field(
        default="2GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Most memory DuckDB may use for analytics work (e.g. `2GB`); larger work spills to disk.",
    )
    lake_threads: int = Field(
        default=0, ge=0, le=256, description="Threads DuckDB uses for analytics work. 0 means one per CPU core."
    )
    lake_wait_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a process waits for the analytics store while another process holds it "
        "(a refresh) before answering 503 `analytics_busy`.",
    )
    journeys_tick_cron: str = Field(
        default="* * * * *",
        description="When journeys step (UTC cron): event triggers, due steps and due messages of every "
        "workspace with an active journey.",
    )
    journeys_react_seconds: float = Field(
        default=0.25,
        ge=0,
        le=60,
        description="How often a worker looks for new events and due steps between journey ticks, in "
        "seconds: a triggering event reaches the ledger within about this long. 0: only the ticks.",
    )
    analytics_refresh_cron: str = Field(
        default="*/10 * * * *",
        description="When the incremental analytics refresh runs (UTC cron): copies new data, rescores the "
        "contacts it touched and updates their tags and segments.",
    )
    analytics_full_refresh_cron: str = Field(
        default="40 19 * * *",
        description="When the full analytics refresh runs (UTC cron; the default is 03:40 in Asia/Shanghai): "
        "rescores every contact as of now, so windows such as 'the last 30 days' move on.",
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="Extra Python modules imported at start-up; they may register jobs and, later, channels. "
        'JSON list, e.g. `["mybrand.siyu_plugin"]`.',
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in {"zh_CN", "en"}:
            raise ValueError("must be zh_CN or en")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'siyu.db').resolve()}"

    @property
    def analytics_path(self) -> Path:
        return self.lake_path or self.data_dir / "analytics.duckdb"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")


def serving_processes(settings: Settings) -> int:
    """How many HTTP processes ``siyu serve`` starts (``web_processes``, 0 = one per core, at most 4)."""
    if settings.web_processes:
        return settings.web_processes
    return max(1, min(4, os.cpu_count() or 1))


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
