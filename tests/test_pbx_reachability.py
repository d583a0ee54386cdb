"""A PBX that cannot be reached holds up only its own connection's work: its polls and fetches pause
(``UNREACHABLE_PAUSE``, doubled to ``UNREACHABLE_PAUSE_CAP``), at most ``PBX_MAX_IN_FLIGHT`` of them wait
for it at once, and the other PBX's recordings are attached as if nothing happened. Two emulators over
loopback HTTP: one stopped (connections refused) or silent (it accepts, and never answers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection as db_connection

from example_project.crm.models import Customer, Invoice
from noojee_django import services
from noojee_django.client import errors as client_errors
from noojee_django.emulator import ControlClient, EmulatorServer
from noojee_django.emulator.pytest_plugin import fixture_config
from noojee_django.models import RecordingAttempt, RecordingLeg, RecordingTag
from noojee_django.services import base, reachability
from tests.drill_stack import redis_database
from tests.pipeline_harness import Pipeline
from tests.servers import start_emulator
from tests.test_collection import Broker, run_due

ACME_KEY = "acme-global-key-0000"
PAUSE = 0.6


@pytest.fixture
def sent() -> Broker:
    broker = Broker()
    broker.drain()
    broker.tasks.clear()
    return broker


class Pbxs:
    """The default connection's emulator, and acme's, which can be stopped and brought back as it was
    (same address, its state kept in a file)."""

    def __init__(self, default: EmulatorServer, state_file: Path) -> None:
        self.default = default
        self.state_file = state_file
        self.acme = EmulatorServer(fixture_config(api_key=ACME_KEY, state_file=str(state_file))).start()
        self.port = self.acme.port

    def stop_acme(self) -> None:
        self.acme.stop()

    def bring_acme_back(self) -> None:
        self.acme = EmulatorServer(
            fixture_config(api_key=ACME_KEY, state_file=str(self.state_file), port=self.port)
        ).start()

    def control(self, name: str) -> ControlClient:
        return ControlClient((self.default if name == "default" else self.acme).url)

    def requests(self, name: str, method: str) -> int:
        return int(self.control(name).stats()["requests"].get(method, 0))


@pytest.fixture
def pbxs(
    settings: Any,
    pbx: Any,
    noojee_emulator_factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Pbxs]:
    default = noojee_emulator_factory()
    found = Pbxs(default, tmp_path / "acme.json")
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", ACME_KEY)
    settings.NOOJEE = {
        **settings.NOOJEE,
        "BASE_URL": default.url,
        "PBXES": {"acme": {"BASE_URL": found.acme.url}},
        "TIMEOUT": 0.5,
        "POLL_DELAY": 0,
        "POLL_BACKOFF_BASE": 0.2,
        "POLL_BACKOFF_CAP": 1,
        "UNREACHABLE_PAUSE": PAUSE,
        "UNREACHABLE_PAUSE_CAP": 4 * PAUSE,
    }
    cache.clear()
    yield found
    found.acme.stop()
    cache.clear()


def _recordings(pbxs: Pbxs, tag: str, legs: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
    return {name: pbxs.control(name).add_recording(tag=tag, legs=own) for name, own in legs.items()}


def _watch(tag: str, names: list[str]) -> dict[str, RecordingTag]:
    customer = Customer.objects.create(name="Both", phone="03 8320 8100")
    return {
        name: services.watch_tag(
            Invoice.objects.create(number=f"{tag}/{name}", customer=customer, amount="1.00"),
            tag,
            connection=name,
        )
        for name in names
    }


def _assert_attached_with_its_own_pbxs_audio(recording: RecordingTag, given: dict[str, Any]) -> None:
    recording.refresh_from_db()
    assert recording.status == RecordingTag.Status.ATTACHED, (recording.connection, recording.last_error)
    legs = {leg.call_record_id: leg for leg in RecordingLeg.objects.filter(recording_tag=recording)}
    assert set(legs) == {leg["call_record_id"] for leg in given["legs"]}
    for leg in given["legs"]:
        assert legs[leg["call_record_id"]].connection == recording.connection
        assert legs[leg["call_record_id"]].audio_sha256 == leg["sha256"]


def _skipped(recording: RecordingTag, action: str) -> list[RecordingAttempt]:
    return list(
        RecordingAttempt.objects.filter(
            recording_tag=recording, action=action, error_kind=reachability.UNREACHABLE_KIND
        )
    )


@pytest.mark.django_db(transaction=True)
def test_with_one_pbx_stopped_the_others_recording_attaches_at_once_and_its_own_once_it_is_back(
    pbxs: Pbxs, sent: Broker
) -> None:
    given = _recordings(pbxs, "INV-1", {"default": [2, 1], "acme": [3, 1]})
    pbxs.stop_acme()
    recordings = _watch("INV-1", ["default", "acme"])

    started = time.monotonic()
    run_due(sent)
    assert time.monotonic() - started < 5  # acme's refusals cost no TIMEOUT
    _assert_attached_with_its_own_pbxs_audio(recordings["default"], given["default"])
    acme = recordings["acme"]
    acme.refresh_from_db()
    assert acme.status == RecordingTag.Status.WAITING
    paused = services.unreachable_pause("acme")
    assert paused is not None and paused.seconds == PAUSE
    assert services.unreachable_pause("default") is None

    # During the pause its poll asks nothing: it is logged, and sent again for after the pause.
    list(sent)
    sent.tasks.clear()
    started = time.monotonic()
    result = services.poll_tag(acme.pk, fetch_inline=True)
    assert time.monotonic() - started < 0.5
    assert result.retry_in is not None and result.retry_in >= paused.until - time.time()
    assert [t[0] for t in sent] == [base.POLL_TASK]
    skipped = _skipped(acme, RecordingAttempt.Action.POLL)[0]  # the latest
    assert skipped.outcome == RecordingAttempt.Outcome.ERROR
    assert "PBX unreachable, not asked" in skipped.message

    pbxs.bring_acme_back()
    time.sleep(max(paused.until - time.time(), 0) + 0.05)
    services.poll_tag(acme.pk, fetch_inline=True)  # the one that asks again after the pause
    _assert_attached_with_its_own_pbxs_audio(acme, given["acme"])
    assert services.unreachable_pause("acme") is None
    assert given["acme"]["legs"][0]["sha256"] != given["default"]["legs"][0]["sha256"]


@pytest.mark.django_db(transaction=True)
def test_a_silent_pbx_costs_one_timeout_then_its_polls_and_fetches_wait_without_a_request(
    pbxs: Pbxs, sent: Broker
) -> None:
    given = _recordings(pbxs, "INV-2", {"acme": [2, 1]})
    (recording,) = _watch("INV-2", ["acme"]).values()
    services.poll_tag(recording.pk)  # the legs are listed, their downloads sent to tasks
    legs = list(RecordingLeg.objects.filter(recording_tag=recording).order_by("leg"))
    assert [leg.fetch_status for leg in legs] == [RecordingLeg.FetchStatus.PENDING] * 2
    acme = pbxs.control("acme")
    acme.add_fault("latency", count=None, seconds=30)  # it accepts, and never answers

    started = time.monotonic()
    first = services.fetch_leg(legs[0].pk)
    assert first.outcome == RecordingAttempt.Outcome.ERROR and time.monotonic() - started >= 0.5
    paused = services.unreachable_pause("acme")
    assert paused is not None and "retrieveRecording" in paused.reason
    asked = pbxs.requests("acme", "retrieveRecording")

    list(sent)
    sent.tasks.clear()
    started = time.monotonic()
    second = services.fetch_leg(legs[1].pk)
    assert time.monotonic() - started < 0.3
    assert second.outcome == "skipped" and second.retry_in is not None and second.retry_in >= PAUSE / 2
    assert pbxs.requests("acme", "retrieveRecording") == asked  # not a request
    leg = RecordingLeg.objects.get(pk=legs[1].pk)
    assert (leg.fetch_status, leg.fetch_attempts) == (RecordingLeg.FetchStatus.PENDING, 0)
    assert [(t[0], t[1]) for t in sent] == [(base.FETCH_TASK, (leg.pk,))]
    assert len(_skipped(recording, RecordingAttempt.Action.FETCH)) == 1

    acme.clear_faults()
    time.sleep(max(paused.until - time.time(), 0) + 0.05)
    assert services.fetch_leg(legs[1].pk).outcome == RecordingAttempt.Outcome.OK
    assert services.unreachable_pause("acme") is None
    assert services.fetch_leg(legs[0].pk).outcome == RecordingAttempt.Outcome.OK
    _assert_attached_with_its_own_pbxs_audio(recording, given["acme"])


@pytest.mark.django_db(transaction=True)
def test_after_a_pause_one_task_asks_again_and_a_new_failure_doubles_the_pause_up_to_the_cap(
    pbxs: Pbxs,
) -> None:
    down = client_errors.TransportError("retrieveMetaData: could not get a reply from the PBX")
    down.no_reply = True
    reachability.note_failure("acme", down)
    assert 0 < (reachability.wait_before_asking("acme") or 0) <= PAUSE
    reachability.note_failure("acme", down)  # a request of the same moment: the pause stays
    assert services.unreachable_pause("acme").seconds == PAUSE  # type: ignore[union-attr]

    pauses = []
    for _ in range(4):
        pause = services.unreachable_pause("acme")
        assert pause is not None
        time.sleep(max(pause.until - time.time(), 0) + 0.02)
        assert reachability.wait_before_asking("acme") is None  # this one asks
        assert (reachability.wait_before_asking("acme") or 0) >= 0.5  # the others wait for its answer
        reachability.note_failure("acme", down)
        pauses.append(services.unreachable_pause("acme").seconds)  # type: ignore[union-attr]
    assert pauses == [2 * PAUSE, 4 * PAUSE, 4 * PAUSE, 4 * PAUSE]
    assert services.unreachable_pause("default") is None

    # An answer, whatever it says, ends the pause; so does a reply broken off (the PBX was reached).
    reachability.note_failure("acme", client_errors.RecordingNotReady("retrieveRecording: in progress"))
    assert services.unreachable_pause("acme") is None
    reachability.note_failure("acme", down)
    reachability.note_failure("acme", client_errors.TransportError("the connection broke after 10 bytes"))
    assert services.unreachable_pause("acme") is None


@pytest.mark.django_db(transaction=True)
def test_not_ready_and_not_found_are_answers_and_pause_nothing(pbxs: Pbxs, sent: Broker) -> None:
    pbxs.control("acme").add_recording(tag="INV-3", legs=[2], in_progress=True)
    (recording,) = _watch("INV-3", ["acme"]).values()
    services.poll_tag(recording.pk)
    (leg,) = RecordingLeg.objects.filter(recording_tag=recording)
    assert services.fetch_leg(leg.pk).outcome == RecordingAttempt.Outcome.NOT_READY
    assert services.unreachable_pause("acme") is None
    RecordingLeg.objects.filter(pk=leg.pk).update(call_record_id=999_999, unique_id="1.999")  # never had
    assert services.fetch_leg(leg.pk).outcome == RecordingAttempt.Outcome.GONE
    assert services.unreachable_pause("acme") is None


@pytest.mark.django_db(transaction=True)
def test_at_most_max_in_flight_requests_wait_for_one_pbx_and_the_others_go_on(
    settings: Any, pbxs: Pbxs, sent: Broker
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "PBX_MAX_IN_FLIGHT": 1, "TIMEOUT": 1.5}
    given = _recordings(pbxs, "INV-4", {"default": [1], "acme": [1]})
    pbxs.control("acme").add_recording(tag="INV-5", legs=[1])
    recordings = _watch("INV-4", ["default", "acme"])
    other = _watch("INV-5", ["acme"])["acme"]
    pbxs.control("acme").add_fault("latency", count=None, seconds=30)

    def poll_in_a_thread() -> None:
        try:
            services.poll_tag(recordings["acme"].pk)
        finally:
            db_connection.close()

    waiting = threading.Thread(target=poll_in_a_thread)
    waiting.start()
    deadline = time.monotonic() + 5
    while pbxs.requests("acme", "retrieveMetaData") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        started = time.monotonic()
        result = services.poll_tag(other.pk)  # acme's one slot is held: not asked
        assert time.monotonic() - started < 0.5 and result.retry_in is not None
        assert pbxs.requests("acme", "retrieveMetaData") == 1
        busy = RecordingAttempt.objects.get(recording_tag=other)
        assert busy.error_kind == reachability.BUSY_KIND and "PBX busy, not asked" in busy.message
        services.poll_tag(recordings["default"].pk, fetch_inline=True)  # the other PBX: at once
        _assert_attached_with_its_own_pbxs_audio(recordings["default"], given["default"])
    finally:
        waiting.join(30)
    assert services.unreachable_pause("acme") is not None


# ------------------------------------------------------------------------- a real worker, end to end


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_attaches_the_healthy_pbxs_recordings_on_time_while_the_other_is_silent(
    tmp_path: Path, redis_url: str, engine_database: str
) -> None:
    """Celery worker (4 threads) on Redis, each PBX an emulator process: one run with both healthy, one
    with acme silent (every request waits for TIMEOUT, 4 s, three tries): the default PBX's
    recordings are attached about as fast; acme's once it answers again; nothing crosses over."""
    processes = {name: start_emulator(f"key-{name}", "--latency", "0.02") for name in ("default", "acme")}
    urls = {name: url for name, (_process, url) in processes.items()}
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.pbxes_settings",
        "CACHE_REDIS_URL": redis_database(redis_url, 1),
        "NOOJEE_PBXES": f'{{"acme": {{"BASE_URL": "{urls["acme"]}"}}}}',
        "NOOJEE_ACME_API_KEY": "key-acme",
        "NOOJEE_TIMEOUT": "4",
        "NOOJEE_PBX_MAX_IN_FLIGHT": "2",
        "NOOJEE_UNREACHABLE_PAUSE": "1",
        "NOOJEE_UNREACHABLE_PAUSE_CAP": "4",
    }
    try:
        with Pipeline(
            tmp_path,
            emulator_url=urls["default"],
            api_key="key-default",
            broker_url=redis_database(redis_url, 0),
            database_url=engine_database,
            extra_env=env,
        ) as pipeline:
            pipeline.migrate()
            pipeline.start_worker(concurrency=4)

            def run(prefix: str, silent: bool) -> float:
                import json

                expected = {
                    name: {
                        f"{prefix}-{i}": ControlClient(url).add_recording(
                            tag=f"{prefix}-{i}", legs=[1 + n, 1]
                        )
                        for i in range(8)
                    }
                    for n, (name, url) in enumerate(urls.items())
                }
                (tmp_path / f"{prefix}.json").write_text(json.dumps(expected))
                if silent:
                    ControlClient(urls["acme"]).add_fault("latency", count=None, seconds=300)
                common = ["--expected", str(tmp_path / f"{prefix}.json"), "--prefix", prefix]
                watched = pipeline.run_driver(
                    ["watch", *common, "--wait-for", "default", "--timeout", "120"],
                    module="tests.pipeline_pbxes_driver",
                )
                healthy = watched["connections"]["default"]
                assert healthy["attached"] == 8, healthy
                ControlClient(urls["acme"]).clear_faults()
                settled = pipeline.run_driver(
                    ["settle", *common, "--urls", json.dumps(urls), "--timeout", "120"],
                    module="tests.pipeline_pbxes_driver",
                )
                assert settled["leaks"] == [] and settled["wrong_signatures"] == 0, settled
                assert {n: c["attached"] for n, c in settled["connections"].items()} == {
                    "default": 8,
                    "acme": 8,
                }
                return float(healthy["last_attached"] - watched["started"])

            normal = run("BOTH", silent=False)
            with_acme_silent = run("SILENT", silent=True)
    finally:
        for process, _url in processes.values():
            process.terminate()
            process.wait(10)
    # Without the pause and the slots, acme's eight polls take the four threads, twelve seconds each
    # (three tries of 4 s), before the default PBX's recordings are reached.
    assert with_acme_silent < 2 * normal + 3, (normal, with_acme_silent)
