"""Every use case of the app, written once.

Views, admin actions, the REST API, Celery tasks and management commands all call these functions and
nothing else to change state or talk to the PBX. Each one validates its input, checks permissions where
a user is involved, and raises a clear error (``ValidationError``, ``NoojeePermissionDenied``, or a
:class:`~noojee_django.exceptions.NoojeeServiceError`). Functions a retry can reach are idempotent.

No database transaction is held open across a request to the PBX: a slow PBX must not lock rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import signals
from .client import errors as client_errors
from .client.types import CallEvent, LegMetadata
from .conf import noojee_settings
from .exceptions import InvalidState, NoAgentPhone, NoojeePermissionDenied, PbxError
from .models import (
    AgentPhone,
    CallSession,
    RecordingAccess,
    RecordingAttempt,
    RecordingLeg,
    RecordingTag,
)
from .pbx import get_client
from .stitching import StitchError, stitch_wavs
from .validation import normalize_number, validate_tag, validate_unique_id

logger = logging.getLogger("noojee_django")


def fetch_lease() -> dt.timedelta:
    """A leg whose download was claimed this long ago and never finished belongs to a lost worker."""
    return dt.timedelta(seconds=float(noojee_settings.FETCH_LEASE))


#: How far before "start recording" a leg may start and still belong to the tag (PBX clock skew).
LEG_START_TOLERANCE = dt.timedelta(minutes=10)


# --------------------------------------------------------------------------------------------------
# Permissions and lookups


def _require(hook: str, user: Any, obj: Any | None, message: str) -> None:
    check = noojee_settings.hook(hook)
    if check is not None and not check(user, obj):
        raise NoojeePermissionDenied(message)


def may_dial(user: Any, obj: Any | None = None) -> bool:
    """Whether ``user`` may place calls (for ``obj``, when given): the ``MAY_DIAL`` hook."""
    check = noojee_settings.hook("MAY_DIAL")
    return bool(check(user, obj)) if check is not None else True


def may_hear(user: Any, obj: Any) -> bool:
    """Whether ``user`` may hear the recordings attached to ``obj`` (the ``MAY_HEAR`` hook)."""
    check = noojee_settings.hook("MAY_HEAR")
    return bool(check(user, obj)) if check is not None else False


def agent_phone_for(user: Any) -> AgentPhone:
    """The user's own active handset; nobody dials or records from somebody else's."""
    if not getattr(user, "is_authenticated", False):
        raise NoojeePermissionDenied("Log in to use the phone.")
    try:
        return AgentPhone.objects.get(user_id=user.pk, is_active=True)
    except AgentPhone.DoesNotExist:
        raise NoAgentPhone("You have no phone extension: ask an administrator to add one.") from None


def _pbx_error(action: str, exc: client_errors.NoojeeError) -> PbxError:
    return PbxError(f"The PBX could not {action}: {exc}", cause=exc)


def _required_object_ref(obj: Any) -> tuple[ContentType, str]:
    """The generic link to a CRM object that a recording must be attached to."""
    if obj is None:
        raise ValidationError("A recording must be attached to a CRM record.")
    content_type, object_id = _object_ref(obj)
    assert content_type is not None
    return content_type, object_id


def _object_ref(obj: Any | None) -> tuple[ContentType | None, str]:
    if obj is None:
        return None, ""
    if getattr(obj, "pk", None) is None:
        raise ValidationError("The object must be saved before a call or recording can be linked to it.")
    return ContentType.objects.get_for_model(obj), str(obj.pk)


# --------------------------------------------------------------------------------------------------
# Calls


#: A second dial of the same number by the same agent within this window returns the first call.
DUPLICATE_DIAL_WINDOW = dt.timedelta(seconds=10)


def dial(
    user: Any,
    number: str,
    *,
    obj: Any | None = None,
    record: bool = False,
    tag: str | None = None,
    caller_id: str | None = None,
) -> CallSession:
    """Ring the user's handset, then ``number``; optionally record the call under ``tag``.

    A double click (same agent, same number, within ``DUPLICATE_DIAL_WINDOW``, call not ended) returns
    the existing call instead of ringing the customer twice: see :func:`_claim_dial`.
    """
    _require("MAY_DIAL", user, obj, "You may not place calls.")
    number = normalize_number(number)
    if record:
        tag = validate_tag(tag)
        if obj is None:
            raise ValidationError("A recorded call must be placed from a CRM record to attach it to.")
        _require("MAY_RECORD", user, obj, "You may not record calls for this record.")
    elif tag:
        raise ValidationError("A tag is only used with record=True.")
    if caller_id is not None:
        caller_id = normalize_number(caller_id)
    content_type, object_id = _object_ref(obj)
    phone = agent_phone_for(user)

    call, created = _claim_dial(
        user=user,
        extension=phone.extension,
        number=number,
        caller_id=caller_id or "",
        record=record,
        tag=tag or "",
        content_type=content_type,
        object_id=object_id,
    )
    if not created:
        return call
    recording_tag = None
    if record:
        try:
            recording_tag = _create_recording_tag(user, obj, tag or "", phone, consent_given=False)
        except InvalidState as exc:
            _end_call(call, CallSession.Status.FAILED, error=exc.message)
            raise
        CallSession.objects.filter(pk=call.pk).update(recording_tag=recording_tag)
        call.recording_tag = recording_tag

    try:
        result = get_client().dial(
            number,
            phone.extension,
            auto_answer=phone.auto_answer,
            caller_id=caller_id,
            monitored=True,
            record=record,
            tag=tag if record else None,
        )
    except client_errors.NoojeeError as exc:
        _end_call(call, CallSession.Status.FAILED, error=str(exc))
        if recording_tag is not None:
            _fail_tag(recording_tag, f"The call could not be placed: {exc}")
        raise _pbx_error("place the call", exc) from exc

    # The listener may already have moved the call on (Ringing, Connected): only "queued" becomes
    # "dialing", and the PBX's session id is kept either way.
    now = timezone.now()
    calls = CallSession.objects.filter(pk=call.pk)
    if calls.filter(status=CallSession.Status.QUEUED).update(
        pbx_session_id=result.session_id, status=CallSession.Status.DIALING, updated_at=now
    ):
        call.status = CallSession.Status.DIALING
    else:
        calls.update(pbx_session_id=result.session_id, updated_at=now)
        call.refresh_from_db(fields=["status", "pbx_status", "unique_id", "connected_at", "ended_at"])
    call.pbx_session_id = result.session_id
    signals.call_placed.send(sender=CallSession, call=call)
    return call


def _claim_dial(*, user: Any, extension: str, number: str, **values: Any) -> tuple[CallSession, bool]:
    """Insert the call row before the PBX is asked, unless a double click already did.

    The row carries ``dial_guard`` = ``"<extension>><number>"``, a unique column, so of several clicks
    at once exactly one insert succeeds, on every database and across every process, without a lock
    or a transaction of our own. The guard is released when the call ends or fails; a guard older than
    ``DUPLICATE_DIAL_WINDOW`` is left over from an earlier call of the same number and is released by
    the next dial that meets it. Returns ``(call, created)``.
    """
    guard = f"{extension}>{number}"
    for _ in range(3):
        try:
            with _savepoint_if_in_transaction():
                call = CallSession.objects.create(
                    user=user, extension=extension, number=number, dial_guard=guard, **values
                )
            return call, True
        except IntegrityError:
            pass
        holder = CallSession.objects.filter(dial_guard=guard).first()
        if holder is None:
            continue  # released between our insert and this look: try again
        if holder.created_at >= timezone.now() - DUPLICATE_DIAL_WINDOW:
            return holder, False
        CallSession.objects.filter(pk=holder.pk, dial_guard=guard).update(dial_guard=None)
    raise InvalidState(f"Another call to {number} is being placed from {extension}; try again.")


@contextmanager
def _savepoint_if_in_transaction() -> Iterator[None]:
    """A savepoint when the caller holds a transaction (``ATOMIC_REQUESTS``, a test), else nothing.

    An ``IntegrityError`` inside a transaction must be rolled back to a savepoint to keep the
    transaction usable; outside one, the failed statement ended on its own, and a ``BEGIN``/``COMMIT``
    pair would only cost two round trips.
    """
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            yield
    else:
        yield


def _end_call(call: CallSession, status: str, *, error: str = "") -> None:
    """A call that ends before the PBX took it (refused, unreachable): final, and its guard released."""
    now = timezone.now()
    call.status = status
    call.error = error
    call.ended_at = now
    call.dial_guard = None
    call.save(update_fields=["status", "error", "ended_at", "dial_guard", "updated_at"])


def hangup(user: Any, call: CallSession) -> CallSession:
    """End the user's call. Idempotent: hanging up an ended call changes nothing."""
    _require_own_call(user, call)
    if not call.is_active:
        return call
    target = call.unique_id or call.extension.split("/", 1)[-1]
    try:
        get_client().hangup(target)
    except client_errors.NoojeeError as exc:
        raise _pbx_error("hang up", exc) from exc
    return apply_call_status(call, CallSession.Status.HUNG_UP, pbx_status="Hungup")


