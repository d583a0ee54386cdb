"""Calls: dial, hang up, answer, and what the PBX says about calls (the listener, snapshots, the sweep).

A call's end is what collects its recordings: :func:`apply_call_status` hands every call that ends to
:func:`~noojee_django.services.collecting.collect_after_call`, whether the end was seen by the
listener, by a page asking for the call's status, or by :func:`sweep_live_calls`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import connections, signals
from ..client import errors as client_errors
from ..client.types import CallEvent
from ..conf import noojee_settings
from ..exceptions import ConsentRequired, InvalidState, NoojeePermissionDenied, RateLimited
from ..models import CallSession, RecordingTag
from ..pbx import get_client
from ..validation import normalize_number, validate_tag, validate_unique_id
from .base import (
    LIVE_CALL_STATUSES,
    UNIQUE_ID_MAX_LENGTH,
    agent_phone_for,
    check_on_users_pbx,
    listener_is_running,
    logger,
    mark_calls_swept,
    object_ref,
    pbx_error,
    require,
    require_login,
    require_phone_serves,
)
from .collecting import collect_after_call
from .recording import accepted, create_recording_tag, fail_recording, recordings_whose_call_ended

#: A second dial of the same number by the same agent within this window returns the first call.
DUPLICATE_DIAL_WINDOW = dt.timedelta(seconds=10)

LIVE_STATUSES = LIVE_CALL_STATUSES


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
    the existing call instead of ringing the customer twice: see :func:`_claim_dial`. More than
    ``DIAL_RATE_LIMIT`` new calls in a (sliding) minute by one agent are refused
    (:class:`RateLimited`), so a stolen session cannot run up a phone bill.
    """
    require("MAY_DIAL", user, obj, _("You may not place calls."))
    number = normalize_number(number)
    if record:
        tag = validate_tag(tag)
        if obj is None:
            raise ValidationError(_("A recorded call must be placed from a CRM record to attach it to."))
        require("MAY_RECORD", user, obj, _("You may not record calls for this record."))
        if noojee_settings.REQUIRE_CONSENT:
            raise ConsentRequired(
                _(
                    "Recording needs the customer's consent first: place the call, read the recording "
                    "notice, then record."
                )
            )
    elif tag:
        raise ValidationError(_("A tag is only used with record=True."))
    if caller_id is not None:
        caller_id = normalize_number(caller_id)
    content_type, object_id = object_ref(obj)
    phone = agent_phone_for(user)
    require_phone_serves(user, obj, phone)
    _check_dial_rate(user)

    call, created = _claim_dial(
        user=user,
        connection=phone.connection,
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
            recording_tag = create_recording_tag(user, obj, tag or "", phone, consent_given=False)
        except InvalidState as exc:
            _end_call(call, CallSession.Status.FAILED, error=exc.message)
            raise
        CallSession.objects.filter(pk=call.pk).update(recording_tag=recording_tag)
        call.recording_tag = recording_tag

    try:
        result = get_client(phone.connection).dial(
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
            fail_recording(recording_tag, f"The call could not be placed: {exc}")
        raise pbx_error("place the call", exc) from exc
    if recording_tag is not None:
        # The PBX records the call from the moment it connects: legs may come to this row.
        accepted(recording_tag)

    now = timezone.now()
    calls = CallSession.objects.filter(pk=call.pk)
    if connections.get(phone.connection).is_user_key:
        # A user key may not follow calls: the call is placed, and the app knows no more of it. Its
        # guard stays until DUPLICATE_DIAL_WINDOW has passed, so a double click still dials once.
        calls.update(
            pbx_session_id=result.session_id, status=CallSession.Status.PLACED, ended_at=now, updated_at=now
        )
        call.refresh_from_db()
        signals.call_placed.send(sender=CallSession, call=call)
        return call
    # The listener may already have moved the call on (Ringing, Connected): only "queued" becomes
    # "dialing", and the PBX's session id is kept either way.
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


def _dial_rate_key(user: Any, minute: int) -> str:
    return f"noojee_django:dials:{user.pk}:{minute}"


def _check_dial_rate(user: Any) -> None:
    """Count one dial request of ``user``; :class:`RateLimited` past ``DIAL_RATE_LIMIT`` a minute.

    The minute slides: this clock minute's dials, plus the last one's weighted by the share of it
    the last 60 seconds still cover, so a burst across a minute's edge counts as one minute's.
    Asked before anything is written, so a refused click leaves no row. Two cache operations (an
    ``incr``, or an ``add`` on the minute's first dial, and a ``get``): a double click counts twice,
    which a limit meant for a stolen session can afford.
    """
    limit = noojee_settings.DIAL_RATE_LIMIT
    if not limit:
        return
    minute, into = divmod(timezone.now().timestamp(), 60)
    key = _dial_rate_key(user, int(minute))
    try:
        count = cache.incr(key)
    except ValueError:  # the minute's first dial (or the key expired)
        count = 1 if cache.add(key, 1, timeout=120) else cache.incr(key)
    last_minute = cache.get(_dial_rate_key(user, int(minute) - 1)) or 0
    if count + last_minute * (60 - into) / 60 > int(limit):
        raise RateLimited(
            _(
                "You have placed %(limit)s calls in the last minute, the most allowed: "
                "wait a minute, then dial again."
            )
            % {"limit": int(limit)}
        )


def _claim_dial(
    *, user: Any, extension: str, number: str, connection: str = connections.DEFAULT, **values: Any
) -> tuple[CallSession, bool]:
    """Insert the call row before the PBX is asked, unless a double click already did.

    The row carries ``dial_guard`` = ``"<extension>><number>"`` (``"<connection>:<extension>><number>"``
    on a named PBX connection), a unique column, so of
    several clicks at once exactly one insert succeeds, on every database and across every process,
    without a lock or a transaction of our own. The guard is released when the call ends or fails; a
    guard older than ``DUPLICATE_DIAL_WINDOW`` is left over from an earlier call of the same number and
    is released by
    the next dial that meets it. Returns ``(call, created)``.
    """
    guard = (
        f"{extension}>{number}" if connection == connections.DEFAULT else f"{connection}:{extension}>{number}"
    )
    for _attempt in range(3):
        try:
            with _savepoint_if_in_transaction():
                call = CallSession.objects.create(
                    user=user,
                    connection=connection,
                    extension=extension,
                    number=number,
                    dial_guard=guard,
                    **values,
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
    raise InvalidState(
        _("Another call to %(number)s is being placed from %(extension)s; try again.")
        % {"number": number, "extension": extension}
    )


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
    """End the user's call. Idempotent: hanging up an ended call changes nothing.

    The PBX is told by the call's channel unique id. A call whose unique id the app never learnt (no
    listener saw it start) is looked for on the agent's extension first; a call that cannot be told
    apart from the agent's other calls is ended here only, and nothing is sent: hanging up "the call
    on extension 101" could end a different call the agent is on now.
    """
    require_own_call(user, call)
    if not call.is_active:
        return call
    target = call.unique_id or _identify_on_pbx(call)
    if not target:
        return apply_call_status(call, CallSession.Status.HUNG_UP, pbx_status="Hungup")
    try:
        get_client(call.connection).hangup(target)
    except client_errors.NotFoundError:
        pass  # the PBX has no such channel: the call is over either way
    except client_errors.NoojeeError as exc:
        raise pbx_error("hang up", exc) from exc
    return apply_call_status(call, CallSession.Status.HUNG_UP, pbx_status="Hungup")


def _identify_on_pbx(call: CallSession) -> str:
    """The unique id of ``call`` on the PBX, from a snapshot of its extension; ``""`` when unsure.

    Only a click-to-dial call to the same number, whose unique id no other row of ours holds, is
    taken to be it.
    """
    exten = call.extension.split("/", 1)[-1]
    try:
        snapshot = get_client(call.connection).subscribe([exten], 0, timeout=0)
    except client_errors.NoojeeError as exc:
        logger.info("Call snapshot for hang-up failed: %s", exc)
        return ""
    event = _unidentified_call_event(call, [e for e in snapshot.events if e.extension == exten])
    return event.unique_call_id if event is not None and event.outbound_destination else ""


def _unidentified_call_event(call: CallSession, events: list[CallEvent]) -> CallEvent | None:
    """The snapshot event of ``call``, whose unique id we do not know, among its extension's ``events``.

    Only a click-to-dial call to its number (when the PBX names it) whose unique id no other row holds
    can be it. The PBX originates an extension's calls in the order they were asked for, so our n-th
    such call still unidentified is the n-th such call the snapshot lists; the newest, or the first,
    would give one call's id to another when the agent has two calls at once.
    """
    theirs = [
        e
        for e in events
        if e.is_click_to_dial_call
        and e.unique_call_id
        and len(e.unique_call_id) <= UNIQUE_ID_MAX_LENGTH
        and (not e.outbound_destination or _same_number(call.number, e.outbound_destination))
        and not CallSession.objects.filter(connection=call.connection, unique_id=e.unique_call_id)
        .exclude(pk=call.pk)
        .exists()
    ]
    by_number = all(e.outbound_destination for e in theirs)
    ours = [
        c.pk
        for c in CallSession.objects.filter(
            connection=call.connection, extension=call.extension, unique_id="", status__in=LIVE_STATUSES
        )
        .exclude(status=CallSession.Status.QUEUED)
        .order_by("created_at", "pk")
        if not by_number or _same_number(c.number, call.number)
    ]
    index = ours.index(call.pk) if call.pk in ours else 0
    return theirs[index] if index < len(theirs) else None


def answer(user: Any, unique_id: str) -> None:
    """Answer a call ringing on the user's own handset.

    The PBX would answer any call from any extension (a pickup), so a user could take a call ringing on
    a colleague's phone just by knowing its unique id. The call must show on the user's extension in
    a snapshot of it first.
    """
    require_login(user)
    require("MAY_DIAL", user, None, "You may not answer calls through the CRM.")
    phone = agent_phone_for(user)
    unique_id = validate_unique_id(unique_id)
    if connections.get(phone.connection).is_user_key:
        raise InvalidState(
            _("Your PBX does not let the CRM see the calls ringing on your phone: answer on the handset.")
        )
    client = get_client(phone.connection)
    try:
        snapshot = client.subscribe([phone.exten_number], 0, timeout=0)
    except client_errors.NoojeeError as exc:
        raise pbx_error("look at your phone's calls", exc) from exc
    if not any(e.extension == phone.exten_number and e.unique_call_id == unique_id for e in snapshot.events):
        raise NoojeePermissionDenied(_("This call is not ringing on your phone."))
    try:
        client.answer(unique_id, phone.extension, answer_string=phone.auto_answer)
    except client_errors.NoojeeError as exc:
        raise pbx_error("answer the call", exc) from exc


def check_may_see_call(user: Any, call: CallSession) -> None:
    """A call's status is its agent's business, and that of operators of its PBX who may view calls."""
    require_login(user)
    check_on_users_pbx(user, call.connection)
    if call.user_id != user.pk and not user.has_perm("noojee_django.view_callsession"):
        raise NoojeePermissionDenied(_("This is not your call."))


def require_own_call(user: Any, call: CallSession) -> None:
    require_login(user)
    check_on_users_pbx(user, call.connection)
    if call.user_id != user.pk and not user.has_perm("noojee_django.change_callsession"):
        raise NoojeePermissionDenied(_("This is not your call."))


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
    call: CallSession, status: str | None, *, pbx_status: str, unique_id: str | None = None, error: str = ""
) -> CallSession:
    """Record a new state of a call (from the listener, a snapshot or a hang-up) and announce it.

    Ended calls stay ended: a late "Connected" cannot revive them. When a call ends, its recordings
    are collected at once.
    """
    previous = call.status
    fields = ["pbx_status", "updated_at"]
    call.pbx_status = pbx_status[:64]
    # A unique id longer than its column is no channel id this PBX uses: not kept, never sent back.
    if unique_id and not call.unique_id and len(unique_id) <= UNIQUE_ID_MAX_LENGTH:
        call.unique_id = unique_id
        fields.append("unique_id")
        if call.recording_tag_id:
            RecordingTag.objects.filter(pk=call.recording_tag_id, unique_id="").update(unique_id=unique_id)
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
            if error and not call.error:
                call.error = error
                fields.append("error")
    call.save(update_fields=fields)
    if call.status != previous:
        signals.call_status_changed.send(sender=CallSession, call=call, previous_status=previous)
        if call.status in CallSession.FINAL_STATUSES:
            collect_after_call(call)
    return call


def apply_call_event(event: CallEvent, connection: str = connections.DEFAULT) -> CallSession | None:
    """Apply one PBX call event to the call it belongs to; ``None`` when it is none of ours.

    The call is found by channel unique id, or, for the first event of a click-to-dial call (which
    carries the unique id we do not know yet), as the oldest call still starting on that extension, to
    the number the event names when it names one (``outboundDestination``, on newer servers). Oldest,
    because the PBX originates one extension's calls in the order they were asked for, and a listener
    that was down meets them all at once: the newest would give each call the events of the next. The
    number, so that a row a crashed dial left starting does not take the events of the next call.
    """
    call = None
    calls = CallSession.objects.filter(connection=connection)
    if event.unique_call_id:
        call = calls.filter(unique_id=event.unique_call_id).order_by("-created_at").first()
    if call is None and event.is_click_to_dial_call:
        starting = calls.filter(
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


def _unlisted_grace() -> dt.timedelta:
    return dt.timedelta(seconds=noojee_settings.UNLISTED_CALL_GRACE)


def _end_unlisted(call: CallSession) -> CallSession:
    """A call the PBX no longer lists has ended: hung up if it ever connected, else failed."""
    if call.connected_at is not None:
        return apply_call_status(call, CallSession.Status.HUNG_UP, pbx_status="Hungup")
    return apply_call_status(
        call,
        CallSession.Status.FAILED,
        pbx_status=call.pbx_status or "Ended",
        error="The call ended before it was answered.",
    )


def _is_listed(call: CallSession, events: list[CallEvent]) -> CallEvent | None:
    exten = call.extension.split("/", 1)[-1]
    mine = [e for e in events if e.extension == exten]
    if call.unique_id:
        return next((e for e in reversed(mine) if e.unique_call_id == call.unique_id), None)
    return _unidentified_call_event(call, mine)


def current_call_status(call: CallSession) -> CallSession:
    """The call's state, fresh: from the database while the listener runs, else from a PBX snapshot.

    The snapshot is ``subscribe`` with ``timeOut=0&lastSequenceNumber=0``: the current calls of the
    agent's extension, answered at once. A call the snapshot no longer shows has ended; one that
    never connected gets ``UNLISTED_CALL_GRACE`` seconds from its dial to appear.
    """
    if not call.is_active or listener_is_running(call.connection):
        return call
    exten = call.extension.split("/", 1)[-1]
    try:
        snapshot = get_client(call.connection).subscribe([exten], 0, timeout=0)
    except client_errors.NoojeeError as exc:
        logger.info("Call status snapshot failed: %s", exc)
        return call
    event = _is_listed(call, list(snapshot.events))
    if event is not None:
        return apply_call_status(
            call, status_from_pbx(event.status), pbx_status=event.status, unique_id=event.unique_call_id
        )
    if call.status == CallSession.Status.QUEUED:
        return call
    if call.connected_at is not None or call.created_at < timezone.now() - _unlisted_grace():
        return _end_unlisted(call)
    return call


def sweep_live_calls(*, now: dt.datetime | None = None, connection: str | None = None) -> int:
    """End the calls the PBX no longer lists, and so collect their recordings: for a site without
    the listener.

    One ``timeOut=0`` snapshot covers every extension that has a call or a recording going on, however
    many there are. A call not listed any more has ended (``UNLISTED_CALL_GRACE`` after its dial for a
    call that never connected); a recording whose call has ended stops waiting for a "stop" nobody will
    press. Returns the number of calls and recordings it ended. With the listener running this does
    nothing: the listener's events say the same, sooner. Each snapshot refreshes
    ``LIVE_CALL_SWEEP_KEY``: while it is fresh, collection trusts the database's live calls and leaves
    their audio to their end (see :func:`calls_are_followed`).

    Each PBX connection is swept on its own (``connection``; all of them when ``None``): an
    unreachable PBX leaves the others' calls followed.
    """
    if connection is None:
        return sum(sweep_live_calls(now=now, connection=name) for name in connections.names())
    if listener_is_running(connection) or connections.get(connection).is_user_key:
        return 0  # the listener says it sooner; a user key may not take snapshots
    now = now or timezone.now()
    calls = list(CallSession.objects.filter(connection=connection, status__in=LIVE_STATUSES))
    recording = list(
        RecordingTag.objects.filter(connection=connection, status__in=RecordingTag.ON_CALL_STATUSES).exclude(
            extension=""
        )
    )
    extens = sorted(
        {c.extension.split("/", 1)[-1] for c in calls} | {t.extension.split("/", 1)[-1] for t in recording}
    )
    if not extens:
        mark_calls_swept(connection, now)
        return 0
    try:
        snapshot = get_client(connection).subscribe(extens, 0, timeout=0)
    except client_errors.NoojeeError as exc:
        logger.info(
            "Live-call sweep of %s: the snapshot failed (%s); the next sweep tries again", connection, exc
        )
        return 0
    mark_calls_swept(connection, now)
    events = list(snapshot.events)
    ended = 0
    for call in calls:
        event = _is_listed(call, events)
        if event is not None:
            apply_call_status(
                call, status_from_pbx(event.status), pbx_status=event.status, unique_id=event.unique_call_id
            )
        elif call.connected_at is not None or call.created_at < now - _unlisted_grace():
            _end_unlisted(call)
            ended += 1
    ended += recordings_whose_call_ended(recording, events, now=now)
    return ended


__all__ = [
    "DUPLICATE_DIAL_WINDOW",
    "answer",
    "apply_call_event",
    "apply_call_status",
    "check_may_see_call",
    "current_call_status",
    "dial",
    "hangup",
    "status_from_pbx",
    "sweep_live_calls",
]
