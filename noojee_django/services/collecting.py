"""Collecting: finding a recording's legs on the PBX, and deciding when to ask.

A recording receives only the legs of the call it was started on: same tag, and the same channel
unique id when the row knows it, else a call on its extension that started within its time window.
A row the PBX refused to start receives nothing; a leg nobody here started goes where ``RESOLVE_TAG``
says, or stays unattached for an operator, never to "the first row with that tag".

The call's end drives collection: :func:`collect_after_call` polls and fetches at once when a call
ends (seen by the listener, a status snapshot or the live-call sweep). The clock is only the safety
net: "not ready yet" backs off exponentially up to ``POLL_BACKOFF_CAP``.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import connections
from ..client import errors as client_errors
from ..client.types import LegMetadata
from ..conf import noojee_settings
from ..exceptions import InvalidState, TransitionRefused
from ..lifecycle import transition
from ..models import CallSession, RecordingAttempt, RecordingLeg, RecordingTag
from ..pbx import get_client
from . import reachability
from .base import (
    LIVE_CALL_STATUSES,
    UNIQUE_ID_MAX_LENGTH,
    backoff_delay,
    calls_are_followed,
    check_on_users_pbx,
    fetch_lease,
    log_attempt,
    pbx_error,
    schedule_fetch,
    schedule_poll,
)
from .fetching import fetch_leg, join_if_complete
from .recording import create_claimed_recording, mark_waiting

#: Legs whose fetch is still to be done; fetch_leg's claim decides whether a worker still has one
#: (a lost worker's claim, or a re-fetch whose task was lost, is taken over once its lease passed).
UNFINISHED_LEGS = RecordingLeg.UNFINISHED_STATUSES

#: How far outside a recording's start and stop a leg may start and still belong to it (clock skew).
LEG_START_TOLERANCE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class PollResult:
    """What one poll of a tag did: ``outcome`` is a :class:`RecordingAttempt.Outcome` value or ``skipped``."""

    outcome: str
    legs_found: int = 0
    legs_to_fetch: tuple[int, ...] = ()
    retry_in: float | None = None


def poll_tag(recording_tag_id: int, *, fetch_inline: bool = False) -> PollResult:
    """Ask the PBX for the legs of a waiting tag; upsert them, and fetch each new one.

    With ``fetch_inline`` the legs are downloaded by this call (what the Celery task does: fewer
    tasks, the same guarantees, since ``fetch_leg`` claims each leg); otherwise each leg is sent
    to its own fetch task. While the database follows the calls (the listener, or the live-call
    sweep, runs) and says the call is still up, nothing is downloaded: the call's end fetches the
    legs (the PBX gives no audio before it).

    "No legs yet" waits with capped backoff until ``GIVE_UP_AFTER``, then the tag is ``absent``;
    an error waits the same way and, past that age, marks the tag ``failed`` with the reason.
    """
    try:
        recording_tag = RecordingTag.objects.get(pk=recording_tag_id)
    except RecordingTag.DoesNotExist:
        return PollResult("skipped")
    if not recording_tag.is_pending or not recording_tag.start_accepted:
        return PollResult("skipped")

    started = time.monotonic()
    RecordingTag.objects.filter(pk=recording_tag.pk).update(attempts=F("attempts") + 1)
    recording_tag.attempts += 1
    client = get_client(recording_tag.connection)
    with reachability.turn_to_ask(recording_tag.connection, hold=reachability.request_hold(client)) as turn:
        if turn.wait is not None:  # its PBX is down or busy: this connection waits, nobody else
            log_attempt(
                recording_tag,
                RecordingAttempt.Action.POLL,
                RecordingAttempt.Outcome.ERROR,
                message=turn.message,
                error_kind=turn.kind,
            )
            return _retry_poll_or_give_up(
                recording_tag,
                RecordingAttempt.Outcome.ERROR,
                reason=f"Polling the PBX failed: {turn.message}",
                wait=turn.wait,
            )
        try:
            metadata = client.retrieve_metadata(recording_tag.tag)
        except client_errors.NoojeeError as exc:
            turn.failed(exc)
            outcome = (
                RecordingAttempt.Outcome.NOT_READY
                if isinstance(exc, client_errors.RecordingNotReady)
                else RecordingAttempt.Outcome.ERROR
            )
            log_attempt(recording_tag, RecordingAttempt.Action.POLL, outcome, error=exc, started=started)
            return _retry_poll_or_give_up(recording_tag, outcome, reason=f"Polling the PBX failed: {exc}")
        turn.answered()

    legs = legs_of(recording_tag, metadata)
    # Listed before and not now (the PBX lost its records): fetching the legs already known says
    # whether their audio is still there, or fails them as gone, instead of waiting for a listing.
    known = (
        _unfinished_legs(recording_tag)
        if not legs and recording_tag.status == RecordingTag.Status.FETCHING
        else []
    )
    if not legs and not known:
        log_attempt(
            recording_tag, RecordingAttempt.Action.POLL, RecordingAttempt.Outcome.NO_LEGS, started=started
        )
        return _retry_poll_or_give_up(
            recording_tag,
            RecordingAttempt.Outcome.NO_LEGS,
            reason=f"The PBX has no recording tagged {recording_tag.tag!r} for this call.",
        )

    to_fetch = upsert_legs(recording_tag, legs) if legs else known
    log_attempt(
        recording_tag,
        RecordingAttempt.Action.POLL,
        RecordingAttempt.Outcome.OK,
        message=f"{len(legs)} leg(s) found",
        started=started,
    )
    now = timezone.now()
    call_is_up = _call_is_up(recording_tag, legs)
    # The next poll is a watchdog: if the fetches are lost with their worker, the sweep picks the
    # tag up again. While the call is up it is the longest wait: the call's end comes first.
    watchdog = dt.timedelta(seconds=noojee_settings.POLL_BACKOFF_CAP) if call_is_up else fetch_lease()
    if recording_tag.status == RecordingTag.Status.WAITING:
        transition(
            recording_tag,
            RecordingTag.Status.FETCHING,
            reason=f"{len(legs)} leg(s) found",
            strict=False,
            # A recording started on an agent's call learns that call's unique id (if it did not know
            # it); a claimed one (watch_tag, RESOLVE_TAG) stays a claim on its tag's legs, of any call.
            unique_id=recording_tag.unique_id
            or (legs[0].unique_id[:UNIQUE_ID_MAX_LENGTH] if recording_tag.extension else ""),
            next_poll_at=now + watchdog,
        )
    else:
        RecordingTag.objects.filter(pk=recording_tag.pk).update(next_poll_at=now + watchdog)
    if call_is_up:
        return PollResult(RecordingAttempt.Outcome.OK, legs_found=len(legs))
    if fetch_inline:
        # One task per tag on the happy path: the legs come down here, one after the other, and
        # only a leg that fails gets a task of its own for its retries.
        for leg_id in to_fetch:
            fetch_leg(leg_id)
    else:
        for leg_id in to_fetch:
            schedule_fetch(leg_id)
    if not to_fetch:
        join_if_complete(recording_tag.pk)
    return PollResult(RecordingAttempt.Outcome.OK, legs_found=len(legs), legs_to_fetch=tuple(to_fetch))


def _unfinished_legs(recording_tag: RecordingTag) -> list[int]:
    return list(
        recording_tag.legs.filter(fetch_status__in=UNFINISHED_LEGS)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _call_is_up(recording_tag: RecordingTag, legs: list[LegMetadata]) -> bool:
    """Whether the database, kept current by the listener or the live-call sweep, shows the
    recording's call still going on: its end will then fetch the legs."""
    unique_ids = {recording_tag.unique_id} | {m.unique_id for m in legs}
    unique_ids.discard("")
    if not unique_ids or not calls_are_followed(recording_tag.connection):
        return False
    return CallSession.objects.filter(
        connection=recording_tag.connection, unique_id__in=unique_ids, status__in=LIVE_CALL_STATUSES
    ).exists()


