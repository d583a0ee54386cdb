"""The deprecated Recording API 2.7 (GET) against the emulator."""

from __future__ import annotations

import io
from typing import Any

import pytest

from noojee_django.client import (
    AuthenticationError,
    InvalidAudioError,
    LegacyRecordingClient,
    NotFoundError,
    RecordingNotReady,
)
from noojee_django.client.types import CallStatus

from .conftest import FAST, make_client, requests_for, wait_for_status


def legacy_client(emulator: Any, **options: Any) -> LegacyRecordingClient:
    options.setdefault("api_key", emulator.config.api_key)
    options.setdefault("retry", FAST)
    return LegacyRecordingClient(emulator.url, **options)


def test_the_deprecated_api_retrieves_the_joined_wav(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    legacy = legacy_client(noojee_emulator)
    made = noojee_emulator_control.add_recording(tag="L-1", legs=[1, 2])
    out = io.BytesIO()
    info = legacy.retrieve(out, tag="L-1", username="fred")
    assert info.duration_seconds == pytest.approx(3) and info.sample_rate == 8000
    by_id = io.BytesIO()
    legacy.retrieve_by_unique_id(by_id, unique_id=made["unique_id"], username="fred")
    assert by_id.getvalue() == out.getvalue()
    legs = [noojee_emulator_control.audio(leg["call_record_id"]) for leg in made["legs"]]
    assert info.bytes_written == sum(len(leg) for leg in legs) - 44


def test_the_deprecated_api_starts_and_stops(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    legacy = legacy_client(noojee_emulator)
    client = make_client(noojee_emulator)
    client.dial("0383208100", "SIP/106", auto_answer="x")
    connected = wait_for_status(client, "106", CallStatus.CONNECTED)
    assert legacy.start("SIP/106-0000AB", tag="L-2").code == 0
    assert legacy.stop("106").code == 0
    with pytest.raises(RecordingNotReady):
        legacy.retrieve(io.BytesIO(), tag="L-2")
    client.hangup(connected.unique_call_id)
    assert legacy.retrieve(io.BytesIO(), tag="L-2").bytes_written > 44
    with pytest.raises(NotFoundError):
        legacy.stop("106")
    assert requests_for(noojee_emulator_control, "njadmin-api-recording.stop") == 2


def test_the_deprecated_api_authenticates_with_the_hash_method(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    legacy = legacy_client(noojee_emulator, auth="hash")
    noojee_emulator_control.add_recording(tag="L-3", legs=[1])
    assert legacy.retrieve(io.BytesIO(), tag="L-3").bytes_written > 44
    assert requests_for(noojee_emulator_control, "Time") == 1


def test_the_deprecated_api_falls_back_to_hash_in_auto_mode(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    legacy = legacy_client(noojee_emulator, auth="auto")
    noojee_emulator_control.add_recording(tag="L-4", legs=[1])
    noojee_emulator_control.add_fault(
        "negative_code",
        method="njadmin-api-recording.retrieve",
        code=-1,
        message="Invalid apiKey",
        status=401,
    )
    assert legacy.retrieve(io.BytesIO(), tag="L-4").bytes_written > 44
    assert legacy.auth.using_hash


def test_the_deprecated_api_refuses_a_wrong_key(noojee_emulator: Any) -> None:
    with pytest.raises(AuthenticationError):
        legacy_client(noojee_emulator, api_key="nope-nope").retrieve(io.BytesIO(), tag="x")


def test_the_deprecated_api_verifies_its_audio(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    noojee_emulator_control.add_recording(tag="L-5", legs=[2])
    noojee_emulator_control.add_fault("truncated_base64", method="njadmin-api-recording.retrieve")
    with pytest.raises(InvalidAudioError):
        legacy_client(noojee_emulator).retrieve(io.BytesIO(), tag="L-5")
    with pytest.raises(NotFoundError):
        legacy_client(noojee_emulator).retrieve(io.BytesIO(), tag="no-such-tag")
