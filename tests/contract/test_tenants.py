"""Key kinds against a tenanted emulator: a user key sees its campaigns only and has no ``subscribe``;
the global key sees everything."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from noojee_django.client import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    KeyScopeError,
    LegacyRecordingClient,
    NoojeeClient,
    NotFoundError,
)
from noojee_django.client.types import CallStatus
from noojee_django.emulator.pytest_plugin import (
    TEST_CAMPAIGN,
    TEST_OTHER_CAMPAIGN,
    TEST_OTHER_USER_KEY,
    TEST_USER_KEY,
)

from .conftest import FAST, make_client, requests_for, wait_for_status

A, B = TEST_CAMPAIGN, TEST_OTHER_CAMPAIGN


def user_client(emulator: Any, key: str = TEST_USER_KEY, **options: Any) -> NoojeeClient:
    return make_client(emulator, api_key=key, key_kind="user", **options)


def record_ids(made: dict[str, Any]) -> list[int]:
    return [int(leg["call_record_id"]) for leg in made["legs"]]


def test_a_user_key_sees_only_its_campaigns_metadata_and_the_global_key_sees_all(
    client: NoojeeClient, noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    of_a = noojee_emulator_control.add_recording("INV-9", [2, 1], campaign=A)
    of_b = noojee_emulator_control.add_recording("INV-9", [3], campaign=B)
    user_a, user_b = user_client(noojee_emulator), user_client(noojee_emulator, TEST_OTHER_USER_KEY)
    assert [leg.call_record_id for leg in client.retrieve_metadata("INV-9")] == record_ids(of_a) + record_ids(
        of_b
    )
    assert [leg.call_record_id for leg in user_a.retrieve_metadata("INV-9")] == record_ids(of_a)
    assert [leg.call_record_id for leg in user_b.retrieve_metadata("INV-9")] == record_ids(of_b)
    assert user_a.retrieve_metadata_by_unique_id(of_b["unique_id"]) == []
    assert [leg.leg for leg in user_b.retrieve_metadata_by_unique_id(of_b["unique_id"])] == [1]


def test_the_hourly_metadata_of_a_user_key_lists_its_campaigns_only(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.config(metadata_rate_limit_seconds=0, pbx_time_zone="Australia/Melbourne")
    zone = ZoneInfo("Australia/Melbourne")
    ended = (dt.datetime.now(zone) - dt.timedelta(days=1)).replace(minute=20, second=0, microsecond=0)
    of_a = noojee_emulator_control.add_recording("HR-A", [30], campaign=A, ended_at=ended)
    of_b = noojee_emulator_control.add_recording("HR-B", [30], campaign=B, ended_at=ended)
    day, hour = ended.date(), ended.hour
    everything = make_client(noojee_emulator).retrieve_metadata_by_hour(day, hour)
    assert [leg.call_record_id for leg in everything] == record_ids(of_a) + record_ids(of_b)
    mine = user_client(noojee_emulator).retrieve_metadata_by_hour(day, hour)
    assert [(leg.call_record_id, leg.tag) for leg in mine] == [(record_ids(of_a)[0], "HR-A")]


def test_another_campaigns_audio_is_not_found_for_a_user_key(
    client: NoojeeClient, noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    mine = noojee_emulator_control.add_recording("AU-1", [1], campaign=A)
    theirs = noojee_emulator_control.add_recording("AU-1", [1], campaign=B)
    user_a = user_client(noojee_emulator)
    info = user_a.download_leg(io.BytesIO(), unique_id=mine["unique_id"], leg=1)
    assert info.sha256 == mine["legs"][0]["sha256"]
    out = io.BytesIO()
    with pytest.raises(NotFoundError) as missing:
        user_a.download_leg(out, unique_id=theirs["unique_id"], leg=1)
    assert type(missing.value) is NotFoundError and missing.value.http_status == 404
    assert out.getvalue() == b""
    by_id = user_client(noojee_emulator, retrieve_recording_selector="call_record_id")
    with pytest.raises(NotFoundError):
        by_id.download_leg(io.BytesIO(), call_record_id=record_ids(theirs)[0])
    assert (
        client.download_leg(io.BytesIO(), unique_id=theirs["unique_id"], leg=1).sha256
        == (theirs["legs"][0]["sha256"])
    )


def test_a_user_key_client_refuses_subscribe_before_sending_anything(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    user = user_client(noojee_emulator)
    assert user.key_kind == "user" and not user.may_call("subscribe") and user.may_call("dial")
    with pytest.raises(KeyScopeError) as refused:
        user.subscribe(["101"], 0, timeout=0)
    assert refused.value.method == "subscribe" and "user API key" in str(refused.value)
    assert refused.value.kind == "key_scope" and not refused.value.retryable
    assert TEST_USER_KEY not in str(refused.value)
    assert isinstance(refused.value, AuthenticationError)  # whoever catches credential refusals, still does
    assert requests_for(noojee_emulator_control, "subscribe") == 0
    # the campaign methods still work, in the key's campaign
    assert user.dial("0383208100", "SIP/120", auto_answer="x").code == 0
    assert noojee_emulator_control.calls()[0]["campaign"] == A


def test_the_pbxs_refusal_reached_anyway_is_a_key_scope_error_and_is_not_resent(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    """A user key configured as a global one (or a raw call): the PBX says no, once."""
    for auth in ("apikey", "auto"):
        mistaken = make_client(noojee_emulator, api_key=TEST_USER_KEY, auth=auth)
        assert mistaken.key_kind == "global" and mistaken.may_call("subscribe")
        with pytest.raises(KeyScopeError) as refused:
            mistaken.subscribe(["101"], 0, timeout=0)
        assert refused.value.code == -1 and "may not call subscribe" in (refused.value.pbx_message or "")
    assert requests_for(noojee_emulator_control, "subscribe") == 2  # one each: no resend, no hash retry
    assert requests_for(noojee_emulator_control, "Time") == 0
    raw = user_client(noojee_emulator)
    path = f"{raw.call_api_path}/subscribe"
    with pytest.raises(KeyScopeError):
        raw.transport.call(
            "POST", path, {"exten": "1", "lastSequenceNumber": 0}, name="subscribe", retry=True
        )
    with pytest.raises(KeyScopeError):  # the raw call under another name still meets the PBX's refusal
        raw.transport.call("POST", path, {"exten": "1", "lastSequenceNumber": 0}, name="poll", retry=True)
    assert requests_for(noojee_emulator_control, "subscribe") == 3


def test_a_dial_in_another_campaign_is_a_key_scope_error(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.add_user_key("nobody-key", "nobody", [])
    lonely = user_client(noojee_emulator, "nobody-key")
    with pytest.raises(KeyScopeError):
        lonely.dial("0383208100", "SIP/121")
    assert requests_for(noojee_emulator_control, "dial") == 1  # never resent
    assert noojee_emulator_control.calls() == []


def test_a_user_key_records_and_finds_its_own_call_and_the_other_tenant_does_not(
    client: NoojeeClient, noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    user_a, user_b = user_client(noojee_emulator), user_client(noojee_emulator, TEST_OTHER_USER_KEY)
    user_a.dial("0383208100", "SIP/122", auto_answer="x", record=True, tag="OWN-1")
    connected = wait_for_status(client, "122", CallStatus.CONNECTED)  # the global key watches
    with pytest.raises(NotFoundError):  # B cannot stop A's recording: for B the call does not exist
        user_b.stop_recording(connected.unique_call_id)
    with pytest.raises(ApiError) as hung_up:  # nor hang it up: as for a channel nobody has
        user_b.hangup(connected.unique_call_id)
    assert type(hung_up.value) is ApiError and hung_up.value.code == -1
    assert user_a.hangup(connected.unique_call_id).code == 0
    legs = user_a.retrieve_metadata("OWN-1")
    assert [leg.username for leg in legs] == ["agent1"]
    assert user_b.retrieve_metadata("OWN-1") == []
    assert user_a.download_leg(io.BytesIO(), unique_id=legs[0].unique_id, leg=1).duration_seconds >= 1


def test_the_deprecated_api_is_closed_to_a_user_key(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.add_recording("LEG-1", [1], campaign=A)
    legacy = LegacyRecordingClient(noojee_emulator.url, api_key=TEST_USER_KEY, key_kind="user", retry=FAST)
    with pytest.raises(KeyScopeError):
        legacy.retrieve(io.BytesIO(), tag="LEG-1")
    with pytest.raises(KeyScopeError):
        legacy.start("101", tag="X")
    assert requests_for(noojee_emulator_control, "njadmin-api-recording.retrieve") == 0
    mistaken = LegacyRecordingClient(noojee_emulator.url, api_key=TEST_USER_KEY, retry=FAST)
    with pytest.raises(KeyScopeError) as refused:
        mistaken.retrieve(io.BytesIO(), tag="LEG-1")
    assert refused.value.http_status == 403
    assert requests_for(noojee_emulator_control, "njadmin-api-recording.retrieve") == 1


def test_key_kind_is_checked_when_the_client_is_built(noojee_emulator: Any) -> None:
    for bad in ({"key_kind": "tenant"}, {"key_kind": "user", "user_key_refused": "subscribe"}):
        with pytest.raises(ConfigurationError):
            NoojeeClient(noojee_emulator.url, api_key="k", **bad)
    assert "key=user" in repr(user_client(noojee_emulator))
    opened = user_client(noojee_emulator, user_key_refused=())
    assert opened.may_call("subscribe")