def legs_of(recording_tag: RecordingTag, metadata: list[LegMetadata]) -> list[LegMetadata]:
    """The legs in ``metadata`` that belong to ``recording_tag``: its tag, and its call.

    The call is the row's channel unique id when it has one. A row started by extension before its
    call's unique id was known takes the calls that show its extension on a leg and whose first leg
    started within its time window. A claimed row (``watch_tag``, ``RESOLVE_TAG``) has neither and
    takes the tag's legs that started after it. A row the PBX never started takes nothing.
    """
    if not recording_tag.start_accepted:
        return []
    same_tag = [m for m in metadata if m.tag == recording_tag.tag]
    if recording_tag.unique_id:
        return [m for m in same_tag if m.unique_id == recording_tag.unique_id]
    earliest = recording_tag.started_at - LEG_START_TOLERANCE
    if not recording_tag.extension:
        return [m for m in same_tag if m.start is None or m.start >= earliest]
    latest = (recording_tag.stopped_at or timezone.now()) + LEG_START_TOLERANCE
    exten = recording_tag.extension.split("/", 1)[-1]
    by_call: dict[str, list[LegMetadata]] = defaultdict(list)
    for meta in same_tag:
        by_call[meta.unique_id].append(meta)
    chosen: list[LegMetadata] = []
    for call_legs in by_call.values():
        starts = [m.start for m in call_legs if m.start is not None]
        first = min(starts) if starts else None
        on_exten = any(exten in (m.source, m.destination) for m in call_legs)
        if on_exten and (first is None or earliest <= first <= latest):
            chosen += call_legs
    return chosen


