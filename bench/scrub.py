"""The integrity scrub over a large ledger: what each run reads against its byte budget, how many runs a
full cycle takes, and whether every damaged object is found within it.

    python bench/scrub.py [--objects 10000] [--budget 1048576] [--damaged 50]

Stores ``--objects`` tiny objects (200 B - 2 KiB; one in a hundred a signature, the rest legs' audio)
through the ledger into a fresh SQLite database and a throwaway recordings folder, flips one byte of
``--damaged`` of them and deletes as many again (both kinds), then runs the scrub with a byte budget of
``--budget`` until every live object has been read since the first run began (one full cycle).

Prints a line per run (bytes read, objects read); last line:
``scrub: objects=<n> runs_per_cycle=<n> max_bytes_per_run=<n> budget=<n> detected=<n>/<n>``.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import io
import logging
import os
import random
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--budget", type=int, default=1024 * 1024, help="SCRUB_BYTES_PER_RUN for the bench")
    parser.add_argument("--damaged", type=int, default=50, help="objects flipped, and as many deleted")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="noojee-bench-scrub-")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "NOOJEE_EXAMPLE_VAR_DIR": folder,
            "DJANGO_DEBUG": "0",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from noojee_django import ledger, services
    from noojee_django.models import RecordingLeg, RecordingTag, StoredAudio
    from noojee_django.services.integrity import not_read_since

    logging.getLogger("noojee_django").setLevel(logging.CRITICAL)  # each flag is logged: counted here instead
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    call_command("migrate", verbosity=0)
    rng = random.Random(11)
    started = time.monotonic()
    content_type = ContentType.objects.get(app_label="auth", model="user")
    per_recording = 100
    with transaction.atomic():
        for r in range((args.objects + per_recording - 1) // per_recording):
            recording = RecordingTag.objects.create(
                tag=f"BENCH-{r}", content_type=content_type, object_id=str(r), status="attached"
            )
            legs = RecordingLeg.objects.bulk_create(
                RecordingLeg(
                    recording_tag=recording,
                    tag=recording.tag,
                    call_record_id=r * per_recording + n,
                    leg=n,
                    unique_id=f"{r}.{n}",
                    duration=1,
                )
                for n in range(1, per_recording)
            )
            for n in range(min(per_recording, args.objects - r * per_recording)):
                leg = legs[n] if n < len(legs) else None
                data = rng.randbytes(rng.randint(200, 2048))
                ledger.store(
                    io.BytesIO(data),
                    f"bench/{r}/{n}.wav",
                    kind=StoredAudio.Kind.LEG if leg else StoredAudio.Kind.SIGNATURE,
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    crc32=zlib.crc32(data),
                    recording_tag=recording,
                    leg=leg,
                )
    total_bytes = sum(StoredAudio.objects.values_list("size", flat=True))
    print(
        f"stored {args.objects} objects, {total_bytes} bytes, in {time.monotonic() - started:.1f} s",
        flush=True,
    )

    backend = ledger.storage()
    signatures = list(
        StoredAudio.objects.filter(kind=StoredAudio.Kind.SIGNATURE).values_list("pk", flat=True)
    )
    legs = list(StoredAudio.objects.filter(kind=StoredAudio.Kind.LEG).values_list("pk", flat=True))
    # Both kinds: a fifth of the damage on signatures (when there are enough of them).
    chosen = rng.sample(signatures, min(len(signatures), (2 * args.damaged) // 5))
    chosen += rng.sample(legs, 2 * args.damaged - len(chosen))
    flipped, deleted = chosen[0::2], chosen[1::2]
    for obj in StoredAudio.objects.filter(pk__in=flipped):
        path = Path(backend.path(obj.name))
        data = bytearray(path.read_bytes())
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
    for obj in StoredAudio.objects.filter(pk__in=deleted):
        Path(backend.path(obj.name)).unlink()

    began = timezone.now()
    runs = []
    while not_read_since(began):
        t0 = time.monotonic()
        result = services.scrub_stored_audio(byte_budget=args.budget)
        runs.append(result)
        print(
            f"run {len(runs)}: bytes_read={result.bytes_read} objects={result.objects} "
            f"flagged={len(result.newly_damaged)} seconds={time.monotonic() - t0:.2f}",
            flush=True,
        )
        if len(runs) > 10 * args.objects:
            print("the scrub made no progress", file=sys.stderr)
            return 2

    verdicts = dict(StoredAudio.objects.filter(pk__in=chosen).values_list("pk", "integrity"))
    detected = sum(verdicts[pk] == StoredAudio.Integrity.MISMATCH for pk in flipped)
    detected += sum(verdicts[pk] == StoredAudio.Integrity.MISSING for pk in deleted)
    false_flags = (
        StoredAudio.objects.exclude(pk__in=chosen).exclude(integrity=StoredAudio.Integrity.OK).count()
    )
    max_bytes = max(run.bytes_read for run in runs)
    print(
        f"false_flags={false_flags} total_bytes={total_bytes} "
        f"objects_per_run_max={max(r.objects for r in runs)}"
    )
    print(
        f"scrub: objects={args.objects} runs_per_cycle={len(runs)} max_bytes_per_run={max_bytes} "
        f"budget={args.budget} detected={detected}/{len(chosen)}"
    )
    ok = detected == len(chosen) and max_bytes <= args.budget and not false_flags
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
