"""A stateful model of the recording lifecycle, driven against the bundled emulator.

:class:`LifecycleMachine` is a Hypothesis ``RuleBasedStateMachine``. Its rules are what agents, the
PBX, workers and operators do (dial, start, pause, stop, hang up, transfer, late legs, duplicated
rows, PBX restarts and clean-ups, polls, fetches, re-fetches, a worker killed mid-download, the
hourly reconcile, legal hold, purge, restore, attach to another record, time passing and the
sweeps); after every step it checks the invariants that must hold whatever happened. The services
are called directly, as a Celery worker would: tasks the services send are caught in a queue
(:attr:`LifecycleMachine.tasks`) that the ``run_tasks`` rule works through, and that
``lose_tasks`` empties (a broker flushed, a worker lost).

The app's clock is a fake one (:class:`AppClock`) that only the ``settle`` rule moves forward, so
``GIVE_UP_AFTER`` and ``FETCH_LEASE`` pass without sleeping; the emulator keeps real time.

Used by ``tests/test_lifecycle_stateful.py`` (a short run in every suite run) and
``bench/lifecycle.py`` (a longer one).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import time
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from django.apps import apps
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from noojee_django import services
from noojee_django.conf import noojee_settings
from noojee_django.emulator.control import ControlError
from noojee_django.exceptions import NoojeePermissionDenied, NoojeeServiceError
from noojee_django.models import CallSession, RecordingLeg, RecordingPause, RecordingTag, StoredAudio
from noojee_django.services import base as services_base
from noojee_django.services import fetching as services_fetching
from noojee_django.services.pausing import RESUME_TASK
from noojee_django.stitching import stitch_wavs
from tests.recordings import stored_files

#: What a service may answer instead of doing a thing: a refusal with a message, not a bug.
REFUSALS = (NoojeeServiceError, NoojeePermissionDenied, ValidationError)

GIVE_UP_AFTER = 20  # seconds of the app's (fake) clock
FETCH_LEASE = 10
MAX_FETCH_ATTEMPTS = 3
RETENTION_DAYS = 30
#: The app's clock may run this far ahead of the PBX's: legs_of allows ten minutes of skew.
MAX_CLOCK_OFFSET = 7 * 60

TAGS = ("INV-42", "INV-43")
NUMBERS = ("0383208100", "0398765432")
TRANSFER_EXTENS = ("101", "102", "109")
#: Where calls recorded outside the CRM are made.
HANDSET_EXTEN = "109"

Tag = RecordingTag.Status
Leg = RecordingLeg.FetchStatus

#: Counters over every machine run in this process (the test and the bench print them).
STATS: dict[str, Any] = {
    "examples": 0,
    "steps": 0,
    "violations": 0,
    "tasks_run": 0,
    "settles": 0,
    "pauses": 0,
}
#: The first distinct violations seen (their messages), for the report.
FIRST_VIOLATIONS: list[str] = []


def lifecycle_settings(noojee: dict[str, Any], resolve_tag: Callable[[str], Any]) -> dict[str, Any]:
    """``settings.NOOJEE`` for the machine: short ages, no dial limit, retention on, a RESOLVE_TAG."""
    return {
        **noojee,
        "GIVE_UP_AFTER": GIVE_UP_AFTER,
        "FETCH_LEASE": FETCH_LEASE,
        "MAX_FETCH_ATTEMPTS": MAX_FETCH_ATTEMPTS,
        "POLL_DELAY": 0,
        "POLL_BACKOFF_BASE": 1,
        "POLL_BACKOFF_CAP": 5,
        "SWEEP_GRACE": 0,
        "UNLISTED_CALL_GRACE": 5,
        "DIAL_RATE_LIMIT": None,
        "RETENTION_DAYS": RETENTION_DAYS,
        "RESOLVE_TAG": resolve_tag,
        "TIMEOUT": 5.0,
    }


def write_report(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Write :data:`STATS` as JSON (to ``path``, else ``$NOOJEE_LIFECYCLE_REPORT`` when set) and return it."""
    report = dict(STATS, first_violations=list(FIRST_VIOLATIONS))
    target = path or os.environ.get("NOOJEE_LIFECYCLE_REPORT")
    if target:
        Path(target).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