def _leg_values(meta: LegMetadata) -> dict[str, Any]:
    return {
        "tag": meta.tag[:64],
        "leg": meta.leg,
        "unique_id": meta.unique_id[:UNIQUE_ID_MAX_LENGTH],
        "start": meta.start,
        "duration": max(meta.duration, 0),
        "source": meta.source[:64],
        "destination": meta.destination[:64],
        "did": meta.did[:64],
        "direction": str(meta.direction),
        "owner": meta.username[:100],
    }


def upsert_legs(
    recording_tag: RecordingTag | None, legs: list[LegMetadata], *, connection: str | None = None
) -> list[int]:
    """Create or refresh leg rows keyed on the PBX ``connection`` and ``CallRecordId``; return the ids
    of legs still to fetch.

    A leg another recording already owns is left alone. A leg that arrives at a recording whose
    signature is held or purged is marked ``kept_aside``: it is stored beside the signature, never
    joined into it, and the recording is flagged for an operator. ``recording_tag=None`` keeps the
    legs unattached (on ``connection``; a recording's legs are on its own).
    """
    if recording_tag is not None:
        connection = recording_tag.connection
    connection = connection or connections.DEFAULT
    to_fetch: list[int] = []
    on_pbx = RecordingLeg.objects.filter(connection=connection)
    existing = {
        leg.call_record_id: leg for leg in on_pbx.filter(call_record_id__in=[m.call_record_id for m in legs])
    }
    frozen = (
        recording_tag is not None
        and recording_tag.status == RecordingTag.Status.ATTACHED
        and (recording_tag.legal_hold or recording_tag.purged_at is not None)
    )
    pk = recording_tag.pk if recording_tag is not None else None
    for meta in legs:
        values = _leg_values(meta)
        row = existing.get(meta.call_record_id)
        if row is None:
            try:
                with transaction.atomic():
                    row = RecordingLeg.objects.create(
                        recording_tag=recording_tag,
                        connection=connection,
                        call_record_id=meta.call_record_id,
                        kept_aside=frozen,
                        **values,
                    )
            except IntegrityError:  # a racing poll created it first
                row = on_pbx.get(call_record_id=meta.call_record_id)
            existing[meta.call_record_id] = row
            if frozen and recording_tag is not None:
                RecordingTag.objects.filter(pk=recording_tag.pk).update(needs_review=True)
        elif row.recording_tag_id == pk or (row.recording_tag_id is None and pk is not None):
            if row.recording_tag_id is None:
                values.update(recording_tag=recording_tag, kept_aside=frozen)
            RecordingLeg.objects.filter(pk=row.pk).update(**values)
            row.recording_tag_id = pk
        if pk is not None and row.recording_tag_id == pk and row.fetch_status in UNFINISHED_LEGS:
            to_fetch.append(row.pk)
    return sorted(set(to_fetch))


