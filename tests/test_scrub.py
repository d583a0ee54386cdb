"""The integrity scrub reads the stored audio back against the ledger, a byte budget at a time: every
object flipped or deleted is flagged within one full cycle, nothing is ever deleted or changed, and
W011 says so at ``check --database``.

Damage is done to the files in storage directly, as a disk fault or an intruder would.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.utils import timezone

from example_project.crm.models import Invoice
from noojee_django import ledger, services, signals, tasks
from noojee_django.beat import beat_schedule
from noojee_django.models import RecordingLeg, RecordingTag, StoredAudio
from noojee_django.services import integrity

Integrity = StoredAudio.Integrity


def _store(recording: RecordingTag, leg: RecordingLeg | None, data: bytes) -> StoredAudio:
    kind = StoredAudio.Kind.LEG if leg else StoredAudio.Kind.SIGNATURE
    name = f"noojee/test/{recording.tag}-{leg.leg if leg else 'signature'}.wav"
    return ledger.store(
        io.BytesIO(data),
        name,
        kind=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        crc32=zlib.crc32(data),
        recording_tag=recording,
        leg=leg,
    )


@pytest.fixture
def stored(invoice: Invoice) -> list[StoredAudio]:
    """Four recordings, each with three legs' audio and a signature: sixteen objects of 1-4 KiB."""
    rng = random.Random(7)
    objects = []
    for r in range(4):
        recording = RecordingTag.objects.create(tag=f"SCRUB-{r}", content_object=invoice, status="attached")
        for n in range(1, 4):
            leg = RecordingLeg.objects.create(
                recording_tag=recording,
                tag=recording.tag,
                call_record_id=100 * r + n,
                leg=n,
                unique_id="1.1",
                duration=1,
            )
            objects.append(_store(recording, leg, rng.randbytes(rng.randint(1024, 4096))))
        objects.append(_store(recording, None, rng.randbytes(rng.randint(1024, 4096))))
    return objects


def _path(obj: StoredAudio) -> Path:
    return Path(ledger.storage().path(obj.name))


def _flip(obj: StoredAudio, offset: int | None = None) -> None:
    path = _path(obj)
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _full_cycle(budget: int, **kwargs: Any) -> list[services.ScrubResult]:
    """Runs until every live object has been read since the first of them began: one full cycle."""
    began = timezone.now()
    runs = []
    while integrity.not_read_since(began) and len(runs) < 100:
        runs.append(services.scrub_stored_audio(byte_budget=budget, **kwargs))
    return runs


def test_an_object_stored_without_a_crc32_gets_it_from_the_scrub_that_reads_it_intact(
    stored: list[StoredAudio],
) -> None:
    intact, altered = stored[0], stored[1]
    StoredAudio.objects.filter(pk__in=[intact.pk, altered.pk]).update(crc32=None)  # stored before 0013
    _flip(altered)
    services.scrub_stored_audio(byte_budget=10**9)
    rows = {row.pk: row for row in StoredAudio.objects.all()}
    assert rows[intact.pk].crc32 == zlib.crc32(_path(intact).read_bytes())
    assert rows[altered.pk].integrity == Integrity.MISMATCH and rows[altered.pk].crc32 is None
    assert all(rows[obj.pk].crc32 == obj.crc32 for obj in stored[2:])  # the others' are not rewritten


def test_every_object_flipped_or_deleted_is_flagged_within_one_full_cycle(stored: list[StoredAudio]) -> None:
    legs = [o for o in stored if o.kind == StoredAudio.Kind.LEG]
    signatures = [o for o in stored if o.kind == StoredAudio.Kind.SIGNATURE]
    services.scrub_stored_audio(byte_budget=10**9)  # one clean cycle: every object ok
    assert set(StoredAudio.objects.values_list("integrity", flat=True)) == {Integrity.OK}

    flipped = [legs[0], legs[4], legs[8], signatures[1], signatures[3]]
    _flip(legs[0], offset=0)  # the first byte, the last, the middle
    _flip(legs[4], offset=legs[4].size - 1)
    for obj in flipped[2:]:
        _flip(obj)
    deleted = [legs[2], legs[7], signatures[0]]
    for obj in deleted:
        _path(obj).unlink()
    grown = legs[10]
    with _path(grown).open("ab") as handle:
        handle.write(b"\0")
    damaged_files = {obj.pk: _path(obj).read_bytes() for obj in [*flipped, grown]}

    runs = _full_cycle(budget=8 * 1024)
    assert len(runs) > 2  # the budget made it take several runs

    verdicts = dict(StoredAudio.objects.values_list("pk", "integrity"))
    expected = {obj.pk: Integrity.OK for obj in stored}
    expected |= {obj.pk: Integrity.MISMATCH for obj in [*flipped, grown]}
    expected |= {obj.pk: Integrity.MISSING for obj in deleted}
    assert verdicts == expected  # 100 %: every damaged object, no sound one
    assert "sha256 is" in StoredAudio.objects.get(pk=legs[0].pk).integrity_detail
    assert "bytes, the ledger says" in StoredAudio.objects.get(pk=grown.pk).integrity_detail
    # Flags only: every row still live, every damaged file exactly as the damage left it.
    assert StoredAudio.objects.filter(deleted_at__isnull=True).count() == len(stored)
    assert {pk: _path(StoredAudio.objects.get(pk=pk)).read_bytes() for pk in damaged_files} == damaged_files
    assert not any(_path(obj).exists() for obj in deleted)
    assert StoredAudio.objects.get(pk=legs[1].pk).verified_at is not None
    assert (
        StoredAudio.objects.get(pk=legs[0].pk).verified_at
        < StoredAudio.objects.get(pk=legs[0].pk).integrity_checked_at
    )