def answer(user: Any, unique_id: str) -> None:
    """Answer a call ringing on the user's own handset.

    The PBX would answer any call from any extension (a pickup), so a user could take a call ringing on
    a colleague's phone just by knowing its unique id. The call must show on the user's extension in
    a snapshot of it first.
    """
    if not getattr(user, "is_authenticated", False):
        raise NoojeePermissionDenied("Log in to use the phone.")
    _require("MAY_DIAL", user, None, "You may not answer calls through the CRM.")
    phone = agent_phone_for(user)
    unique_id = validate_unique_id(unique_id)
    client = get_client()
    try:
        snapshot = client.subscribe([phone.exten_number], 0, timeout=0)
    except client_errors.NoojeeError as exc:
        raise _pbx_error("look at your phone's calls", exc) from exc
    if not any(e.extension == phone.exten_number and e.unique_call_id == unique_id for e in snapshot.events):
        raise NoojeePermissionDenied("This call is not ringing on your phone.")
    try:
        client.answer(unique_id, phone.extension, answer_string=phone.auto_answer)
    except client_errors.NoojeeError as exc:
        raise _pbx_error("answer the call", exc) from exc


def _require_own_call(user: Any, call: CallSession) -> None:
    if not getattr(user, "is_authenticated", False):
        raise NoojeePermissionDenied("Log in to use the phone.")
    if call.user_id != user.pk and not user.has_perm("noojee_django.change_callsession"):
        raise NoojeePermissionDenied("This is not your call.")


#: Longest channel unique id kept (``CallSession.unique_id``, ``RecordingTag.unique_id``).
UNIQUE_ID_MAX_LENGTH = 64

_STATUS_FROM_PBX = {
    "Dialing Out": CallSession.Status.DIALING,
    "Ringing": CallSession.Status.RINGING,
    "Connected": CallSession.Status.CONNECTED,
    "Hungup": CallSession.Status.HUNG_UP,
    "Busy": CallSession.Status.FAILED,
    "No Answer": CallSession.Status.FAILED,
}


def status_from_pbx(pbx_status: str) -> str | None:
    """Our status for a PBX status string, or ``None`` when it says nothing we track (``Unlinked``)."""
    return _STATUS_FROM_PBX.get(pbx_status)


def apply_call_status(
    call: CallSession, status: str | None, *, pbx_status: str, unique_id: str | None = None
) -> CallSession:
    """Record a new state of a call (from the listener, a snapshot or a hang-up) and announce it.

    Ended calls stay ended: a late "Connected" cannot revive them. When a recorded call ends, its tag
    starts waiting for audio.
    """
    previous = call.status
    fields = ["pbx_status", "updated_at"]
    call.pbx_status = pbx_status[:64]
    # A unique id longer than its column is no channel id this PBX uses: not kept, never sent back.
    if unique_id and not call.unique_id and len(unique_id) <= UNIQUE_ID_MAX_LENGTH:
        call.unique_id = unique_id
        fields.append("unique_id")
    if status and call.is_active and status != previous:
        call.status = status
        fields.append("status")
        now = timezone.now()
        if status == CallSession.Status.CONNECTED and call.connected_at is None:
            call.connected_at = now
            fields.append("connected_at")
        if status in CallSession.FINAL_STATUSES:
            call.ended_at = now
            call.dial_guard = None  # the number may be dialled again at once
            fields += ["ended_at", "dial_guard"]
    call.save(update_fields=fields)
    if call.status != previous:
        signals.call_status_changed.send(sender=CallSession, call=call, previous_status=previous)
        if call.status in CallSession.FINAL_STATUSES and call.recording_tag_id:
            tag = RecordingTag.objects.get(pk=call.recording_tag_id)
            if tag.status == RecordingTag.Status.RECORDING:
                _mark_waiting(tag)
    return call