class InvariantViolation(AssertionError):
    pass


class WorkerKilled(BaseException):
    """A worker dying mid-download (SIGKILL, out of memory): nothing after it runs in that worker."""


class AppClock:
    """The app's clock: real time plus an offset that only grows. Patches ``timezone.now`` and every
    model field whose default is it, so rows and services agree on what "now" is."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._real = timezone.now
        self._fields: list[Any] = []

    def now(self) -> dt.datetime:
        return self._real() + dt.timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    @contextmanager
    def installed(self) -> Iterator[AppClock]:
        real = self._real
        timezone.now = self.now  # type: ignore[assignment]
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if getattr(field, "default", None) is real:
                    field.default = self.now
                    field.__dict__.pop("_get_default", None)
                    self._fields.append(field)
        try:
            yield self
        finally:
            timezone.now = real  # type: ignore[assignment]
            for field in self._fields:
                field.default = real
                field.__dict__.pop("_get_default", None)
            self._fields.clear()


@dataclasses.dataclass
class World:
    """What the test's fixtures give the machine."""

    emulator: Any
    control: Any
    agents: list[Any]
    superuser: Any
    invoices: list[Any]
    customer: Any
    clock: AppClock


@dataclasses.dataclass
class ModelCall:
    pk: int
    agent: int
    unique_id: str | None  # the emulator's call, seen appear when the dial went out
    ended: bool = False


