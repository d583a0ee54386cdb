"""Recording: start/stop, legs, metadata in both formats, leg audio, and the deprecated Recording API."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from noojee_django.emulator import ControlClient, EmulatorServer
from noojee_django.emulator.control import ControlError

from .helpers import API_KEY, RECORDINGS, Api, decode_wav, sha256, wav_info

ROW_FIELDS = {
    "Source", "Leg", "Start", "Tag", "Duration", "Username", "CallRecordId", "UniqueId", "DID", "Direction",
    "Destination",
}  # fmt: skip


def fetch(api: Api, **selector: Any) -> requests.Response:
    return api.rec("retrieveRecording", **selector)


# ---------------------------------------------------------------------------------------------- start / stop


@pytest.mark.parametrize("channel", ["140", "SIP/140", "SIP/140-12FA7B", "unique id"])
def test_start_and_stop_find_the_call_by_extension_channel_or_unique_id(api: Api, channel: str) -> None:
    unique_id = api.connected_call("140")
    target = unique_id if channel == "unique id" else channel
    started = api.call("start", extenOrUniqueId=target, tag="INV-1", agentLoginName="fred")
    assert started.status_code == 200 and started.json()["Code"] == 0 and started.json()["Message"]
    stopped = api.call("stop", extenOrUniqueId=target, agentLoginName="fred")
    assert stopped.status_code == 200 and stopped.json()["Code"] == 0
    (row,) = api.rec("retrieveMetaData", tag="INV-1").json()
    assert row["UniqueId"] == unique_id and row["Username"] == "fred"


def test_a_leg_row_exists_from_the_moment_recording_starts(api: Api) -> None:
    api.connected_call("141")
    api.call("start", extenOrUniqueId="141", Tag="LIVE")  # the capitalised name is tolerated
    (row,) = api.rec("retrieveMetaData", tag="LIVE").json()
    assert row["Leg"] == "1" and row["Duration"] == "1"


def test_start_without_a_call_fails_with_a_non_200_status(api: Api) -> None:
    response = api.call("start", extenOrUniqueId="142", tag="X")
    assert response.status_code == 404
    assert response.json()["Code"] == -1


def test_start_twice_and_stop_when_not_recording_conflict(api: Api) -> None:
    api.connected_call("143")
    assert api.call("stop", extenOrUniqueId="143").status_code == 409
    assert api.call("start", extenOrUniqueId="143", tag="T").status_code == 200
    second = api.call("start", extenOrUniqueId="143", tag="T")
    assert second.status_code == 409 and second.json()["Code"] == -1
    assert api.call("stop", extenOrUniqueId="144").status_code == 404


def test_dial_with_record_and_tag_records_from_connected(api: Api, control: ControlClient) -> None:
    control.config(answer_delay=0.1, far_end_answer_delay=0.1)
    api.dial("SIP/145", record="true", tag="DIALREC")
    assert api.rec("retrieveMetaData", tag="DIALREC").json() == []
    time.sleep(0.4)
    (row,) = api.rec("retrieveMetaData", tag="DIALREC").json()
    assert (row["Source"], row["Destination"], row["Direction"], row["Leg"]) == (
        "145",
        "0383208100",
        "1",
        "1",
    )


def test_every_transition_starts_a_new_leg(api: Api, control: ControlClient) -> None:
    unique_id = api.connected_call("146")
    api.call("start", extenOrUniqueId="146", tag="MULTI")
    control.transfer(unique_id, "147")
    api.call("stop", extenOrUniqueId="147")
    api.call("start", extenOrUniqueId=unique_id, tag="MULTI")
    rows = api.rec("retrieveMetaData", tag="MULTI").json()
    assert [r["Leg"] for r in rows] == ["1", "2", "3"]
    assert [r["Source"] for r in rows] == ["146", "147", "147"]
    ids = [int(r["CallRecordId"]) for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_answering_a_recorded_inbound_call_starts_a_new_leg(api: Api, control: ControlClient) -> None:
    unique_id = control.inbound_call("0398765432", "148", queue="sales", did="0390001111")
    api.call("start", extenOrUniqueId=unique_id, tag="INB")
    control.answer(unique_id, "149")
    rows = api.rec("retrieveMetaDataByUniqueId", uniqueId=unique_id).json()
    assert [(r["Leg"], r["Destination"]) for r in rows] == [("1", "148"), ("2", "149")]
    assert {r["Source"] for r in rows} == {"0398765432"}
    assert {r["Direction"] for r in rows} == {"0"}
    assert {r["DID"] for r in rows} == {"0390001111"}


# ---------------------------------------------------------------------------------------------- audio


def test_audio_is_refused_as_in_progress_until_the_call_ends(api: Api, control: ControlClient) -> None:
    unique_id = api.connected_call("150")
    api.call("start", extenOrUniqueId="150", tag="WAIT")
    time.sleep(1.1)
    api.call("stop", extenOrUniqueId="150")
    in_progress = fetch(api, uniqueId=unique_id, leg=1)
    assert in_progress.status_code == 409
    assert in_progress.json() == {"Code": -2, "Message": "Recording in progress"}
    api.call("hangup", extenOrUniqueId=unique_id)
    response = fetch(api, uniqueId=unique_id, leg=1)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    wav = decode_wav(response.content)
    (leg,) = control.recordings(tag="WAIT")
    assert sha256(wav) == leg["sha256"] and len(wav) == leg["bytes"]
    assert wav_info(wav) == (8000, 2, 1, leg["duration"] * 8000)
    assert leg["duration"] == 1  # 1.1 s rounds to whole seconds
    assert control.audio(leg["call_record_id"]) == wav


def test_hangup_settle_keeps_audio_in_progress_a_little_after_hangup(
    api: Api, control: ControlClient
) -> None:
    control.config(hangup_settle=0.3)
    unique_id = api.connected_call("151")
    api.call("start", extenOrUniqueId="151", tag="SETTLE")
    assert api.call("hangup", extenOrUniqueId="151").json()["Message"] == "Channel Hungup"
    assert fetch(api, uniqueId=unique_id, leg=1).status_code == 409
    time.sleep(0.35)
    assert fetch(api, uniqueId=unique_id, leg=1).status_code == 200


def test_unknown_leg_is_404_and_a_missing_selector_400(api: Api, control: ControlClient) -> None:
    created = control.add_recording("GONE", [1])
    for selector in ({"uniqueId": created["unique_id"], "leg": 2}, {"callRecordId": 1}):
        response = fetch(api, **selector)
        assert response.status_code == 404
        assert response.json()["Code"] == -1
    missing = fetch(api)
    assert missing.status_code == 400 and missing.json()["Code"] == -1


def test_scripted_leg_audio_matches_the_control_api_by_either_selector(
    api: Api, control: ControlClient
) -> None:
    created = control.add_recording("SCRIPT", [2, 1])
    for leg in created["legs"]:
        by_id = decode_wav(fetch(api, callRecordId=leg["call_record_id"]).content)
        by_leg = decode_wav(fetch(api, uniqueId=created["unique_id"], leg=leg["leg"]).content)
        assert by_id == by_leg
        assert sha256(by_id) == leg["sha256"]
        assert len(by_id) == leg["bytes"] == 44 + leg["duration"] * 16000
    assert [leg["duration"] for leg in created["legs"]] == [2, 1]
    assert control.recordings(unique_id=created["unique_id"]) == control.recordings(tag="SCRIPT")


def test_audio_is_the_same_on_every_fetch(api: Api, control: ControlClient) -> None:
    leg = control.add_recording("SAME", [1])["legs"][0]
    first = fetch(api, callRecordId=leg["call_record_id"]).content
    assert fetch(api, callRecordId=leg["call_record_id"]).content == first


def test_base64_lines_follow_the_configured_length(api: Api, control: ControlClient) -> None:
    leg = control.add_recording("LINES", [1])["legs"][0]
    lines = fetch(api, callRecordId=leg["call_record_id"]).content.split(b"\n")
    assert {len(x) for x in lines[:-2]} == {76}
    control.config(audio_line_length=0)
    body = fetch(api, callRecordId=leg["call_record_id"]).content
    assert b"\n" not in body
    assert sha256(decode_wav(body)) == leg["sha256"]


def test_raw_and_json_audio_variants(api: Api, control: ControlClient) -> None:
    leg = control.add_recording("VARIANTS", [1])["legs"][0]
    control.config(audio_encoding="raw")
    raw = fetch(api, callRecordId=leg["call_record_id"])
    assert raw.headers["Content-Type"] == "audio/wav"
    assert raw.content[:4] == b"RIFF" and sha256(raw.content) == leg["sha256"]
    control.config(audio_encoding="json")
    envelope = fetch(api, callRecordId=leg["call_record_id"]).json()
    assert envelope["Code"] == 0
    assert sha256(decode_wav(envelope["Audio"].encode())) == leg["sha256"]


def test_a_one_hour_leg_announces_its_exact_length_and_streams(api: Api, control: ControlClient) -> None:
    leg = control.add_recording("HOUR", [3600])["legs"][0]
    assert leg["bytes"] == 44 + 3600 * 16000
    started = time.monotonic()
    with api.session.post(
        api.url + RECORDINGS + "retrieveRecording",
        params={"apiKey": API_KEY, "callRecordId": leg["call_record_id"]},
        stream=True,
    ) as response:
        encoded = 4 * ((leg["bytes"] + 2) // 3)
        assert int(response.headers["Content-Length"]) == encoded + (encoded + 75) // 76
        head = response.raw.read(76 * 100)
    assert time.monotonic() - started < 2  # the first bytes come before the whole leg exists
    assert decode_wav(b"".join(head.split(b"\n")[:10]))[:4] == b"RIFF"


# ---------------------------------------------------------------------------------------------- metadata


def test_metadata_rows_are_bare_arrays_of_strings(api: Api, control: ControlClient) -> None:
    created = control.add_recording("META", [3, 2], exten="410", number="0383208100", username="fred")
    rows = api.rec("retrieveMetaData", tag="META").json()
    assert isinstance(rows, list) and len(rows) == 2
    for row, leg in zip(rows, created["legs"], strict=True):
        assert set(row) == ROW_FIELDS
        assert all(isinstance(v, str) for v in row.values())
        assert row["CallRecordId"] == str(leg["call_record_id"])
        assert row["Duration"] == str(leg["duration"])
        assert row["UniqueId"] == created["unique_id"]
        assert (row["Source"], row["Destination"], row["Username"], row["Tag"]) == (
            "410",
            "0383208100",
            "fred",
            "META",
        )
    first, second = (dt.datetime.strptime(r["Start"], "%Y-%m-%d %H:%M:%S.%f") for r in rows)
    assert rows[0]["Start"].endswith(".0")
    assert (second - first).total_seconds() == 3  # legs back to back
    assert api.rec("retrieveMetaDataByUniqueId", uniqueId=created["unique_id"]).json() == rows


def test_metadata_start_is_pbx_local_time(api: Api, control: ControlClient) -> None:
    for zone in ("Australia/Melbourne", "America/New_York"):
        control.config(pbx_time_zone=zone)
        control.add_recording(f"TZ-{zone}", [1])
        (row,) = api.rec("retrieveMetaData", tag=f"TZ-{zone}").json()
        start = dt.datetime.strptime(row["Start"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=ZoneInfo(zone))
        assert abs(time.time() - 1 - start.timestamp()) < 3


def test_metadata_without_a_match_is_an_empty_array_and_without_tag_an_error(api: Api) -> None:
    assert api.rec("retrieveMetaData", tag="NOTHING").json() == []
    assert api.rec("retrieveMetaDataByUniqueId", uniqueId="1.1").json() == []
    missing = api.rec("retrieveMetaData")
    assert missing.status_code == 400 and missing.json()["Code"] == -1


def test_direction_codes_for_scripted_calls(api: Api, control: ControlClient) -> None:
    for direction, code in (("inbound", "0"), ("outbound", "1"), ("internal", "2")):
        control.add_recording(f"DIR-{direction}", [1], direction=direction, number="0398765432", exten="150")
        (row,) = api.rec("retrieveMetaData", tag=f"DIR-{direction}").json()
        assert row["Direction"] == code
        if direction == "inbound":
            assert (row["Source"], row["Destination"]) == ("0398765432", "150")


def test_late_legs_stay_out_of_metadata_for_their_delay(api: Api, control: ControlClient) -> None:
    control.add_recording("LATE", [1, 1, 1], late={3: 0.3})
    assert [r["Leg"] for r in api.rec("retrieveMetaData", tag="LATE").json()] == ["1", "2"]
    time.sleep(0.35)
    assert [r["Leg"] for r in api.rec("retrieveMetaData", tag="LATE").json()] == ["1", "2", "3"]


def test_duplicate_rows_lists_every_leg_twice(api: Api, control: ControlClient) -> None:
    control.add_recording("DUP", [1, 1], duplicate_rows=True)
    assert [r["Leg"] for r in api.rec("retrieveMetaData", tag="DUP").json()] == ["1", "1", "2", "2"]


def test_scripted_call_in_progress_refuses_audio_until_hung_up(api: Api, control: ControlClient) -> None:
    created = control.add_recording("PROG", [1], in_progress=True)
    leg = created["legs"][0]
    assert fetch(api, callRecordId=leg["call_record_id"]).status_code == 409
    control.hangup(created["unique_id"])
    assert sha256(decode_wav(fetch(api, callRecordId=leg["call_record_id"]).content)) == leg["sha256"]


def test_by_hour_lists_legs_that_ended_in_that_local_hour_in_the_older_format(
    api: Api, control: ControlClient
) -> None:
    control.config(pbx_time_zone="Australia/Melbourne")
    control.add_recording("HOURLY", [2], direction="inbound", number="0398765432")
    now = dt.datetime.now(ZoneInfo("Australia/Melbourne"))
    response = api.rec("retrieveMetaDataByHour", date=now.strftime("%Y/%m/%d"), hour=now.hour)
    assert response.status_code == 200
    (row,) = [r for r in response.json() if r["Tag"] == "HOURLY"]
    assert set(row) == ROW_FIELDS | {"callend"}
    assert row["Direction"] == "Inbound"
    end = dt.datetime.strptime(
        row["callend"].replace(" AEST ", " ").replace(" AEDT ", " "), "%a %b %d %H:%M:%S %Y"
    )
    begin = dt.datetime.strptime(
        row["Start"].replace(" AEST ", " ").replace(" AEDT ", " "), "%a %b %d %H:%M:%S %Y"
    )
    assert (end - begin).total_seconds() == 2
    assert row["callend"].split()[4] in ("AEST", "AEDT")


def test_by_hour_is_rate_limited_per_key(
    noojee_emulator_factory: Callable[..., EmulatorServer],
) -> None:
    emulator = noojee_emulator_factory(metadata_rate_limit_seconds=0.5, user_keys={"u": "fred"})
    api, user = Api(emulator.url), Api(emulator.url, "u")
    assert api.rec("retrieveMetaDataByHour", date="2021/09/14", hour=15).json() == []
    limited = api.rec("retrieveMetaDataByHour", date="2021/09/14", hour=15)
    assert limited.status_code == 429
    assert limited.json()["Code"] == -1
    assert user.rec("retrieveMetaDataByHour", date="2021/09/14", hour=15).status_code == 200
    time.sleep(0.5)
    assert api.rec("retrieveMetaDataByHour", date="2021/09/14", hour=15).status_code == 200
    ControlClient(emulator.url).config(rate_limit_status=503)
    assert api.rec("retrieveMetaDataByHour", date="2021/09/14", hour=15).status_code == 503


def test_a_call_recorded_in_the_past_is_listed_in_the_hour_it_ended(api: Api, control: ControlClient) -> None:
    zone = ZoneInfo("Australia/Melbourne")
    control.config(pbx_time_zone="Australia/Melbourne")
    ended = (dt.datetime.now(zone) - dt.timedelta(days=2)).replace(minute=40, second=0, microsecond=0)
    created = control.add_recording("EARLIER", [60, 30], ended_at=ended)
    assert int(created["unique_id"].split(".")[0]) == int(ended.timestamp()) - 90  # the call's start

    def tagged(moment: dt.datetime) -> list[dict[str, str]]:
        response = api.rec("retrieveMetaDataByHour", date=moment.strftime("%Y/%m/%d"), hour=moment.hour)
        return [row for row in response.json() if row["Tag"] == "EARLIER"]

    control.config(metadata_rate_limit_seconds=0)
    rows = tagged(ended)
    assert [row["Leg"] for row in rows] == ["1", "2"]
    assert rows[1]["callend"].startswith(ended.strftime("%a %b %d %H:40:00"))
    assert tagged(dt.datetime.now(zone)) == []
    assert fetch(api, uniqueId=created["unique_id"], leg=2).status_code == 200  # its audio is there


def test_a_recorded_call_cannot_end_in_the_future(control: ControlClient) -> None:
    with pytest.raises(ControlError) as refused:
        control.add_recording("LATER", [1], ended_at=time.time() + 3600)
    assert refused.value.status == 400 and "future" in refused.value.message


@pytest.mark.parametrize(("date", "hour"), [("14/09/2021", "3"), ("2021/09/14", "24"), ("2021/09/14", "x")])
def test_by_hour_refuses_bad_dates_and_hours(api: Api, date: str, hour: str) -> None:
    response = api.rec("retrieveMetaDataByHour", date=date, hour=hour)
    assert response.status_code == 400 and response.json()["Code"] == -1


# ------------------------------------------------------------------------------------------ deprecated API


def test_deprecated_retrieve_by_tag_joins_the_legs_in_order_as_one_wav(
    api: Api, control: ControlClient
) -> None:
    created = control.add_recording("OLD", [2, 1, 3])
    response = api.legacy(method="retrieve", tag="OLD", username="whoever")
    assert response.status_code == 200
    joined = decode_wav(response.content)
    legs = [control.audio(leg["call_record_id"]) for leg in created["legs"]]
    assert wav_info(joined) == (8000, 2, 1, 6 * 8000)
    assert joined[44:] == b"".join(leg[44:] for leg in legs)
    by_unique_id = decode_wav(api.legacy(method="retrieveByUniqueId", uniqueId=created["unique_id"]).content)
    assert by_unique_id == joined


def test_deprecated_api_refuses_in_progress_unknown_and_unauthenticated(
    api: Api, control: ControlClient
) -> None:
    control.add_recording("OLDPROG", [1], in_progress=True)
    assert api.legacy(method="retrieve", tag="OLDPROG").status_code == 409
    assert api.legacy(method="retrieve", tag="NONE").status_code == 404
    assert api.legacy(method="explode").status_code == 400
    refused = Api(api.url, "wrong").legacy(method="retrieve", tag="OLDPROG")
    assert refused.status_code == 401 and json.loads(refused.text)["Code"] == -1
    assert control.stats()["requests"]["njadmin-api-recording.retrieve"] == 3


def test_deprecated_start_and_stop_record_a_tagged_leg(api: Api) -> None:
    api.connected_call("152")
    assert api.legacy(method="start", extenOrUniqueId="SIP/152-00AB12", tag="22").status_code == 200
    assert api.legacy(method="stop", extenOrUniqueId="152").status_code == 200
    assert [r["Tag"] for r in api.rec("retrieveMetaData", tag="22").json()] == ["22"]
    assert api.legacy(method="stop", extenOrUniqueId="152").status_code == 409
