"""Recording rows with real WAV files, made through the ORM for tests that need audio but not a PBX."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import wave
import zlib
from pathlib import Path
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from noojee_django import ledger
from noojee_django.models import RecordingLeg, RecordingTag, StoredAudio

_call_record_ids = itertools.count(500_000)


def wav_bytes(seconds: float = 1.0, value: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes([value % 256, 0]) * int(8000 * seconds))
    return buffer.getvalue()


def attached_recording(obj: Any, tag: str = "INV-42", legs: tuple[float, ...] = (1.0, 0.5)) -> RecordingTag:
    now = timezone.now()
    recording_tag = RecordingTag.objects.create(
        tag=tag,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        status=RecordingTag.Status.ATTACHED,
        attached_at=now,
    )
    start = now - dt.timedelta(minutes=5)
    for number, seconds in enumerate(legs, 1):
        leg = RecordingLeg.objects.create(
            recording_tag=recording_tag,
            call_record_id=next(_call_record_ids),
            leg=number,
            unique_id="1392271611.238",
            start=start,
            duration=round(seconds),
            fetch_status=RecordingLeg.FetchStatus.FETCHED,
        )
        audio = wav_bytes(seconds, number)
        stored = store(audio, f"{tag}-{number}.wav", StoredAudio.Kind.LEG, recording_tag, leg)
        RecordingLeg.objects.filter(pk=leg.pk).update(
            audio=stored.name, audio_size=stored.size, audio_sha256=stored.sha256
        )
        start += dt.timedelta(seconds=seconds + (3 if number == 1 else 0))  # a gap after leg 1
    stored = store(wav_bytes(sum(legs), 9), f"{tag}-signature.wav", StoredAudio.Kind.SIGNATURE, recording_tag)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(
        audio=stored.name, audio_size=stored.size, audio_sha256=stored.sha256
    )
    recording_tag.refresh_from_db()
    return recording_tag


def store(
    content: bytes, name: str, kind: str, recording_tag: RecordingTag, leg: RecordingLeg | None = None
) -> StoredAudio:
    """Audio written the way the app writes it: through the ledger."""
    return ledger.store(
        ContentFile(content),
        name,
        kind=kind,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        crc32=zlib.crc32(content),
        recording_tag=recording_tag,
        leg=leg,
    )


def stored_files() -> list[Path]:
    """Every file in the recordings storage: what a test expects there, and nothing half-written."""
    root = Path(storages["noojee_recordings"].location)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
