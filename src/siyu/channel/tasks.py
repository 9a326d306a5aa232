"""Channel jobs: ``channel.apply_callbacks`` applies the callbacks a workspace has received (queued by each
new receipt), ``channel.wecom_sync`` reads the corp into siyu (full the first time, then incremental;
``{"full": true}`` forces a full one)."""

from __future__ import annotations

import logging

from siyu.channel import callbacks, sending, sync
from siyu.channel.settings import OfficialAccountSettings, WeComSettings
from siyu.dispatch import channels
from siyu.errors import NotFound
from siyu.kit.db import transaction
from siyu.worker.registry import LongJob, PermanentJobError, long_task

SYNC_JOB = "channel.wecom_sync"
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
