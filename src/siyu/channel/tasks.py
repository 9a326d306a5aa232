"""Channel jobs: ``channel.apply_callbacks`` applies the callbacks a workspace has received (queued by each
new receipt), ``channel.wecom_sync`` reads the corp into siyu (full the first time, then incremental;
``{"full": true}`` forces a full one), ``channel.wecom_push_tags`` marks on WeCom the tags siyu changed
(every minute through ``channel.wecom_push_tags_all``)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channel import callbacks, sending, sync, tag_push
from siyu.channel.settings import OfficialAccountSettings, WeComSettings
from siyu.config import Settings
from siyu.dispatch import channels
from siyu.errors import NotFound
from siyu.kit.db import across_workspaces, transaction
from siyu.models import Workspace
from siyu.worker.queue import enqueue
from siyu.worker.registry import JobInfo, LongJob, PermanentJobError, long_task, task
from siyu.worker.scheduler import ensure_schedule

SYNC_JOB = "channel.wecom_sync"
PUSH_TAGS_JOB = "channel.wecom_push_tags"
PUSH_TAGS_ALL_JOB = "channel.wecom_push_tags_all"
log = logging.getLogger("siyu.channel")


def _settings(job: LongJob, name: str) -> object | None:
    assert job.info.workspace_id is not None
    with transaction(job.factory, workspace_id=job.info.workspace_id) as session:
        try:
            found: object = channels.settings_for(session, job.info.workspace_id, name)
            return found
        except NotFound:
            return None


@long_task(callbacks.APPLY_JOB, max_attempts=10)
def apply_callbacks(job: LongJob) -> None:
    if job.info.workspace_id is None:
        raise PermanentJobError("channel.apply_callbacks needs a workspace")
    wecom = _settings(job, "wecom")
    mp = _settings(job, "official_account")
    assert wecom is None or isinstance(wecom, WeComSettings)
    client = sending.client_for(wecom) if wecom is not None else None
    try:
        appid = mp.appid if isinstance(mp, OfficialAccountSettings) else None
        done = callbacks.apply_pending(job.factory, job.info.workspace_id, client, wecom, appid)
    finally:
        if client is not None:
            client.close()
    log.info("callbacks applied", extra={"applied": done})


@long_task(SYNC_JOB, max_attempts=5)
def wecom_sync(job: LongJob) -> None:
    if job.info.workspace_id is None:
        raise PermanentJobError("channel.wecom_sync needs a workspace")
    settings = _settings(job, "wecom")
    if not isinstance(settings, WeComSettings):
        raise PermanentJobError("the wecom channel is not set up in this workspace")
    client = sending.client_for(settings)
    try:
        full = job.info.payload.get("full")
        report = sync.sync(
            job.factory,
            job.info.workspace_id,
            settings,
            client,
            full=bool(full) if full is not None else None,
            progress=lambda stage, done: job.heartbeat(),
        )
    finally:
        client.close()
    log.info("wecom sync", extra={"report": report.__dict__})


@long_task(PUSH_TAGS_JOB, max_attempts=8)
def wecom_push_tags(job: LongJob) -> None:
    """Tags siyu put on or took off contacts, marked on WeCom (:mod:`siyu.channel.tag_push`)."""
    if job.info.workspace_id is None:
        raise PermanentJobError("channel.wecom_push_tags needs a workspace")
    settings = _settings(job, "wecom")
    if not isinstance(settings, WeComSettings):
        return  # WeCom was taken out since the job was queued
    client = sending.client_for(settings)
    try:
        report = tag_push.push_marks(job.factory, job.info.workspace_id, client)
    finally:
        client.close()
    log.info("wecom tags pushed", extra={"report": report.__dict__})


@task(PUSH_TAGS_ALL_JOB)
def wecom_push_tags_all(session: Session, job: JobInfo) -> None:
    """Queue ``channel.wecom_push_tags`` for every workspace with WeCom set up (once per due time)."""
    with across_workspaces(session):
        ids = [w.id for w in session.scalars(select(Workspace)) if (w.channels or {}).get("wecom")]
    for workspace_id in ids:
        enqueue(
            session, PUSH_TAGS_JOB, {}, workspace_id=workspace_id, dedup_key=f"{PUSH_TAGS_JOB}:{workspace_id}:{job.id}"
        )


def install_schedules(session: Session, settings: Settings) -> None:
    ensure_schedule(session, "channel.wecom_push_tags", "* * * * *", PUSH_TAGS_ALL_JOB, {})
