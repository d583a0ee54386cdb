"""Throughput of the recording pipeline, its PBX request economy, and the cost of a sweep.

    python bench/pipeline.py [--tags 200] [--legs 30,30,30] [--latency 0.05] [--workers 1] [--concurrency 32]

1. Attachments per second through the real pipeline (a Celery worker process on Redis, PostgreSQL,
   the emulator in its own process with ``--latency`` seconds added to every PBX request), against a
   sequential script that uses the same client to do the same work one tag after another, in the
   same run and against the same emulator.
2. PBX requests per attached tag, counted by the emulator; the floor is one metadata call plus one
   download per leg.
3. One sweep with 1,000 due tags among 1,000 waiting, then among 100,000 waiting (median of 5 each).

Last line: ``pipeline: speedup_vs_sequential=<x> extra_requests_per_tag=<x> sweep_ratio_100k_vs_1k=<x>
attached_fraction=<x>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.pipeline_harness import Pipeline  # noqa: E402
from tests.servers import (  # noqa: E402
    postgres_server,
    redis_server,
    start_emulator,
)

API_KEY = "bench-key"


def sequential(url: str, tags: int, legs: list[int]) -> float:
    """The same work as the pipeline, by one script: for each tag, metadata, each leg, join."""
    from noojee_django.client import NoojeeClient
    from noojee_django.emulator import ControlClient
    from noojee_django.stitching import stitch_wavs

    control = ControlClient(url)
    for i in range(tags):
        control.add_recording(tag=f"SEQ-{i}", legs=legs)
    client = NoojeeClient(url, api_key=API_KEY)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        for i in range(tags):
            files = []
            for meta in client.retrieve_metadata(f"SEQ-{i}"):
                path = Path(folder) / f"{meta.call_record_id}.wav"
                with path.open("wb") as out:
                    client.download_leg(
                        out, unique_id=meta.unique_id, leg=meta.leg, call_record_id=meta.call_record_id
                    )
                files.append(path)
            sources = [p.open("rb") for p in files]
            with (Path(folder) / f"SEQ-{i}.wav").open("wb") as out:
                stitch_wavs(sources, out)
            for source in sources:
                source.close()
    return time.monotonic() - started


def sweep_timings(database_url: str) -> tuple[float, float]:
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    import django

    django.setup()
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from example_project.crm.models import Customer
    from noojee_django import services
    from noojee_django.models import RecordingTag

    customer = Customer.objects.create(name="sweep", phone="1")
    content_type = ContentType.objects.get_for_model(Customer)
    now = timezone.now()

    def make(count: int, prefix: str, due: bool) -> None:
        when = now - dt.timedelta(hours=1) if due else now + dt.timedelta(hours=1)
        batch = [
            RecordingTag(
                tag=f"{prefix}-{i}",
                content_type=content_type,
                object_id=str(customer.pk),
                status=RecordingTag.Status.WAITING,
                next_poll_at=when,
                stopped_at=now,
            )
            for i in range(count)
        ]
        RecordingTag.objects.bulk_create(batch, batch_size=5000)

    def one_sweep() -> float:
        RecordingTag.objects.filter(tag__startswith="DUE-").update(next_poll_at=now - dt.timedelta(hours=1))
        started = time.perf_counter()
        swept = services.sweep_due_tags(now=now, limit=1000)
        elapsed = time.perf_counter() - started
        assert swept == 1000, swept
        return elapsed

    make(1000, "DUE", due=True)
    small = statistics.median(one_sweep() for _ in range(5))
    make(99_000, "LATER", due=False)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE noojee_django_recordingtag")
    large = statistics.median(one_sweep() for _ in range(5))
    return small, large


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--legs", default="30,30,30")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker process")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    args = parser.parse_args()
    legs = [int(x) for x in args.legs.split(",")]

    with (
        redis_server() as redis_url,
        postgres_server() as database_url,
        tempfile.TemporaryDirectory() as work,
    ):
        emulator, url = start_emulator(API_KEY, "--latency", str(args.latency))
        try:
            with Pipeline(
                Path(work), emulator_url=url, api_key=API_KEY, broker_url=redis_url, database_url=database_url
            ) as pipeline:
                pipeline.migrate()
                for _ in range(args.workers):
                    pipeline.start_worker(concurrency=args.concurrency)
                report = pipeline.run_driver(
                    ["--tags", str(args.tags), "--legs", args.legs, "--prefix", "BENCH", "--timeout", "900"],
                    timeout=1800,
                )
            sequential_seconds = sequential(url, args.tags, legs)
        finally:
            emulator.terminate()
            emulator.wait(10)
        small, large = sweep_timings(database_url)

    entries = report["tags"].values()
    attached = sum(
        1 for e in entries if e["status"] == "attached" and e["legs_match"] and e.get("signature_match")
    )
    pipeline_rate = attached / report["elapsed"]
    sequential_rate = args.tags / sequential_seconds
    pbx_requests = report["requests"].get("retrieveMetaData", 0) + report["requests"].get(
        "retrieveRecording", 0
    )
    floor = 1 + len(legs)
    extra = pbx_requests / max(attached, 1) - floor
    print(
        f"tags={args.tags} legs={legs} latency={args.latency}s "
        f"workers={args.workers}x{args.concurrency} threads"
    )
    print(f"pipeline:   {report['elapsed']:.1f} s, {pipeline_rate:.2f} attachments/s")
    print(f"sequential: {sequential_seconds:.1f} s, {sequential_rate:.2f} attachments/s")
    print(
        f"PBX requests: {report['requests']} -> {pbx_requests / max(attached, 1):.2f} per tag (floor {floor})"
    )
    print(
        f"sweep of 1,000 due: {small * 1000:.1f} ms among 1,000 waiting, {large * 1000:.1f} ms among 100,000"
    )
    print(
        f"pipeline: speedup_vs_sequential={pipeline_rate / sequential_rate:.2f} "
        f"extra_requests_per_tag={extra:.2f} sweep_ratio_100k_vs_1k={large / small:.2f} "
        f"attached_fraction={attached / args.tags:.3f}"
    )


if __name__ == "__main__":
    main()
