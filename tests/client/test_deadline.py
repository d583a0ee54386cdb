"""Every PBX request ends by a total deadline, and JSON replies have a size cap: the client against
the emulator's ``trickle`` and ``huge_json`` faults, over loopback HTTP.

A trickling server keeps every single read within the read timeout (a byte every half second) while
the whole reply takes far longer; only a deadline on the whole request ends it. Margins are generous:
the suite runs on small, busy machines.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from noojee_django.client import (
    ConfigurationError,
    NoojeeClient,
    NoojeeTimeout,
    ProtocolError,
    RetryPolicy,
)

TIMEOUT = 1.0
MARGIN = 1.5  # seconds beyond the deadline a test allows (watchdog wake-up, a loaded CI box)
TRICKLE = {"bytes": 1, "interval": 0.5, "seconds": 6}  # a reply that would take about 6 s
ONCE = RetryPolicy(max_attempts=1)
CAP = 4 * 1024 * 1024


def make_client(emulator: Any, **options: Any) -> NoojeeClient:
    options.setdefault("api_key", emulator.config.api_key)
    options.setdefault("retry", ONCE)
    options.setdefault("timeout", TIMEOUT)
    options.setdefault("pbx_time_zone", emulator.config.pbx_time_zone)
    return NoojeeClient(emulator.url, **options)


def requests_for(control: Any, method: str) -> int:
    return int(control.stats()["requests"].get(method, 0))


def timed(call: Callable[[], object]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


def assert_deadline_error(error: BaseException | None, method: str, key: str) -> None:
    assert isinstance(error, NoojeeTimeout), repr(error)
    text = str(error)
    assert "total deadline" in text and method in text
    assert key not in text and "http://" not in text
    assert error.__context__ is None  # requests' own error (its URL holds the key) is not kept


# ---------------------------------------------------------------------------------------------- deadline


@pytest.mark.parametrize("headers", [False, True])
def test_a_trickling_dial_ends_at_the_deadline_and_is_not_resent(
    noojee_emulator: Any, noojee_emulator_control: Any, headers: bool
) -> None:
    client = make_client(noojee_emulator, retry=RetryPolicy(max_attempts=3, base=0))
    noojee_emulator_control.add_fault("trickle", method="dial", count=None, headers=headers, **TRICKLE)
    elapsed, error = timed(lambda: client.dial("0383208100", "SIP/101"))
    assert_deadline_error(error, "dial", noojee_emulator.config.api_key)
    assert elapsed < TIMEOUT + MARGIN
    assert requests_for(noojee_emulator_control, "dial") == 1


def test_a_trickling_metadata_reply_ends_at_the_deadline(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator)
    noojee_emulator_control.add_recording(tag="T-1", legs=[1, 2])
    noojee_emulator_control.add_fault("trickle", method="retrieveMetaData", count=None, **TRICKLE)
    elapsed, error = timed(lambda: client.retrieve_metadata("T-1"))
    assert_deadline_error(error, "retrieveMetaData", noojee_emulator.config.api_key)
    assert elapsed < TIMEOUT + MARGIN


def test_a_read_cut_by_the_deadline_is_retried(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    client = make_client(noojee_emulator, retry=RetryPolicy(max_attempts=2, base=0))
    noojee_emulator_control.add_recording(tag="T-2", legs=[1])
    noojee_emulator_control.add_fault("trickle", method="retrieveMetaData", count=1, **TRICKLE)
    started = time.monotonic()
    assert [leg.tag for leg in client.retrieve_metadata("T-2")] == ["T-2"]
    assert time.monotonic() - started < TIMEOUT + MARGIN
    assert requests_for(noojee_emulator_control, "retrieveMetaData") == 2


def test_a_trickling_long_poll_ends_at_its_hold_time_plus_the_deadline(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator)
    noojee_emulator_control.add_fault("trickle", method="subscribe", count=None, **{**TRICKLE, "seconds": 8})
    elapsed, error = timed(lambda: client.subscribe(["101"], 0, timeout=2))
    assert_deadline_error(error, "subscribe", noojee_emulator.config.api_key)
    assert 2 + TIMEOUT - 0.2 < elapsed < 2 + TIMEOUT + MARGIN


def test_a_long_poll_held_its_whole_time_is_not_cut(noojee_emulator: Any) -> None:
    client = make_client(noojee_emulator)
    seq = client.subscribe(["101"], 0, timeout=0).seq
    started = time.monotonic()
    assert client.subscribe(["101"], seq, timeout=2).events == []
    assert time.monotonic() - started >= 1.9


def test_a_trickling_download_ends_at_the_deadline(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator)
    made = noojee_emulator_control.add_recording(tag="T-3", legs=[20])
    noojee_emulator_control.add_fault("trickle", method="retrieveRecording", count=None, **TRICKLE)
    out = io.BytesIO()
    elapsed, error = timed(lambda: client.download_leg(out, unique_id=made["unique_id"], leg=1))
    assert_deadline_error(error, "retrieveRecording", noojee_emulator.config.api_key)
    assert elapsed < TIMEOUT + MARGIN
    assert requests_for(noojee_emulator_control, "retrieveRecording") == 1


def test_a_steady_download_longer_than_the_timeout_completes(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    """The download's allowance grows with what arrives (``download_min_rate``), so a big leg that keeps
    coming is not cut at ``timeout``."""
    client = make_client(noojee_emulator, timeout=0.5)
    made = noojee_emulator_control.add_recording(tag="T-4", legs=[60])  # 1.28 MB of base64
    noojee_emulator_control.add_fault(
        "trickle", method="retrieveRecording", count=None, bytes=32 * 1024, interval=0.05
    )
    started = time.monotonic()
    info = client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1)
    assert time.monotonic() - started > 0.5 * 2
    assert info.sha256 == made["legs"][0]["sha256"]


def test_a_download_slower_than_the_minimum_rate_ends(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator, download_min_rate=1024 * 1024)
    made = noojee_emulator_control.add_recording(tag="T-5", legs=[60])
    noojee_emulator_control.add_fault(
        "trickle", method="retrieveRecording", count=None, bytes=32 * 1024, interval=0.1
    )
    elapsed, error = timed(lambda: client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1))
    assert_deadline_error(error, "retrieveRecording", noojee_emulator.config.api_key)
    assert elapsed < 3  # 320 KiB/s against 1 MiB/s: the allowance runs out within a couple of seconds


def test_a_download_deadline_caps_even_a_steady_download(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator, download_deadline=1.0)
    made = noojee_emulator_control.add_recording(tag="T-6", legs=[60])
    noojee_emulator_control.add_fault(
        "trickle", method="retrieveRecording", count=None, bytes=32 * 1024, interval=0.05
    )
    elapsed, error = timed(lambda: client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1))
    assert_deadline_error(error, "retrieveRecording", noojee_emulator.config.api_key)
    assert elapsed < 1.0 + MARGIN


def test_the_deprecated_client_has_the_deadline_too(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    from noojee_django.client import LegacyRecordingClient

    client = LegacyRecordingClient(
        noojee_emulator.url, api_key=noojee_emulator.config.api_key, timeout=TIMEOUT, retry=ONCE
    )
    noojee_emulator_control.add_recording(tag="T-7", legs=[5])
    noojee_emulator_control.add_fault(
        "trickle", method="njadmin-api-recording.retrieve", count=None, **TRICKLE
    )
    elapsed, error = timed(lambda: client.retrieve(io.BytesIO(), tag="T-7"))
    assert_deadline_error(error, "retrieve", noojee_emulator.config.api_key)
    assert elapsed < TIMEOUT + MARGIN


@pytest.mark.parametrize(
    "options",
    [{"download_min_rate": 0}, {"download_min_rate": -1}, {"download_deadline": 0}, {"max_reply_bytes": 0}],
)
def test_limits_must_be_positive(noojee_emulator: Any, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        make_client(noojee_emulator, **options)


# ---------------------------------------------------------------------------------------------- size cap


def _sent(control: Any) -> int:
    time.sleep(0.2)  # the emulator's thread notices the closed connection
    return int(control.faults()[0]["sent_bytes"])


@pytest.mark.parametrize("length", [True, False])
def test_a_huge_json_reply_is_refused_without_reading_it(
    noojee_emulator: Any, noojee_emulator_control: Any, length: bool
) -> None:
    client = make_client(noojee_emulator, retry=RetryPolicy(max_attempts=3, base=0))
    size = 64 * 1024 * 1024
    noojee_emulator_control.add_fault(
        "huge_json", method="retrieveMetaData", count=None, bytes=size, length=length
    )
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match=f"reply larger than {CAP} bytes") as refused:
            client.retrieve_metadata("x")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.method == "retrieveMetaData" and not refused.value.retryable
    assert peak < 3 * CAP  # what was read up to the cap, not the 64 MiB
    assert _sent(noojee_emulator_control) < size // 2
    assert requests_for(noojee_emulator_control, "retrieveMetaData") == 1  # not retried: it will not shrink


def test_a_huge_call_control_reply_is_refused(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    client = make_client(noojee_emulator, max_reply_bytes=100_000)
    noojee_emulator_control.add_fault(
        "huge_json", method="dial", count=None, bytes=10_000_000, shape="object"
    )
    with pytest.raises(ProtocolError, match="reply larger than 100000 bytes"):
        client.dial("0383208100", "SIP/101")
    assert requests_for(noojee_emulator_control, "dial") == 1


def test_a_reply_within_the_cap_is_read(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    client = make_client(noojee_emulator, max_reply_bytes=1_000_000)
    noojee_emulator_control.add_fault("huge_json", method="retrieveMetaData", bytes=999_999, length=False)
    assert len(client.retrieve_metadata("x")) > 1000


def test_metadata_by_hour_may_be_larger_than_other_replies(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    import datetime as dt

    client = make_client(noojee_emulator, max_reply_bytes=1_000_000)
    noojee_emulator_control.add_fault("huge_json", method="retrieveMetaDataByHour", bytes=3_000_000)
    assert len(client.retrieve_metadata_by_hour(dt.date(2024, 1, 2), 10)) > 10_000
    noojee_emulator_control.add_fault("huge_json", method="retrieveMetaDataByHour", bytes=3_000_000)
    small = make_client(noojee_emulator, max_reply_bytes=1_000_000, max_hourly_metadata_bytes=2_000_000)
    with pytest.raises(ProtocolError, match="reply larger than 2000000 bytes"):
        small.retrieve_metadata_by_hour(dt.date(2024, 1, 2), 10)
