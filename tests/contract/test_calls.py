"""Call control and subscribe against the emulator."""

from __future__ import annotations

import time
from typing import Any

import pytest

from noojee_django.client import ApiError, AuthenticationError, NoojeeClient, NotFoundError
from noojee_django.client.types import CallStatus

from .conftest import make_client, requests_for, wait_for_event, wait_for_status


def test_dial_then_subscribe_shows_the_click_to_dial_sequence(client: NoojeeClient) -> None:
    result = client.dial("0383208100", "SIP/101", caller_id="0399999999", phone_caption="Invoice 1")
    assert result.code == 0 and result.session_id > 0
    first = client.subscribe(["101"], 0, timeout=0)
    assert first.events and first.events[0].is_click_to_dial_call
    assert first.events[0].status == CallStatus.DIALING_OUT
    connected = wait_for_status(client, "101", CallStatus.CONNECTED)
    assert connected.unique_call_id and connected.extension == "101"
    assert connected.call_start_time is not None
    assert connected.call_start_time.tzinfo == client.pbx_time_zone
    seq = client.subscribe(["101"], 0, timeout=0).seq
    assert client.hangup(connected.unique_call_id).message == "Channel Hungup"
    hungup = wait_for_event(client, "101", CallStatus.HUNGUP, seq)
    assert hungup.unique_call_id == connected.unique_call_id


def test_long_poll_returns_early_with_the_next_events(client: NoojeeClient) -> None:
    snapshot = client.subscribe(["SIP/101"], 0, timeout=0)
    client.dial("0383208100", "SIP/101", auto_answer="Call-Info:\\; answer-after=0")
    started = time.monotonic()
    result = client.subscribe(["101"], snapshot.seq, timeout=10)
    assert time.monotonic() - started < 5
    assert result.seq > snapshot.seq and result.events


def test_a_long_poll_longer_than_the_client_timeout_is_not_cut_short(noojee_emulator: Any) -> None:
    client = make_client(noojee_emulator, timeout=0.5)
    seq = client.subscribe(["777"], 0, timeout=0).seq
    started = time.monotonic()
    result = client.subscribe(["777"], seq, timeout=1)
    assert time.monotonic() - started >= 0.9
    assert result.events == [] and result.seq >= seq


def test_events_of_several_extensions_are_flattened(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.inbound_call(caller_id="0398765432", exten="201")
    noojee_emulator_control.inbound_call(caller_id="0398765433", exten="202")
    result = client.subscribe(["201", "202"], 0, timeout=0)
    assert {e.extension for e in result.events} == {"201", "202"}
    assert all(e.status == CallStatus.RINGING and e.can_answer for e in result.events)
    assert all(e.call_start_time is None for e in result.events)  # "" while ringing


def test_answer_an_inbound_call(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    unique_id = noojee_emulator_control.inbound_call(caller_id="0398765432", exten="104")
    ringing = wait_for_status(client, "104", CallStatus.RINGING)
    assert ringing.can_answer and ringing.inbound and ringing.caller_id == "0398765432"
    assert client.answer(unique_id, "SIP/104", answer_string="Alert-Info: Ring Answer").code == 0
    wait_for_status(client, "104", CallStatus.CONNECTED)


def test_answering_from_another_extension_unlinks_the_ringing_one(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    unique_id = noojee_emulator_control.inbound_call(exten="107")
    wait_for_status(client, "107", CallStatus.RINGING)
    seq = client.subscribe(["107"], 0, timeout=0).seq
    client.answer(unique_id, "108")
    assert wait_for_event(client, "107", CallStatus.UNLINKED, seq).unique_call_id == unique_id


def test_call_control_errors_carry_the_pbx_message(client: NoojeeClient) -> None:
    with pytest.raises(ApiError) as refused:
        client.hangup("1234.999")
    assert refused.value.code is not None and refused.value.code < 0 and refused.value.pbx_message
    with pytest.raises(ApiError, match="tech"):
        client.dial("0383208100", "101")  # no tech


def test_recording_control_failures_are_non_200_and_typed(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    with pytest.raises(NotFoundError):
        client.start_recording("199")  # no call there
    with pytest.raises(NotFoundError):
        client.stop_recording("199")
    client.dial("0383208100", "SIP/109", auto_answer="x")
    wait_for_status(client, "109", CallStatus.CONNECTED)
    client.start_recording("109", tag="DOUBLE")
    with pytest.raises(ApiError) as twice:  # 409 here is "already recording", not "not ready"
        client.start_recording("109", tag="DOUBLE")
    assert type(twice.value) is ApiError and twice.value.http_status == 409
    assert requests_for(noojee_emulator_control, "start") == 3  # 199, then twice on 109: none resent


def test_user_keys_may_not_subscribe(noojee_emulator: Any) -> None:
    client = make_client(noojee_emulator, api_key="test-user-key-0000")
    with pytest.raises(AuthenticationError):
        client.subscribe(["101"], 0, timeout=0)
    assert client.dial("0383208100", "SIP/101").code == 0


def test_server_time_is_the_pbx_clock(noojee_emulator_factory: Any) -> None:
    emulator = noojee_emulator_factory(clock_offset_ms=3_600_000)
    client = make_client(emulator)
    assert abs(client.server_time() - (time.time() * 1000 + 3_600_000)) < 5000