def _retry_poll_or_give_up(
    recording_tag: RecordingTag, outcome: str, *, reason: str, wait: float = 0.0
) -> PollResult:
    """Poll again after the backoff (not before ``wait`` seconds), or give up once ``GIVE_UP_AFTER``
    passed since the stop."""
    stopped = recording_tag.stopped_at or recording_tag.started_at
    age = (timezone.now() - stopped).total_seconds()
    if age >= noojee_settings.GIVE_UP_AFTER:
        to = (
            RecordingTag.Status.ABSENT
            if outcome == RecordingAttempt.Outcome.NO_LEGS
            else RecordingTag.Status.FAILED
        )
        transition(
            recording_tag,
            to,
            reason=reason,
            expect=list(RecordingTag.PENDING_STATUSES),
            strict=False,
            last_error=reason,
            next_poll_at=None,
        )
        return PollResult(outcome)
    delay = backoff_delay(recording_tag.attempts - 1)
    if wait:  # spread over a second past the pause: one of them asks the PBX, the others wait again
        delay = max(delay, wait + random.uniform(0, 1))
    now = timezone.now()
    RecordingTag.objects.filter(pk=recording_tag.pk, status__in=RecordingTag.PENDING_STATUSES).update(
        next_poll_at=now + dt.timedelta(seconds=delay),
        last_error="" if outcome == RecordingAttempt.Outcome.NO_LEGS else reason,
        updated_at=now,
    )
    schedule_poll(recording_tag, countdown=delay)
    return PollResult(outcome, retry_in=delay)


def collect_after_call(call: CallSession) -> int:
    """A call ended: collect its recordings now rather than at the next backoff.

    A recording still ``recording`` stops waiting for a "stop" nobody will press; a waiting one is
    polled at once; a fetching one (or an attached one with a late leg) has its pending legs fetched
    at once. Returns the number of recordings it moved on.
    """
    tag_ids = [call.recording_tag_id] if call.recording_tag_id is not None else []
    match = Q(pk__in=tag_ids)
    if call.unique_id:
        match |= Q(unique_id=call.unique_id, start_accepted=True)
    moved = 0
    for recording_tag in RecordingTag.objects.filter(connection=call.connection).filter(match):
        if recording_tag.status in RecordingTag.ON_CALL_STATUSES:
            mark_waiting(recording_tag, "its call ended")
            moved += 1
        elif recording_tag.status == RecordingTag.Status.WAITING:
            RecordingTag.objects.filter(pk=recording_tag.pk).update(next_poll_at=timezone.now())
            schedule_poll(recording_tag, countdown=noojee_settings.POLL_DELAY)
            moved += 1
        else:
            moved += bool(_fetch_pending_legs(recording_tag, countdown=noojee_settings.POLL_DELAY))
    return moved


def _fetch_pending_legs(recording_tag: RecordingTag, *, countdown: float = 0) -> int:
    pending = list(
        RecordingLeg.objects.filter(
            recording_tag=recording_tag, fetch_status=RecordingLeg.FetchStatus.PENDING
        ).values_list("pk", flat=True)
    )
    for leg_id in pending:
        schedule_fetch(leg_id, countdown=countdown)
    return len(pending)


# --------------------------------------------------------------------------------------------------
# Sweeping and reconciling


