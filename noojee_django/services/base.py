"""What every use case shares: permission hooks, the agent's phone, links to CRM records, PBX errors,
backoff, the attempt log and scheduling tasks by name.

Tasks are sent by their registered names, so the services never import the tasks module (which
imports the services): the layers stay one-way.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import connections
from ..client import errors as client_errors
from ..conf import noojee_settings
from ..connections import DEFAULT as DEFAULT_CONNECTION
from ..exceptions import InvalidAgentPhone, NoAgentPhone, NoojeePermissionDenied, PbxError
from ..models import AgentPhone, CallSession, RecordingAttempt, RecordingLeg, RecordingTag
from ..states import pbx_error_words
from ..validation import is_pbx_text

logger = logging.getLogger("noojee_django")

#: Longest channel unique id kept (``CallSession.unique_id``, ``RecordingTag.unique_id``).
UNIQUE_ID_MAX_LENGTH = 64

#: A call in one of these is going on.
LIVE_CALL_STATUSES = (CallSession.Status.DIALING, CallSession.Status.RINGING, CallSession.Status.CONNECTED)

POLL_TASK = "noojee_django.poll_recording_tag"
FETCH_TASK = "noojee_django.fetch_recording_leg"


#: The listener refreshes this cache key on every loop; while it is fresh, the database is up to date.
LISTENER_HEARTBEAT_KEY = "noojee_django:listener-heartbeat"
LISTENER_HEARTBEAT_TTL = 30


def _per_connection(key: str, connection: str) -> str:
    """A cache key of one PBX connection (``"default"`` keeps the key it always had)."""
    return key if connection == DEFAULT_CONNECTION else f"{key}:{connection}"


def listener_is_running(connection: str = DEFAULT_CONNECTION) -> bool:
    """Whether ``noojee_listen`` follows the calls of this PBX connection now."""
    return cache.get(_per_connection(LISTENER_HEARTBEAT_KEY, connection)) is not None


def mark_listener_alive(connection: str = DEFAULT_CONNECTION) -> None:
    cache.set(
        _per_connection(LISTENER_HEARTBEAT_KEY, connection),
        timezone.now().isoformat(),
        LISTENER_HEARTBEAT_TTL,
    )


#: ``sweep_live_calls`` refreshes this cache key on every snapshot it takes (every 30 s by the
#: default beat); while it is fresh, a live call in the database is ended within one sweep of its end.
LIVE_CALL_SWEEP_KEY = "noojee_django:live-call-sweep"
LIVE_CALL_SWEEP_TTL = 120


def calls_are_followed(connection: str = DEFAULT_CONNECTION) -> bool:
    """Whether the database learns of a call's end by itself, on this PBX connection: the listener, or
    the live-call sweep runs."""
    return (
        listener_is_running(connection)
        or cache.get(_per_connection(LIVE_CALL_SWEEP_KEY, connection)) is not None
    )


def mark_calls_swept(connection: str, now: Any) -> None:
    cache.set(_per_connection(LIVE_CALL_SWEEP_KEY, connection), now.isoformat(), LIVE_CALL_SWEEP_TTL)


def require(hook: str, user: Any, obj: Any | None, message: str) -> None:
    check = noojee_settings.hook(hook)
    if check is not None and not check(user, obj):
        raise NoojeePermissionDenied(message)


def require_login(user: Any) -> None:
    if not getattr(user, "is_authenticated", False):
        raise NoojeePermissionDenied(_("Log in to use the phone."))


def may_dial(user: Any, obj: Any | None = None) -> bool:
    """Whether ``user`` may place calls (for ``obj``, when given): the ``MAY_DIAL`` hook."""
    check = noojee_settings.hook("MAY_DIAL")
    return bool(check(user, obj)) if check is not None else True


def may_record(user: Any, obj: Any | None = None) -> bool:
    """Whether ``user`` may record calls (for ``obj``, when given): the ``MAY_RECORD`` hook."""
    check = noojee_settings.hook("MAY_RECORD")
    return bool(check(user, obj)) if check is not None else True


def check_may_dial(user: Any) -> None:
    """Whether ``user`` may place calls at all: entry points ask before they look anything up."""
    require_login(user)
    require("MAY_DIAL", user, None, _("You may not place calls."))


def check_may_record(user: Any) -> None:
    """Whether ``user`` may record calls at all: entry points ask before they look up the record."""
    require_login(user)
    require("MAY_RECORD", user, None, _("You may not record calls."))


def may_hear(user: Any, obj: Any) -> bool:
    """Whether ``user`` may hear the recordings attached to ``obj`` (the ``MAY_HEAR`` hook)."""
    if obj is None:
        return False
    check = noojee_settings.hook("MAY_HEAR")
    return bool(check(user, obj)) if check is not None else False


def check_on_users_pbx(user: Any, connection: str) -> None:
    """:class:`NoojeePermissionDenied` unless ``user`` may deal with the PBX ``connection``'s phones,
    calls and recordings (the ``USER_PBXES`` hook): one client company's users never reach another's."""
    if not connections.may_use(user, connection):
        raise NoojeePermissionDenied(_("This belongs to another PBX than yours."))


def require_phone_serves(user: Any, obj: Any | None, phone: AgentPhone) -> None:
    """The user's phone must be on the PBX connection that serves ``obj`` (the ``PBX_FOR`` hook):
    nobody calls or records one client company's customers through another's PBX."""
    wanted = connections.for_user(user, obj, phone=phone)
    if wanted != phone.connection:
        raise NoojeePermissionDenied(
            _(
                "This record is served by another PBX than your phone's: ask an administrator for a "
                "phone on that PBX."
            )
        )


def agent_phone_for(user: Any) -> AgentPhone:
    """The user's own active handset; nobody dials or records from somebody else's.

    Its auto-answer string and login name go into the PBX's dial string, so they are checked here as
    well as by the model's validators: a row written around the form (a migration, ``update()``, the
    shell) cannot smuggle dial options in.
    """
    require_login(user)
    try:
        phone = AgentPhone.objects.get(user_id=user.pk, is_active=True)
    except AgentPhone.DoesNotExist:
        raise NoAgentPhone(_("You have no phone extension: ask an administrator to add one.")) from None
    if not is_pbx_text(phone.auto_answer or "") or not is_pbx_text(phone.login_name):
        raise InvalidAgentPhone(
            _(
                "The auto-answer string or login name of %(extension)s has characters the PBX would read "
                "as commands: ask an administrator to correct your phone."
            )
            % {"extension": phone.extension}
        )
    return phone


def pbx_error(action: str, exc: client_errors.NoojeeError) -> PbxError:
    """The error an agent reads (what happened, what to do); the PBX's diagnostic goes to the log and
    stays on the error as ``cause`` for the admin."""
    logger.warning("The PBX could not %s: %s", action, exc)
    return PbxError(pbx_error_words(action, exc), cause=exc)


def required_object_ref(obj: Any) -> tuple[ContentType, str]:
    """The generic link to a CRM object that a recording must be attached to."""
    if obj is None:
        raise ValidationError(_("A recording must be attached to a CRM record."))
    content_type, object_id = object_ref(obj)
    assert content_type is not None
    return content_type, object_id


def object_ref(obj: Any | None) -> tuple[ContentType | None, str]:
    if obj is None:
        return None, ""
    if getattr(obj, "pk", None) is None:
        raise ValidationError(_("The object must be saved before a call or recording can be linked to it."))
    if not attachable_model(type(obj)):
        raise ValidationError(
            _("Calls and recordings cannot be linked to %(model)s records (see NOOJEE['ATTACHABLE_MODELS']).")
            % {"model": obj._meta.label_lower}
        )
    return ContentType.objects.get_for_model(obj), str(obj.pk)


#: Apps whose records nothing is ever attached to, whatever ``ATTACHABLE_MODELS`` says.
NEVER_ATTACHABLE_APPS = frozenset({"auth", "sessions", "admin", "contenttypes", "authtoken", "noojee_django"})


def attachable_model(model: type[Any]) -> bool:
    """Whether calls and recordings may be linked to records of ``model``.

    ``NOOJEE['ATTACHABLE_MODELS']``: a list of ``"app_label.model"`` (or ``"app_label.*"``) names; unset,
    every model of the project may be, except those of the apps in :data:`NEVER_ATTACHABLE_APPS`.
    """
    meta = getattr(model, "_meta", None)
    if meta is None or meta.app_label in NEVER_ATTACHABLE_APPS:
        return False
    allowed = noojee_settings.ATTACHABLE_MODELS
    if allowed is None:
        return True
    names = {str(name).lower() for name in allowed}
    return meta.label_lower in names or f"{meta.app_label}.*" in names


def fetch_lease() -> dt.timedelta:
    """A leg whose download was claimed this long ago and never finished belongs to a lost worker."""
    return dt.timedelta(seconds=noojee_settings.FETCH_LEASE)


def backoff_delay(attempt: int) -> float:
    """Capped exponential backoff with jitter: about base·2^attempt seconds, never above the cap."""
    base = noojee_settings.POLL_BACKOFF_BASE
    cap = noojee_settings.POLL_BACKOFF_CAP
    ceiling = min(cap, base * (2 ** min(max(attempt, 0), 30)))
    return random.uniform(ceiling / 2, ceiling)


def send_task(name: str, *args: Any, countdown: float = 0) -> None:
    """Send a task by its name once the current transaction commits (at once outside one).

    The registered task is used when this process knows it, so ``CELERY_TASK_ALWAYS_EAGER`` still runs
    it in place; otherwise the message goes to the broker by name.
    """
    from celery import current_app

    def send() -> None:
        task = current_app.tasks.get(name)
        if task is not None:
            task.apply_async(args, countdown=max(countdown, 0))
        else:
            current_app.send_task(name, args, countdown=max(countdown, 0))

    transaction.on_commit(send)


def schedule_poll(recording_tag: RecordingTag | int, *, countdown: float) -> None:
    send_task(POLL_TASK, getattr(recording_tag, "pk", recording_tag), countdown=countdown)


def schedule_fetch(leg_id: int, *, countdown: float = 0) -> None:
    send_task(FETCH_TASK, leg_id, countdown=countdown)


def log_attempt(
    recording_tag: RecordingTag | None,
    action: str,
    outcome: str,
    *,
    leg: RecordingLeg | None = None,
    error: client_errors.NoojeeError | None = None,
    message: str = "",
    started: float | None = None,
    error_kind: str = "",
) -> RecordingAttempt | None:
    if recording_tag is None:
        return None
    return RecordingAttempt.objects.create(
        recording_tag=recording_tag,
        leg=leg,
        action=action,
        outcome=outcome,
        http_status=error.http_status if error is not None else None,
        error_kind=error.kind if error is not None else error_kind,
        message=message or (str(error) if error is not None else ""),
        duration_ms=int((time.monotonic() - started) * 1000) if started is not None else None,
    )


def safe_name(tag: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in tag)[:40] or "recording"
