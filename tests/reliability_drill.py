"""The fault drill: the recording pipeline under every fault a PBX, a network or a host can throw at it.

Each scenario gets its own batch of tags, recorded at the emulator, collected by the app
(``services.watch_tag``) and carried by a real Celery worker on Redis and PostgreSQL while the fault
acts: faults injected at the emulator, the emulator stopped or restarted (state kept), the worker
killed with SIGKILL mid-download. When the batch settles, every tag must be

- attached, each leg's file with the sha256 the emulator announced and the signature equal to the
  emulator's legs joined, or
- failed (or absent) with a ``last_error`` that names the fault, and only where the fault never passes;

and the drill counts what must never happen: a lost recording (stuck, wrong audio, a transient fault
that ended in failure, a failure that does not say why), a duplicate (two rows for one CallRecordId, a
leg fetched twice, a leg the PBX does not have), a partial file (a file in the recordings storage no
fetched leg or attached tag refers to, a referenced file whose bytes are not its sha256, a temporary
file left behind).

Used by ``bench/reliability.py`` (every scenario, large batches) and ``tests/test_reliability_drill.py``
(a few scenarios, small batches). Run as ``python -m tests.reliability_drill faults|listener ...`` with
``--broker`` and ``--database``: it prints progress on stderr and one JSON report as its last line.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.drill_stack import FAST_CLOCK, DrillStack, log

ATTACHED = "attached"
FAILED = "failed"
GIVE_UP_AFTER = float(FAST_CLOCK["NOOJEE_GIVE_UP_AFTER"])
FETCH_LEASE = float(FAST_CLOCK["NOOJEE_FETCH_LEASE"])
#: A batch not settled this long after its tags were watched has a tag stuck past its give-up age.
SETTLE_DEADLINE = GIVE_UP_AFTER + FETCH_LEASE + 60
#: A leg that appears late is found by the hourly reconcile, which looks at the hour five minutes ago
#: and runs at most once a minute: in the first minutes of an hour it waits for the hour to age.
BACKGROUND_DEADLINE = 480.0
SLOW_READ = 3.0  # seconds: beyond the client's read timeout (FAST_CLOCK)
HOLD = 1.5  # seconds a download is held by the emulator so that a kill lands mid-download


@dataclass
class TagPlan:
    tag: str
    expect: str = ATTACHED
    reason: str = ""  # words the tag's last_error must contain when it is expected to fail
    legs: list[dict[str, Any]] = field(default_factory=list)  # the emulator's legs, with their sha256

    @property
    def unique_id(self) -> str:
        return str(self.legs[0]["unique_id"])


@dataclass
class Scenario:
    name: str
    prefix: str
    proves: str
    arm: Callable[[FaultDrill, list[TagPlan]], None] | None = None  # before the tags are watched
    act: Callable[[FaultDrill, list[TagPlan]], None] | None = None  # while they are collected
    recording: dict[str, Any] = field(default_factory=dict)  # add_recording options (late, duplicate_rows)
    persistent: int = 0  # tags of the batch whose fault never passes
    reason: str = ""  # what their last_error must say
    background: bool = False  # settles while later scenarios run (verified at the end)


@dataclass
class ScenarioResult:
    scenario: str
    tags: int
    attached: int = 0
    failed_with_reason: int = 0
    lost: int = 0
    duplicates: int = 0
    partial_files: int = 0
    seconds: float = 0.0
    fault_hits: int = 0
    worker_kills: int = 0
    emulator_restarts: int = 0
    reason: str = ""  # the last_error of one tag that failed as it should
    problems: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------------------------- faults


def leg_match(plan: TagPlan, leg: int) -> dict[str, str]:
    """The parameters of the client's ``retrieveRecording`` request for one leg of the plan's call."""
    return {"uniqueId": plan.unique_id, "leg": str(leg)}


def fault_scenario(
    name: str,
    prefix: str,
    kind: str,
    *,
    reason: str,
    proves: str,
    metadata_count: int | None = None,
    leg_count: int = 2,
    persistent: int = 2,
    **params: Any,
) -> Scenario:
    """A fault on half the batch's polls (``metadata_count`` hits each), on one leg of the others
    (``leg_count`` hits), and on one leg of ``persistent`` tags for good."""

    def arm(drill: FaultDrill, plans: list[TagPlan]) -> None:
        for index, plan in enumerate(plans):
            if plan.expect == FAILED:
                drill.add_fault(kind, "retrieveRecording", None, leg_match(plan, 2), **params)
            elif metadata_count and (index % 2 == 0 or not leg_count):
                drill.add_fault(kind, "retrieveMetaData", metadata_count, {"tag": plan.tag}, **params)
            else:
                drill.add_fault(
                    kind, "retrieveRecording", leg_count, leg_match(plan, 1 + index % 3), **params
                )

    return Scenario(name, prefix, proves, arm=arm, persistent=persistent, reason=reason)


def pbx_unreachable(drill: FaultDrill, plans: list[TagPlan]) -> None:
    drill.stack.emulator.restart(down_for=8)  # the first polls are due 0.5 s after the watch


def hold_polls(drill: FaultDrill, plans: list[TagPlan]) -> None:
    for plan in plans:
        drill.add_fault(
            "latency", "retrieveMetaData", None, {"tag": plan.tag}, expect_used=False, seconds=HOLD
        )


def restart_mid_poll_and_mid_download(drill: FaultDrill, plans: list[TagPlan]) -> None:
    emulator = drill.stack.emulator
    drill.wait_for_requests("retrieveMetaData", len(plans) // 2)
    log("restarting the emulator with polls in flight")
    emulator.restart(down_for=0.5)  # the faults went with it: the next polls go through
    hold_downloads(drill, plans)
    drill.wait_for_requests("retrieveRecording", 3)
    log("restarting the emulator with downloads in flight")
    emulator.restart(down_for=0.5)


def hold_downloads(drill: FaultDrill, plans: list[TagPlan]) -> None:
    for plan in plans:
        drill.add_fault("latency", "retrieveRecording", None, {"uniqueId": plan.unique_id}, expect_used=False,
                        seconds=HOLD)  # fmt: skip


def kill_workers_mid_download(drill: FaultDrill, plans: list[TagPlan]) -> None:
    """SIGKILL the worker each time it holds a leg of the batch mid-download, and start a new one.

    A download is killed at most twice: a leg whose downloads never finish ``MAX_FETCH_ATTEMPTS`` times
    fails by design (it might be what kills the workers), and this scenario's kills are the passing kind.
    """
    import datetime as dt

    from noojee_django.models import RecordingLeg, RecordingTag

    stack = drill.stack
    unique_ids = [plan.unique_id for plan in plans]
    tags = RecordingTag.objects.filter(tag__in=[plan.tag for plan in plans])
    deadline = time.monotonic() + SETTLE_DEADLINE
    kills = 0
    while kills < drill.kills and time.monotonic() < deadline:
        since = dt.datetime.fromtimestamp(stack.worker_started_at, dt.UTC)
        downloading = RecordingLeg.objects.filter(
            unique_id__in=unique_ids,
            fetch_status=RecordingLeg.FetchStatus.FETCHING,
            updated_at__gte=since,
            fetch_attempts__lte=2,
        )
        if downloading.exists():
            time.sleep(0.3)  # inside the HOLD seconds the emulator keeps the download open
            stack.kill_worker()
            kills += 1
            log(f"worker killed mid-download ({kills}/{drill.kills})")
            stack.start_worker()
        elif not tags.exclude(status__in=RecordingTag.FINAL_STATUSES).exists():
            log(f"every tag settled after {kills} kill(s)")
            break
        else:
            time.sleep(0.05)


def scenarios() -> list[Scenario]:
    """Every scenario of the drill, in the order they run."""
    return [
        Scenario(
            "late leg (reconcile)",
            "LATELEG",
            "a leg the PBX lists only later is found by the hourly reconcile; the signature is joined again",
            recording={"late": {"3": 20}},
            background=True,
        ),
        Scenario(
            "PBX unreachable 8 s",
            "DOWN",
            "polls that find no PBX back off and resume when it is back (same port, same state)",
            act=pbx_unreachable,
        ),
        fault_scenario(
            "read timeout",
            "TIMEOUT",
            "latency",
            seconds=SLOW_READ,
            metadata_count=4,
            leg_count=4,
            reason="the total deadline",
            proves="a PBX slower than the client's timeout is retried; for good, the leg fails saying so",
        ),
        fault_scenario(
            "download outlives its lease",
            "LEASE",
            "latency",
            seconds=SLOW_READ,
            leg_count=3,
            persistent=0,
            reason="",
            proves="a fetch that fails after its lease passed to another worker undoes nothing that one did",
        ),
        fault_scenario(
            "HTTP 500",
            "HTTP500",
            "http_500",
            metadata_count=4,
            leg_count=4,
            reason="HTTP 500",
            proves="server errors are retried by the client, then by the task with backoff",
        ),
        fault_scenario(
            "HTTP 502",
            "HTTP502",
            "http_502",
            metadata_count=4,
            leg_count=4,
            reason="HTTP 502",
            proves="a gateway's HTML error page is a server error, not a protocol failure",
        ),
        fault_scenario(
            "malformed JSON",
            "BADJSON",
            "malformed_json",
            metadata_count=4,
            reason="does not parse",
            proves="a cut JSON reply is retried; as an audio body it is refused, never stored",
        ),
        fault_scenario(
            "negative Code",
            "NEGCODE",
            "negative_code",
            metadata_count=2,
            leg_count=0,
            persistent=3,
            reason="Code -5",
            proves="a refusal in the Code fails the leg at once, keeping the PBX's words",
        ),
        fault_scenario(
            "truncated base64",
            "TRUNC",
            "truncated_base64",
            reason="truncated",
            proves="audio shorter than its WAV header is refused and fetched again",
        ),
        fault_scenario(
            "invalid base64",
            "BADB64",
            "invalid_base64",
            reason="invalid base64",
            proves="a corrupt base64 body is refused and fetched again",
        ),
        fault_scenario(
            "bad WAV header",
            "BADWAV",
            "bad_wav_header",
            reason="bad header",
            proves="a body that is not PCM WAV is refused and fetched again",
        ),
        fault_scenario(
            "dropped mid-audio",
            "DROP",
            "drop",
            after_bytes=8000,
            reason="connection broke",
            proves="a connection cut mid-body leaves no partial file and is fetched again",
        ),
        Scenario(
            "late call (30 s)",
            "LATECALL",
            "a call whose legs the PBX lists only after a while is polled with backoff until they appear",
            recording={"late": {"1": 30, "2": 30, "3": 30}},
        ),
        Scenario(
            "duplicate metadata rows",
            "DUPROWS",
            "every metadata row twice gives one leg row per CallRecordId and one download each",
            recording={"duplicate_rows": True},
        ),
        Scenario(
            "emulator restart mid-poll",
            "RESTART",
            "a PBX restarted (state kept) with polls and downloads in flight loses nothing",
            arm=hold_polls,
            act=restart_mid_poll_and_mid_download,
        ),
        Scenario(
            "worker SIGKILL mid-download",
            "KILL",
            "a worker killed mid-download: FETCH_LEASE and the sweep bring its legs back to a new worker",
            arm=hold_downloads,
            act=kill_workers_mid_download,
        ),
    ]


# ---------------------------------------------------------------------------------------------- drill


class FaultDrill:
    def __init__(self, stack: DrillStack, *, tags: int, legs: list[int], kills: int) -> None:
        self.stack = stack
        self.tags = tags
        self.legs = legs
        self.kills = kills
        self._faults: list[tuple[int, int | None, bool]] = []  # id, count, whether it must be used up
        self._customer: Any = None

    @property
    def control(self) -> Any:
        return self.stack.control

    def add_fault(
        self,
        kind: str,
        method: str,
        count: int | None,
        match: dict[str, str],
        *,
        expect_used: bool = True,
        **params: Any,
    ) -> None:
        fault_id = self.control.add_fault(kind, method, count=count, match=match, **params)
        self._faults.append((fault_id, count, expect_used and count is not None))

    def wait_for_requests(self, method: str, more: int, timeout: float = 30.0) -> None:
        """Until the emulator has counted ``more`` further requests of ``method`` (held by a latency fault,
        they are in flight now)."""
        start = self.control.stats()["requests"].get(method, 0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.control.stats()["requests"].get(method, 0) >= start + more:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{more} {method} request(s) never arrived")

    def _fault_hits(self) -> tuple[int, list[str]]:
        """Hits of this scenario's faults, and the transient ones that were never used up."""
        remaining = {f["id"]: f for f in self.control.faults()}
        hits = 0
        unused = []
        for fault_id, count, must_be_used in self._faults:
            if fault_id in remaining:
                hits += int(remaining[fault_id]["hits"])
                if must_be_used:
                    unused.append(f"fault {fault_id} was hit {remaining[fault_id]['hits']} of {count} times")
            elif count is not None:
                hits += count
        self._faults.clear()
        return hits, unused

    def customer(self) -> Any:
        from example_project.crm.models import Customer

        if self._customer is None:
            self._customer = Customer.objects.create(name="Drill Pty Ltd", phone="0383208100")
        return self._customer

    def prepare(self, scenario: Scenario) -> list[TagPlan]:
        plans = [TagPlan(f"DRILL-{scenario.prefix}-{i}") for i in range(self.tags)]
        for plan in plans[: scenario.persistent]:
            plan.expect, plan.reason = FAILED, scenario.reason
        for plan in plans:
            plan.legs = self.control.add_recording(plan.tag, self.legs, **scenario.recording)["legs"]
        return plans

    def watch(self, plans: list[TagPlan]) -> None:
        from example_project.crm.models import Invoice
        from noojee_django import services

        for plan in plans:
            invoice = Invoice.objects.create(number=plan.tag, customer=self.customer(), amount="1.00")
            services.watch_tag(invoice, plan.tag)

    def run(self, chosen: list[Scenario]) -> list[ScenarioResult]:
        results: dict[str, ScenarioResult] = {}
        background: list[tuple[Scenario, list[TagPlan], float, float]] = []
        windows: list[tuple[str, float, float]] = []  # scenario, start, end: who left a temporary file
        for scenario in chosen:
            log(f"scenario {scenario.name}: {self.tags} tags of {len(self.legs)} legs")
            plans = self.prepare(scenario)
            kills, restarts = self.stack.worker_kills, self.stack.emulator.restarts
            if scenario.arm is not None:
                scenario.arm(self, plans)
            started = time.monotonic()
            wall = time.time()
            self.watch(plans)
            if scenario.act is not None:
                scenario.act(self, plans)
            if scenario.background:
                background.append((scenario, plans, started, wall))
                continue
            settled = wait_until_settled(plans, started + SETTLE_DEADLINE)
            result = ScenarioResult(scenario.name, len(plans), seconds=settled - started)
            result.fault_hits, unused = self._fault_hits()
            result.problems += unused
            self.control.clear_faults()
            result.worker_kills = self.stack.worker_kills - kills
            result.emulator_restarts = self.stack.emulator.restarts - restarts
            verify(result, scenario, plans, self.control)
            windows.append((scenario.name, wall, time.time()))
            results[scenario.name] = result
            log(f"  {summary_of(result)}")
        for scenario, plans, started, wall in background:
            settled = wait_until_settled(plans, started + BACKGROUND_DEADLINE)
            result = ScenarioResult(scenario.name, len(plans), seconds=settled - started)
            if settled < started + BACKGROUND_DEADLINE:  # it settled while others ran: when?
                result.seconds = last_change(plans) - wall
            verify(result, scenario, plans, self.control)
            results[scenario.name] = result
            log(f"  {summary_of(result)}")
        self.stack.pipeline.stop()  # a worker stopped in good order removes its temporary files
        leftovers = temporary_files(self.stack.temp_dir)
        for path, mtime in leftovers:
            owner = next((name for name, begin, end in windows if begin <= mtime <= end), chosen[-1].name)
            results[owner].partial_files += 1
            results[owner].problems.append(f"temporary file left behind: {path.name}")
        orphans = unreferenced_files(prefix="DRILL-")
        for name in orphans:
            owner = next((s.name for s in chosen if Path(name).name.startswith(f"DRILL-{s.prefix}-")), None)
            if owner is not None and not any(name in p for p in results[owner].problems):
                results[owner].partial_files += 1
                results[owner].problems.append(f"file no row refers to: {name}")
        return [results[s.name] for s in chosen]


