"""The client against the emulator over loopback HTTP: two independent readings of one protocol.

Every method, both authentication methods, the deprecated API, every injected fault (what the client
raises and whether it retried, counted at the emulator), and each variant the published API leaves open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest

from noojee_django.client import (
    ApiError,
    AuthenticationError,
    InvalidAudioError,
    LegacyRecordingClient,
    NoojeeClient,
    NotFoundError,
    ProtocolError,
    RateLimited,
    RecordingNotReady,
    RetryPolicy,
    ServerError,
    TransportError,
)
from noojee_django.client.types import CallStatus, Direction

FAST = RetryPolicy(max_attempts=3, base=0.0, cap=0.0)


@pytest.fixture
def client(noojee_emulator: Any) -> NoojeeClient:
    return make_client(noojee_emulator)


def make_client(emulator: Any, **options: Any) -> NoojeeClient:
    options.setdefault("api_key", emulator.config.api_key)
    options.setdefault("retry", FAST)
    options.setdefault("pbx_time_zone", emulator.config.pbx_time_zone)
    return NoojeeClient(emulator.url, **options)


def requests_for(control: Any, method: str) -> int:
    return int(control.stats()["requests"].get(method, 0))


def wait_for_status(client: NoojeeClient, exten: str, status: str, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for e in client.subscribe([exten], 0, timeout=0).events if e.status == status]
        if events:
            return events[-1]
        time.sleep(0.05)
    raise AssertionError(f"{exten} never reached {status}")


# ---------------------------------------------------------------------------------------------- calls


def test_dial_then_subscribe_shows_the_click_to_dial_sequence(client: NoojeeClient) -> None:
    result = client.dial("0383208100", "SIP/101")
    assert result.code == 0 and result.session_id > 0
    first = client.subscribe(["101"], 0, timeout=0)
    assert first.events and first.events[0].is_click_to_dial_call
    connected = wait_for_status(client, "101", CallStatus.CONNECTED)
    assert connected.unique_call_id
    assert client.hangup(connected.unique_call_id).message == "Channel Hungup"


def test_long_poll_returns_early_with_the_next_events(client: NoojeeClient) -> None:
    snapshot = client.subscribe(["101"], 0, timeout=0)
    client.dial("0383208100", "SIP/101", auto_answer="Call-Info:\\; answer-after=0")
    started = time.monotonic()
    result = client.subscribe(["101"], snapshot.seq, timeout=10)
    assert time.monotonic() - started < 5
    assert result.seq > snapshot.seq
    assert result.events


def test_a_long_poll_that_times_out_returns_no_events_and_the_same_seq(client: NoojeeClient) -> None:
    client.dial("0383208100", "SIP/150")
    seq = client.subscribe(["150"], 0, timeout=0).seq
    time.sleep(0.3)  # let the dial's events pass
    seq = client.subscribe(["150"], seq, timeout=1).seq
    result = client.subscribe(["999"], seq, timeout=1)
    assert result.events == [] and result.seq >= seq


def test_answer_an_inbound_call(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    unique_id = noojee_emulator_control.inbound_call(caller_id="0398765432", exten="104")
    ringing = wait_for_status(client, "104", CallStatus.RINGING)
    assert ringing.can_answer and ringing.inbound and ringing.caller_id == "0398765432"
    assert client.answer(unique_id, "SIP/104").code == 0
    wait_for_status(client, "104", CallStatus.CONNECTED)


def test_call_control_errors_carry_the_pbx_message(client: NoojeeClient) -> None:
    with pytest.raises(ApiError) as refused:
        client.hangup("1234.999")
    assert refused.value.code is not None and refused.value.code < 0
    assert refused.value.pbx_message


def test_recording_by_extension_gives_legs_with_verified_audio(
    client: NoojeeClient, noojee_emulator_control: Any, tmp_path: Any
) -> None:
    client.dial("0383208100", "SIP/105", auto_answer="x")
    connected = wait_for_status(client, "105", CallStatus.CONNECTED)
    assert client.start_recording("SIP/105-12FA7B", agent_login_name="agent1", tag="INV-7").code == 0
    time.sleep(1.1)
    client.stop_recording("105")
    legs = client.retrieve_metadata("INV-7")
    assert [leg.leg for leg in legs] == [1]
    with pytest.raises(RecordingNotReady):  # the call is still going on
        client.download_leg(io.BytesIO(), unique_id=legs[0].unique_id, leg=1)
    client.hangup(connected.unique_call_id)
    out = io.BytesIO()
    info = client.download_leg(out, unique_id=legs[0].unique_id, leg=1)
    assert info.sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    assert info.sha256 == noojee_emulator_control.recordings(tag="INV-7")[0]["sha256"]
    assert info.sample_rate == 8000 and info.channels == 1 and info.duration_seconds >= 1
    assert (
        client.retrieve_metadata_by_unique_id(legs[0].unique_id)[0].call_record_id == legs[0].call_record_id
    )


# ---------------------------------------------------------------------------------------------- metadata


def test_metadata_is_typed_and_in_the_pbx_time_zone(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    made = noojee_emulator_control.add_recording(tag="T-1", legs=[3, 2])
    legs = client.retrieve_metadata("T-1")
    assert [(leg.leg, leg.duration) for leg in legs] == [(1, 3), (2, 2)]
    assert {leg.call_record_id for leg in legs} == {leg["call_record_id"] for leg in made["legs"]}
    assert all(leg.start is not None and leg.start.tzinfo == client.pbx_time_zone for leg in legs)
    assert client.retrieve_metadata("nothing-here") == []


def test_metadata_by_hour_normalises_the_other_formats(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.add_recording(tag="H-1", legs=[2])
    now = dt.datetime.now(zoneinfo.ZoneInfo(noojee_emulator_control.config()["pbx_time_zone"]))
    legs = [leg for leg in client.retrieve_metadata_by_hour(now.date(), now.hour) if leg.tag == "H-1"]
    assert len(legs) == 1
    assert legs[0].call_end is not None and legs[0].direction in set(Direction)
    with pytest.raises(RateLimited):
        client.retrieve_metadata_by_hour(now.date(), now.hour)


@pytest.mark.parametrize("path", ["/servicemanager/rest/CallManagementAPI", "/rest/RecordingAPI"])
def test_older_metadata_paths_are_a_setting(
    noojee_emulator: Any, noojee_emulator_control: Any, path: str
) -> None:
    noojee_emulator_control.add_recording(tag="OLD-1", legs=[1])
    assert len(make_client(noojee_emulator, recording_api_path=path).retrieve_metadata("OLD-1")) == 1


# ---------------------------------------------------------------------------------------------- auth


def test_hash_authentication_reuses_its_pair(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    client = make_client(noojee_emulator, auth="hash")
    client.retrieve_metadata("x")
    client.retrieve_metadata("y")
    assert requests_for(noojee_emulator_control, "Time") == 1


def test_an_expired_hash_pair_is_renewed_once(noojee_emulator_factory: Callable[..., Any]) -> None:
    emulator = noojee_emulator_factory(hash_validity=0.5)
    client = make_client(emulator, auth="hash")
    client.retrieve_metadata("x")
    time.sleep(0.7)
    assert client.retrieve_metadata("x") == []
    assert emulator.control.stats()["requests"]["Time"] == 2


@pytest.mark.parametrize("refusal", ["code", "401", "403"])
def test_a_wrong_key_is_an_authentication_error_whatever_the_refusal_style(
    noojee_emulator_factory: Callable[..., Any], refusal: str
) -> None:
    emulator = noojee_emulator_factory(auth_refusal=refusal)
    client = make_client(emulator, api_key="wrong-key")
    with pytest.raises(AuthenticationError) as refused:
        client.dial("0383208100", "SIP/101")
    assert "wrong-key" not in str(refused.value)


def test_auto_falls_back_to_the_hash_method_and_remembers(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator, auth="auto")
    noojee_emulator_control.add_fault(
        "negative_code", method="retrieveMetaData", count=1, code=-1, message="Invalid apiKey"
    )
    assert client.retrieve_metadata("x") == []
    assert client.auth.using_hash
    client.retrieve_metadata("x")
    assert requests_for(noojee_emulator_control, "Time") == 1


def test_user_keys_may_not_subscribe(noojee_emulator: Any) -> None:
    client = make_client(noojee_emulator, api_key="test-user-key-0000")
    with pytest.raises(AuthenticationError):
        client.subscribe(["101"], 0, timeout=0)


# ---------------------------------------------------------------------------------------------- faults


def test_reads_are_retried_on_server_errors(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    noojee_emulator_control.add_fault("http_502", method="retrieveMetaData", count=2)
    assert client.retrieve_metadata("x") == []
    assert requests_for(noojee_emulator_control, "retrieveMetaData") == 3


def test_reads_give_up_after_the_policy(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    noojee_emulator_control.add_fault("http_500", method="retrieveMetaData", count=None)
    with pytest.raises(ServerError) as failed:
        client.retrieve_metadata("x")
    assert failed.value.http_status == 500
    assert requests_for(noojee_emulator_control, "retrieveMetaData") == 3


@pytest.mark.parametrize("fault", ["http_500", "http_502", "close", "malformed_json"])
def test_dial_is_never_retried(client: NoojeeClient, noojee_emulator_control: Any, fault: str) -> None:
    noojee_emulator_control.add_fault(fault, method="dial", count=None)
    with pytest.raises((ServerError, TransportError, ProtocolError)):
        client.dial("0383208100", "SIP/101")
    assert requests_for(noojee_emulator_control, "dial") == 1


def test_malformed_json_is_a_protocol_error(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    noojee_emulator_control.add_fault("malformed_json", method="retrieveMetaData", count=None)
    with pytest.raises(ProtocolError):
        client.retrieve_metadata("x")


def test_negative_code_is_an_api_error_with_the_message(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.add_fault("negative_code", method="hangup", code=-5, message="No such channel")
    with pytest.raises(ApiError, match="No such channel") as refused:
        client.hangup("101")
    assert refused.value.code == -5


def test_a_timeout_is_a_transport_error(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    client = make_client(noojee_emulator, timeout=0.3, retry=RetryPolicy(max_attempts=1))
    noojee_emulator_control.add_fault("latency", method="retrieveMetaData", seconds=1.0)
    with pytest.raises(TransportError):
        client.retrieve_metadata("x")


def test_an_unreachable_pbx_is_a_transport_error() -> None:
    client = NoojeeClient("http://127.0.0.1:9", api_key="k", retry=RetryPolicy(max_attempts=2, base=0))
    with pytest.raises(TransportError):
        client.retrieve_metadata("x")


def test_an_unknown_path_is_not_found(noojee_emulator: Any) -> None:
    client = make_client(noojee_emulator, recording_api_path="/nowhere")
    with pytest.raises(NotFoundError):
        client.retrieve_metadata("x")


@pytest.mark.parametrize(
    ("fault", "params", "error"),
    [
        ("truncated_base64", {}, InvalidAudioError),
        ("invalid_base64", {}, InvalidAudioError),
        ("bad_wav_header", {}, InvalidAudioError),
        ("drop", {"after_bytes": 5000}, (TransportError, InvalidAudioError)),
    ],
)
def test_broken_audio_is_refused(
    client: NoojeeClient, noojee_emulator_control: Any, fault: str, params: dict[str, Any], error: Any
) -> None:
    made = noojee_emulator_control.add_recording(tag="A-1", legs=[2])
    noojee_emulator_control.add_fault(fault, method="retrieveRecording", **params)
    with pytest.raises(error):
        client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1)


def test_an_unknown_leg_is_not_found(client: NoojeeClient) -> None:
    with pytest.raises(NotFoundError):
        client.download_leg(io.BytesIO(), unique_id="1.1", leg=9)


# ---------------------------------------------------------------------------------------------- variants


@pytest.mark.parametrize(
    ("encoding", "line_length"), [("base64", 76), ("base64", 0), ("base64", 64), ("raw", 76), ("json", 76)]
)
def test_every_audio_encoding_gives_the_same_wav(
    noojee_emulator: Any, noojee_emulator_control: Any, encoding: str, line_length: int
) -> None:
    noojee_emulator_control.config(audio_encoding=encoding, audio_line_length=line_length)
    made = noojee_emulator_control.add_recording(tag="E-1", legs=[2])
    out = io.BytesIO()
    info = make_client(noojee_emulator).download_leg(out, unique_id=made["unique_id"], leg=1)
    assert info.sha256 == made["legs"][0]["sha256"]
    assert out.getvalue() == noojee_emulator_control.audio(made["legs"][0]["call_record_id"])


def test_legs_can_be_selected_by_call_record_id(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    made = noojee_emulator_control.add_recording(tag="S-1", legs=[1])
    client = make_client(noojee_emulator, retrieve_recording_selector="call_record_id")
    info = client.download_leg(io.BytesIO(), call_record_id=made["legs"][0]["call_record_id"])
    assert info.sha256 == made["legs"][0]["sha256"]


def test_a_poll_reply_without_data_is_accepted(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    noojee_emulator_control.config(empty_poll_omits_data=True)
    noojee_emulator_control.inbound_call(exten="300")
    seq = client.subscribe(["300"], 0, timeout=0).seq
    assert client.subscribe(["301"], seq, timeout=1).events == []


# ---------------------------------------------------------------------------------------------- legacy


def test_the_deprecated_api_starts_stops_and_returns_the_joined_wav(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    legacy = LegacyRecordingClient(noojee_emulator.url, api_key=noojee_emulator.config.api_key, retry=FAST)
    made = noojee_emulator_control.add_recording(tag="L-1", legs=[1, 2])
    out = io.BytesIO()
    info = legacy.retrieve(out, tag="L-1", username="fred")
    assert info.duration_seconds == pytest.approx(3)
    by_id = io.BytesIO()
    legacy.retrieve_by_unique_id(by_id, unique_id=made["unique_id"])
    assert by_id.getvalue() == out.getvalue()

    client = make_client(noojee_emulator)
    client.dial("0383208100", "SIP/106", auto_answer="x")
    wait_for_status(client, "106", CallStatus.CONNECTED)
    assert legacy.start("106", tag="L-2").code == 0
    assert legacy.stop("106").code == 0


def test_the_deprecated_api_authenticates_with_the_hash_method(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    legacy = LegacyRecordingClient(noojee_emulator.url, api_key=noojee_emulator.config.api_key, auth="hash")
    noojee_emulator_control.add_recording(tag="L-3", legs=[1])
    assert legacy.retrieve(io.BytesIO(), tag="L-3").bytes_written > 44


# ---------------------------------------------------------------------------------------------- secrets


def test_no_key_or_hash_in_logs_or_errors(
    noojee_emulator: Any, noojee_emulator_control: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = noojee_emulator.config.api_key
    client = make_client(noojee_emulator, auth="hash")
    client.retrieve_metadata("x")
    noojee_emulator_control.add_fault("http_500", method="*", count=None)
    with pytest.raises(ServerError) as failed:
        client.retrieve_metadata("x")
    pair_hash = client.auth.params()["hash"]
    texts = [r.getMessage() for r in caplog.records] + [str(failed.value), repr(client)]
    assert any("RecordingAPI" in t for t in texts)
    for text in texts:
        assert key not in text
        assert pair_hash not in text