def apply_call_event(event: CallEvent) -> CallSession | None:
    """Apply one PBX call event to the call it belongs to; ``None`` when it is none of ours.

    The call is found by channel unique id, or, for the first event of a click-to-dial call (which
    carries the unique id we do not know yet), as the oldest call still starting on that extension, to
    the number the event names when it names one (``outboundDestination``, on newer servers). Oldest,
    because the PBX originates one extension's calls in the order they were asked for, and a listener
    that was down meets them all at once: the newest would give each call the events of the next. The
    number, so that a row a crashed dial left starting does not take the events of the next call.
    """
    call = None
    if event.unique_call_id:
        call = CallSession.objects.filter(unique_id=event.unique_call_id).order_by("-created_at").first()
    if call is None and event.is_click_to_dial_call:
        starting = CallSession.objects.filter(
            extension__endswith=f"/{event.extension}",
            unique_id="",
            status__in=[CallSession.Status.QUEUED, CallSession.Status.DIALING, CallSession.Status.RINGING],
        ).order_by("created_at", "pk")
        if event.outbound_destination:
            call = next((c for c in starting if _same_number(c.number, event.outbound_destination)), None)
        else:
            call = starting.first()
    if call is None:
        return None
    return apply_call_status(
        call, status_from_pbx(event.status), pbx_status=event.status, unique_id=event.unique_call_id
    )


def _same_number(ours: str, theirs: str) -> bool:
    """Whether two spellings name one number: ``0383208100``, ``+61383208100`` and ``61 3 8320 8100`` do.

    A PBX may show the number it dialled with a country code or without its trunk prefix; the digits
    after those (six at least) must agree.
    """
    a = "".join(c for c in ours if c.isdigit()).lstrip("0")
    b = "".join(c for c in theirs if c.isdigit()).lstrip("0")
    shorter, longer = sorted((a, b), key=len)
    return shorter == longer or (len(shorter) >= 6 and longer.endswith(shorter))


#: The listener refreshes this cache key on every loop; while it is fresh, the database is up to date.
LISTENER_HEARTBEAT_KEY = "noojee_django:listener-heartbeat"
LISTENER_HEARTBEAT_TTL = 30


def listener_is_running() -> bool:
    return cache.get(LISTENER_HEARTBEAT_KEY) is not None


def mark_listener_alive() -> None:
    cache.set(LISTENER_HEARTBEAT_KEY, timezone.now().isoformat(), LISTENER_HEARTBEAT_TTL)


def current_call_status(call: CallSession) -> CallSession:
    """The call's state, fresh: from the database while the listener runs, else from a PBX snapshot.

    The snapshot is ``subscribe`` with ``timeOut=0&lastSequenceNumber=0``: the current calls of the
    agent's extension, answered at once.
    """
    if not call.is_active or listener_is_running():
        return call
    exten = call.extension.split("/", 1)[-1]
    try:
        snapshot = get_client().subscribe([exten], 0, timeout=0)
    except client_errors.NoojeeError as exc:
        logger.info("Call status snapshot failed: %s", exc)
        return call
    events = [e for e in snapshot.events if e.extension == exten]
    mine = [e for e in events if call.unique_id and e.unique_call_id == call.unique_id] or [
        e for e in events if e.is_click_to_dial_call
    ]
    if mine:
        event = mine[-1]
        return apply_call_status(
            call, status_from_pbx(event.status), pbx_status=event.status, unique_id=event.unique_call_id
        )
    if call.status != CallSession.Status.QUEUED and call.connected_at is not None:
        # The extension has no call any more: ours ended between two looks.
        return apply_call_status(call, CallSession.Status.HUNG_UP, pbx_status="Hungup")
    return call


# --------------------------------------------------------------------------------------------------
# Recording


def _create_recording_tag(
    user: Any, obj: Any, tag: str, phone: AgentPhone, *, consent_given: bool
) -> RecordingTag:
    content_type, object_id = _required_object_ref(obj)
    try:
        with transaction.atomic():
            return RecordingTag.objects.create(
                tag=tag,
                content_type=content_type,
                object_id=object_id,
                extension=phone.extension,
                started_by=user,
                consent_given=consent_given,
            )
    except IntegrityError:
        raise InvalidState(f"Tag {tag!r} is already being recorded; stop that recording first.") from None


def start_recording(user: Any, obj: Any, tag: str, *, consent_given: bool = False) -> RecordingTag:
    """Start recording the user's current call under ``tag``, for ``obj`` (an invoice, an order)."""
    _require("MAY_RECORD", user, obj, "You may not record calls for this record.")
    tag = validate_tag(tag)
    phone = agent_phone_for(user)
    recording_tag = _create_recording_tag(user, obj, tag, phone, consent_given=consent_given)
    try:
        get_client().start_recording(phone.extension, agent_login_name=phone.login_name or None, tag=tag)
    except client_errors.NoojeeError as exc:
        _fail_tag(recording_tag, f"The PBX did not start recording: {exc}")
        raise _pbx_error("start recording", exc) from exc
    # The agent's current call carries the recording: when it hangs up, the tag starts waiting for
    # its audio even if nobody pressed "stop".
    CallSession.objects.filter(
        user=user,
        extension=phone.extension,
        status__in=[CallSession.Status.DIALING, CallSession.Status.RINGING, CallSession.Status.CONNECTED],
    ).update(recording_tag=recording_tag)
    signals.recording_started.send(sender=RecordingTag, recording_tag=recording_tag)
    return recording_tag