def wait_until_settled(plans: list[TagPlan], deadline: float) -> float:
    """The moment every tag is final and every attached one has all its legs (or the deadline)."""
    from noojee_django.models import RecordingTag

    wanted = {plan.tag: len(plan.legs) for plan in plans}
    while True:
        now = time.monotonic()
        rows = RecordingTag.objects.filter(tag__in=wanted).values_list("tag", "status")
        counts = dict(
            RecordingTag.objects.filter(tag__in=wanted)
            .values_list("tag")
            .annotate(n=_count("legs"))
            .values_list("tag", "n")
        )
        settled = len(rows) == len(wanted) and all(
            status in RecordingTag.FINAL_STATUSES and (status != ATTACHED or counts.get(tag) == wanted[tag])
            for tag, status in rows
        )
        if settled or now >= deadline:
            return now
        time.sleep(0.25)


def last_change(plans: list[TagPlan]) -> float:
    from django.db.models import Max

    from noojee_django.models import RecordingTag

    latest = RecordingTag.objects.filter(tag__in=[p.tag for p in plans]).aggregate(at=Max("updated_at"))["at"]
    return float(latest.timestamp())


def _count(relation: str) -> Any:
    from django.db.models import Count

    return Count(relation)


# ---------------------------------------------------------------------------------------------- verify


