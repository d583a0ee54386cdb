"""The audio ledger: every object written to the recordings storage, as a :class:`StoredAudio` row.

Nothing reaches storage except through :func:`store`, and nothing leaves it except through
:func:`delete`, so the ledger's live rows and the storage's files are the same set. A replacement is
stored (and its size read back from storage) before anything points at it; the object it replaces
is deleted only afterwards, by the caller, once the switch is saved. Legal hold is checked here too, as
a last guard: no object of a held recording is ever deleted, whoever asks.
"""

from __future__ import annotations

import os
from typing import IO

from django.core.files import File
from django.core.files.storage import Storage
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .exceptions import InvalidState
from .models import RecordingLeg, RecordingTag, StoredAudio, recordings_storage


class StorageMismatch(OSError):
    """Storage holds something else than was written (a short write, a full disk)."""


def storage() -> Storage:
    return recordings_storage()


def store(
    content: IO[bytes],
    name: str,
    *,
    kind: str,
    size: int,
    sha256: str,
    crc32: int,
    recording_tag: RecordingTag | None,
    leg: RecordingLeg | None = None,
    sources: str = "",
) -> StoredAudio:
    """Write ``content`` as a new object (never over an existing one) and enter it in the ledger.

    ``size``, ``sha256`` and ``crc32`` are what the writer measured while producing it; the stored
    size is read back, and an object that does not match is deleted again and :class:`StorageMismatch`
    raised.
    """
    backend = storage()
    # A deleted object's name stays in the ledger (its history), while storage may hand it out again.
    while StoredAudio.objects.filter(name=name).exists():
        name = backend.get_alternative_name(*os.path.splitext(name))
    saved = backend.save(name, File(content))
    try:
        stored_size = backend.size(saved)
        if stored_size != size:
            raise StorageMismatch(f"storage holds {stored_size} bytes of {saved!r}, {size} were written")
        return StoredAudio.objects.create(
            recording_tag=recording_tag,
            leg=leg,
            kind=kind,
            name=saved,
            size=size,
            sha256=sha256,
            crc32=crc32,
            sources=sources[:500],
        )
    except BaseException:
        backend.delete(saved)
        raise


def delete(obj: StoredAudio, reason: str) -> None:
    """Delete one object from storage and mark its row deleted. Refused for a held recording."""
    if obj.deleted_at is not None:
        return
    if (
        obj.recording_tag_id
        and RecordingTag.objects.filter(pk=obj.recording_tag_id, legal_hold=True).exists()
    ):
        raise InvalidState(_("This recording is on legal hold: none of its audio may be deleted."))
    storage().delete(obj.name)
    StoredAudio.objects.filter(pk=obj.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now(), deleted_reason=reason[:200]
    )
    obj.deleted_at = timezone.now()


def delete_name(name: str, reason: str) -> None:
    """Delete the object stored under ``name``, if the ledger holds it as live."""
    for obj in StoredAudio.objects.filter(name=name, deleted_at__isnull=True):
        delete(obj, reason)


def live(recording_tag: RecordingTag | int) -> QuerySet[StoredAudio]:
    pk = recording_tag if isinstance(recording_tag, int) else recording_tag.pk
    return StoredAudio.objects.filter(recording_tag_id=pk, deleted_at__isnull=True)


def current_signature(recording_tag: RecordingTag) -> StoredAudio | None:
    if not recording_tag.audio:
        return None
    return StoredAudio.objects.filter(name=recording_tag.audio.name, deleted_at__isnull=True).first()


__all__ = ["StorageMismatch", "current_signature", "delete", "delete_name", "live", "storage", "store"]