def stop_recording(user: Any, recording_tag: RecordingTag) -> RecordingTag:
    """Stop the recording and start waiting for its audio. Idempotent once stopped.

    Who may stop it is asked first, whatever its state, so a stopped or attached recording tells
    nobody else anything. The PBX is told to stop on the extension the recording was started on: an
    operator stopping an agent's recording stops that agent's, needing no phone of their own.
    """
    _require_own_recording(user, recording_tag)
    if recording_tag.status != RecordingTag.Status.RECORDING:
        return recording_tag
    extension = recording_tag.extension or agent_phone_for(user).extension
    phone = AgentPhone.objects.filter(extension=extension).first()
    login_name = phone.login_name if phone is not None else ""
    try:
        get_client().stop_recording(extension, agent_login_name=login_name or None)
    except client_errors.NoojeeError as exc:
        # The recording may have ended with the call already: the legs are what matters, so the tag
        # still goes on to wait for them, and the error is kept for the operator.
        logger.warning("Stopping recording %s failed: %s", recording_tag.tag, exc)
        recording_tag.last_error = f"Stop was refused by the PBX: {exc}"
    return _mark_waiting(recording_tag)


def _require_own_recording(user: Any, recording_tag: RecordingTag) -> None:
    if not getattr(user, "is_authenticated", False):
        raise NoojeePermissionDenied("Log in to use the phone.")
    if recording_tag.started_by_id != user.pk and not user.has_perm("noojee_django.change_recordingtag"):
        raise NoojeePermissionDenied("Only the agent who started this recording can stop it.")


def watch_tag(
    obj: Any, tag: str, *, user: Any | None = None, since: dt.datetime | None = None
) -> RecordingTag:
    """Collect a recording made outside the CRM (from the handset, by a dial plan) under ``tag``.

    The tag starts waiting at once; legs that started after ``since`` (default: a day ago) and carry
    exactly this tag are fetched and attached to ``obj``.
    """
    if user is not None:
        _require("MAY_RECORD", user, obj, "You may not attach recordings to this record.")
    tag = validate_tag(tag)
    content_type, object_id = _required_object_ref(obj)
    now = timezone.now()
    delay = float(noojee_settings.POLL_DELAY)
    try:
        with transaction.atomic():
            recording_tag = RecordingTag.objects.create(
                tag=tag,
                content_type=content_type,
                object_id=object_id,
                status=RecordingTag.Status.WAITING,
                started_by=user,
                started_at=since or now - dt.timedelta(days=1),
                stopped_at=now,
                next_poll_at=now + dt.timedelta(seconds=delay),
            )
    except IntegrityError:
        raise InvalidState(f"Tag {tag!r} is already being collected.") from None
    _schedule_poll(recording_tag, countdown=delay)
    return recording_tag


def _mark_waiting(recording_tag: RecordingTag) -> RecordingTag:
    now = timezone.now()
    updated = RecordingTag.objects.filter(pk=recording_tag.pk, status=RecordingTag.Status.RECORDING).update(
        status=RecordingTag.Status.WAITING,
        stopped_at=now,
        next_poll_at=now + dt.timedelta(seconds=float(noojee_settings.POLL_DELAY)),
        last_error=recording_tag.last_error,
        updated_at=now,
    )
    recording_tag.refresh_from_db()
    if updated:
        signals.recording_stopped.send(sender=RecordingTag, recording_tag=recording_tag)
        _schedule_poll(recording_tag, countdown=float(noojee_settings.POLL_DELAY))
    return recording_tag


def _schedule_poll(recording_tag: RecordingTag, *, countdown: float) -> None:
    from .tasks import poll_recording_tag

    tag_id = recording_tag.pk
    transaction.on_commit(lambda: poll_recording_tag.apply_async((tag_id,), countdown=max(countdown, 0)))


def _schedule_fetch(leg_id: int, *, countdown: float = 0) -> None:
    from .tasks import fetch_recording_leg

    transaction.on_commit(lambda: fetch_recording_leg.apply_async((leg_id,), countdown=max(countdown, 0)))


def backoff_delay(attempt: int) -> float:
    """Capped exponential backoff with jitter: about base·2^attempt seconds, never above the cap."""
    base = float(noojee_settings.POLL_BACKOFF_BASE)
    cap = float(noojee_settings.POLL_BACKOFF_CAP)
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    return random.uniform(ceiling / 2, ceiling)


def _fail_tag(recording_tag: RecordingTag, reason: str) -> None:
    now = timezone.now()
    RecordingTag.objects.filter(pk=recording_tag.pk).exclude(status=RecordingTag.Status.ATTACHED).update(
        status=RecordingTag.Status.FAILED, last_error=reason, next_poll_at=None, updated_at=now
    )
    recording_tag.refresh_from_db()
    signals.recording_failed.send(sender=RecordingTag, recording_tag=recording_tag, reason=reason)