def sweep_due_tags(*, now: dt.datetime | None = None, limit: int | None = None) -> int:
    """Send a poll for every pending tag whose poll is overdue: the safety net for lost tasks.

    Polls are normally scheduled as delayed tasks; a tag whose ``next_poll_at`` passed more than
    ``SWEEP_GRACE`` seconds ago lost its task (worker gone, broker flushed). The query walks the
    ``next_poll_at`` index, so its cost follows the number due, not the number waiting. Each swept tag's
    ``next_poll_at`` moves forward so the next sweep does not send it again. An attached recording
    that is due has a late leg to fetch: its pending legs are sent instead. A recording still recording
    that is due is one on a user-key PBX nobody stopped (see :func:`~.recording.accepted`): it starts
    waiting for its legs.
    """
    now = now or timezone.now()
    limit = limit or noojee_settings.SWEEP_BATCH_SIZE
    cutoff = now - dt.timedelta(seconds=noojee_settings.SWEEP_GRACE)
    due = list(
        RecordingTag.objects.filter(next_poll_at__lte=cutoff)
        .order_by("next_poll_at")
        .values_list("pk", "status")[:limit]
    )
    if not due:
        return 0
    RecordingTag.objects.filter(pk__in=[pk for pk, _status in due]).update(
        next_poll_at=now + dt.timedelta(seconds=noojee_settings.POLL_BACKOFF_CAP)
    )
    for tag_id, status in due:
        if status in RecordingTag.PENDING_STATUSES:
            schedule_poll(tag_id, countdown=0)
        elif status == RecordingTag.Status.RECORDING:  # on a PBX that does not tell us calls end
            mark_waiting(
                RecordingTag.objects.get(pk=tag_id),
                "not stopped within UNFOLLOWED_RECORDING_MAX; its call is taken to have ended",
            )
        else:
            recording_tag = RecordingTag(pk=tag_id)
            if not _fetch_pending_legs(recording_tag):
                RecordingTag.objects.filter(pk=tag_id).update(next_poll_at=None)
    return len(due)


#: The cache key that holds the PBX's one ``retrieveMetaDataByHour`` per ``METADATA_HOUR_INTERVAL``
#: for every worker and command (the name it had as the reconcile's lock, so releases share it); a
#: named connection's has its name after a colon: each PBX has its own limit.
HOUR_LISTING_SLOT_KEY = "noojee_django:reconcile-lock"
#: Set while a caller that does not defer (the beat's reconcile) waits for the slot.
HOUR_LISTING_WAITING_KEY = "noojee_django:reconcile-waiting"


def _slot_keys(connection: str) -> tuple[str, str]:
    if connection == connections.DEFAULT:
        return HOUR_LISTING_SLOT_KEY, HOUR_LISTING_WAITING_KEY
    return f"{HOUR_LISTING_SLOT_KEY}:{connection}", f"{HOUR_LISTING_WAITING_KEY}:{connection}"


def hour_listing_interval(connection: str = connections.DEFAULT) -> float:
    """Seconds between two hourly listings of one PBX: its documented limit, one a minute."""
    return connections.get(connection).METADATA_HOUR_INTERVAL


def take_hour_listing_slot(
    *, wait: float | None = 0.0, defer: bool = False, connection: str = connections.DEFAULT
) -> bool:
    """Take the one ``retrieveMetaDataByHour`` the PBX allows per ``METADATA_HOUR_INTERVAL``.

    Every process asks through the cache, so the beat's reconcile and a backfill never make the PBX
    refuse each other. ``wait`` is how long to wait for the slot (``None``: as long as it takes);
    False when it did not come. A caller with ``defer`` (a backfill, walking hundreds of hours) lets
    the slot go to a caller that is waiting without deferring (the reconcile of the hour that just
    ended: see :func:`hour_listing_slot_or_wait`), so a long backfill never starves the live reconcile.
    """
    interval = hour_listing_interval(connection)
    slot_key, waiting_key = _slot_keys(connection)
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        someone_first = defer and cache.get(waiting_key) is not None
        if not someone_first and cache.add(slot_key, time.time() + interval, timeout=interval):
            if not defer:
                cache.delete(waiting_key)
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        if not defer:
            _say_waiting(interval, connection)
        pause = min(max(_slot_free_in(interval, connection), interval / 50), interval)
        if deadline is not None:
            pause = min(pause, max(deadline - time.monotonic(), 0.0))
        time.sleep(pause)


