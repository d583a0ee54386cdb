"""The periodic tasks the app ships, for ``CELERY_BEAT_SCHEDULE``. Importable from settings (no models)."""

from __future__ import annotations

from typing import Any


def beat_schedule(
    *,
    sweep_every: float = 30.0,
    reconcile_every: float = 120.0,
    live_calls_every: float = 30.0,
    scrub_every: float = 3600.0,
) -> dict[str, dict[str, Any]]:
    """The periodic tasks the app needs; merge into ``CELERY_BEAT_SCHEDULE``.

    ``CELERY_BEAT_SCHEDULE = {**noojee_django.beat.beat_schedule(), ...}``

    - ``sweep_every``: how often recordings whose poll task was lost are sent again;
    - ``reconcile_every``: how often the PBX's hourly listing is read (the PBX allows one a minute);
    - ``live_calls_every``: without the listener, how often one snapshot of every extension with a
      call or recording going on ends the calls the PBX no longer lists (it does nothing while the
      listener runs);
    - ``scrub_every``: how often the integrity scrub reads back one ``NOOJEE['SCRUB_BYTES_PER_RUN']``
      of stored audio against the ledger. A full cycle over every object takes about
      ``total stored bytes / SCRUB_BYTES_PER_RUN`` runs: with the defaults (256 MiB an hour), 6 GiB of
      audio is read back every day.
    """
    return {
        "noojee-sweep-live-calls": {
            "task": "noojee_django.sweep_live_calls",
            "schedule": live_calls_every,
        },
        "noojee-sweep-due-recording-tags": {
            "task": "noojee_django.sweep_due_recording_tags",
            "schedule": sweep_every,
        },
        "noojee-reconcile-recent-recordings": {
            "task": "noojee_django.reconcile_recent_recordings",
            "schedule": reconcile_every,
        },
        "noojee-purge-expired-recordings": {
            "task": "noojee_django.purge_expired_recordings",
            "schedule": 3600.0,
        },
        "noojee-scrub-stored-audio": {
            "task": "noojee_django.scrub_stored_audio",
            "schedule": scrub_every,
        },
    }