def _log_attempt(
    recording_tag: RecordingTag,
    action: str,
    outcome: str,
    *,
    leg: RecordingLeg | None = None,
    error: client_errors.NoojeeError | None = None,
    message: str = "",
    started: float | None = None,
) -> RecordingAttempt:
    return RecordingAttempt.objects.create(
        recording_tag=recording_tag,
        leg=leg,
        action=action,
        outcome=outcome,
        http_status=error.http_status if error is not None else None,
        error_kind=error.kind if error is not None else "",
        message=message or (str(error) if error is not None else ""),
        duration_ms=int((time.monotonic() - started) * 1000) if started is not None else None,
    )


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
    tasks, the same guarantees, since :func:`fetch_leg` claims each leg); otherwise each leg is sent
    to its own fetch task.

    "No legs yet" waits with capped backoff until ``GIVE_UP_AFTER``, then the tag is ``absent``;
    an error waits the same way and, past that age, marks the tag ``failed`` with the reason.
    """
    try:
        recording_tag = RecordingTag.objects.get(pk=recording_tag_id)
    except RecordingTag.DoesNotExist:
        return PollResult("skipped")
    if not recording_tag.is_pending:
        return PollResult("skipped")

    started = time.monotonic()
    RecordingTag.objects.filter(pk=recording_tag.pk).update(attempts=F("attempts") + 1)
    recording_tag.attempts += 1
    try:
        metadata = get_client().retrieve_metadata(recording_tag.tag)
    except client_errors.NoojeeError as exc:
        outcome = (
            RecordingAttempt.Outcome.NOT_READY
            if isinstance(exc, client_errors.RecordingNotReady)
            else RecordingAttempt.Outcome.ERROR
        )
        _log_attempt(recording_tag, RecordingAttempt.Action.POLL, outcome, error=exc, started=started)
        return _retry_poll_or_give_up(recording_tag, outcome, reason=f"Polling the PBX failed: {exc}")

    legs = [leg for leg in metadata if _belongs_to(leg, recording_tag)]
    if not legs:
        _log_attempt(
            recording_tag, RecordingAttempt.Action.POLL, RecordingAttempt.Outcome.NO_LEGS, started=started
        )
        return _retry_poll_or_give_up(
            recording_tag,
            RecordingAttempt.Outcome.NO_LEGS,
            reason=f"The PBX has no recording tagged {recording_tag.tag!r}.",
        )

    to_fetch = _upsert_legs(recording_tag, legs)
    _log_attempt(
        recording_tag,
        RecordingAttempt.Action.POLL,
        RecordingAttempt.Outcome.OK,
        message=f"{len(legs)} leg(s) found",
        started=started,
    )
    now = timezone.now()
    RecordingTag.objects.filter(pk=recording_tag.pk, status__in=RecordingTag.PENDING_STATUSES).update(
        status=RecordingTag.Status.FETCHING,
        unique_id=legs[0].unique_id[:UNIQUE_ID_MAX_LENGTH],
        # A watchdog: if the fetches are lost with their worker, the sweep picks the tag up again.
        next_poll_at=now + fetch_lease(),
        updated_at=now,
    )
    if fetch_inline:
        # One task per tag on the happy path: the legs come down here, one after the other, and
        # only a leg that fails gets a task of its own for its retries.
        for leg_id in to_fetch:
            fetch_leg(leg_id)
    else:
        for leg_id in to_fetch:
            _schedule_fetch(leg_id)
    if not to_fetch:
        _attach_if_complete(recording_tag.pk)
    return PollResult(RecordingAttempt.Outcome.OK, legs_found=len(legs), legs_to_fetch=tuple(to_fetch))


def _belongs_to(leg: LegMetadata, recording_tag: RecordingTag) -> bool:
    if leg.tag != recording_tag.tag:
        return False
    return leg.start is None or leg.start >= recording_tag.started_at - LEG_START_TOLERANCE


def _upsert_legs(recording_tag: RecordingTag, legs: list[LegMetadata]) -> list[int]:
    """Create or refresh leg rows keyed on ``CallRecordId``; return the ids of legs still to fetch.

    A leg another tag already owns (an older recording with the same tag) is left alone.
    """
    to_fetch: list[int] = []
    existing = {
        leg.call_record_id: leg
        for leg in RecordingLeg.objects.filter(call_record_id__in=[m.call_record_id for m in legs])
    }
    for meta in legs:
        values = {
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
        row = existing.get(meta.call_record_id)
        if row is None:
            try:
                with transaction.atomic():
                    row = RecordingLeg.objects.create(
                        recording_tag=recording_tag, call_record_id=meta.call_record_id, **values
                    )
            except IntegrityError:  # a racing poll created it first
                row = RecordingLeg.objects.get(call_record_id=meta.call_record_id)
            existing[meta.call_record_id] = row
        elif row.recording_tag_id == recording_tag.pk:
            RecordingLeg.objects.filter(pk=row.pk).update(**values)
        if row.recording_tag_id == recording_tag.pk and row.fetch_status in (
            RecordingLeg.FetchStatus.PENDING,
            RecordingLeg.FetchStatus.FETCHING,  # fetch_leg's claim decides whether a worker still has it
        ):
            to_fetch.append(row.pk)
    return sorted(set(to_fetch))


def _retry_poll_or_give_up(recording_tag: RecordingTag, outcome: str, *, reason: str) -> PollResult:
    stopped = recording_tag.stopped_at or recording_tag.started_at
    age = (timezone.now() - stopped).total_seconds()
    if age >= float(noojee_settings.GIVE_UP_AFTER):
        if outcome == RecordingAttempt.Outcome.NO_LEGS:
            now = timezone.now()
            RecordingTag.objects.filter(pk=recording_tag.pk, status__in=RecordingTag.PENDING_STATUSES).update(
                status=RecordingTag.Status.ABSENT, last_error=reason, next_poll_at=None, updated_at=now
            )
            recording_tag.refresh_from_db()
            signals.recording_failed.send(sender=RecordingTag, recording_tag=recording_tag, reason=reason)
        else:
            _fail_tag(recording_tag, reason)
        return PollResult(outcome)
    delay = backoff_delay(recording_tag.attempts - 1)
    now = timezone.now()
    RecordingTag.objects.filter(pk=recording_tag.pk, status__in=RecordingTag.PENDING_STATUSES).update(
        next_poll_at=now + dt.timedelta(seconds=delay),
        last_error="" if outcome == RecordingAttempt.Outcome.NO_LEGS else reason,
        updated_at=now,
    )
    _schedule_poll(recording_tag, countdown=delay)
    return PollResult(outcome, retry_in=delay)


@dataclass(frozen=True)
class FetchResult:
    outcome: str
    retry_in: float | None = None


def fetch_leg(leg_id: int) -> FetchResult:
    """Download one leg's audio, verify it, and store it; at most one successful fetch per leg.

    The leg is claimed with a compare-and-set on its status, so two workers racing for it cannot both
    download it; a claim older than ``FETCH_LEASE`` seconds is taken to belong to a lost worker. A claim
    is numbered by ``fetch_attempts``: whatever a download ends with (stored, not ready, gone, failed) is
    written only while the leg still carries its claim, so a worker whose lease passed to another (its
    download outlived ``FETCH_LEASE``) changes nothing the other did. A leg claimed more than
    ``MAX_FETCH_ATTEMPTS`` times fails instead of being downloaded again, whether its downloads failed or
    never finished (workers killed by it, downloads always slower than the lease): it must not be
    fetched forever. The audio streams into a temporary file and reaches storage only once the client
    has verified the WAV.
    """
    now = timezone.now()
    claimed = (
        RecordingLeg.objects.filter(pk=leg_id)
        .filter(
            Q(fetch_status=RecordingLeg.FetchStatus.PENDING)
            | Q(fetch_status=RecordingLeg.FetchStatus.FETCHING, updated_at__lt=now - fetch_lease())
        )
        .update(
            fetch_status=RecordingLeg.FetchStatus.FETCHING,
            fetch_attempts=F("fetch_attempts") + 1,
            updated_at=now,
        )
    )
    if not claimed:
        return FetchResult("skipped")
    leg = RecordingLeg.objects.select_related("recording_tag").get(pk=leg_id)
    mine = _claim_of(leg)
    recording_tag = leg.recording_tag
    if leg.fetch_attempts > int(noojee_settings.MAX_FETCH_ATTEMPTS):
        return _give_up_fetching(leg, mine)
    started = time.monotonic()
    storage = RecordingLeg._meta.get_field("audio").storage
    saved_name: str | None = None
    try:
        with _temporary_file() as tmp:
            info = get_client().download_leg(
                tmp, unique_id=leg.unique_id, leg=leg.leg, call_record_id=leg.call_record_id
            )
            tmp.flush()
            tmp.seek(0)
            upload_to = RecordingLeg._meta.get_field("audio").generate_filename(
                leg, f"{_safe_name(recording_tag.tag)}-{leg.call_record_id}.wav"
            )
            saved_name = storage.save(upload_to, File(tmp))
    except client_errors.NoojeeError as exc:
        return _after_failed_fetch(leg, mine, exc, started)

    updated = mine.update(
        fetch_status=RecordingLeg.FetchStatus.FETCHED,
        audio=saved_name,
        audio_size=info.bytes_written,
        audio_sha256=info.sha256,
        sample_rate=info.sample_rate,
        channels=info.channels,
        measured_duration=info.duration_seconds,
        fetched_at=timezone.now(),
        last_error="",
        updated_at=timezone.now(),
    )
    if not updated:  # the claim passed to another worker meanwhile: keep theirs, drop ours
        storage.delete(saved_name)
        return FetchResult("skipped")
    _log_attempt(
        recording_tag,
        RecordingAttempt.Action.FETCH,
        RecordingAttempt.Outcome.OK,
        leg=leg,
        message=f"{info.bytes_written} bytes, {info.duration_seconds:.1f} s",
        started=started,
    )
    _attach_if_complete(recording_tag.pk)
    return FetchResult(RecordingAttempt.Outcome.OK)


def _give_up_fetching(leg: RecordingLeg, mine: models.QuerySet[RecordingLeg]) -> FetchResult:
    """Fail a leg whose allowed downloads all started and none stored it, with the last error seen."""
    last = (
        leg.attempts.filter(action=RecordingAttempt.Action.FETCH, outcome=RecordingAttempt.Outcome.ERROR)
        .order_by("-created_at", "-pk")
        .first()
    )
    cause = last.message if last is not None else "no download finished (the worker was lost each time)"
    tried = int(noojee_settings.MAX_FETCH_ATTEMPTS)
    if not mine.update(
        fetch_status=RecordingLeg.FetchStatus.FAILED, last_error=cause, updated_at=timezone.now()
    ):
        return FetchResult("skipped")
    _fail_tag(
        leg.recording_tag,
        f"Leg {leg.leg} (#{leg.call_record_id}) could not be fetched after {tried} attempt(s): {cause}",
    )
    return FetchResult(RecordingAttempt.Outcome.ERROR)


def _claim_of(leg: RecordingLeg) -> models.QuerySet[RecordingLeg]:
    """The leg while it still carries this claim (read just after taking it, so it is ours)."""
    return RecordingLeg.objects.filter(
        pk=leg.pk, fetch_status=RecordingLeg.FetchStatus.FETCHING, fetch_attempts=leg.fetch_attempts
    )


def _after_failed_fetch(
    leg: RecordingLeg, mine: models.QuerySet[RecordingLeg], exc: client_errors.NoojeeError, started: float
) -> FetchResult:
    """Log the attempt; then, if the claim is still ours, wait, retry, or fail the leg and its tag.

    A download that outlived its lease lost the leg to another worker, which may have stored it by now:
    such a failure is logged and changes nothing else.
    """
    recording_tag = leg.recording_tag
    now = timezone.now()
    if isinstance(exc, client_errors.RecordingNotReady):
        # The call is still going on: not a failure, wait without spending a fetch attempt.
        _log_attempt(
            recording_tag,
            RecordingAttempt.Action.FETCH,
            RecordingAttempt.Outcome.NOT_READY,
            leg=leg,
            error=exc,
            started=started,
        )
        if not mine.update(
            fetch_status=RecordingLeg.FetchStatus.PENDING,
            fetch_attempts=F("fetch_attempts") - 1,
            updated_at=now,
        ):
            return FetchResult("skipped")
        delay = backoff_delay(min(leg.fetch_attempts, 6))
        _schedule_fetch(leg.pk, countdown=delay)
        return FetchResult(RecordingAttempt.Outcome.NOT_READY, retry_in=delay)
    if isinstance(exc, client_errors.NotFoundError):
        _log_attempt(
            recording_tag,
            RecordingAttempt.Action.FETCH,
            RecordingAttempt.Outcome.GONE,
            leg=leg,
            error=exc,
            started=started,
        )
        if not mine.update(fetch_status=RecordingLeg.FetchStatus.GONE, last_error=str(exc), updated_at=now):
            return FetchResult("skipped")
        _fail_tag(recording_tag, f"Leg {leg.leg} (#{leg.call_record_id}) is gone from the PBX: {exc}")
        return FetchResult(RecordingAttempt.Outcome.GONE)
    _log_attempt(
        recording_tag,
        RecordingAttempt.Action.FETCH,
        RecordingAttempt.Outcome.ERROR,
        leg=leg,
        error=exc,
        started=started,
    )
    if leg.fetch_attempts >= int(noojee_settings.MAX_FETCH_ATTEMPTS) or not exc.retryable:
        if not mine.update(fetch_status=RecordingLeg.FetchStatus.FAILED, last_error=str(exc), updated_at=now):
            return FetchResult("skipped")
        _fail_tag(
            recording_tag,
            f"Leg {leg.leg} (#{leg.call_record_id}) could not be fetched after "
            f"{leg.fetch_attempts} attempt(s): {exc}",
        )
        return FetchResult(RecordingAttempt.Outcome.ERROR)
    if not mine.update(fetch_status=RecordingLeg.FetchStatus.PENDING, last_error=str(exc), updated_at=now):
        return FetchResult("skipped")
    delay = backoff_delay(leg.fetch_attempts - 1)
    _schedule_fetch(leg.pk, countdown=delay)
    return FetchResult(RecordingAttempt.Outcome.ERROR, retry_in=delay)


@contextmanager
def _temporary_file() -> Iterator[Any]:
    """A temporary file with no name on disk, so that it goes even with a worker killed mid-download.

    A named one would stay in the temporary folder after a SIGKILL or an out-of-memory kill: no
    ``finally`` runs then, while the kernel still frees an unnamed file with its process.
    """
    with tempfile.TemporaryFile(prefix="noojee-", suffix=".wav.part") as tmp:
        yield tmp


def _safe_name(tag: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in tag)[:40] or "recording"


def _attach_if_complete(recording_tag_id: int) -> bool:
    """When every leg of the tag is fetched, join them into the voice signature and attach it."""
    recording_tag = RecordingTag.objects.get(pk=recording_tag_id)
    if recording_tag.status != RecordingTag.Status.FETCHING:
        return False
    legs = list(recording_tag.legs.order_by("leg", "call_record_id"))
    if not legs or any(leg.fetch_status != RecordingLeg.FetchStatus.FETCHED for leg in legs):
        return False
    storage = RecordingTag._meta.get_field("audio").storage
    with ExitStack() as stack:
        sources = [stack.enter_context(leg.audio.open("rb")) for leg in legs]
        tmp = stack.enter_context(_temporary_file())
        try:
            stitched = stitch_wavs(sources, tmp)
        except StitchError as exc:
            _fail_tag(recording_tag, f"The legs could not be joined: {exc}")
            return False
        tmp.flush()
        tmp.seek(0)
        name = RecordingTag._meta.get_field("audio").generate_filename(
            recording_tag, f"{_safe_name(recording_tag.tag)}-signature.wav"
        )
        saved_name = storage.save(name, File(tmp))
    now = timezone.now()
    retention = noojee_settings.RETENTION_DAYS
    keep_until = (now + dt.timedelta(days=int(retention))).date() if retention is not None else None
    old_audio = recording_tag.audio.name if recording_tag.audio else ""
    updated = RecordingTag.objects.filter(pk=recording_tag.pk, status=RecordingTag.Status.FETCHING).update(
        status=RecordingTag.Status.ATTACHED,
        audio=saved_name,
        audio_size=stitched.bytes_written,
        audio_sha256=stitched.sha256,
        audio_duration=stitched.duration_seconds,
        attached_at=now,
        keep_until=keep_until,
        next_poll_at=None,
        last_error="",
        updated_at=now,
    )
    if not updated:  # another worker attached it first
        storage.delete(saved_name)
        return False
    if old_audio and old_audio != saved_name:
        storage.delete(old_audio)
    recording_tag.refresh_from_db()
    signals.recording_attached.send(
        sender=RecordingTag, recording_tag=recording_tag, content_object=recording_tag.content_object
    )
    return True


# --------------------------------------------------------------------------------------------------
# Sweeping and reconciling


def sweep_due_tags(*, now: dt.datetime | None = None, limit: int | None = None) -> int:
    """Send a poll for every pending tag whose poll is overdue: the safety net for lost tasks.

    Polls are normally scheduled as delayed tasks; a tag whose ``next_poll_at`` passed more than
    ``SWEEP_GRACE`` seconds ago lost its task (worker gone, broker flushed). The query walks the
    ``next_poll_at`` index, so its cost follows the number due, not the number waiting. Each swept tag's
    ``next_poll_at`` moves forward so the next sweep does not send it again.
    """
    now = now or timezone.now()
    limit = limit or int(noojee_settings.SWEEP_BATCH_SIZE)
    cutoff = now - dt.timedelta(seconds=float(noojee_settings.SWEEP_GRACE))
    due = list(
        RecordingTag.objects.filter(next_poll_at__lte=cutoff)
        .order_by("next_poll_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not due:
        return 0
    RecordingTag.objects.filter(pk__in=due).update(
        next_poll_at=now + dt.timedelta(seconds=float(noojee_settings.POLL_BACKOFF_CAP))
    )
    from .tasks import poll_recording_tag

    for tag_id in due:
        poll_recording_tag.apply_async((tag_id,))
    return len(due)


def reconcile_hour(date: dt.date, hour: int) -> int:
    """Find tagged legs that ended in one PBX hour and that no poll has seen; attach them.

    A leg whose tag belongs to a known recording joins it (and the signature is joined again); a tag
    nobody started here is resolved to a CRM object by the ``RESOLVE_TAG`` hook, or ignored without one.
    Returns the number of legs added.
    """
    try:
        metadata = get_client().retrieve_metadata_by_hour(date, hour)
    except client_errors.NoojeeError as exc:
        raise _pbx_error("list the hour's recordings", exc) from exc
    known = set(
        RecordingLeg.objects.filter(call_record_id__in=[m.call_record_id for m in metadata]).values_list(
            "call_record_id", flat=True
        )
    )
    by_tag: dict[str, list[LegMetadata]] = {}
    for meta in metadata:
        if meta.tag and meta.call_record_id not in known:
            by_tag.setdefault(meta.tag, []).append(meta)
    resolve = noojee_settings.hook("RESOLVE_TAG")
    added = 0
    for tag, legs in by_tag.items():
        recording_tag = (
            RecordingTag.objects.filter(tag=tag).exclude(status=RecordingTag.Status.RECORDING).first()
        )
        if recording_tag is None:
            obj = resolve(tag) if resolve is not None else None
            if obj is None:
                continue
            content_type, object_id = _required_object_ref(obj)
            recording_tag = RecordingTag.objects.create(
                tag=tag,
                content_type=content_type,
                object_id=object_id,
                status=RecordingTag.Status.FETCHING,
                started_at=min((m.start for m in legs if m.start), default=timezone.now()),
                stopped_at=timezone.now(),
            )
        to_fetch = _upsert_legs(recording_tag, legs)
        RecordingTag.objects.filter(pk=recording_tag.pk).update(
            status=RecordingTag.Status.FETCHING, next_poll_at=timezone.now() + fetch_lease()
        )
        _log_attempt(
            recording_tag,
            RecordingAttempt.Action.RECONCILE,
            RecordingAttempt.Outcome.OK,
            message=f"{len(legs)} leg(s) found by the hourly listing",
        )
        for leg_id in to_fetch:
            _schedule_fetch(leg_id)
        added += len(legs)
    return added


# --------------------------------------------------------------------------------------------------
# Operator actions


def poll_now(recording_tags: models.QuerySet[RecordingTag] | list[RecordingTag]) -> int:
    """Make tags due at once (failed and absent ones too: an operator is asking again)."""
    now = timezone.now()
    count = 0
    for recording_tag in recording_tags:
        if recording_tag.status == RecordingTag.Status.RECORDING:
            continue
        if recording_tag.status != RecordingTag.Status.ATTACHED:
            RecordingTag.objects.filter(pk=recording_tag.pk).update(
                status=RecordingTag.Status.WAITING,
                next_poll_at=now,
                stopped_at=recording_tag.stopped_at or now,
                updated_at=now,
            )
            _schedule_poll(recording_tag, countdown=0)
            count += 1
    return count


def refetch_legs(legs: models.QuerySet[RecordingLeg] | list[RecordingLeg]) -> int:
    """Fetch these legs' audio again (failed, gone or corrupt ones): their tag goes back to fetching."""
    count = 0
    now = timezone.now()
    for leg in legs:
        RecordingLeg.objects.filter(pk=leg.pk).exclude(fetch_status=RecordingLeg.FetchStatus.FETCHING).update(
            fetch_status=RecordingLeg.FetchStatus.PENDING, fetch_attempts=0, last_error="", updated_at=now
        )
        RecordingTag.objects.filter(pk=leg.recording_tag_id).update(
            status=RecordingTag.Status.FETCHING, next_poll_at=now + fetch_lease(), updated_at=now
        )
        _schedule_fetch(leg.pk)
        count += 1
    return count


