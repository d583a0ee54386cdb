"""Retention: purge, legal hold and restore.

A purge deletes every object the ledger holds live for the recording (the signature, each leg's
audio, and any object an earlier re-fetch or join left behind) and keeps the metadata. Legal hold
wins over every system action: a held recording's objects are never deleted or rewritten, and the
system never shortens ``keep_until``. Purged audio comes back only through an explicit operator
``restore`` (its own permission), which applies retention again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import ledger
from ..conf import noojee_settings
from ..exceptions import InvalidState, NoojeePermissionDenied
from ..lifecycle import transition
from ..models import RecordingLeg, RecordingTag
from .base import fetch_lease, logger, schedule_fetch
from .fetching import join_if_complete

Leg = RecordingLeg.FetchStatus


def set_legal_hold(
    user: Any, recording_tags: models.QuerySet[RecordingTag] | list[RecordingTag], hold: bool
) -> int:
    if not user.has_perm("noojee_django.change_recordingtag"):
        raise NoojeePermissionDenied(_("You may not change legal holds."))
    ids = [t.pk for t in recording_tags]
    return RecordingTag.objects.filter(pk__in=ids).update(legal_hold=hold, updated_at=timezone.now())


def purge_audio(recording_tag: RecordingTag) -> bool:
    """Delete a recording's audio (every live object of it), keep its metadata. Refused on legal hold.

    The hold is read from the row as the purge claims it (a compare-and-set), not from the caller's
    copy: a hold set since that copy was loaded (an operator, while the hourly purge walks thousands
    of rows or while the admin's confirmation page was open) must win. A purge that fails half-way
    gives the claim back, so the next purge finishes it.
    """
    now = timezone.now()
    claim = RecordingTag.objects.filter(pk=recording_tag.pk)
    previous = claim.values_list("purged_at", flat=True).first()
    collecting = (*RecordingTag.ON_CALL_STATUSES, *RecordingTag.PENDING_STATUSES)
    if (
        not claim.filter(legal_hold=False)
        .exclude(status__in=collecting)
        .update(purged_at=now, updated_at=now)
    ):
        held = claim.values_list("legal_hold", flat=True).first()
        if held:
            recording_tag.legal_hold = True
            raise InvalidState(
                _("%(tag)s is on legal hold: its audio cannot be purged.") % {"tag": recording_tag.tag}
            )
        if held is not None:  # a purge now would leave its legs purged and the recording never done
            raise InvalidState(
                _("%(tag)s is still being collected: purge it once that is done.")
                % {"tag": recording_tag.tag}
            )
        return False
    deleted = False
    try:
        # Legs first, then signatures: a purge stopped half-way leaves each leg honestly marked.
        for obj in ledger.live(recording_tag).order_by("kind", "pk"):
            ledger.delete(obj, "purged")
            deleted = True
            if obj.leg_id is not None:
                _forget_leg_audio(obj.leg_id, obj.name)
        for leg in RecordingLeg.objects.filter(recording_tag_id=recording_tag.pk, fetch_status=Leg.PENDING):
            transition(leg, Leg.PURGED, reason="purged before its audio came", strict=False)
    except Exception:
        claim.filter(purged_at=now).update(purged_at=previous)
        raise
    claim.update(audio="", updated_at=now)
    recording_tag.audio = ""
    recording_tag.purged_at = now
    return deleted


def _forget_leg_audio(leg_id: int, name: str) -> None:
    leg = RecordingLeg.objects.filter(pk=leg_id).first()
    if leg is None or leg.audio.name != name:
        return  # an older object of the leg: the leg points at another one
    if not transition(leg, Leg.PURGED, reason="audio purged", strict=False, audio=""):
        RecordingLeg.objects.filter(pk=leg_id, audio=name).update(audio="")


def purge_expired_audio(today: dt.date | None = None) -> int:
    """Purge the audio of every recording past its keep-until date that is not on legal hold.

    A purged recording that holds a live object again (a late leg kept beside it) is purged again.
    """
    today = today or timezone.localdate()
    expired = (
        RecordingTag.objects.filter(keep_until__lt=today, legal_hold=False)
        .filter(
            Q(purged_at__isnull=True) | Q(stored_audio__deleted_at__isnull=True, stored_audio__isnull=False)
        )
        .distinct()
    )
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


def restore_audio(user: Any, recording_tag: RecordingTag) -> RecordingTag:
    """Fetch a purged recording's legs from the PBX again and join them: an operator's explicit act.

    Needs ``noojee_django.restore_recordingtag``. Clears ``purged_at`` and applies retention again from
    today (``keep_until`` never moves earlier). The PBX may no longer have the legs: then the
    recording fails with the reason, and stays without audio.
    """
    if not user.has_perm("noojee_django.restore_recordingtag"):
        raise NoojeePermissionDenied(_("You may not restore purged recordings."))
    if recording_tag.purged_at is None:
        raise InvalidState(
            _("%(tag)s was not purged: there is nothing to restore.") % {"tag": recording_tag.tag}
        )
    now = timezone.now()
    retention = noojee_settings.RETENTION_DAYS
    keep_until = (now + dt.timedelta(days=int(retention))).date() if retention is not None else None
    if recording_tag.keep_until and keep_until and recording_tag.keep_until > keep_until:
        keep_until = recording_tag.keep_until
    if recording_tag.keep_until is None and recording_tag.attached_at is not None:
        keep_until = None  # kept forever: retention never shortens that
    transition(
        recording_tag,
        RecordingTag.Status.FETCHING,
        reason="an operator restored its purged audio",
        actor=user,
        expect=[RecordingTag.Status.ATTACHED],
        where=Q(purged_at__isnull=False),
        purged_at=None,
        keep_until=keep_until,
        needs_review=False,
        next_poll_at=now + fetch_lease(),
    )
    for leg in RecordingLeg.objects.filter(recording_tag=recording_tag):
        if leg.fetch_status == RecordingLeg.FetchStatus.PURGED:
            transition(
                leg,
                RecordingLeg.FetchStatus.PENDING,
                reason="restored by an operator",
                actor=user,
                fetch_attempts=0,
                not_ready_count=0,
                kept_aside=False,
            )
        elif leg.kept_aside:
            RecordingLeg.objects.filter(pk=leg.pk).update(kept_aside=False)
        if leg.fetch_status != RecordingLeg.FetchStatus.FETCHED or not leg.audio:
            schedule_fetch(leg.pk)
    join_if_complete(recording_tag.pk)  # legs kept beside it may be all it needs
    recording_tag.refresh_from_db()
    return recording_tag
