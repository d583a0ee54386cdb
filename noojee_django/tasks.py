"""Celery tasks: thin wrappers that run one service each, safe to run twice.

Every task is ``acks_late`` (a worker lost mid-task leaves the message for another worker) and
idempotent through the services' compare-and-set updates, so a redelivery changes nothing that was
already done. Retries with backoff are scheduled by the services themselves, because they know whether
a failure means "not ready yet", "gone" or "broken".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

from . import connections, services

TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(name="noojee_django.poll_recording_tag", **TASK_OPTIONS)
def poll_recording_tag(recording_tag_id: int) -> str:
    return services.poll_tag(recording_tag_id, fetch_inline=True).outcome


@shared_task(name="noojee_django.fetch_recording_leg", **TASK_OPTIONS)
def fetch_recording_leg(recording_leg_id: int) -> str:
    return services.fetch_leg(recording_leg_id).outcome


@shared_task(name="noojee_django.sweep_due_recording_tags", **TASK_OPTIONS)
def sweep_due_recording_tags() -> int:
    """Send the polls whose tasks were lost, and resume the pauses whose resume task was lost."""
    services.resume_overdue_pauses()
    return services.sweep_due_tags()


@shared_task(name="noojee_django.resume_paused_recording", **TASK_OPTIONS)
def resume_paused_recording(pause_id: int) -> bool:
    return services.resume_paused(pause_id)


def _each_connection(task: Any, connection: str | None) -> list[str]:
    """The connections this run serves: the one named; else, with one PBX, that one; else none here,
    and one task is sent per connection, so a slow or unreachable PBX holds up only its own."""
    if connection is not None:
        return [connection]
    names = connections.names()
    if len(names) == 1:
        return names
    for name in names:
        task.apply_async(kwargs={"connection": name})
    return []


@shared_task(name="noojee_django.sweep_live_calls", **TASK_OPTIONS)
def sweep_live_calls(connection: str | None = None) -> int:
    return sum(
        services.sweep_live_calls(connection=name) for name in _each_connection(sweep_live_calls, connection)
    )


@shared_task(name="noojee_django.purge_expired_recordings", **TASK_OPTIONS)
def purge_expired_recordings() -> int:
    return services.purge_expired_audio()


@shared_task(name="noojee_django.reconcile_recent_recordings", bind=True, max_retries=2, **TASK_OPTIONS)
def reconcile_recent_recordings(self: Any, connection: str | None = None) -> int:
    """List the legs of the PBX hour that just ended (or is ending), on each PBX connection.

    Each PBX allows one ``retrieveMetaDataByHour`` a minute, across all workers and commands. When the
    shared slot is taken, the task is sent again for when it frees (a running ``noojee_backfill`` lets
    it go first) instead of holding a worker; after two tries the next beat tries again. With several
    connections, each is reconciled by a task of its own.
    """
    names = _each_connection(reconcile_recent_recordings, connection)
    if not names:
        return 0
    (name,) = names
    retry_in = services.hour_listing_slot_or_wait(name)
    if retry_in is not None:
        if self.request.retries >= self.max_retries:
            return 0
        raise self.retry(countdown=retry_in, kwargs={"connection": name})
    moment = services.current_pbx_hour(timezone.now() - dt.timedelta(minutes=5), name)
    return services.reconcile_hour(moment.date(), moment.hour, name)


#: A scrub run longer than this is taken for lost, and the next one may start.
SCRUB_LOCK_SECONDS = 3600


@shared_task(name="noojee_django.scrub_stored_audio", **TASK_OPTIONS)
def scrub_stored_audio() -> int:
    """Read back one byte budget's worth of stored audio against the ledger; flags, never deletes.

    One run at a time across workers (a cache key), so overlapping beats do not double the reads.
    """
    if not cache.add("noojee_django:scrub-lock", 1, timeout=SCRUB_LOCK_SECONDS):
        return 0
    try:
        return services.scrub_stored_audio().objects
    finally:
        cache.delete("noojee_django:scrub-lock")