def attach_to(user: Any, recording_tag: RecordingTag, obj: Any) -> RecordingTag:
    """Move a recording to another CRM record (it was tagged against the wrong invoice)."""
    if not user.has_perm("noojee_django.change_recordingtag"):
        raise NoojeePermissionDenied("You may not move recordings between records.")
    content_type, object_id = _object_ref(obj)
    recording_tag.content_type = content_type  # type: ignore[assignment]
    recording_tag.object_id = object_id
    recording_tag.save(update_fields=["content_type", "object_id", "updated_at"])
    if recording_tag.status == RecordingTag.Status.ATTACHED:
        signals.recording_attached.send(sender=RecordingTag, recording_tag=recording_tag, content_object=obj)
    return recording_tag


def set_legal_hold(
    user: Any, recording_tags: models.QuerySet[RecordingTag] | list[RecordingTag], hold: bool
) -> int:
    if not user.has_perm("noojee_django.change_recordingtag"):
        raise NoojeePermissionDenied("You may not change legal holds.")
    ids = [t.pk for t in recording_tags]
    return RecordingTag.objects.filter(pk__in=ids).update(legal_hold=hold, updated_at=timezone.now())


def purge_audio(recording_tag: RecordingTag) -> bool:
    """Delete a tag's audio (the signature and every leg), keep its metadata. Refused on legal hold.

    The hold is read from the row as the purge claims it (a compare-and-set), not from the caller's
    copy: a hold set since that copy was loaded (an operator, while the hourly purge walks thousands
    of rows or while the admin's confirmation page was open) must win. A purge that fails half-way
    gives the claim back, so the next purge finishes it.
    """
    now = timezone.now()
    claim = RecordingTag.objects.filter(pk=recording_tag.pk)
    previous = claim.values_list("purged_at", flat=True).first()
    if not claim.filter(legal_hold=False).update(purged_at=now, updated_at=now):
        if claim.exists():
            recording_tag.legal_hold = True
            raise InvalidState(f"{recording_tag.tag} is on legal hold: its audio cannot be purged.")
        return False
    deleted = False
    try:
        for leg in RecordingLeg.objects.filter(recording_tag_id=recording_tag.pk).exclude(audio=""):
            leg.audio.delete(save=False)
            RecordingLeg.objects.filter(pk=leg.pk).update(
                audio="", fetch_status=RecordingLeg.FetchStatus.PURGED, updated_at=now
            )
            deleted = True
        audio_name = claim.values_list("audio", flat=True).first()
        if audio_name:
            RecordingTag._meta.get_field("audio").storage.delete(audio_name)
            deleted = True
    except Exception:
        claim.filter(purged_at=now).update(purged_at=previous)
        raise
    claim.update(audio="", updated_at=now)
    recording_tag.audio = ""
    recording_tag.purged_at = now
    return deleted