def test_no_run_reads_more_than_its_byte_budget_and_a_cycle_reads_every_object(
    stored: list[StoredAudio],
) -> None:
    budget = 6 * 1024
    runs = _full_cycle(budget)
    assert all(run.bytes_read <= budget for run in runs), [run.bytes_read for run in runs]
    # Each run but the last of the cycle read objects no earlier run of it had read; the last may
    # go on to the ones read longest ago, as the next cycle.
    assert sum(run.objects for run in runs[:-1]) < len(stored) <= sum(run.objects for run in runs)
    assert all(run.bytes_read > budget - 4096 for run in runs[:-1])  # a run stops only when full
    assert StoredAudio.objects.filter(integrity_checked_at__isnull=True).count() == 0


def test_each_run_starts_where_the_last_stopped_and_the_next_cycle_oldest_checked_first(
    stored: list[StoredAudio],
) -> None:
    order: list[list[int]] = []
    before = set()
    for _ in range(3):
        services.scrub_stored_audio(byte_budget=10**9, max_objects=5)
        checked = set(
            StoredAudio.objects.filter(integrity_checked_at__isnull=False).values_list("pk", flat=True)
        )
        order.append(sorted(checked - before))
        before = checked
    ids = sorted(obj.pk for obj in stored)
    assert order == [ids[0:5], ids[5:10], ids[10:15]]  # never the same object twice in a cycle
    services.scrub_stored_audio(byte_budget=10**9, max_objects=5)
    # The cycle ends with the one left, then starts again with the one read longest ago.
    newest_first = StoredAudio.objects.order_by("-integrity_checked_at", "-id").values_list("pk", flat=True)
    assert list(newest_first[:5]) == [ids[3], ids[2], ids[1], ids[0], ids[15]]


def test_a_damaged_object_is_announced_once_and_marked_ok_again_once_restored(
    stored: list[StoredAudio],
) -> None:
    heard: list[tuple[int, str]] = []

    def listener(sender: Any, stored_audio: StoredAudio, integrity: str, detail: str, **kwargs: Any) -> None:
        heard.append((stored_audio.pk, integrity))

    signals.stored_audio_damaged.connect(listener)
    try:
        obj = stored[5]
        original = _path(obj).read_bytes()
        _flip(obj)
        services.scrub_stored_audio(byte_budget=10**9)
        services.scrub_stored_audio(byte_budget=10**9)  # still damaged: no second announcement
        _path(obj).unlink()
        services.scrub_stored_audio(byte_budget=10**9)  # damaged otherwise now: announced
        assert heard == [(obj.pk, Integrity.MISMATCH), (obj.pk, Integrity.MISSING)]
        _path(obj).write_bytes(original)  # restored from a backup
        services.scrub_stored_audio(byte_budget=10**9)
        assert StoredAudio.objects.get(pk=obj.pk).integrity == Integrity.OK
    finally:
        signals.stored_audio_damaged.disconnect(listener)


def test_an_object_larger_than_the_whole_budget_is_read_alone_in_a_run_of_its_own(
    stored: list[StoredAudio],
) -> None:
    first = min(stored, key=lambda o: o.pk)
    run = services.scrub_stored_audio(byte_budget=first.size - 1)
    assert (run.objects, run.bytes_read) == (1, first.size)
    assert StoredAudio.objects.get(pk=first.pk).integrity == Integrity.OK


def test_deleted_objects_are_not_scrubbed(stored: list[StoredAudio]) -> None:
    gone = stored[0]
    ledger.delete(gone, "purged")
    runs = _full_cycle(budget=10**9)
    assert sum(r.objects for r in runs) == len(stored) - 1
    assert StoredAudio.objects.get(pk=gone.pk).integrity == Integrity.UNCHECKED


def test_w011_appears_at_check_database_when_flagged_objects_exist(stored: list[StoredAudio]) -> None:
    assert "noojee.W011" not in {m.id for m in run_checks(databases=["default"])}
    _path(stored[3]).unlink()
    _flip(stored[6])
    services.scrub_stored_audio(byte_budget=10**9)

    messages = [m for m in run_checks(databases=["default"]) if m.id == "noojee.W011"]
    assert len(messages) == 1
    assert "1 mismatch, 1 missing" in messages[0].msg
    # A check without --database does not read the database.
    assert "noojee.W011" not in {m.id for m in run_checks()}


def test_the_scrub_is_a_beat_task_of_its_own(stored: list[StoredAudio], settings: Any) -> None:
    schedule = beat_schedule(scrub_every=600)
    assert schedule["noojee-scrub-stored-audio"] == {
        "task": "noojee_django.scrub_stored_audio",
        "schedule": 600,
    }
    settings.NOOJEE = {**settings.NOOJEE, "SCRUB_BYTES_PER_RUN": 5000}
    assert tasks.scrub_stored_audio.name == "noojee_django.scrub_stored_audio"
    assert 1 <= tasks.scrub_stored_audio.apply().get() <= 4
    read = StoredAudio.objects.filter(integrity_checked_at__isnull=False)
    assert sum(read.values_list("size", flat=True)) <= 5000


def test_a_missing_storage_folder_flags_every_object_missing(stored: list[StoredAudio]) -> None:
    root = Path(ledger.storage().location)
    for dirpath, _, files in os.walk(root):
        for name in files:
            Path(dirpath, name).unlink()
    services.scrub_stored_audio(byte_budget=10**9)
    assert set(StoredAudio.objects.values_list("integrity", flat=True)) == {Integrity.MISSING}
