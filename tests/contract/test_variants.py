"""Each point the published protocol leaves open ([assumed]) is a client setting: every variant the
emulator can serve is met by one."""

from __future__ import annotations

import io
from typing import Any

import pytest

from noojee_django.client import InvalidAudioError, NoojeeClient, NotFoundError

from .conftest import make_client, requests_for


@pytest.mark.parametrize(
    ("served", "line_length", "setting"),
    [
        ("base64", 76, "auto"),
        ("base64", 0, "auto"),
        ("base64", 64, "base64"),
        ("base64", 1, "base64"),
        ("raw", 76, "auto"),
        ("raw", 76, "raw"),
        ("json", 76, "auto"),
        ("json", 76, "json"),
    ],
)
def test_every_audio_encoding_gives_the_same_wav(
    noojee_emulator: Any, noojee_emulator_control: Any, served: str, line_length: int, setting: str
) -> None:
    noojee_emulator_control.config(audio_encoding=served, audio_line_length=line_length)
    made = noojee_emulator_control.add_recording(tag="E-1", legs=[2])
    out = io.BytesIO()
    client = make_client(noojee_emulator, audio_encoding=setting)
    info = client.download_leg(out, unique_id=made["unique_id"], leg=1)
    assert info.sha256 == made["legs"][0]["sha256"]
    assert out.getvalue() == noojee_emulator_control.audio(made["legs"][0]["call_record_id"])


def test_a_mismatched_encoding_setting_fails_loudly(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    noojee_emulator_control.config(audio_encoding="base64")
    made = noojee_emulator_control.add_recording(tag="E-2", legs=[1])
    with pytest.raises(InvalidAudioError):
        make_client(noojee_emulator, audio_encoding="raw").download_leg(
            io.BytesIO(), unique_id=made["unique_id"], leg=1
        )


def test_legs_can_be_selected_by_call_record_id(noojee_emulator: Any, noojee_emulator_control: Any) -> None:
    made = noojee_emulator_control.add_recording(tag="S-1", legs=[1, 1])
    client = make_client(noojee_emulator, retrieve_recording_selector="call_record_id")
    for leg in made["legs"]:
        assert client.download_leg(io.BytesIO(), call_record_id=leg["call_record_id"]).sha256 == leg["sha256"]


@pytest.mark.parametrize("path", ["/servicemanager/rest/CallManagementAPI", "/rest/RecordingAPI"])
def test_older_recording_paths_are_a_setting(
    noojee_emulator: Any, noojee_emulator_control: Any, path: str
) -> None:
    noojee_emulator_control.config(recording_api_paths=[path])
    made = noojee_emulator_control.add_recording(tag="OLD-1", legs=[1])
    client = make_client(noojee_emulator, recording_api_path=path)
    assert len(client.retrieve_metadata("OLD-1")) == 1
    assert len(client.retrieve_metadata_by_unique_id(made["unique_id"])) == 1
    assert client.download_leg(io.BytesIO(), unique_id=made["unique_id"], leg=1).bytes_written > 44
    with pytest.raises(NotFoundError):  # the current path is not served by this "older" server
        make_client(noojee_emulator).retrieve_metadata("OLD-1")


def test_an_unknown_path_is_not_found_and_not_retried(
    noojee_emulator: Any, noojee_emulator_control: Any
) -> None:
    client = make_client(noojee_emulator, recording_api_path="/nowhere")
    with pytest.raises(NotFoundError, match="no such method"):
        client.retrieve_metadata("x")
    with pytest.raises(NotFoundError):
        make_client(noojee_emulator, retrieve_recording_method="fetchAudio").download_leg(
            io.BytesIO(), unique_id="1.1", leg=1
        )


@pytest.mark.parametrize("omit", [True, False])
def test_a_poll_reply_without_events_is_accepted_with_or_without_data(
    client: NoojeeClient, noojee_emulator_control: Any, omit: bool
) -> None:
    noojee_emulator_control.config(empty_poll_omits_data=omit)
    noojee_emulator_control.inbound_call(exten="300")
    seq = client.subscribe(["300"], 0, timeout=0).seq
    result = client.subscribe(["301"], seq, timeout=1)
    assert result.events == [] and result.seq == seq
    assert requests_for(noojee_emulator_control, "subscribe") == 2


def test_the_pbx_time_zone_is_a_setting(noojee_emulator_factory: Any) -> None:
    emulator = noojee_emulator_factory(pbx_time_zone="Asia/Kolkata")
    emulator.control.add_recording(tag="TZ", legs=[1])
    (leg,) = make_client(emulator, pbx_time_zone="Asia/Kolkata").retrieve_metadata("TZ")
    (wrong,) = make_client(emulator, pbx_time_zone="UTC").retrieve_metadata("TZ")
    assert leg.start is not None and wrong.start is not None
    assert (wrong.start - leg.start).total_seconds() == 5.5 * 3600