@dataclasses.dataclass
class ModelRecording:
    pk: int
    tag: str
    invoice: int
    #: the emulator call this recording was started on (None: none was started)
    call_unique_id: str | None
    #: created by watch_tag or the reconcile (RESOLVE_TAG): takes every leg of its tag
    claimed: bool
    agent: int | None = None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LifecycleMachine(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        STATS["examples"] += 1
        w = self.world
        self.control = w.control
        self.clock = w.clock
        self.clock.offset = 0.0
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.calls: list[ModelCall] = []
        self.recordings: dict[int, ModelRecording] = {}
        self.scripted: dict[str, str] = {}  # emulator unique id of a scripted call -> its tag
        self.emulator_sha: dict[int, str] = {}  # CallRecordId -> sha256 the emulator announced
        self.held: dict[int, dict[str, Any]] = {}
        self.keep_floor: dict[int, tuple[str, dt.date | None]] = {}
        self.tasks: list[tuple[str, tuple[Any, ...]]] = []
        self._real_send_task = services_base.send_task
        services_base.send_task = self._queue_task  # type: ignore[assignment]
        self.control.reset()
        self.control.config(metadata_rate_limit_seconds=0)
        shutil.rmtree(storages["noojee_recordings"].location, ignore_errors=True)
        cache.clear()

    def teardown(self) -> None:
        services_base.send_task = self._real_send_task  # type: ignore[assignment]
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ------------------------------------------------------------------------------------------ helpers

    def _queue_task(self, name: str, *args: Any, countdown: float = 0) -> None:
        self.tasks.append((name, args))

    def violation(self, message: str) -> None:
        STATS["violations"] += 1
        if message not in FIRST_VIOLATIONS and len(FIRST_VIOLATIONS) < 20:
            FIRST_VIOLATIONS.append(message)
        raise InvariantViolation(message)

    def check(self, condition: object, message: str) -> None:
        if not condition:
            self.violation(message)

    def emulator_calls(self) -> dict[str, dict[str, Any]]:
        return {c["unique_id"]: c for c in self.control.calls()}

    def active_calls(self) -> set[str]:
        return {uid for uid, c in self.emulator_calls().items() if c["phase"] != "ended"}

    def live_model_calls(self) -> list[ModelCall]:
        return [c for c in self.calls if not c.ended]

    def pick(self, items: list[Any], index: int) -> Any:
        return items[index % len(items)]

    def user(self, agent: int) -> Any:
        return self.world.agents[agent]

    def invoice(self, index: int) -> Any:
        return self.world.invoices[index]

    def pbx_now(self) -> dt.datetime:
        zone = zoneinfo.ZoneInfo(self.world.emulator.config.pbx_time_zone)
        return dt.datetime.now(zone)

    def adopt_new_recordings(self, *, call_unique_id: str | None = None, agent: int | None = None) -> None:
        """Rows the model has not seen: made by the reconcile, or by a start or dial just now."""
        for rec in RecordingTag.objects.exclude(pk__in=list(self.recordings)):
            claimed = rec.started_by_id is None
            invoice = next(i for i, inv in enumerate(self.world.invoices) if str(inv.pk) == rec.object_id)
            self.recordings[rec.pk] = ModelRecording(
                pk=rec.pk,
                tag=rec.tag,
                invoice=invoice,
                call_unique_id=None if claimed else call_unique_id,
                claimed=claimed,
                agent=agent,
            )

    def recordings_in(self, *statuses: str) -> list[ModelRecording]:
        pks = set(RecordingTag.objects.filter(status__in=statuses).values_list("pk", flat=True))
        return [r for pk, r in sorted(self.recordings.items()) if pk in pks]

    def run_task(self, name: str, args: tuple[Any, ...]) -> None:
        STATS["tasks_run"] += 1
        if name == services_base.POLL_TASK:
            services.poll_tag(args[0], fetch_inline=True)
        elif name == services_base.FETCH_TASK:
            services.fetch_leg(args[0])
        elif name == RESUME_TASK:
            services.resume_paused(args[0])
        else:  # pragma: no cover - the services send no other task
            raise AssertionError(f"unknown task {name}")

    def work(self, budget: int) -> None:
        """A worker runs the queued tasks (and those they queue), at most ``budget`` of them."""
        while self.tasks and budget > 0:
            name, args = self.tasks.pop(0)
            self.run_task(name, args)
            budget -= 1

    # ------------------------------------------------------------------------------------------ calls

    @initialize()
    def start(self) -> None:
        pass

    @rule(
        agent=st.integers(0, 1),
        number=st.integers(0, 1),
        record=st.booleans(),
        tag=st.integers(0, 1),
        invoice=st.integers(0, 2),
    )
    def dial(self, agent: int, number: int, record: bool, tag: int, invoice: int) -> None:
        before = set(self.emulator_calls())
        known = {c.pk for c in self.calls}
        try:
            call = services.dial(
                self.user(agent),
                NUMBERS[number],
                obj=self.invoice(invoice) if record else self.world.customer,
                record=record,
                tag=TAGS[tag] if record else None,
            )
        except REFUSALS:
            self.adopt_new_recordings(agent=agent)
            return
        if call.pk in known:
            return
        new = [uid for uid in self.emulator_calls() if uid not in before]
        self.check(len(new) <= 1, f"one dial placed {len(new)} calls on the PBX")
        unique_id = new[0] if new else None
        # The handsets answer at once (auto-answer, or a 50 ms delay) and so does the far end; wait for
        # it, so that what the next steps meet does not depend on how fast this machine is.
        deadline = time.monotonic() + 2.0
        while unique_id and time.monotonic() < deadline:
            state = self.emulator_calls().get(unique_id)
            if state is None or state["phase"] in ("connected", "ended"):
                break
            time.sleep(0.01)
        self.calls.append(ModelCall(call.pk, agent, unique_id))
        self.adopt_new_recordings(call_unique_id=unique_id, agent=agent)

    @precondition(lambda self: self.live_model_calls())
    @rule(i=st.integers(0, 7))
    def answer(self, i: int) -> None:
        """The call was answered (the handsets auto-answer: see ``dial``); the app asks for its state,
        as the call's page does without the listener, and learns its unique id."""
        call = self.pick(self.live_model_calls(), i)
        row = services.current_call_status(CallSession.objects.get(pk=call.pk))
        self.check(
            not row.unique_id or row.unique_id == call.unique_id,
            f"call #{call.pk} learnt the unique id {row.unique_id} of another call "
            f"(its own: {call.unique_id})",
        )

    @precondition(lambda self: self.live_model_calls())
    @rule(i=st.integers(0, 7))
    def hang_up(self, i: int) -> None:
        """The agent hangs up through the CRM: only that call may end."""
        call = self.pick(self.live_model_calls(), i)
        before = self.active_calls()
        try:
            services.hangup(self.user(call.agent), CallSession.objects.get(pk=call.pk))
        except REFUSALS:
            return
        ended = before - self.active_calls()
        self.check(
            ended <= {call.unique_id},
            f"hanging up call #{call.pk} ({call.unique_id}) ended {sorted(ended)} on the PBX",
        )
        call.ended = True

    @precondition(lambda self: self.live_model_calls())
    @rule(i=st.integers(0, 7))
    def far_end_hangs_up(self, i: int) -> None:
        """The customer hangs up: only the PBX knows, until a snapshot or the sweep asks."""
        call = self.pick(self.live_model_calls(), i)
        if call.unique_id:
            try:
                self.control.hangup(call.unique_id)
            except ControlError:
                pass
        call.ended = True

    @precondition(lambda self: self.live_model_calls())
    @rule(i=st.integers(0, 7), exten=st.sampled_from(TRANSFER_EXTENS))
    def transfer(self, i: int, exten: str) -> None:
        call = self.pick(self.live_model_calls(), i)
        if call.unique_id:
            try:
                self.control.transfer(call.unique_id, exten)
            except ControlError:
                pass  # not connected yet, or already there

    # ------------------------------------------------------------------------------------------ recording

    def _start(self, agent: int, invoice: int, tag: str) -> None:
        before = self.emulator_calls()
        try:
            services.start_recording(self.user(agent), self.invoice(invoice), tag, consent_given=True)
        except REFUSALS:
            self.adopt_new_recordings(agent=agent)  # a refused start leaves a failed row: no call
            return
        after = self.emulator_calls()
        flipped = [
            uid for uid, c in after.items() if c["recording"] and not before.get(uid, {}).get("recording")
        ]
        self.check(len(flipped) <= 1, f"one start began recording {len(flipped)} calls")
        self.adopt_new_recordings(call_unique_id=flipped[0] if flipped else None, agent=agent)

    @rule(agent=st.integers(0, 1), invoice=st.integers(0, 2), tag=st.sampled_from(TAGS))
    def start_recording(self, agent: int, invoice: int, tag: str) -> None:
        self._start(agent, invoice, tag)

    def _crm_recording(self) -> list[ModelRecording]:
        return [r for r in self.recordings_in(Tag.RECORDING) if not r.claimed and r.agent is not None]

    @precondition(lambda self: self._crm_recording())
    @rule(i=st.integers(0, 7))
    def stop_recording(self, i: int) -> None:
        rec = self.pick(self._crm_recording(), i)
        try:
            services.stop_recording(self.user(rec.agent), RecordingTag.objects.get(pk=rec.pk))
        except REFUSALS:
            pass

    @precondition(lambda self: self._crm_recording())
    @rule(i=st.integers(0, 7))
    def pause(self, i: int) -> None:
        """Stop, then start the same tag for the same record (card details were read meanwhile)."""
        rec = self.pick(self._crm_recording(), i)
        try:
            services.stop_recording(self.user(rec.agent), RecordingTag.objects.get(pk=rec.pk))
        except REFUSALS:
            return
        assert rec.agent is not None
        self._start(rec.agent, rec.invoice, rec.tag)

    @precondition(lambda self: self._crm_recording())
    @rule(i=st.integers(0, 7))
    def secure_pause(self, i: int) -> None:
        """The agent pauses while card details are read: the PBX records nothing until resumed."""
        rec = self.pick(self._crm_recording(), i)
        try:
            services.pause_recording(self.user(rec.agent), RecordingTag.objects.get(pk=rec.pk))
        except REFUSALS:
            return
        STATS["pauses"] += 1

    @precondition(lambda self: self.recordings_in(Tag.PAUSED))
    @rule(i=st.integers(0, 7), automatic=st.booleans())
    def secure_resume(self, i: int, automatic: bool) -> None:
        rec = self.pick(self.recordings_in(Tag.PAUSED), i)
        row = RecordingTag.objects.get(pk=rec.pk)
        try:
            if automatic:
                services.resume_overdue_pauses(now=timezone.now() + dt.timedelta(days=1))
            else:
                services.resume_recording(self.user(rec.agent), row)
        except REFUSALS:
            pass

    # ------------------------------------------------------------------------------------------ the PBX

    @rule(
        tag=st.sampled_from(TAGS),
        legs=st.integers(1, 3),
        late=st.booleans(),
        duplicate=st.booleans(),
        watch=st.booleans(),
        invoice=st.integers(0, 2),
    )
    def recorded_elsewhere(
        self, tag: str, legs: int, late: bool, duplicate: bool, watch: bool, invoice: int
    ) -> None:
        """A call recorded on the handset under ``tag`` (its last leg maybe late, its rows maybe twice);
        maybe the CRM watches the tag for an invoice, else only the reconcile finds it."""
        # On a handset no agent of the CRM uses: a recording whose call's unique id the app never
        # learnt is matched by extension and time window, and cannot tell a handset recording with its
        # tag on its own extension from its own (see docs/reliability.md, "Lifecycle property test").
        created = self.control.add_recording(
            tag,
            [1] * legs,
            exten=HANDSET_EXTEN,
            late={str(legs): 3600} if late and legs > 1 else None,
            duplicate_rows=duplicate,
        )
        self.scripted[created["unique_id"]] = tag
        for leg in created["legs"]:
            self.emulator_sha[leg["call_record_id"]] = leg["sha256"]
        if watch:
            try:
                services.watch_tag(self.invoice(invoice), tag)
            except REFUSALS:
                pass
            self.adopt_new_recordings()

    @rule()
    def late_legs_appear(self) -> None:
        pbx = self.world.emulator.pbx
        with pbx._lock:
            for leg in pbx._legs.values():
                leg.visible_from = 0.0

    @rule()
    def restart_pbx_keeping_state(self) -> None:
        """The PBX restarts and loads its state file: same calls, legs and audio."""
        pbx = self.world.emulator.pbx
        pbx.restore(json.loads(json.dumps(pbx.snapshot())))

    @rule()
    def pbx_clean_up(self) -> None:
        """The PBX restarts without its state (a clean-up): every call and leg is gone."""
        self.control.reset()
        for call in self.calls:
            call.ended = True

    # ------------------------------------------------------------------------------------------ workers

    def _pending(self) -> list[ModelRecording]:
        return self.recordings_in(Tag.WAITING, Tag.FETCHING)

    @precondition(lambda self: self._pending())
    @rule(i=st.integers(0, 7), inline=st.booleans())
    def poll(self, i: int, inline: bool) -> None:
        rec = self.pick(self._pending(), i)
        services.poll_tag(rec.pk, fetch_inline=inline)

    def _legs(self, *statuses: str) -> list[int]:
        rows = RecordingLeg.objects.filter(recording_tag__isnull=False)
        if statuses:
            rows = rows.filter(fetch_status__in=statuses)
        return list(rows.order_by("pk").values_list("pk", flat=True))

    @precondition(lambda self: self._legs())
    @rule(i=st.integers(0, 15))
    def fetch(self, i: int) -> None:
        services.fetch_leg(self.pick(self._legs(), i))

    @precondition(lambda self: self._legs())
    @rule(i=st.integers(0, 15), fetch_now=st.booleans())
    def fetch_again(self, i: int, fetch_now: bool) -> None:
        leg = RecordingLeg.objects.get(pk=self.pick(self._legs(), i))
        services.refetch_legs([leg], actor=self.world.superuser)
        if fetch_now:
            services.fetch_leg(leg.pk)

    @precondition(lambda self: self._legs(Leg.PENDING, Leg.REFETCHING))
    @rule(i=st.integers(0, 15))
    def worker_killed_mid_fetch(self, i: int) -> None:
        """A worker claims a leg, starts downloading and dies; its claim is never finished, and its
        lease runs out (the leg is left ``fetching`` with an old ``updated_at``)."""
        leg_id = self.pick(self._legs(Leg.PENDING, Leg.REFETCHING), i)

        class DyingClient:
            def __init__(self, client: Any) -> None:
                self.client = client

            def download_leg(self, out: Any, **kwargs: Any) -> Any:
                out.write(b"RIFF" + b"\0" * 1000)
                raise WorkerKilled

            def __getattr__(self, name: str) -> Any:
                return getattr(self.client, name)

        real = services_fetching.get_client
        services_fetching.get_client = lambda: DyingClient(real())  # type: ignore[assignment]
        try:
            services.fetch_leg(leg_id)
        except WorkerKilled:
            pass
        finally:
            services_fetching.get_client = real  # type: ignore[assignment]
        stale = self.clock.now() - dt.timedelta(seconds=FETCH_LEASE + 1)
        RecordingLeg.objects.filter(pk=leg_id, fetch_status__in=[Leg.FETCHING, Leg.REFETCHING]).update(
            updated_at=stale
        )

    @precondition(lambda self: self.tasks)
    @rule()
    def run_tasks(self) -> None:
        self.work(budget=len(self.tasks))

    @precondition(lambda self: self.tasks)
    @rule()
    def lose_tasks(self) -> None:
        """The broker is flushed (or the worker holding them dies): only the sweeps bring them back."""
        self.tasks.clear()

    @rule()
    def reconcile(self) -> None:
        now = self.pbx_now()
        try:
            services.reconcile_hour(now.date(), now.hour)
        except REFUSALS:
            pass
        self.adopt_new_recordings()

    @precondition(lambda self: self.clock.offset < MAX_CLOCK_OFFSET)
    @rule()
    def settle(self) -> None:
        """Time passes (past the give-up age and the fetch lease) while the sweeps and a worker run,
        three times; then nothing whose call has ended may still be waiting for anything."""
        STATS["settles"] += 1
        for _ in range(3):
            self.clock.advance(GIVE_UP_AFTER + FETCH_LEASE + 1)
            services.sweep_live_calls()
            services.resume_overdue_pauses()
            services.sweep_due_tags()
            self.work(budget=200)
        active = self.active_calls()
        for rec in self.recordings_in(Tag.RECORDING, Tag.PAUSED, Tag.WAITING, Tag.FETCHING):
            row = RecordingTag.objects.get(pk=rec.pk)
            if not rec.claimed and (rec.call_unique_id is None or rec.call_unique_id in active):
                continue  # its call goes on
            self.violation(
                f"recording #{rec.pk} ({rec.tag}) is still {row.status} after its call ended and "
                f"{self.clock.offset:.0f} s passed (give-up age {GIVE_UP_AFTER} s): {row.status_reason!r} "
                f"{row.last_error!r}; legs: "
                + ", ".join(f"{leg.leg}/{leg.call_record_id}={leg.fetch_status}" for leg in row.legs.all())
            )

    # ------------------------------------------------------------------------------------------ operators

    def _recs(self) -> list[ModelRecording]:
        return [r for _, r in sorted(self.recordings.items())]

    @precondition(lambda self: self.recordings)
    @rule(i=st.integers(0, 7), hold=st.booleans())
    def legal_hold(self, i: int, hold: bool) -> None:
        rec = self.pick(self._recs(), i)
        services.set_legal_hold(self.world.superuser, RecordingTag.objects.filter(pk=rec.pk), hold)
        if hold and rec.pk not in self.held:
            row = RecordingTag.objects.get(pk=rec.pk)
            self.held[rec.pk] = {
                "objects": {
                    o.name: o.sha256 for o in StoredAudio.objects.filter(recording_tag=row, deleted_at=None)
                },
                "audio": (row.audio.name or "", row.audio_sha256),
            }
        elif not hold:
            self.held.pop(rec.pk, None)

    @precondition(lambda self: self.recordings)
    @rule(i=st.integers(0, 7))
    def purge(self, i: int) -> None:
        rec = self.pick(self._recs(), i)
        row = RecordingTag.objects.get(pk=rec.pk)
        try:
            services.purge_audio(row)
        except REFUSALS:
            return
        self.check(rec.pk not in self.held, f"recording #{rec.pk} on legal hold was purged")

    @precondition(lambda self: self.recordings)
    @rule()
    def purge_expired(self) -> None:
        """The daily purge, on the day after the retention of everything collected so far ran out."""
        services.purge_expired_audio(today=self.clock.now().date() + dt.timedelta(days=RETENTION_DAYS + 1))

    @precondition(lambda self: self.recordings)
    @rule(i=st.integers(0, 7))
    def restore(self, i: int) -> None:
        rec = self.pick(self._recs(), i)
        try:
            services.restore_audio(self.world.superuser, RecordingTag.objects.get(pk=rec.pk))
        except REFUSALS:
            pass

    @precondition(lambda self: self.recordings)
    @rule(i=st.integers(0, 7), invoice=st.integers(0, 2))
    def attach_to(self, i: int, invoice: int) -> None:
        rec = self.pick(self._recs(), i)
        services.attach_to(self.world.superuser, RecordingTag.objects.get(pk=rec.pk), self.invoice(invoice))
        rec.invoice = invoice

    @precondition(lambda self: self.recordings)
    @rule(i=st.integers(0, 7), days=st.sampled_from([None, 1, 3650]))
    def operator_sets_keep_until(self, i: int, days: int | None) -> None:
        """An operator edits ``keep_until`` in the admin: shorter, longer, or forever (empty)."""
        rec = self.pick(self._recs(), i)
        if RecordingTag.objects.get(pk=rec.pk).attached_at is None:
            return  # before the first attach, an empty keep_until means "not set yet", not "forever"
        value = None if days is None else self.clock.now().date() + dt.timedelta(days=days)
        RecordingTag.objects.filter(pk=rec.pk).update(keep_until=value)
        self.keep_floor[rec.pk] = ("operator", value)

    # ------------------------------------------------------------------------------------------ invariants

    @invariant()
    def invariants_hold(self) -> None:
        STATS["steps"] += 1
        self.adopt_new_recordings()
        for leg in self.control.recordings():
            if leg["sha256"]:
                self.emulator_sha[leg["call_record_id"]] = leg["sha256"]
        self.check_storage_is_the_ledger()
        self.check_signatures()
        self.check_holds()
        self.check_keep_until()
        self.check_leg_provenance()
        self.check_records()
        self.check_pauses()

    def check_pauses(self) -> None:
        """A paused recording has one pause going on and its call is not recorded by the PBX; no other
        recording has a pause going on."""
        calls = self.emulator_calls()
        for row in RecordingTag.objects.all():
            open_pauses = RecordingPause.objects.filter(recording_tag=row, ended_at__isnull=True).count()
            paused = row.status == Tag.PAUSED
            self.check(
                open_pauses == (1 if paused else 0),
                f"recording #{row.pk} is {row.status} with {open_pauses} pauses going on",
            )
            call = calls.get(row.unique_id) if row.unique_id else None
            if paused and call is not None and call["phase"] != "ended":
                self.check(
                    not call["recording"] or call["tag"] != row.tag,
                    f"recording #{row.pk} is paused but the PBX records its call {row.unique_id}",
                )

    def check_storage_is_the_ledger(self) -> None:
        root = Path(storages["noojee_recordings"].location)
        on_disk = {p.relative_to(root).as_posix() for p in stored_files()}
        live = set(StoredAudio.objects.filter(deleted_at__isnull=True).values_list("name", flat=True))
        self.check(
            not on_disk - live, f"files in storage the ledger does not hold live: {sorted(on_disk - live)}"
        )
        self.check(not live - on_disk, f"live ledger objects missing from storage: {sorted(live - on_disk)}")
        for name, sha in StoredAudio.objects.filter(deleted_at__isnull=True).values_list("name", "sha256"):
            self.check(
                sha256_of((root / name).read_bytes()) == sha, f"{name} is not the sha256 its ledger row says"
            )

    def check_signatures(self) -> None:
        storage = storages["noojee_recordings"]
        for row in RecordingTag.objects.filter(status=Tag.ATTACHED, purged_at__isnull=True):
            self.check(row.audio, f"recording #{row.pk} is attached and not purged but has no audio")
            with storage.open(row.audio.name, "rb") as handle:
                data = handle.read()
            self.check(
                sha256_of(data) == row.audio_sha256,
                f"recording #{row.pk}: its stored signature is not the sha256 in audio_sha256",
            )
            legs = list(
                row.legs.filter(kept_aside=False, fetch_status__in=[Leg.FETCHED, Leg.REFETCHING]).exclude(
                    audio=""
                )
            )
            # In order: the calls in the order they began, each call's legs in leg order.
            first_of_call: dict[str, tuple[dt.datetime, int]] = {}
            for leg in legs:
                key = (leg.start or dt.datetime.max.replace(tzinfo=dt.UTC), leg.call_record_id)
                first_of_call[leg.unique_id] = min(first_of_call.get(leg.unique_id, key), key)
            legs.sort(key=lambda leg: (first_of_call[leg.unique_id], leg.leg, leg.call_record_id))
            for leg in legs:
                with storage.open(leg.audio.name, "rb") as handle:
                    leg_data = handle.read()
                self.check(
                    sha256_of(leg_data) == leg.audio_sha256,
                    f"leg #{leg.call_record_id}: its stored audio is not the sha256 in audio_sha256",
                )
                announced = self.emulator_sha.get(leg.call_record_id)
                self.check(
                    announced is None or announced == leg.audio_sha256,
                    f"leg #{leg.call_record_id}: stored audio differs from the PBX's",
                )
            self.check(legs, f"recording #{row.pk} is attached with no stored leg")
            sources = [storage.open(leg.audio.name, "rb") for leg in legs]
            try:
                out = io.BytesIO()
                joined = stitch_wavs(
                    sources,
                    out,
                    gaps=services_fetching.signature_gaps(row, legs),
                    fill=noojee_settings.PAUSE_GAP_FILL,
                )
            finally:
                for source in sources:
                    source.close()
            self.check(
                joined.sha256 == row.audio_sha256,
                f"recording #{row.pk} ({row.tag}): the signature is not the join of its stored legs "
                f"{[(leg.unique_id, leg.leg, leg.call_record_id) for leg in legs]}",
            )

    def check_holds(self) -> None:
        for pk, frozen in self.held.items():
            row = RecordingTag.objects.get(pk=pk)
            if not row.legal_hold:
                self.violation(f"recording #{pk}: its legal hold went away without an operator")
            live = {
                o.name: (o.sha256, o.kind, o.leg_id)
                for o in StoredAudio.objects.filter(recording_tag=row, deleted_at=None)
            }
            for name, sha in frozen["objects"].items():
                self.check(name in live, f"recording #{pk} on legal hold: {name} was deleted")
                self.check(live[name][0] == sha, f"recording #{pk} on legal hold: {name} changed")
            name, sha = frozen["audio"]
            if name:
                self.check(
                    (row.audio.name, row.audio_sha256) == (name, sha),
                    f"recording #{pk} on legal hold: its signature changed from {name} to {row.audio.name}",
                )

    def check_keep_until(self) -> None:
        for row in RecordingTag.objects.all():
            seen = self.keep_floor.get(row.pk)
            value = row.keep_until
            if seen is None:
                if value is not None:
                    self.keep_floor[row.pk] = ("system", value)
                continue
            _, floor = seen
            if floor is None:
                self.check(value is None, f"recording #{row.pk}: keep_until went from forever to {value}")
            elif value is not None:
                self.check(value >= floor, f"recording #{row.pk}: keep_until shrank from {floor} to {value}")
                self.keep_floor[row.pk] = (seen[0], max(value, floor))
            else:
                self.keep_floor[row.pk] = (seen[0], None)

    def check_leg_provenance(self) -> None:
        for leg in RecordingLeg.objects.filter(recording_tag__isnull=False).select_related("recording_tag"):
            assert leg.recording_tag is not None
            rec = self.recordings[leg.recording_tag_id]
            where = (
                f"leg #{leg.call_record_id} (call {leg.unique_id}, tag {leg.tag!r}) on recording #{rec.pk}"
            )
            self.check(leg.tag == rec.tag, f"{where} carries another tag than {rec.tag!r}")
            if rec.claimed:
                continue
            self.check(
                rec.call_unique_id is not None and leg.unique_id == rec.call_unique_id,
                f"{where}: the recording was started on call {rec.call_unique_id}",
            )

    def check_records(self) -> None:
        for pk, rec in self.recordings.items():
            row = RecordingTag.objects.get(pk=pk)
            self.check(
                row.object_id == str(self.invoice(rec.invoice).pk),
                f"recording #{pk} is on invoice {row.object_id}, not {self.invoice(rec.invoice).pk}",
            )