def purge_expired_audio(today: dt.date | None = None) -> int:
    """Purge the audio of every tag past its keep-until date that is not on legal hold."""
    today = today or timezone.localdate()
    expired = RecordingTag.objects.filter(keep_until__lt=today, legal_hold=False, purged_at__isnull=True)
    count = 0
    for recording_tag in expired.iterator():
        try:
            purge_audio(recording_tag)
        except InvalidState:  # put on hold since the query ran
            continue
        except Exception:  # one file storage will not delete must not keep the others past their date
            logger.exception("Purging the audio of %s failed; the next purge tries again", recording_tag.tag)
            continue
        count += 1
    return count


# --------------------------------------------------------------------------------------------------
# Listening


def check_may_hear(user: Any, recording_tag: RecordingTag) -> None:
    if not may_hear(user, recording_tag.content_object):
        raise NoojeePermissionDenied("You may not hear the recordings of this record.")


def record_access(
    user: Any,
    recording_tag: RecordingTag,
    *,
    leg: RecordingLeg | None,
    action: str,
    byte_range: str = "",
    ip_address: str | None = None,
) -> RecordingAccess:
    return RecordingAccess.objects.create(
        user=user if getattr(user, "is_authenticated", False) else None,
        recording_tag=recording_tag,
        leg=leg,
        action=action,
        byte_range=_printable(byte_range[:256])[:64],
        ip_address=ip_address,
    )


def _printable(text: str) -> str:
    """``text`` with control characters (NUL, newlines) dropped: a log column, not a raw header dump."""
    return "".join(char for char in text if char.isprintable())


def recordings_for(obj: Any) -> models.QuerySet[RecordingTag]:
    """The recordings attached to a CRM object, newest first, with their legs."""
    content_type, object_id = _object_ref(obj)
    return RecordingTag.objects.filter(content_type=content_type, object_id=object_id).prefetch_related(
        "legs"
    )
