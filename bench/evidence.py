"""Evidence bundles: export time against copying the same files, memory for an hour, tampering caught.

    python bench/evidence.py [--minutes 60] [--repeat 5]

No PBX: a recording of one leg of ``--minutes`` minutes (a real 8 kHz 16-bit mono WAV, 57.6 MB an
hour) and its signature (another object of the same length) are written to a temporary recordings
storage through the audio ledger, in a throwaway SQLite database. Then, alternating, ``--repeat``
times each:

- ``export``: ``services.evidence_bundle`` for a user who may export, its ``chunks()`` written to a
  file (the ZIP streamed from storage with the ledger's sha256 and CRC-32, manifest signed);
- ``copy``: the same objects read from storage in the same blocks (``BLOCK_SIZE``) and written to a
  file: the least any export must cost.

``export_vs_copy`` is the ratio of their best times (the machine's other work only ever adds to a
time; the medians are printed too). Also timed: the gathering alone (``evidence_bundle``, before the
first byte), so the floor printed is the gathering plus the copy; and, for comparison, the sha256 and
the CRC-32 of the same blocks alone (only the checksums, not the reading): what an export that
hashed every byte again would add, which the ledger's figures (measured when each object was
stored) spare it.
``rss_growth_60min_mib`` is the largest growth of the process's RSS over its RSS just before an
export, sampled every millisecond while it runs (the largest of the repeats), in an export of its own
each repeat, before the timed one: the sampling thread takes the GIL a thousand times a second, which
would slow the timed export's hashing thread. Then every case of
``tests/support/evidence_tampering.py`` is applied to a small bundle and checked with
``services.verify_evidence``; a case whose finding is not the expected one is missed.

Last line: ``evidence: export_vs_copy=<x> rss_growth_60min_mib=<x> tamper_cases=<n> tamper_missed=<n>``
(targets: at most 2, at most 20, at least 12, 0).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import sys
import tempfile
import threading
import time
import wave
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WAV_BYTES_PER_SECOND = 8000 * 2  # 8 kHz, 16-bit, mono: 57.6 MB an hour


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """The largest RSS seen while the block runs, sampled every millisecond by a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.001)

    def __enter__(self) -> PeakRss:
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def write_wav(path: Path, seconds: int, value: int) -> tuple[int, str, int]:
    """A real WAV of ``seconds`` seconds, written a second at a time; its size, sha256 and CRC-32."""
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        second = bytes([value % 256, 0]) * 8000
        for _ in range(seconds):
            writer.writeframes(second)
    digest, crc32 = hashlib.sha256(), 0
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
            crc32 = zlib.crc32(block, crc32)
    return path.stat().st_size, digest.hexdigest(), crc32


