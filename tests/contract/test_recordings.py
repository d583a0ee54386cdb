"""Recording metadata and audio against the emulator."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
import zoneinfo
from typing import Any

import pytest

from noojee_django.client import NoojeeClient, NotFoundError, RateLimited, RecordingNotReady
from noojee_django.client.types import CallStatus, Direction

from .conftest import make_client, requests_for, wait_for_status


def test_recording_by_extension_gives_legs_with_verified_audio(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    client.dial("0383208100", "SIP/105", auto_answer="x")
    connected = wait_for_status(client, "105", CallStatus.CONNECTED)
    assert client.start_recording("SIP/105-12FA7B", agent_login_name="agent1", tag="INV-7").code == 0
    time.sleep(1.1)
    assert client.stop_recording("105").code == 0
    legs = client.retrieve_metadata("INV-7")
    assert [(leg.leg, leg.username, leg.tag) for leg in legs] == [(1, "agent1", "INV-7")]
    with pytest.raises(RecordingNotReady):  # the call is still going on
        client.download_leg(io.BytesIO(), unique_id=legs[0].unique_id, leg=1)
    assert requests_for(noojee_emulator_control, "retrieveRecording") == 1  # not retried in the client
    client.hangup(connected.unique_call_id)
    out = io.BytesIO()
    info = client.download_leg(out, unique_id=legs[0].unique_id, leg=1)
    assert info.sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    assert info.sha256 == noojee_emulator_control.recordings(tag="INV-7")[0]["sha256"]
    assert info.sample_rate == 8000 and info.channels == 1 and info.bits_per_sample == 16
    assert info.duration_seconds >= 1
    by_id = client.retrieve_metadata_by_unique_id(legs[0].unique_id)
    assert [leg.call_record_id for leg in by_id] == [legs[0].call_record_id]


def test_dial_with_record_and_tag(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    client.dial("0383208100", "SIP/110", auto_answer="x", record=True, tag="REC-1")
    connected = wait_for_status(client, "110", CallStatus.CONNECTED)
    client.hangup(connected.unique_call_id)
    legs = client.retrieve_metadata("REC-1")
    assert legs and legs[0].direction is Direction.OUTBOUND and legs[0].destination == "0383208100"


def test_metadata_is_typed_and_in_the_pbx_time_zone(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    made = noojee_emulator_control.add_recording(tag="T-1", legs=[3, 2], direction="inbound", did="1300")
    legs = client.retrieve_metadata("T-1")
    assert [(leg.leg, leg.duration) for leg in legs] == [(1, 3), (2, 2)]
    assert [leg.call_record_id for leg in legs] == [leg["call_record_id"] for leg in made["legs"]]
    assert all(leg.direction is Direction.INBOUND and leg.did == "1300" for leg in legs)
    assert all(leg.start is not None and leg.start.tzinfo == client.pbx_time_zone for leg in legs)
    assert legs[0].start is not None and legs[1].start is not None and legs[0].start < legs[1].start
    now = dt.datetime.now(client.pbx_time_zone)
    assert abs((now - legs[1].start).total_seconds() - 2) < 5  # PBX local time, read as such
    assert client.retrieve_metadata("nothing-here") == []


def test_duplicate_rows_are_kept_in_order(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    noojee_emulator_control.add_recording(tag="DUP", legs=[1, 1], duplicate_rows=True)
    legs = client.retrieve_metadata("DUP")
    assert len(legs) == 4 and len({leg.call_record_id for leg in legs}) == 2


def test_metadata_by_hour_normalises_the_other_formats(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.add_recording(tag="H-1", legs=[2], direction="internal")
    now = dt.datetime.now(zoneinfo.ZoneInfo(noojee_emulator_control.config()["pbx_time_zone"]))
    legs = [leg for leg in client.retrieve_metadata_by_hour(now.date(), now.hour) if leg.tag == "H-1"]
    assert len(legs) == 1
    leg = legs[0]
    assert leg.call_end is not None and leg.start is not None and leg.direction is Direction.INTERNAL
    assert leg.call_end.tzinfo == client.pbx_time_zone and 1 <= (leg.call_end - leg.start).seconds <= 3
    with pytest.raises(RateLimited):
        client.retrieve_metadata_by_hour(now.date(), now.hour)
    assert requests_for(noojee_emulator_control, "retrieveMetaDataByHour") == 2  # not retried


def test_an_in_progress_scripted_call_becomes_retrievable_after_hangup(
    client: NoojeeClient, noojee_emulator_control: Any
) -> None:
    made = noojee_emulator_control.add_recording(tag="IP-1", legs=[1], in_progress=True)
    with pytest.raises(RecordingNotReady) as not_ready:
        client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1)
    assert not_ready.value.code == -2 and not_ready.value.http_status == 409
    noojee_emulator_control.hangup(made["unique_id"])
    assert client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1).bytes_written > 44


def test_an_unknown_leg_is_not_found(client: NoojeeClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.download_leg(io.BytesIO(), unique_id="1.1", leg=9)
    assert missing.value.code == -1 and missing.value.http_status == 404


def test_memory_is_not_held_for_a_long_leg(client: NoojeeClient, noojee_emulator_control: Any) -> None:
    made = noojee_emulator_control.add_recording(tag="LONG", legs=[600])
    sink = _Sink()
    info = client.download_leg(sink, unique_id=made["unique_id"], leg=1)
    assert info.sha256 == made["legs"][0]["sha256"] and info.bytes_written == made["legs"][0]["bytes"]
    assert sink.largest_write <= 64 * 1024


class _Sink(io.RawIOBase):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        self.largest_write = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.largest_write = max(self.largest_write, len(data))
        return len(data)


def test_legs_of_an_hour_are_fetched_whole(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    made = noojee_emulator_control.add_recording(tag="HOUR", legs=[3600])
    info = make_client(noojee_emulator).download_leg(_Sink(), unique_id=made["unique_id"], leg=1)
    assert info.bytes_written == 57_600_044 and info.duration_seconds == 3600
    assert info.sha256 == made["legs"][0]["sha256"]
