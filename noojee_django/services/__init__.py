"""Every use case of the app, written once, one module per idea.

Views, admin actions, the REST API, Celery tasks and management commands all call these functions and
nothing else to change state or talk to the PBX. Each one validates its input, checks permissions where
a user is involved, and raises a clear error (``ValidationError``, ``NoojeePermissionDenied``, or a
:class:`~noojee_django.exceptions.NoojeeServiceError`). Functions a retry can reach are idempotent.
Every status change goes through :func:`noojee_django.lifecycle.transition`; every stored object
through :mod:`noojee_django.ledger`.

No database transaction is held open across a request to the PBX: a slow PBX must not lock rows.

- :mod:`.calls` — dial, hang up, answer; call state from the listener, snapshots, the live-call sweep
- :mod:`.recording` — start, stop, watch a tag recorded elsewhere
- :mod:`.collecting` — find a recording's legs (poll, reconcile, sweep), operator "poll again"
- :mod:`.fetching` — download legs, join the signature, operator "fetch again"
- :mod:`.retention` — purge, legal hold, restore
- :mod:`.access` — who may hear, the listening log, attach to another record
- :mod:`.integrity` — the logs' hash chains verified, stored audio read back against the ledger
"""

from __future__ import annotations

from .access import (
    attach_to,
    check_may_attach,
    check_may_hear,
    may_view,
    record_access,
    recordings_for,
)
from .base import (
    LISTENER_HEARTBEAT_KEY,
    LISTENER_HEARTBEAT_TTL,
    UNIQUE_ID_MAX_LENGTH,
    agent_phone_for,
    attachable_model,
    backoff_delay,
    check_may_dial,
    check_may_record,
    fetch_lease,
    listener_is_running,
    mark_listener_alive,
    may_dial,
    may_hear,
    may_record,
)
from .calls import (
    DUPLICATE_DIAL_WINDOW,
    _claim_dial,
    answer,
    apply_call_event,
    apply_call_status,
    current_call_status,
    dial,
    hangup,
    require_own_call,
    status_from_pbx,
    sweep_live_calls,
)
from .collecting import (
    LEG_START_TOLERANCE,
    PollResult,
    collect_after_call,
    legs_of,
    poll_again,
    poll_now,
    poll_tag,
    reconcile_hour,
    sweep_due_tags,
)
from .fetching import FetchResult, RefetchResult, fetch_leg, join_if_complete, refetch_legs
from .integrity import ScrubResult, scrub_stored_audio, verify_log
from .recording import require_own_recording, start_recording, stop_recording, watch_tag
from .retention import purge_audio, purge_expired_audio, restore_audio, set_legal_hold

__all__ = [
    "DUPLICATE_DIAL_WINDOW",
    "LEG_START_TOLERANCE",
    "LISTENER_HEARTBEAT_KEY",
    "LISTENER_HEARTBEAT_TTL",
    "UNIQUE_ID_MAX_LENGTH",
    "FetchResult",
    "PollResult",
    "RefetchResult",
    "ScrubResult",
    "_claim_dial",
    "agent_phone_for",
    "answer",
    "apply_call_event",
    "apply_call_status",
    "attach_to",
    "attachable_model",
    "backoff_delay",
    "check_may_attach",
    "check_may_dial",
    "check_may_hear",
    "check_may_record",
    "collect_after_call",
    "current_call_status",
    "dial",
    "fetch_lease",
    "fetch_leg",
    "hangup",
    "join_if_complete",
    "legs_of",
    "listener_is_running",
    "mark_listener_alive",
    "may_dial",
    "may_hear",
    "may_record",
    "may_view",
    "poll_again",
    "poll_now",
    "poll_tag",
    "purge_audio",
    "purge_expired_audio",
    "reconcile_hour",
    "record_access",
    "recordings_for",
    "refetch_legs",
    "require_own_call",
    "require_own_recording",
    "restore_audio",
    "scrub_stored_audio",
    "set_legal_hold",
    "start_recording",
    "status_from_pbx",
    "stop_recording",
    "sweep_due_tags",
    "sweep_live_calls",
    "verify_log",
    "watch_tag",
]
