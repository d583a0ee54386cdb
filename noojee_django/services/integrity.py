"""Integrity: the logs' hash chains verified, and the stored audio read back against the ledger.

:func:`scrub_stored_audio` (beat task ``noojee_django.scrub_stored_audio``) re-reads live objects,
the one read longest ago (or never) first, within a byte budget per run
(``NOOJEE['SCRUB_BYTES_PER_RUN']``) and an object budget (``SCRUB_OBJECTS_PER_RUN``). Each object
read goes to the back of the line, so runs one after another cover every object (a full cycle) and a
run starts where the last one stopped. An object whose size or sha256 is not the ledger's is flagged
``mismatch``, one storage does not have ``missing``, and :data:`~noojee_django.signals.stored_audio_damaged`
is sent. The scrub flags only: it never deletes, rewrites or replaces audio. An object that reads
right again (restored from a backup) is ``ok`` again. An object stored before the ledger recorded
CRC-32s gets its CRC-32 from the scrub that first reads it intact (evidence bundles need it).

:func:`verify_log` walks the access log's and the histories' hash chains
(:mod:`noojee_django.log_chain`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import zlib
from dataclasses import dataclass, field

from django.core.files.storage import Storage
from django.db.models import F, Q
from django.utils import timezone

from .. import ledger, signals
from ..conf import noojee_settings
from ..log_chain import ChainBreak, LogReport, verify_log
from ..models import StoredAudio

logger = logging.getLogger("noojee_django")

#: Bytes read from storage at a time: the memory a scrub holds, whatever the size of an object.
CHUNK_SIZE = 1024 * 1024
#: Ledger rows fetched at a time.
PAGE_SIZE = 200

Integrity = StoredAudio.Integrity


@dataclass
class ScrubResult:
    """What one scrub run did."""

    objects: int = 0
    bytes_read: int = 0
    ok: int = 0
    mismatch: int = 0
    missing: int = 0
    #: objects storage would not let the scrub read (an outage): left as they were, tried next cycle
    unreadable: int = 0
    #: ids of the objects this run flagged that were not flagged so before
    newly_damaged: list[int] = field(default_factory=list)
    budget: int = 0


def scrub_stored_audio(*, byte_budget: int | None = None, max_objects: int | None = None) -> ScrubResult:
    """Read back live stored audio, oldest-checked first, until the byte or object budget is spent.

    The next object is read only if its ledger size fits in what is left of the byte budget, so a
    run never reads more than the budget; the one exception is an object larger than the whole
    budget, read alone by the run that finds it first in line (else it would never be checked).
    """
    budget = byte_budget if byte_budget is not None else noojee_settings.SCRUB_BYTES_PER_RUN
    limit = max_objects if max_objects is not None else noojee_settings.SCRUB_OBJECTS_PER_RUN
    result = ScrubResult(budget=budget)
    started = timezone.now()
    backend = ledger.storage()
    due = (
        StoredAudio.objects.filter(deleted_at__isnull=True)
        .filter(Q(integrity_checked_at__isnull=True) | Q(integrity_checked_at__lt=started))
        .order_by(F("integrity_checked_at").asc(nulls_first=True), "id")
    )
    while result.objects < limit:
        page = list(due[: min(PAGE_SIZE, limit - result.objects)])
        if not page:  # every live object read since this run began
            break
        for obj in page:
            if result.objects >= limit:
                break
            if result.objects and result.bytes_read + obj.size > budget:
                return result
            outcome, detail, read, crc32 = _read_back(backend, obj)
            result.objects += 1
            result.bytes_read += read
            _record(obj, outcome, detail, result, crc32)
            if obj.size > budget:  # the lone oversized object: nothing more this run
                return result
    return result


def not_read_since(moment: dt.datetime) -> int:
    """How many live objects the scrub has not read since ``moment``: 0 once a full cycle begun then
    is complete."""
    return (
        StoredAudio.objects.filter(deleted_at__isnull=True)
        .filter(Q(integrity_checked_at__isnull=True) | Q(integrity_checked_at__lt=moment))
        .count()
    )


def _read_back(backend: Storage, obj: StoredAudio) -> tuple[str | None, str, int, int | None]:
    """``(integrity, detail, bytes read, CRC-32)``; integrity ``None`` when storage could not be asked.

    The CRC-32 is computed only for an object the ledger has none for (stored before it recorded
    them), and given only when the bytes are the ledger's: then it is theirs.
    """
    read = 0
    crc32 = 0 if obj.crc32 is None else None
    try:
        if not backend.exists(obj.name):
            return Integrity.MISSING, "storage has no object of this name", 0, None
        stored_size = backend.size(obj.name)
        if stored_size != obj.size:
            detail = f"storage holds {stored_size} bytes, the ledger says {obj.size}"
            return Integrity.MISMATCH, detail, 0, None
        digest = hashlib.sha256()
        with backend.open(obj.name, "rb") as handle:
            while read < obj.size:
                chunk = handle.read(min(CHUNK_SIZE, obj.size - read))
                if not chunk:
                    break
                read += len(chunk)
                digest.update(chunk)
                if crc32 is not None:
                    crc32 = zlib.crc32(chunk, crc32)
    except FileNotFoundError:
        return Integrity.MISSING, "storage has no object of this name", read, None
    except OSError as exc:
        return None, f"could not be read: {type(exc).__name__}: {exc}"[:300], read, None
    if read != obj.size:
        return Integrity.MISMATCH, f"storage gave {read} bytes, the ledger says {obj.size}", read, None
    if digest.hexdigest() != obj.sha256:
        detail = f"sha256 is {digest.hexdigest()}, the ledger says {obj.sha256}"
        return Integrity.MISMATCH, detail, read, None
    return Integrity.OK, "", read, crc32


def _record(
    obj: StoredAudio, outcome: str | None, detail: str, result: ScrubResult, crc32: int | None = None
) -> None:
    now = timezone.now()
    rows = StoredAudio.objects.filter(pk=obj.pk, deleted_at__isnull=True)
    if outcome is None:
        result.unreadable += 1
        rows.update(integrity_checked_at=now, integrity_detail=detail)
        logger.warning("Integrity scrub: %s %s", obj.name, detail)
        return
    setattr(result, outcome, getattr(result, outcome) + 1)
    values = {"integrity": outcome, "integrity_checked_at": now, "integrity_detail": detail}
    if outcome == Integrity.OK:
        values["verified_at"] = now
        if crc32 is not None:
            values["crc32"] = crc32
    # Compare-and-set on the old verdict: of two scrubs finding the same damage, one announces it.
    changed = rows.exclude(integrity=outcome).update(**values)
    if not changed:
        rows.update(**values)
    if changed and outcome in StoredAudio.DAMAGED:
        result.newly_damaged.append(obj.pk)
        obj.refresh_from_db()
        logger.error("Integrity scrub: %s is %s: %s", obj.name, outcome, detail)
        signals.stored_audio_damaged.send(
            sender=StoredAudio, stored_audio=obj, integrity=outcome, detail=detail
        )


__all__ = ["ChainBreak", "LogReport", "ScrubResult", "not_read_since", "scrub_stored_audio", "verify_log"]
