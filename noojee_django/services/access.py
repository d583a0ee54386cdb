"""Access: who may hear a recording, the listening log, and moving a recording to another record."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

from .. import connections, log_chain, signals
from ..exceptions import NoojeePermissionDenied
from ..models import RecordingAccess, RecordingLeg, RecordingTag
from .base import attachable_model, check_on_users_pbx, may_hear, object_ref


def check_may_hear(user: Any, recording_tag: RecordingTag) -> None:
    check_on_users_pbx(user, recording_tag.connection)
    if not may_hear(user, recording_tag.content_object):
        raise NoojeePermissionDenied(_("You may not hear the recordings of this record."))


def check_may_follow_recording(user: Any, recording_tag: RecordingTag) -> None:
    """A recording's progress is its recorder's business, and that of who may hear it."""
    if recording_tag.started_by_id != user.pk:
        check_may_hear(user, recording_tag)


def record_access(
    user: Any,
    recording_tag: RecordingTag,
    *,
    leg: RecordingLeg | None,
    action: str,
    byte_range: str = "",
    ip_address: str | None = None,
) -> RecordingAccess:
    return log_chain.append(
        RecordingAccess,
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


def recordings_for(obj: Any, user: Any = None) -> models.QuerySet[RecordingTag]:
    """The recordings attached to a CRM object, newest first, with their legs and pauses; with
    ``user``, only those of the PBX connections the user may deal with."""
    content_type, object_id = object_ref(obj)
    recordings = RecordingTag.objects.filter(content_type=content_type, object_id=object_id)
    if user is not None:
        recordings = connections.filter_for(user, recordings)
    return recordings.prefetch_related("legs", "pauses")


def _has_model_perm(user: Any, action: str, obj: Any) -> bool:
    """``user`` holds ``<app>.<action>_<model>`` for ``obj``'s model, or for ``obj`` itself (an
    object-level permission backend)."""
    perm = f"{obj._meta.app_label}.{action}_{obj._meta.model_name}"
    return bool(user.has_perm(perm) or user.has_perm(perm, obj))


def may_view(user: Any, obj: Any) -> bool:
    return _has_model_perm(user, "view", obj)


def _may_view_and_change(user: Any, obj: Any) -> bool:
    return may_view(user, obj) and _has_model_perm(user, "change", obj)


def check_may_attach(user: Any, recording_tag: RecordingTag, obj: Any) -> None:
    """Whether ``user`` may move ``recording_tag`` to ``obj``: what :func:`attach_to` asks first.

    The operator needs ``change_recordingtag``, and to be allowed to view and change both the record
    the recording is on now and the one it goes to; the target's model must be attachable.
    """
    if not user.has_perm("noojee_django.change_recordingtag"):
        raise NoojeePermissionDenied(_("You may not move recordings between records."))
    check_on_users_pbx(user, recording_tag.connection)
    current = recording_tag.content_object
    if current is not None and not _may_view_and_change(user, current):
        raise NoojeePermissionDenied(_("You may not change the record this recording is attached to."))
    if obj is None or not _may_view_and_change(user, obj):
        raise NoojeePermissionDenied(_("You may not attach recordings to that record."))
    if not attachable_model(type(obj)):
        raise ValidationError(
            _("Recordings cannot be attached to %(model)s records (see NOOJEE['ATTACHABLE_MODELS']).")
            % {"model": obj._meta.label_lower}
        )


def attach_to(user: Any, recording_tag: RecordingTag, obj: Any) -> RecordingTag:
    """Move a recording to another CRM record (it was tagged against the wrong invoice).

    Who may: :func:`check_may_attach`.
    """
    check_may_attach(user, recording_tag, obj)
    content_type, object_id = object_ref(obj)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(content_type=content_type, object_id=object_id)
    recording_tag.refresh_from_db()
    if recording_tag.status == RecordingTag.Status.ATTACHED:
        signals.recording_attached.send(sender=RecordingTag, recording_tag=recording_tag, content_object=obj)
    return recording_tag