def hour_listing_slot_or_wait(connection: str = connections.DEFAULT) -> float | None:
    """For a task, which must not sleep in a worker: ``None`` when the slot is taken now; otherwise the
    seconds until it frees, having said that a caller is waiting for it (a backfill then lets it go
    first). The task asks again after that long."""
    if take_hour_listing_slot(wait=0, connection=connection):
        return None
    interval = hour_listing_interval(connection)
    _say_waiting(interval, connection)
    return min(max(_slot_free_in(interval, connection), interval / 50), interval)


def _say_waiting(interval: float, connection: str) -> None:
    cache.set(_slot_keys(connection)[1], 1, timeout=max(2 * interval, 1))


def _slot_free_in(interval: float, connection: str) -> float:
    free_at = cache.get(_slot_keys(connection)[0])
    return free_at - time.time() if isinstance(free_at, float) else interval / 10


@dataclass(frozen=True)
class HourReport:
    """What reconciling one PBX hour did, leg by leg (each leg counted once, by ``CallRecordId``)."""

    #: legs the PBX listed for the hour
    legs_listed: int = 0
    #: of those, legs a poll or an earlier listing already brought here: left as they are
    legs_known: int = 0
    #: tagged legs nobody here knew: ``attached`` + ``kept_unattached``
    legs_found: int = 0
    #: placed on a recording (the one started for their call, or one for what ``RESOLVE_TAG`` named)
    attached: int = 0
    #: kept for an operator, attached to nothing
    kept_unattached: int = 0


def reconcile_hour(date: dt.date, hour: int, connection: str = connections.DEFAULT) -> int:
    """Find tagged legs that ended in one PBX hour and that no poll has seen; place them.

    Returns the number of legs added to recordings; :func:`reconcile_hour_report` says more.
    """
    return reconcile_hour_report(date, hour, connection).attached


def reconcile_hour_report(date: dt.date, hour: int, connection: str = connections.DEFAULT) -> HourReport:
    """Find tagged legs that ended in one PBX hour and that no poll has seen; place them.

    A leg goes to a recording here that was started for its call (see :func:`legs_of`); else to a
    new recording for the CRM object ``RESOLVE_TAG`` names; else it is kept unattached, for an
    operator to attach. A leg already here (any ``CallRecordId`` known) is left alone, so asking for
    an hour twice adds nothing twice. The caller owns the PBX's rate: see :func:`take_hour_listing_slot`.
    Only the PBX ``connection``'s legs and recordings are looked at.
    """
    try:
        metadata = get_client(connection).retrieve_metadata_by_hour(date, hour)
    except client_errors.NoojeeError as exc:
        raise pbx_error("list the hour's recordings", exc) from exc
    by_record_id: dict[int, LegMetadata] = {}
    for meta in metadata:  # a PBX may list a row twice
        by_record_id.setdefault(meta.call_record_id, meta)
    listed = list(by_record_id.values())
    known = set(
        RecordingLeg.objects.filter(
            connection=connection, call_record_id__in=[m.call_record_id for m in listed]
        ).values_list("call_record_id", flat=True)
    )
    by_tag: dict[str, list[LegMetadata]] = {}
    for meta in listed:
        if meta.tag and meta.call_record_id not in known:
            by_tag.setdefault(meta.tag, []).append(meta)
    resolve = noojee_settings.hook("RESOLVE_TAG")
    added = kept = 0
    for tag, legs in by_tag.items():
        unplaced = list(legs)
        candidates = RecordingTag.objects.filter(connection=connection, tag=tag, start_accepted=True).exclude(
            status__in=RecordingTag.ON_CALL_STATUSES
        )
        for recording_tag in candidates.order_by("-started_at"):
            mine = legs_of(recording_tag, unplaced)
            if mine:
                added += _add_found_legs(recording_tag, mine)
                unplaced = [m for m in unplaced if m not in mine]
        if not unplaced:
            continue
        obj = resolve(tag) if resolve is not None else None
        if obj is None:
            upsert_legs(None, unplaced, connection=connection)  # kept for operators, attached to nothing
            kept += len(unplaced)
            continue
        claimed = create_claimed_recording(
            obj,
            tag,
            connection=connection,
            started_at=min((m.start for m in unplaced if m.start), default=timezone.now()),
        )
        if claimed is None:  # the tag is live here again: its own poll will find these legs
            upsert_legs(None, unplaced, connection=connection)
            kept += len(unplaced)
            continue
        added += _add_found_legs(claimed, unplaced)
    return HourReport(
        legs_listed=len(listed),
        legs_known=len(known),
        legs_found=added + kept,
        attached=added,
        kept_unattached=kept,
    )


