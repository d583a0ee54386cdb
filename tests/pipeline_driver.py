"""Creates tagged recordings at the emulator, asks the app to collect them, and reports what it got.

Run by :mod:`tests.pipeline_harness` in its own process (``python -m tests.pipeline_driver``) with the
example project's settings, so it shares the worker's database and storage. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=3)
    parser.add_argument("--legs", default="3,2,1", help="leg durations in seconds, comma separated")
    parser.add_argument("--prefix", default="E2E")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--verify", choices=["all", "none"], default="all")
    args = parser.parse_args()

    import django

    django.setup()
    from example_project.crm.models import Customer, Invoice
    from noojee_django import services
    from noojee_django.emulator import ControlClient
    from noojee_django.models import RecordingTag
    from noojee_django.stitching import stitch_wavs

    control = ControlClient(os.environ["NOOJEE_BASE_URL"])
    legs = [int(x) for x in args.legs.split(",")]
    customer = Customer.objects.create(name=f"{args.prefix} customer", phone="0383208100")
    expected: dict[str, Any] = {}
    invoices = []
    for i in range(args.tags):
        tag = f"{args.prefix}-{i}"
        invoices.append(Invoice.objects.create(number=tag, customer=customer, amount="1.00"))
        expected[tag] = control.add_recording(tag=tag, legs=legs)

    requests_before = control.stats()["requests"]
    started = time.monotonic()
    for invoice in invoices:
        services.watch_tag(invoice, invoice.number)
    deadline = started + args.timeout
    tags = RecordingTag.objects.filter(tag__startswith=f"{args.prefix}-")
    while time.monotonic() < deadline and tags.exclude(status__in=RecordingTag.FINAL_STATUSES).exists():
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    requests_after = control.stats()["requests"]

    results = {}
    for recording_tag in tags.prefetch_related("legs"):
        want = expected[recording_tag.tag]
        want_legs = {leg["call_record_id"]: leg["sha256"] for leg in want["legs"]}
        got_legs = {leg.call_record_id: leg.audio_sha256 for leg in recording_tag.legs.all()}
        entry: dict[str, Any] = {
            "status": recording_tag.status,
            "error": recording_tag.last_error,
            "legs_match": got_legs == want_legs,
            "leg_rows": recording_tag.legs.count(),
        }
        if args.verify == "all" and recording_tag.status == RecordingTag.Status.ATTACHED:
            sources = [
                io.BytesIO(control.audio(leg["call_record_id"]))
                for leg in sorted(want["legs"], key=lambda x: x["leg"])
            ]
            reference = io.BytesIO()
            stitch_wavs(sources, reference)
            with recording_tag.audio.open("rb") as stored:
                digest = hashlib.sha256(stored.read()).hexdigest()
            entry["signature_match"] = (
                digest == hashlib.sha256(reference.getvalue()).hexdigest() == recording_tag.audio_sha256
            )
        results[recording_tag.tag] = entry

    delta = {k: requests_after.get(k, 0) - requests_before.get(k, 0) for k in requests_after}
    print(json.dumps({"elapsed": elapsed, "tags": results, "requests": delta, "expected_tags": args.tags}))


if __name__ == "__main__":
    main()
