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

    python bench/pipeline.py --pbxes 2 --down 1 [--tags 100] [--repeat 3] [--down-modes refuse,hang]

Several PBXs: ``--pbxes`` emulators, one per connection (``"default"``, then ``NOOJEE["PBXES"]``'s
``pbx1``, ``pbx2``... each key through its connection's environment variable), an agent on each, the
same ``--tags`` tag names recorded on every PBX (each PBX's legs a second longer than the previous one's,
so their audio differs). In each repeat, one run with every PBX healthy, then one per ``--down-modes``
with the last ``--down`` PBXs unreachable from before the tags are watched: ``refuse`` (the emulator
stopped: connections refused at once) and ``hang`` (it accepts and never answers: every request waits
for ``TIMEOUT``). Counted: the healthy connections' attachments per second in each run;
``healthy_ratio`` is the down runs' median rate over the all-healthy runs' median (the lower of the
modes). Each down PBX is then brought back and its recordings must attach too; every recording and leg
is checked against the PBX it came from (``cross_tenant_leaks``: any on a row of another connection, or
with audio its PBX never gave). Last line: ``pipeline_pbxes: healthy_ratio=<x> cross_tenant_leaks=<n>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.drill_stack import redis_database  # noqa: E402
from tests.pipeline_harness import Pipeline  # noqa: E402
from tests.servers import (  # noqa: E402
    free_port,
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


class PbxProcess:
    """One emulated PBX on a fixed port, keeping its state in a file: it can be stopped and come back
    as it was (same address, same calls and legs, its counters going on)."""

    def __init__(self, name: str, key: str, folder: Path, latency: float) -> None:
        self.name = name
        self.key = key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.options = ["--port", str(self.port), "--latency", str(latency)]
        self.options += ["--state-file", str(folder / f"{name}.json")]
        self.process: Any = None

    def start(self) -> None:
        self.process, url = start_emulator(self.key, *self.options)
        assert url.rstrip("/") == self.url, (url, self.url)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def control(self) -> Any:
        from noojee_django.emulator import ControlClient

        return ControlClient(self.url)


def connection_name(index: int) -> str:
    return "default" if index == 0 else f"pbx{index}"


def pbxes_bench(args: argparse.Namespace) -> None:
    legs = [int(x) for x in args.legs.split(",")]
    count = args.pbxes
    down = [connection_name(i) for i in range(count - args.down, count)]
    healthy = [connection_name(i) for i in range(count - args.down)]
    modes = [m for m in args.down_modes.split(",") if m]
    with (
        redis_server() as redis_url,
        postgres_server() as database_url,
        tempfile.TemporaryDirectory() as work,
    ):
        folder = Path(work)
        pbxes = {
            connection_name(i): PbxProcess(connection_name(i), f"bench-key-{i}", folder, args.latency)
            for i in range(count)
        }
        extra_env = {
            "DJANGO_SETTINGS_MODULE": "tests.pbxes_settings",
            "CACHE_REDIS_URL": redis_database(redis_url, 1),
            "NOOJEE_PBXES": json.dumps(
                {name: {"BASE_URL": p.url} for name, p in pbxes.items() if name != "default"}
            ),
            **{f"NOOJEE_{name.upper()}_API_KEY": p.key for name, p in pbxes.items() if name != "default"},
        }
        for pbx in pbxes.values():
            pbx.start()
        rates: dict[str, list[float]] = {"healthy": [], **{mode: [] for mode in modes}}
        back_after: dict[str, list[float]] = {mode: [] for mode in modes}
        leaks: list[str] = []
        wrong_signatures = 0
        unattached = 0
        try:
            with Pipeline(
                folder,
                emulator_url=pbxes["default"].url,
                api_key=pbxes["default"].key,
                broker_url=redis_database(redis_url, 0),
                database_url=database_url,
                extra_env=extra_env,
            ) as pipeline:
                pipeline.migrate()
                for _ in range(args.workers):
                    pipeline.start_worker(concurrency=args.concurrency)

                def run(prefix: str, mode: str | None) -> None:
                    nonlocal wrong_signatures, unattached
                    expected: dict[str, dict[str, Any]] = {}
                    for index, (name, pbx) in enumerate(pbxes.items()):
                        control = pbx.control()
                        own = [seconds + index for seconds in legs]  # each PBX's audio its own
                        expected[name] = {
                            f"{prefix}-{i}": control.add_recording(tag=f"{prefix}-{i}", legs=own)
                            for i in range(args.tags)
                        }
                    expected_file = folder / f"{prefix}.json"
                    expected_file.write_text(json.dumps(expected))
                    for name in down if mode else []:
                        if mode == "refuse":
                            pbxes[name].stop()
                        else:
                            pbxes[name].control().add_fault("latency", count=None, seconds=3600)
                    common = ["--expected", str(expected_file), "--prefix", prefix]
                    watched = pipeline.run_driver(
                        ["watch", *common, "--wait-for", ",".join(healthy), "--timeout", "900"],
                        module="tests.pipeline_pbxes_driver",
                        timeout=1000,
                    )
                    ours = [watched["connections"][name] for name in healthy]
                    last = max(c["last_attached"] or watched["started"] for c in ours)
                    rate = sum(c["attached"] for c in ours) / max(last - watched["started"], 1e-3)
                    rates[mode or "healthy"].append(rate)
                    back = time.time()
                    for name in down if mode else []:
                        if mode == "refuse":
                            pbxes[name].start()
                        else:
                            pbxes[name].control().clear_faults()
                    settled = pipeline.run_driver(
                        ["settle", *common, "--urls", json.dumps({n: p.url for n, p in pbxes.items()})],
                        module="tests.pipeline_pbxes_driver",
                        timeout=1000,
                    )
                    leaks.extend(settled["leaks"])
                    wrong_signatures += settled["wrong_signatures"]
                    unattached += sum(args.tags - c["attached"] for c in settled["connections"].values())
                    if mode:
                        came = [settled["connections"][name]["last_attached"] for name in down]
                        back_after[mode].append(max((c or back) for c in came) - back)
                    print(
                        f"  {prefix}: {'all healthy' if mode is None else mode + ' down'}: "
                        f"{rate:.2f} attachments/s on {','.join(healthy)} "
                        f"(last at {last - watched['started']:.1f} s)"
                        + (
                            f"; the down one's attached {back_after[mode][-1]:.1f} s after it came back"
                            if mode
                            else ""
                        )
                        + f"; leaks {len(settled['leaks'])}, wrong signatures {settled['wrong_signatures']}",
                        flush=True,
                    )

                for repeat in range(args.repeat):
                    run(f"OK{repeat}", None)
                    for mode in modes:
                        run(f"{mode.upper()}{repeat}", mode)
        finally:
            for pbx in pbxes.values():
                pbx.stop()

    healthy_rate = statistics.median(rates["healthy"])
    print(
        f"pbxes={count} down={args.down} tags={args.tags} per PBX legs={legs} latency={args.latency}s "
        f"workers={args.workers}x{args.concurrency} threads repeats={args.repeat} "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    runs = ", ".join(f"{r:.2f}" for r in rates["healthy"])
    print(f"all healthy: {healthy_rate:.2f} attachments/s (runs: {runs})")
    ratios = {}
    for mode in modes:
        median = statistics.median(rates[mode])
        ratios[mode] = median / healthy_rate
        print(
            f"{mode} down: {median:.2f} attachments/s (runs: {', '.join(f'{r:.2f}' for r in rates[mode])}), "
            f"ratio {ratios[mode]:.2f}; back: attached {statistics.median(back_after[mode]):.1f} s after"
        )
    print(f"not attached in the end: {unattached}; wrong signatures: {wrong_signatures}")
    for leak in leaks[:20]:
        print(f"leak: {leak}")
    print(f"pipeline_pbxes: healthy_ratio={min(ratios.values()):.2f} cross_tenant_leaks={len(leaks)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--legs", default="30,30,30")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32, help="threads per worker process")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--pbxes", type=int, default=0, help="several PBXs: this many emulators")
    parser.add_argument("--down", type=int, default=1, help="of which this many unreachable (--pbxes)")
    parser.add_argument("--down-modes", default="refuse,hang", help="how they are unreachable (--pbxes)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind (--pbxes)")
    args = parser.parse_args()
    if args.pbxes:
        if not 0 < args.down < args.pbxes:
            parser.error("--down must leave at least one PBX healthy and take at least one down")
        if args.tags == parser.get_default("tags"):
            args.tags = 100
        pbxes_bench(args)
        return
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
