"""Every fault kind the emulator injects: what the client raises, and what it retries (server-counted)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from noojee_django.client import (
    ApiError,
    InvalidAudioError,
    NoojeeClient,
    NoojeeError,
    NoojeeTimeout,
    NotFoundError,
    ProtocolError,
    RecordingNotReady,
    RetryPolicy,
    ServerError,
    TransportError,
)

from .conftest import make_client, requests_for

READ_FAULTS = [
    ("http_500", {}, ServerError),
    ("http_502", {}, ServerError),
    ("http_502", {"body": "json"}, ServerError),
    ("close", {}, TransportError),
    ("drop", {"after_bytes": 1}, TransportError),
    ("malformed_json", {}, ProtocolError),
]


@pytest.mark.parametrize(("fault", "params", "error"), READ_FAULTS)
def test_reads_are_retried_through_passing_faults(
    client: NoojeeClient, noojee_emulator_control: Any, fault: str, params: dict[str, Any], error: type
) -> None:
    noojee_emulator_control.add_fault(fault, method="retrieveMetaData", count=2, **params)
    assert client.retrieve_metadata("x") == []
    assert requests_for(noojee_emulator_control, "retrieveMetaData") == 3


@pytest.mark.parametrize(("fault", "params", "error"), READ_FAULTS)
def test_reads_give_up_after_the_policy(
    client: NoojeeClient, noojee_emulator_control: Any, fault: str, params: dict[str, Any], error: type
) -> None:
    noojee_emulator_control.add_fault(fault, method="subscribe", count=None, **params)
    with pytest.raises(error):
        client.subscribe(["101"], 0, timeout=0)
    assert requests_for(noojee_emulator_control, "subscribe") == 3


@pytest.mark.parametrize(("fault", "params", "error"), READ_FAULTS)
@pytest.mark.parametrize("method", ["dial", "hangup", "start", "stop", "answer"])
def test_methods_that_change_the_pbx_are_never_retried(
    client: NoojeeClient,
    noojee_emulator_control: Any,
    fault: str,
    params: dict[str, Any],
    error: type,
    method: str,
) -> None:
    noojee_emulator_control.add_fault(fault, method=method, count=None, **params)
    call = {
        "dial": lambda: client.dial("0383208100", "SIP/101"),
        "hangup": lambda: client.hangup("101"),
        "start": lambda: client.start_recording("101"),
        "stop": lambda: client.stop_recording("101"),
        "answer": lambda: client.answer("1.1", "SIP/101"),
    }[method]
    with pytest.raises(NoojeeError) as failed:
        call()
    # a drop on start/stop without a call cuts the body of a 404: the status still says what happened
    assert isinstance(failed.value, error) or failed.value.http_status == 404
    assert requests_for(noojee_emulator_control, method) == 1


def test_a_slow_dial_is_a_timeout_and_is_not_resent(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator, timeout=0.3)
    noojee_emulator_control.add_fault("latency", method="dial", seconds=1.0)
    with pytest.raises(NoojeeTimeout):
        client.dial("0383208100", "SIP/101")
    assert requests_for(noojee_emulator_control, "dial") == 1


def test_a_slow_read_is_retried_then_a_timeout(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    client = make_client(noojee_emulator, timeout=0.3)
    noojee_emulator_control.add_fault("latency", method="retrieveMetaData", count=None, seconds=0.6)
    with pytest.raises(NoojeeTimeout):
        client.retrieve_metadata("x")
    assert requests_for(noojee_emulator_control, "retrieveMetaData") == 3


def test_latency_within_the_timeout_is_fine(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    noojee_emulator_control.add_fault("latency", method="*", count=None, seconds=0.2)
    assert client.retrieve_metadata("x") == []


def test_an_unreachable_pbx_is_a_transport_error() -> None:
    client = NoojeeClient("http://127.0.0.1:9", api_key="k", retry=RetryPolicy(max_attempts=2, base=0))
    with pytest.raises(TransportError) as failed:
        client.retrieve_metadata("x")
    assert "apiKey=k" not in str(failed.value)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [(-5, 200, ApiError), (-3, 400, ApiError), (-1, 404, NotFoundError), (-2, 409, RecordingNotReady)],
)
def test_negative_codes_are_typed_errors_with_the_message(
    client: NoojeeClient, noojee_emulator_control: Any, code: int, status: int, error: type
) -> None:
    made = noojee_emulator_control.add_recording(tag="N-1", legs=[1])
    noojee_emulator_control.add_fault(
        "negative_code", method="retrieveRecording", code=code, message="Told you so", status=status
    )
    with pytest.raises(error, match="Told you so") as refused:
        client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1)
    assert type(refused.value) is error and refused.value.code == code
    assert requests_for(noojee_emulator_control, "retrieveRecording") == 1


def test_a_negative_code_on_call_control_carries_the_message(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.add_fault("negative_code", method="hangup", code=-5, message="No such channel")
    with pytest.raises(ApiError, match="No such channel") as refused:
        client.hangup("101")
    assert refused.value.code == -5


@pytest.mark.parametrize(
    ("fault", "params", "message"),
    [
        ("truncated_base64", {}, "truncated"),
        ("truncated_base64", {"fraction": 0.01}, "truncated"),
        ("truncated_base64", {"fraction": 0.0}, "header"),
        ("invalid_base64", {}, "invalid base64"),
        ("bad_wav_header", {}, "RIFF"),
    ],
)
def test_broken_audio_is_invalid_audio(
    client: NoojeeClient, noojee_emulator_control: Any, fault: str, params: dict[str, Any], message: str
) -> None:
    made = noojee_emulator_control.add_recording(tag="A-1", legs=[2])
    noojee_emulator_control.add_fault(fault, method="retrieveRecording", **params)
    with pytest.raises(InvalidAudioError, match=message):
        client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1)
    assert requests_for(noojee_emulator_control, "retrieveRecording") == 1


@pytest.mark.parametrize("encoding", ["base64", "raw"])
def test_a_connection_dropped_mid_audio_is_a_transport_error_and_not_retried(
    client: NoojeeClient, noojee_emulator_control: Any, encoding: str
) -> None:
    noojee_emulator_control.config(audio_encoding=encoding)
    made = noojee_emulator_control.add_recording(tag="A-2", legs=[20])
    noojee_emulator_control.add_fault("drop", method="retrieveRecording", after_bytes=100_000)
    with pytest.raises(TransportError, match="connection broke") as failed:
        client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1)
    assert requests_for(noojee_emulator_control, "retrieveRecording") == 1
    assert failed.value.__context__ is None  # requests' own error (its URL holds the key) is not kept


@pytest.mark.parametrize("after_bytes", [8000, 100_000])
def test_a_dropped_download_says_how_many_bytes_arrived(
    client: NoojeeClient, noojee_emulator_control: Any, after_bytes: int
) -> None:
    made = noojee_emulator_control.add_recording(tag="A-4", legs=[20])
    noojee_emulator_control.add_fault("drop", method="retrieveRecording", after_bytes=after_bytes)
    with pytest.raises(TransportError, match=f"connection broke after {after_bytes} bytes of the body"):
        client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1)


@pytest.mark.parametrize("fault", ["close", "http_502"])
def test_audio_failures_before_the_body_are_retried(
    client: NoojeeClient, noojee_emulator_control: Any, fault: str
) -> None:
    made = noojee_emulator_control.add_recording(tag="A-3", legs=[1])
    noojee_emulator_control.add_fault(fault, method="retrieveRecording", count=2)
    info = client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1)
    assert info.sha256 == made["legs"][0]["sha256"]
    assert requests_for(noojee_emulator_control, "retrieveRecording") == 3


def test_faults_on_time_reach_hash_authenticated_calls(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator, auth="hash")
    noojee_emulator_control.add_fault("http_502", method="Time", count=1)
    assert client.retrieve_metadata("x") == []
    assert requests_for(noojee_emulator_control, "Time") == 2
    noojee_emulator_control.add_fault("close", method="Time", count=None)
    fresh = make_client(noojee_emulator, auth="hash")
    with pytest.raises(TransportError):
        fresh.dial("0383208100", "SIP/101")
    assert requests_for(noojee_emulator_control, "dial") == 0  # nothing was sent unauthenticated