def setup_django(workdir: Path) -> None:
    os.environ["NOOJEE_EXAMPLE_VAR_DIR"] = str(workdir)
    os.environ["NOOJEE_EXAMPLE_DB"] = str(workdir / "bench.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_recording(workdir: Path, minutes: float) -> Any:
    """A one-leg recording of ``minutes`` minutes, stored through the ledger, and an exporter."""
    import datetime as dt

    from django.contrib.auth.models import Permission, User
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from example_project.crm.models import Customer, Invoice
    from noojee_django import ledger
    from noojee_django.models import RecordingLeg, RecordingTag, StoredAudio

    user = User.objects.create_user(f"bench-{time.monotonic_ns()}")
    for code in ("export_evidence",):
        user.user_permissions.add(Permission.objects.get(codename=code))
    user.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    invoice = Invoice.objects.create(
        number=f"INV-{time.monotonic_ns()}", customer=Customer.objects.create(name="Bench"), amount="1.00"
    )
    now = timezone.now()
    recording = RecordingTag.objects.create(
        tag=invoice.number,
        content_type=ContentType.objects.get_for_model(invoice),
        object_id=str(invoice.pk),
        status=RecordingTag.Status.ATTACHED,
        attached_at=now,
        consent_given=True,
    )
    seconds = max(1, round(minutes * 60))
    leg = RecordingLeg.objects.create(
        recording_tag=recording,
        call_record_id=time.monotonic_ns() % 10**12,
        leg=1,
        unique_id="1392271611.238",
        start=now - dt.timedelta(seconds=seconds),
        duration=seconds,
        fetch_status=RecordingLeg.FetchStatus.FETCHED,
    )
    for kind, target in ((StoredAudio.Kind.LEG, leg), (StoredAudio.Kind.SIGNATURE, None)):
        path = workdir / f"{kind}.wav"
        size, sha256, crc32 = write_wav(path, seconds, 7 if target else 9)
        with path.open("rb") as content:
            stored = ledger.store(
                content,
                f"{recording.tag}-{kind}.wav",
                kind=kind,
                size=size,
                sha256=sha256,
                crc32=crc32,
                recording_tag=recording,
                leg=target,
            )
        path.unlink()
        model = RecordingLeg if target else RecordingTag
        model.objects.filter(pk=(target or recording).pk).update(
            audio=stored.name, audio_size=stored.size, audio_sha256=stored.sha256
        )
    recording.refresh_from_db()
    return User.objects.get(pk=user.pk), recording


def export(user: Any, recording: Any, out: Path) -> tuple[float, int, float]:
    """Seconds for the whole export, the bundle's size, and seconds of it spent gathering."""
    from noojee_django import services

    started = time.perf_counter()
    bundle = services.evidence_bundle(user, recording.pk)
    gathered = time.perf_counter() - started
    with out.open("wb") as sink:
        for chunk in bundle.chunks():
            sink.write(chunk)
    return time.perf_counter() - started, out.stat().st_size, gathered


def copy(recording: Any, out: Path) -> tuple[float, int]:
    from noojee_django import ledger
    from noojee_django.services.evidence import BLOCK_SIZE

    started = time.perf_counter()
    storage = ledger.storage()
    with out.open("wb") as sink:
        for stored in ledger.live(recording).order_by("pk"):
            with storage.open(stored.name, "rb") as handle:
                while block := handle.read(BLOCK_SIZE):
                    sink.write(block)
    return time.perf_counter() - started, out.stat().st_size


def checksums_only(recording: Any) -> tuple[float, float]:
    """Seconds spent on the sha256 and on the CRC-32 of the same objects read in the same blocks,
    the reading not counted: what checking every byte, and the ZIP's checksum, cost at the least."""
    from noojee_django import ledger
    from noojee_django.services.evidence import BLOCK_SIZE

    hashing = crc = 0.0
    storage = ledger.storage()
    for stored in ledger.live(recording).order_by("pk"):
        digest, value = hashlib.sha256(), 0
        with storage.open(stored.name, "rb") as handle:
            while block := handle.read(BLOCK_SIZE):
                started = time.perf_counter()
                digest.update(block)
                hashed = time.perf_counter()
                value = zlib.crc32(block, value)
                hashing += hashed - started
                crc += time.perf_counter() - hashed
    return hashing, crc


def tamper_counts(user: Any, workdir: Path) -> tuple[int, int, list[str]]:
    from noojee_django import services
    from tests.support import evidence_tampering

    _, small = make_recording(workdir, 1 / 60)
    out = workdir / "small.zip"
    export(user, small, out)
    bundle = out.read_bytes()
    assert services.verify_evidence(io.BytesIO(bundle)).ok, "an intact bundle must verify"
    missed = []
    for case in evidence_tampering.CASES:
        report = services.verify_evidence(io.BytesIO(case.apply(bundle)))
        if report.ok or not evidence_tampering.detected(case, report.findings):
            missed.append(case.name)
    return len(evidence_tampering.CASES), len(missed), missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="noojee-bench-evidence-") as folder:
        workdir = Path(folder)
        from noojee_django.signing import generate_private_key

        os.environ["NOOJEE_EVIDENCE_SIGNING_KEY"] = generate_private_key()  # this run's own key
        setup_django(workdir)
        made = time.perf_counter()
        user, recording = make_recording(workdir, args.minutes)
        audio_bytes = sum(row.size for row in __import__("noojee_django").ledger.live(recording))
        print(
            f"recording: {args.minutes:g} min, one leg and its signature, {audio_bytes / 1e6:.1f} MB of WAV "
            f"(made in {time.perf_counter() - made:.1f} s)"
        )
        export_times, copy_times, hash_times, crc_times, gather_times, growths = [], [], [], [], [], []
        for _ in range(args.repeat):
            baseline = rss_bytes()
            with PeakRss() as peak:  # its own export: the sampling thread would slow a timed one
                export(user, recording, workdir / "bundle.zip")
            growths.append((peak.peak - baseline) / 2**20)
            (workdir / "bundle.zip").unlink()
            seconds, size, gathered = export(user, recording, workdir / "bundle.zip")
            export_times.append(seconds)
            gather_times.append(gathered)
            (workdir / "bundle.zip").unlink()
            seconds, copied = copy(recording, workdir / "copy.bin")
            copy_times.append(seconds)
            (workdir / "copy.bin").unlink()
            hashing, crc = checksums_only(recording)
            hash_times.append(hashing)
            crc_times.append(crc)
        export_best, copy_best = min(export_times), min(copy_times)
        for name, times, length in (("export", export_times, size), ("copy", copy_times, copied)):
            print(
                f"{name + ':':8}best {min(times):.3f} s ({length / 1e6 / min(times):.0f} MB/s), median "
                f"{statistics.median(times):.3f} s, {length} bytes"
            )
        sha, crc, gather = min(hash_times), min(crc_times), min(gather_times)
        print(
            f"gathering: best {gather:.3f} s: an export cannot beat gathering + copy, "
            f"export_vs_copy >= {(gather + copy_best) / copy_best:.2f} here"
        )
        print(
            f"sha256 alone: best {sha:.3f} s, CRC-32 alone: best {crc:.3f} s: hashing every byte again "
            f"would add {(sha + crc) / copy_best:.2f} copies on one core (the ledger's figures are used)"
        )
        print(f"rss growth during export: {', '.join(f'{g:.1f}' for g in growths)} MiB")
        cases, missed, names = tamper_counts(user, workdir)
        print(f"tamper cases: {cases}, missed: {missed}" + (f" ({', '.join(names)})" if names else ""))
        ratio = export_best / copy_best
        print(
            f"evidence: export_vs_copy={ratio:.2f} rss_growth_60min_mib={max(growths):.1f} "
            f"tamper_cases={cases} tamper_missed={missed}"
        )


if __name__ == "__main__":
    main()