def _add_found_legs(recording_tag: RecordingTag, legs: list[LegMetadata]) -> int:
    to_fetch = upsert_legs(recording_tag, legs)
    now = timezone.now()
    if recording_tag.status in (RecordingTag.Status.WAITING, RecordingTag.Status.ABSENT):
        transition(
            recording_tag,
            RecordingTag.Status.FETCHING,
            reason=f"{len(legs)} leg(s) found by the hourly listing",
            strict=False,
            next_poll_at=now + fetch_lease(),
        )
    elif recording_tag.status != RecordingTag.Status.FAILED:
        RecordingTag.objects.filter(pk=recording_tag.pk).update(next_poll_at=now + fetch_lease())
    log_attempt(
        recording_tag,
        RecordingAttempt.Action.RECONCILE,
        RecordingAttempt.Outcome.OK,
        message=f"{len(legs)} leg(s) found by the hourly listing",
    )
    if recording_tag.status != RecordingTag.Status.FAILED:
        for leg_id in to_fetch:
            schedule_fetch(leg_id)
    return len(legs)


# --------------------------------------------------------------------------------------------------
# Operator actions


def poll_again(recording_tag: RecordingTag, *, actor: Any | None = None) -> RecordingTag:
    """Make one recording due at once (a failed or absent one too: an operator is asking again).

    Refused (:class:`TransitionRefused`, :class:`InvalidState`) for a recording still recording, one
    already attached, one the PBX never started, and one whose tag is live again on another row.
    """
    if actor is not None:
        check_on_users_pbx(actor, recording_tag.connection)
    if not recording_tag.start_accepted:
        raise InvalidState(
            _("The PBX never started recording %(tag)s: there is nothing to collect.")
            % {"tag": repr(recording_tag.tag)}
        )
    now = timezone.now()
    if recording_tag.status == RecordingTag.Status.WAITING:
        RecordingTag.objects.filter(pk=recording_tag.pk).update(next_poll_at=now, updated_at=now)
    else:
        transition(
            recording_tag,
            RecordingTag.Status.WAITING,
            reason="an operator polls again",
            actor=actor,
            expect=[RecordingTag.Status.FAILED, RecordingTag.Status.ABSENT],
            next_poll_at=now,
            stopped_at=recording_tag.stopped_at or now,
        )
    schedule_poll(recording_tag, countdown=0)
    return recording_tag


def poll_now(
    recording_tags: models.QuerySet[RecordingTag] | list[RecordingTag], *, actor: Any | None = None
) -> int:
    """:func:`poll_again` for each; returns how many will be polled (the others are skipped)."""
    count = 0
    for recording_tag in recording_tags:
        try:
            poll_again(recording_tag, actor=actor)
        except (TransitionRefused, InvalidState):
            continue
        count += 1
    return count
