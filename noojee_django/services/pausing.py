"""Secure pause: the PBX stops recording a call while the customer reads out card details.

Noojee's API has only ``start`` and ``stop``. A pause tells the PBX ``stop``; a resume tells it
``start`` with the same tag on the same call (by its channel unique id, so a transferred call is still
the one addressed). The PBX records nothing in between: the span's audio never exists, and the next
leg begins at the resume. Each pause is a :class:`~noojee_django.models.RecordingPause` row (who,
when, why, how it ended), listed in the evidence bundle and marked in the joined signature.

A pause resumes by itself ``PAUSE_MAX_SECONDS`` after it began unless resumed before: a task is sent
with that countdown at pause time, and the beat's sweep resumes every pause that is overdue (a lost
task must not leave a call unrecorded for ever). The agent's resume, the task and the sweep all go
through :func:`resume_recording`, whose compare-and-set (``paused`` -> ``recording`` through the
lifecycle) lets exactly one of them tell the PBX ``start``.

The recording goes from ``recording`` to ``paused`` and back only through
:func:`noojee_django.lifecycle.transition`. A call that ends while paused goes on to be collected like
a stopped recording (``mark_waiting``), the pause ending with it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import signals
from ..client import errors as client_errors
from ..conf import noojee_settings
from ..exceptions import PauseRefused, PbxError
from ..lifecycle import transition
from ..models import AgentPhone, RecordingPause, RecordingTag
from ..pbx import get_client
from ..states import pbx_reason, recording_words
from ..validation import is_pbx_text
from .base import logger, send_task
from .recording import _unique_id_of_call_for, mark_waiting, require_own_recording

Tag = RecordingTag.Status

#: The task that resumes one pause when its ``PAUSE_MAX_SECONDS`` have passed.
RESUME_TASK = "noojee_django.resume_paused_recording"

#: The longest reason an agent may give for a pause.
PAUSE_REASON_MAX_LENGTH = 200


def clean_pause_reason(raw: object) -> str:
    """The agent's reason for a pause, trimmed; a ``ValidationError`` naming ``reason`` if too long or
    holding control characters."""
    reason = "" if raw is None else str(raw).strip()
    if len(reason) > PAUSE_REASON_MAX_LENGTH:
        raise ValidationError(
            {
                "reason": _("A pause's reason is at most %(max)d characters.")
                % {"max": PAUSE_REASON_MAX_LENGTH}
            }
        )
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in reason):
        raise ValidationError({"reason": _("A pause's reason is one line of text.")})
    return reason


def open_pause(recording_tag: RecordingTag) -> RecordingPause | None:
    """The pause going on, if any."""
    return (
        RecordingPause.objects.filter(recording_tag=recording_tag, ended_at__isnull=True)
        .order_by("-started_at", "-pk")
        .first()
    )


def _pbx_target(recording_tag: RecordingTag) -> tuple[str, str, str]:
    """``(what to address, its unique id, the agent's login name)``: the call by its unique id when
    known, else the extension the recording was started on."""
    unique_id = recording_tag.unique_id or _unique_id_of_call_for(recording_tag)
    phone = AgentPhone.objects.filter(
        connection=recording_tag.connection, extension=recording_tag.extension
    ).first()
    login_name = phone.login_name if phone is not None and is_pbx_text(phone.login_name) else ""
    return unique_id or recording_tag.extension, unique_id, login_name


def _not_in(recording_tag: RecordingTag, wanted: str) -> str:
    recording_tag.refresh_from_db()
    return _("%(tag)s is %(status)s, not %(wanted)s.") % {
        "tag": recording_tag.tag,
        "status": recording_words(recording_tag).lower(),
        "wanted": wanted,
    }


def pause_recording(user: Any, recording_tag: RecordingTag, *, reason: str = "") -> RecordingTag:
    """Pause a live recording: the PBX stops recording the call until :func:`resume_recording`, or
    until ``PAUSE_MAX_SECONDS`` have passed.

    Who may pause is who may stop (:func:`require_own_recording`). A recording that is not recording
    (paused already, stopped, attached) is :class:`PauseRefused`. A pause the PBX refuses is
    :class:`PbxError`, and the recording goes on recording, with nothing paused. When the PBX no longer
    has the call, the recording ended with it and goes on to be collected.
    """
    require_own_recording(user, recording_tag, _("Only the agent who started this recording can pause it."))
    reason = clean_pause_reason(reason)
    wanted = _("recording")
    if recording_tag.status != Tag.RECORDING:
        raise PauseRefused(_not_in(recording_tag, wanted))
    now = timezone.now()
    with transaction.atomic():  # the status and its pause row together, or neither (no PBX call inside)
        paused = transition(
            recording_tag,
            Tag.PAUSED,
            reason=f"paused: {reason}" if reason else "paused",
            actor=user,
            expect=[Tag.RECORDING],
            strict=False,
        )
        if paused:
            pause = RecordingPause.objects.create(
                recording_tag=recording_tag,
                started_at=now,
                resume_due_at=now + dt.timedelta(seconds=noojee_settings.PAUSE_MAX_SECONDS),
                paused_by=user,
                reason=reason,
            )
    if not paused:
        raise PauseRefused(_not_in(recording_tag, wanted))
    target, unique_id, login_name = _pbx_target(recording_tag)
    try:
        get_client(recording_tag.connection).stop_recording(target, agent_login_name=login_name or None)
    except client_errors.NotFoundError as exc:
        if unique_id:  # that very call is gone: its recording ended with it
            logger.info("Pause of %s: the PBX has no such call any more (%s)", recording_tag.tag, exc)
            return mark_waiting(recording_tag, "the call had already ended", actor=user)
        _undo_pause(recording_tag, pause, exc, actor=user)
    except client_errors.NoojeeError as exc:
        _undo_pause(recording_tag, pause, exc, actor=user)
    send_task(RESUME_TASK, pause.pk, countdown=noojee_settings.PAUSE_MAX_SECONDS)
    signals.recording_paused.send(sender=RecordingTag, recording_tag=recording_tag, pause=pause)
    return recording_tag


def _undo_pause(
    recording_tag: RecordingTag, pause: RecordingPause, exc: client_errors.NoojeeError, *, actor: Any
) -> None:
    """The PBX did not stop: it is still recording, so the recording is too, and nothing was paused."""
    logger.warning("Pausing recording %s was refused: %s", recording_tag.tag, exc)
    with transaction.atomic():
        pause.delete()
        transition(
            recording_tag,
            Tag.RECORDING,
            reason=f"the PBX refused to pause: {exc}",
            actor=actor,
            expect=[Tag.PAUSED],
            strict=False,
        )
    raise PbxError(
        _("The PBX refused to pause the recording: %(reason)s It is still recording.")
        % {"reason": pbx_reason("pause the recording", exc)},
        cause=exc,
    ) from exc


def resume_recording(user: Any | None, recording_tag: RecordingTag) -> RecordingTag:
    """Resume a paused recording: the PBX starts recording the same call under the same tag again.

    ``user`` ``None`` is the automatic resume (the task, the sweep). Of several resumes at once (the
    agent's and the automatic one) exactly one tells the PBX ``start``: the others find the recording
    recording again and return it. Resuming a recording that is not paused is :class:`PauseRefused`.
    A start the PBX refuses is :class:`PbxError` and the recording stays paused (the sweep tries the
    automatic resume again); when the PBX no longer has the call, the recording ended with it.
    """
    automatic = user is None
    if not automatic:
        require_own_recording(
            user, recording_tag, _("Only the agent who started this recording can resume it.")
        )
    wanted = _("paused")
    if recording_tag.status != Tag.PAUSED:
        if automatic:
            return recording_tag
        raise PauseRefused(_not_in(recording_tag, wanted))
    pause = open_pause(recording_tag)
    max_seconds = noojee_settings.PAUSE_MAX_SECONDS
    reason = f"resumed automatically after {max_seconds:g} s" if automatic else "resumed"
    now = timezone.now()
    ending = RecordingPause.Ending.RESUMED_AUTOMATICALLY if automatic else RecordingPause.Ending.RESUMED
    with transaction.atomic():  # the status and the pause's end together (no PBX call inside)
        resumed = transition(
            recording_tag, Tag.RECORDING, reason=reason, actor=user, expect=[Tag.PAUSED], strict=False
        )
        if resumed and pause is not None:
            RecordingPause.objects.filter(pk=pause.pk, ended_at__isnull=True).update(
                ended_at=now, ended_how=ending, resumed_by=user
            )
    if not resumed:
        # Another resume (or the call's end) won: what it did stands.
        if automatic or recording_tag.status in RecordingTag.ON_CALL_STATUSES:
            return recording_tag
        raise PauseRefused(_not_in(recording_tag, wanted))
    if pause is not None:
        pause.refresh_from_db()
    target, unique_id, login_name = _pbx_target(recording_tag)
    try:
        get_client(recording_tag.connection).start_recording(
            target, agent_login_name=login_name or None, tag=recording_tag.tag
        )
    except client_errors.NotFoundError as exc:
        if unique_id:
            logger.info("Resume of %s: the PBX has no such call any more (%s)", recording_tag.tag, exc)
            if pause is not None:
                RecordingPause.objects.filter(pk=pause.pk).update(
                    ended_how=RecordingPause.Ending.ENDED, resumed_by=None
                )
            return mark_waiting(recording_tag, "its call ended while paused", actor=user)
        _undo_resume(recording_tag, pause, exc, actor=user, automatic=automatic)
        return recording_tag
    except client_errors.NoojeeError as exc:
        _undo_resume(recording_tag, pause, exc, actor=user, automatic=automatic)
        return recording_tag
    signals.recording_resumed.send(sender=RecordingTag, recording_tag=recording_tag, pause=pause)
    return recording_tag


def _undo_resume(
    recording_tag: RecordingTag,
    pause: RecordingPause | None,
    exc: client_errors.NoojeeError,
    *,
    actor: Any | None,
    automatic: bool,
) -> None:
    """The PBX did not start: the call is still not recorded, so the recording is paused still."""
    logger.warning("Resuming recording %s was refused: %s", recording_tag.tag, exc)
    with transaction.atomic():
        back = transition(
            recording_tag,
            Tag.PAUSED,
            reason=f"the PBX refused to resume: {exc}",
            actor=actor,
            expect=[Tag.RECORDING],
            strict=False,
        )
        if back and pause is not None:
            RecordingPause.objects.filter(pk=pause.pk).update(ended_at=None, ended_how="", resumed_by=None)
    if automatic:
        return  # the sweep resumes an overdue pause again
    raise PbxError(
        _("The PBX refused to resume the recording: %(reason)s It is still paused.")
        % {"reason": pbx_reason("resume the recording", exc)},
        cause=exc,
    ) from exc


def resume_paused(pause_id: int, *, now: dt.datetime | None = None) -> bool:
    """The automatic resume of one pause, once its ``resume_due_at`` has come; ``False`` when the
    pause has ended already or is not due yet (a task delivered early: the sweep resumes it on time).
    Safe to run twice, and at the same time as the agent's resume."""
    now = now or timezone.now()
    pause = RecordingPause.objects.select_related("recording_tag").filter(pk=pause_id).first()
    if pause is None or pause.ended_at is not None or pause.resume_due_at > now:
        return False
    recording_tag = resume_recording(None, pause.recording_tag)
    pause.refresh_from_db()
    return (
        pause.ended_how == RecordingPause.Ending.RESUMED_AUTOMATICALLY
        and recording_tag.status == Tag.RECORDING
    )


def resume_overdue_pauses(*, now: dt.datetime | None = None, limit: int | None = None) -> int:
    """Resume every pause whose ``PAUSE_MAX_SECONDS`` have passed: the safety net for a lost resume
    task, run by the beat's sweep. Returns how many it resumed."""
    now = now or timezone.now()
    limit = limit or noojee_settings.SWEEP_BATCH_SIZE
    due = list(
        RecordingPause.objects.filter(ended_at__isnull=True, resume_due_at__lte=now)
        .order_by("resume_due_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(resume_paused(pause_id, now=now) for pause_id in due)


def pause_payload(recording_tag: RecordingTag, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the widget and the API show of a pause going on: when it resumes by itself, and in how
    many seconds (counted by the server, so a wrong browser clock does not matter)."""
    pause = open_pause(recording_tag) if recording_tag.status == Tag.PAUSED else None
    if pause is None:
        return {"is_paused": recording_tag.status == Tag.PAUSED, "resume_due_at": None, "resume_in": None}
    now = now or timezone.now()
    return {
        "is_paused": True,
        "resume_due_at": pause.resume_due_at.isoformat(),
        "resume_in": max(0, round((pause.resume_due_at - now).total_seconds())),
    }
