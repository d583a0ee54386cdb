"""Recording: start, stop, and watching for a tag recorded elsewhere.

A recording is started on the agent's current call by its channel unique id when the app knows it,
so that a transfer cannot send "stop" to the wrong handset, and the row remembers which call it was
started on: only that call's legs ever come to it (see ``collecting``). A start the PBX refuses leaves a
``failed`` row that never receives legs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import connections, signals
from ..client import errors as client_errors
from ..client.types import CallEvent
from ..conf import noojee_settings
from ..exceptions import ConsentRequired, InvalidState, PbxError
from ..lifecycle import transition
from ..models import AgentPhone, CallSession, RecordingPause, RecordingTag
from ..pbx import get_client
from ..states import pbx_reason
from ..validation import is_pbx_text, validate_tag
from .base import (
    LIVE_CALL_STATUSES,
    UNIQUE_ID_MAX_LENGTH,
    agent_phone_for,
    check_on_users_pbx,
    logger,
    pbx_error,
    require,
    require_login,
    require_phone_serves,
    required_object_ref,
    schedule_poll,
)
from .scripts import ShownScript, shown_script


def create_recording_tag(
    user: Any,
    obj: Any,
    tag: str,
    phone: AgentPhone,
    *,
    consent_given: bool,
    unique_id: str = "",
    script: ShownScript | None = None,
) -> RecordingTag:
    """A recording about to be started on the agent's call: not yet accepted by the PBX. It keeps who
    confirmed consent and when, and the script version and exact text the agent was shown."""
    recording_tag = _new_recording(
        obj,
        tag,
        connection=phone.connection,
        extension=phone.extension,
        unique_id=unique_id,
        started_by=user,
        consent_given=consent_given,
        consent_confirmed_by=user if consent_given else None,
        consent_confirmed_at=timezone.now() if consent_given else None,
        script_version=script.version if script is not None else None,
        script_text=script.text if script is not None else "",
        script_sha256=script.sha256 if script is not None else "",
        start_accepted=False,  # until the PBX says yes
    )
    if recording_tag is None:
        raise InvalidState(_tag_is_live(tag, phone.connection))
    return recording_tag


def check_consent(consent_given: bool) -> None:
    """With ``REQUIRE_CONSENT`` on, no recording starts until the agent confirms the customer was told."""
    if noojee_settings.REQUIRE_CONSENT and not consent_given:
        raise ConsentRequired(
            _(
                "Read the recording notice to the customer and tick that they were told the call is "
                "recorded: only then can the recording start."
            )
        )


def _tag_is_live(tag: str, connection: str) -> str:
    """Why ``tag`` cannot be recorded now on this PBX: what its live recording is doing."""
    live = RecordingTag.objects.filter(
        connection=connection, tag=tag, status__in=RecordingTag.LIVE_STATUSES
    ).first()
    if live is None or live.status in RecordingTag.ON_CALL_STATUSES:
        return _("%(tag)s is being recorded already: stop that recording first.") % {"tag": tag}
    return _(
        "%(tag)s was recorded already and is being collected: its voice signature is attached when the "
        "call ends. Record again once it is attached, or under another tag."
    ) % {"tag": tag}


def _new_recording(obj: Any, tag: str, **values: Any) -> RecordingTag | None:
    """A new recording of ``tag`` on ``obj``; ``None`` when the tag is live on another one already."""
    content_type, object_id = required_object_ref(obj)
    try:
        with transaction.atomic():
            return RecordingTag.objects.create(
                tag=tag, content_type=content_type, object_id=object_id, **values
            )
    except IntegrityError:
        return None


def _current_call(user: Any, phone: AgentPhone) -> CallSession | None:
    return (
        CallSession.objects.filter(
            user=user, connection=phone.connection, extension=phone.extension, status__in=LIVE_CALL_STATUSES
        )
        .order_by("-created_at")
        .first()
    )


def start_recording(
    user: Any,
    obj: Any,
    tag: str,
    *,
    consent_given: bool = False,
    script_version: object = None,
    script_sha256: object = "",
) -> RecordingTag:
    """Start recording the user's current call under ``tag``, for ``obj`` (an invoice, an order).

    ``script_version`` and ``script_sha256`` name the script the agent was shown and the hash of its
    text: the version is rendered again for ``obj`` and a start whose text is not that one is
    :class:`~noojee_django.exceptions.ScriptChanged`. With ``REQUIRE_CONSENT``, a start without
    ``consent_given`` is :class:`~noojee_django.exceptions.ConsentRequired`. Both are refused before
    anything is written or sent to the PBX.
    """
    require("MAY_RECORD", user, obj, "You may not record calls for this record.")
    tag = validate_tag(tag)
    check_consent(consent_given)
    script = shown_script(obj, script_version, script_sha256)
    phone = agent_phone_for(user)
    require_phone_serves(user, obj, phone)
    call = _current_call(user, phone)
    unique_id = call.unique_id if call is not None else ""
    recording_tag = create_recording_tag(
        user, obj, tag, phone, consent_given=consent_given, unique_id=unique_id, script=script
    )
    try:
        get_client(phone.connection).start_recording(
            unique_id or phone.extension, agent_login_name=phone.login_name or None, tag=tag
        )
    except client_errors.NoojeeError as exc:
        fail_recording(recording_tag, f"The PBX did not start recording: {exc}", actor=user)
        raise pbx_error("start recording", exc) from exc
    accepted(recording_tag)
    # The agent's current call carries the recording: when it hangs up, the tag is collected even if
    # nobody pressed "stop".
    if call is not None:
        CallSession.objects.filter(pk=call.pk).update(recording_tag=recording_tag)
    signals.recording_started.send(sender=RecordingTag, recording_tag=recording_tag)
    return recording_tag


def stop_recording(user: Any, recording_tag: RecordingTag) -> RecordingTag:
    """Stop the recording and start waiting for its audio. Idempotent once stopped.

    Who may stop it is asked first, whatever its state, so a stopped or attached recording tells
    nobody else anything. The PBX is told to stop the call the recording was started on (by its
    unique id, so a transferred call is still found), else the extension it was started on: an
    operator stopping an agent's recording stops that agent's, needing no phone of their own.

    A stop the PBX refuses is :class:`PbxError`, and the recording stays ``recording``: the PBX may
    still be recording. The call's end collects it all the same. Only when the PBX says the call is
    not there any more ("not found") has the recording ended with it, and it goes on to be collected.
    """
    require_own_recording(user, recording_tag)
    if recording_tag.status == RecordingTag.Status.PAUSED:
        # The PBX is not recording already: the pause's "stop" was the last word it needs.
        return mark_waiting(recording_tag, "stopped while paused", actor=user)
    if recording_tag.status != RecordingTag.Status.RECORDING:
        return recording_tag
    extension = recording_tag.extension or agent_phone_for(user).extension
    unique_id = recording_tag.unique_id or _unique_id_of_call_for(recording_tag)
    phone = AgentPhone.objects.filter(connection=recording_tag.connection, extension=extension).first()
    login_name = phone.login_name if phone is not None and is_pbx_text(phone.login_name) else ""
    try:
        get_client(recording_tag.connection).stop_recording(
            unique_id or extension, agent_login_name=login_name or None
        )
    except client_errors.NotFoundError as exc:
        if unique_id:  # that very call is gone, and its recording ended with it
            logger.info("Stop of %s: the PBX has no such call any more (%s)", recording_tag.tag, exc)
            return mark_waiting(recording_tag, "the call had already ended", actor=user)
        # By extension, "not found" may mean the call moved (a transfer) and still records.
        _refused(recording_tag, exc)
    except client_errors.NoojeeError as exc:
        _refused(recording_tag, exc)
    return mark_waiting(recording_tag, "stopped", actor=user)


def _refused(recording_tag: RecordingTag, exc: client_errors.NoojeeError) -> NoReturn:
    logger.warning("Stopping recording %s was refused: %s", recording_tag.tag, exc)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(
        last_error=f"Stop was refused by the PBX: {exc}"  # the diagnostic, for the admin
    )
    raise PbxError(
        _(
            "The PBX refused to stop the recording: %(reason)s "
            "It may still be recording: the recording ends with the call."
        )
        % {"reason": pbx_reason("stop the recording", exc)},
        cause=exc,
    ) from exc


def _unique_id_of_call_for(recording_tag: RecordingTag) -> str:
    call = (
        CallSession.objects.filter(recording_tag=recording_tag)
        .exclude(unique_id="")
        .order_by("-created_at")
        .first()
    )
    return call.unique_id if call is not None else ""


def require_own_recording(user: Any, recording_tag: RecordingTag, message: str | None = None) -> None:
    """Who may stop (or pause, or resume) a recording: its agent, or an operator who may change
    recordings."""
    from ..exceptions import NoojeePermissionDenied

    require_login(user)
    check_on_users_pbx(user, recording_tag.connection)
    if recording_tag.started_by_id != user.pk and not user.has_perm("noojee_django.change_recordingtag"):
        raise NoojeePermissionDenied(message or _("Only the agent who started this recording can stop it."))


def watch_tag(
    obj: Any,
    tag: str,
    *,
    user: Any | None = None,
    since: dt.datetime | None = None,
    connection: str | None = None,
) -> RecordingTag:
    """Collect a recording made outside the CRM (from the handset, by a dial plan) under ``tag``.

    This is a claim: whoever calls it says the tag's legs belong to ``obj``. The tag starts waiting at
    once; legs that started after ``since`` (default: a day ago) and carry exactly this tag are
    fetched and attached to ``obj``. They are looked for on the PBX ``connection`` (default: the one
    ``PBX_FOR`` names for ``user`` and ``obj``, ``"default"`` without a user).
    """
    if user is not None:
        require("MAY_RECORD", user, obj, _("You may not attach recordings to this record."))
    if connection is None:
        connection = connections.for_user(user, obj) if user is not None else connections.DEFAULT
    else:
        connections.get(connection)  # UnknownConnection for a name nobody defined
    if user is not None:
        check_on_users_pbx(user, connection)
    tag = validate_tag(tag)
    now = timezone.now()
    delay = noojee_settings.POLL_DELAY
    recording_tag = create_claimed_recording(
        obj,
        tag,
        connection=connection,
        started_by=user,
        started_at=since or now - dt.timedelta(days=1),
        next_poll_at=now + dt.timedelta(seconds=delay),
    )
    if recording_tag is None:
        raise InvalidState(_("Tag %(tag)s is already being collected.") % {"tag": repr(tag)})
    schedule_poll(recording_tag, countdown=delay)
    return recording_tag


def accepted(recording_tag: RecordingTag) -> None:
    """The PBX started recording ``recording_tag``: legs may come to it from now on.

    On a PBX connection with a user key, which may not follow calls, nothing will say that its call
    ended: if nobody presses Stop, the due-tag sweep takes it to have ended ``UNFOLLOWED_RECORDING_MAX``
    seconds after the start (its legs are then the whole call's, as the PBX recorded it).
    """
    values: dict[str, Any] = {"start_accepted": True}
    if connections.get(recording_tag.connection).is_user_key:
        values["next_poll_at"] = timezone.now() + dt.timedelta(
            seconds=noojee_settings.UNFOLLOWED_RECORDING_MAX
        )
    RecordingTag.objects.filter(pk=recording_tag.pk).update(**values)
    for name, value in values.items():
        setattr(recording_tag, name, value)


def create_claimed_recording(
    obj: Any, tag: str, *, started_at: dt.datetime, **values: Any
) -> RecordingTag | None:
    """A recording claimed for ``obj`` (``watch_tag``, or what ``RESOLVE_TAG`` named): waiting, and
    taking its tag's legs of any call that started after ``started_at``. ``None`` when the tag is live
    on another recording already."""
    return _new_recording(
        obj,
        tag,
        status=RecordingTag.Status.WAITING,
        start_accepted=True,
        started_at=started_at,
        stopped_at=timezone.now(),
        **values,
    )


def mark_waiting(recording_tag: RecordingTag, reason: str, *, actor: Any | None = None) -> RecordingTag:
    """A recording that stopped (or whose call ended), paused or not, starts waiting for its legs; a
    pause going on ends with it."""
    now = timezone.now()
    delay = noojee_settings.POLL_DELAY
    if transition(
        recording_tag,
        RecordingTag.Status.WAITING,
        reason=reason,
        actor=actor,
        expect=list(RecordingTag.ON_CALL_STATUSES),
        strict=False,
        stopped_at=now,
        next_poll_at=now + dt.timedelta(seconds=delay),
    ):
        RecordingPause.objects.filter(recording_tag=recording_tag, ended_at__isnull=True).update(
            ended_at=now, ended_how=RecordingPause.Ending.ENDED
        )
        schedule_poll(recording_tag, countdown=delay)
    return recording_tag


def fail_recording(recording_tag: RecordingTag, reason: str, *, actor: Any | None = None) -> None:
    """A recording that never started (refused, call not placed): final, and it never receives legs."""
    transition(
        recording_tag,
        RecordingTag.Status.FAILED,
        reason=reason,
        actor=actor,
        expect=[RecordingTag.Status.RECORDING],
        strict=False,
        last_error=reason,
        next_poll_at=None,
    )


def recordings_whose_call_ended(
    recordings: list[RecordingTag], events: list[CallEvent], *, now: dt.datetime
) -> int:
    """Of these ``recording`` (or ``paused``) rows, move to waiting those whose call a PBX snapshot no
    longer shows.

    By the call's unique id when the row knows it; else the row's extension must show no call at all.
    A row gets ``UNLISTED_CALL_GRACE`` seconds from its start first.
    """
    grace = dt.timedelta(seconds=noojee_settings.UNLISTED_CALL_GRACE)
    listed_ids = {e.unique_call_id for e in events if e.unique_call_id}
    busy_extens = {e.extension for e in events if (e.status or "") != "Hungup"}
    ended = 0
    for recording_tag in recordings:
        if recording_tag.started_at > now - grace:
            continue
        if recording_tag.unique_id and len(recording_tag.unique_id) <= UNIQUE_ID_MAX_LENGTH:
            gone = recording_tag.unique_id not in listed_ids
        else:
            gone = recording_tag.extension.split("/", 1)[-1] not in busy_extens
        if gone:
            mark_waiting(recording_tag, "its call ended (the PBX no longer lists it)")
            ended += 1
    return ended
