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
- :mod:`.scripts` — the versioned scripts agents read, and the exact text a recording started with
- :mod:`.pausing` — secure pause: pause and resume a live recording, resume by itself when due
- :mod:`.collecting` — find a recording's legs (poll, reconcile, sweep), operator "poll again"; the
  PBX's one hourly listing a minute
- :mod:`.backfill` — walk a range of past PBX hours and place their legs, resumably
- :mod:`.fetching` — download legs, join the signature, operator "fetch again"
- :mod:`.reachability` — a PBX that cannot be reached pauses its own connection's polls and fetches
- :mod:`.retention` — purge, legal hold, restore
- :mod:`.access` — who may hear, the listening log, attach to another record
- :mod:`.evidence` — signed evidence bundles of a recording; :mod:`.verification` checks them
- :mod:`.integrity` — the logs' hash chains verified, stored audio read back against the ledger
"""

from __future__ import annotations

from .access import (
    attach_to,
    check_may_attach,
    check_may_follow_recording,
    check_may_hear,
    may_view,
    record_access,
    recordings_for,
)
from .backfill import (
    BackfillStatus,
    backfill_connection,
    backfill_hours,
    current_pbx_hour,
    last_completed_hour,
    pbx_time_zone,
    run_backfill,
    start_backfill,
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
    check_may_see_call,
    current_call_status,
    dial,
    hangup,
    require_own_call,
    status_from_pbx,
    sweep_live_calls,
)
from .collecting import (
    HOUR_LISTING_SLOT_KEY,
    LEG_START_TOLERANCE,
    HourReport,
    PollResult,
    collect_after_call,
    hour_listing_interval,
    hour_listing_slot_or_wait,
    legs_of,
    poll_again,
    poll_now,
    poll_tag,
    reconcile_hour,
    reconcile_hour_report,
    sweep_due_tags,
    take_hour_listing_slot,
)
from .evidence import (
    EvidenceAltered,
    EvidenceBundle,
    check_may_export_evidence,
    evidence_bundle,
    may_export_evidence,
)
from .fetching import FetchResult, RefetchResult, fetch_leg, join_if_complete, refetch_legs
from .integrity import ScrubResult, scrub_stored_audio, verify_log
from .pausing import (
    clean_pause_reason,
    open_pause,
    pause_payload,
    pause_recording,
    resume_overdue_pauses,
    resume_paused,
    resume_recording,
)
from .reachability import UnreachablePause, unreachable_pause
from .recording import check_consent, require_own_recording, start_recording, stop_recording, watch_tag
from .retention import purge_audio, purge_expired_audio, restore_audio, set_legal_hold
from .scripts import (
    SCRIPT_CHANGED,
    ShownScript,
    active_script_for,
    render_version,
    save_script_text,
    script_for,
    shown_script,
)
from .verification import Finding, VerificationReport, verify_evidence

__all__ = [
    "DUPLICATE_DIAL_WINDOW",
    "HOUR_LISTING_SLOT_KEY",
    "LEG_START_TOLERANCE",
    "LISTENER_HEARTBEAT_KEY",
    "LISTENER_HEARTBEAT_TTL",
    "SCRIPT_CHANGED",
    "UNIQUE_ID_MAX_LENGTH",
    "BackfillStatus",
    "EvidenceAltered",
    "EvidenceBundle",
    "FetchResult",
    "Finding",
    "HourReport",
    "PollResult",
    "RefetchResult",
    "ScrubResult",
    "ShownScript",
    "UnreachablePause",
    "VerificationReport",
    "_claim_dial",
    "active_script_for",
    "agent_phone_for",
    "answer",
    "apply_call_event",
    "apply_call_status",
    "attach_to",
    "attachable_model",
    "backfill_connection",
    "backfill_hours",
    "backoff_delay",
    "check_consent",
    "check_may_attach",
    "check_may_dial",
    "check_may_export_evidence",
    "check_may_follow_recording",
    "check_may_hear",
    "check_may_record",
    "check_may_see_call",
    "clean_pause_reason",
    "collect_after_call",
    "current_call_status",
    "current_pbx_hour",
    "dial",
    "evidence_bundle",
    "fetch_lease",
    "fetch_leg",
    "hangup",
    "hour_listing_interval",
    "hour_listing_slot_or_wait",
    "join_if_complete",
    "last_completed_hour",
    "legs_of",
    "listener_is_running",
    "mark_listener_alive",
    "may_dial",
    "may_export_evidence",
    "may_hear",
    "may_record",
    "may_view",
    "open_pause",
    "pause_payload",
    "pause_recording",
    "pbx_time_zone",
    "poll_again",
    "poll_now",
    "poll_tag",
    "purge_audio",
    "purge_expired_audio",
    "reconcile_hour",
    "reconcile_hour_report",
    "record_access",
    "recordings_for",
    "refetch_legs",
    "render_version",
    "require_own_call",
    "require_own_recording",
    "restore_audio",
    "resume_overdue_pauses",
    "resume_paused",
    "resume_recording",
    "run_backfill",
    "save_script_text",
    "script_for",
    "scrub_stored_audio",
    "set_legal_hold",
    "shown_script",
    "start_backfill",
    "start_recording",
    "status_from_pbx",
    "stop_recording",
    "sweep_due_tags",
    "sweep_live_calls",
    "take_hour_listing_slot",
    "unreachable_pause",
    "verify_evidence",
    "verify_log",
    "watch_tag",
]