def verify(result: ScenarioResult, scenario: Scenario, plans: list[TagPlan], control: Any) -> None:
    """Count attached, failed-with-reason, lost, duplicates and partial files of one batch."""
    from django.db.models import Count

    from noojee_django.models import RecordingAttempt, RecordingLeg, RecordingTag

    for plan in plans:
        rows = list(RecordingTag.objects.filter(tag=plan.tag))
        if len(rows) != 1:
            result.duplicates += max(0, len(rows) - 1)
            result.lost += 1 if not rows else 0
            result.problems.append(f"{plan.tag}: {len(rows)} tag rows")
            continue
        recording_tag = rows[0]
        legs = list(recording_tag.legs.order_by("leg", "call_record_id"))
        wanted = {int(leg["call_record_id"]): leg for leg in plan.legs}
        extra = [leg.call_record_id for leg in legs if leg.call_record_id not in wanted]
        if extra:
            result.duplicates += len(extra)
            result.problems.append(f"{plan.tag}: leg rows the PBX does not have: {extra}")
        twice = (
            RecordingAttempt.objects.filter(
                leg__in=legs, action=RecordingAttempt.Action.FETCH, outcome=RecordingAttempt.Outcome.OK
            )
            .values("leg")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        if twice:
            result.duplicates += twice
            result.problems.append(f"{plan.tag}: {twice} leg(s) fetched more than once")
        same_id = (
            RecordingLeg.objects.filter(call_record_id__in=wanted)
            .values("call_record_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        result.duplicates += same_id
        result.partial_files += _bad_files(recording_tag, legs, result)

        status = recording_tag.status
        if status == RecordingTag.Status.ATTACHED:
            trouble = _attached_trouble(recording_tag, legs, plan, control)
            if trouble:
                result.lost += 1
                result.problems.append(f"{plan.tag}: attached but {trouble}")
            elif plan.expect == FAILED:
                result.problems.append(f"{plan.tag}: attached although its fault never passes")
                result.attached += 1
            else:
                result.attached += 1
        elif status in (RecordingTag.Status.FAILED, RecordingTag.Status.ABSENT):
            named = plan.reason and plan.reason.lower() in recording_tag.last_error.lower()
            if plan.expect == FAILED and named:
                result.failed_with_reason += 1
                result.reason = result.reason or recording_tag.last_error
            else:
                result.lost += 1
                result.problems.append(f"{plan.tag}: {status}: {recording_tag.last_error[:300]}")
        else:
            result.lost += 1
            result.problems.append(f"{plan.tag}: stuck in {status} after {result.seconds:.0f} s")


def _attached_trouble(recording_tag: Any, legs: list[Any], plan: TagPlan, control: Any) -> str:
    """What is wrong with an attached tag's audio, or "" when every byte is the emulator's."""
    from noojee_django.models import RecordingLeg
    from noojee_django.stitching import stitch_wavs

    wanted = {int(leg["call_record_id"]): leg for leg in plan.legs}
    if {leg.call_record_id for leg in legs} != set(wanted):
        return f"{len(legs)} of {len(wanted)} legs"
    for leg in legs:
        if leg.fetch_status != RecordingLeg.FetchStatus.FETCHED:
            return f"leg {leg.leg} is {leg.fetch_status}"
        if (
            leg.audio_sha256 != wanted[leg.call_record_id]["sha256"]
            or _file_sha(leg.audio) != leg.audio_sha256
        ):
            return f"leg {leg.leg}'s audio is not the emulator's"
    ordered = sorted(plan.legs, key=lambda leg: int(leg["leg"]))
    reference = io.BytesIO()
    stitch_wavs([io.BytesIO(control.audio(leg["call_record_id"])) for leg in ordered], reference)
    expected = hashlib.sha256(reference.getvalue()).hexdigest()
    if not (recording_tag.audio_sha256 == expected == _file_sha(recording_tag.audio)):
        return "its signature is not the emulator's legs joined"
    return ""


def _file_sha(field_file: Any) -> str:
    if not field_file:
        return ""
    digest = hashlib.sha256()
    with field_file.open("rb") as stored:
        while block := stored.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _bad_files(recording_tag: Any, legs: list[Any], result: ScenarioResult) -> int:
    """Referenced files whose bytes are not the sha256 their row records."""
    from noojee_django.models import RecordingLeg, RecordingTag

    bad = 0
    for leg in legs:
        if leg.fetch_status == RecordingLeg.FetchStatus.FETCHED and _file_sha(leg.audio) != leg.audio_sha256:
            bad += 1
            result.problems.append(f"{recording_tag.tag}: leg {leg.leg}'s file is not what its row says")
    if recording_tag.status == RecordingTag.Status.ATTACHED:
        if _file_sha(recording_tag.audio) != recording_tag.audio_sha256:
            bad += 1
            result.problems.append(f"{recording_tag.tag}: the signature file is not what its row says")
    return bad


def unreferenced_files(prefix: str = "") -> list[str]:
    """Files in the recordings storage that no fetched leg and no attached tag refers to."""
    from noojee_django.models import RecordingLeg, RecordingTag, recordings_storage

    storage = recordings_storage()
    root = Path(storage.location)
    referenced = set(
        RecordingLeg.objects.filter(fetch_status=RecordingLeg.FetchStatus.FETCHED).values_list(
            "audio", flat=True
        )
    ) | set(RecordingTag.objects.filter(status=RecordingTag.Status.ATTACHED).values_list("audio", flat=True))
    found = []
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file() and path.name.startswith(prefix):
            name = path.relative_to(root).as_posix()
            if name not in referenced:
                found.append(name)
    return sorted(found)


def temporary_files(folder: Path) -> list[tuple[Path, float]]:
    return [(path, path.stat().st_mtime) for path in sorted(folder.rglob("*")) if path.is_file()]


def summary_of(result: ScenarioResult) -> str:
    state = "survived" if result.survived else "NOT SURVIVED: " + "; ".join(result.problems[:5])
    return (
        f"{result.scenario}: attached={result.attached} failed_with_reason={result.failed_with_reason} "
        f"lost={result.lost} duplicates={result.duplicates} partial_files={result.partial_files} "
        f"{result.seconds:.1f}s {state}"
    )


# ---------------------------------------------------------------------------------------------- command


def run_faults(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    chosen = scenarios()
    if args.scenarios:
        wanted = [name.strip() for name in args.scenarios.split(",")]
        by_prefix = {s.prefix: s for s in chosen}
        chosen = [by_prefix[name] for name in wanted]
    stack = DrillStack(
        workdir,
        broker_url=args.broker,
        database_url=args.database,
        emulator_args=("--metadata-rate-limit", "30"),
        worker_concurrency=args.concurrency,
    )
    try:
        stack.start()
        drill = FaultDrill(
            stack, tags=args.tags, legs=[int(x) for x in args.legs.split(",")], kills=args.kills
        )
        results = drill.run(chosen)
    finally:
        stack.stop()
    return {
        "scenarios": [dataclasses.asdict(r) | {"survived": r.survived} for r in results],
        "proves": {s.name: s.proves for s in chosen},
        "worker_kills": stack.worker_kills,
        "emulator_restarts": stack.emulator.restarts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability_drill")
    parser.add_argument("drill", choices=["faults", "listener", "listen"])
    parser.add_argument("--broker", help="redis:// URL")
    parser.add_argument("--database", help="postgres:// URL")
    parser.add_argument("--workdir", help="default: a temporary folder")
    parser.add_argument("--scenarios", default="", help="scenario prefixes, comma separated; default all")
    parser.add_argument("--tags", type=int, default=10, help="tags per scenario")
    parser.add_argument("--legs", default="2,1,1", help="leg durations in seconds")
    parser.add_argument("--kills", type=int, default=10, help="worker SIGKILLs in the kill scenario")
    parser.add_argument("--concurrency", type=int, default=4, help="worker threads")
    parser.add_argument("--agents", type=int, default=8, help="listener drill: agents dialling at once")
    parser.add_argument("--calls", type=int, default=6, help="listener drill: calls per agent")
    parser.add_argument("--listener-kills", type=int, default=4)
    parser.add_argument("--emulator-restarts", type=int, default=3)
    args = parser.parse_args()
    if args.drill == "listen":
        from tests.listener_drill import listen

        listen()
        return
    with tempfile.TemporaryDirectory(prefix="noojee-drill-") as folder:
        workdir = Path(args.workdir or folder)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.drill == "faults":
            report = run_faults(args, workdir)
        else:
            from tests.listener_drill import run_listener_drill

            report = run_listener_drill(args, workdir)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
