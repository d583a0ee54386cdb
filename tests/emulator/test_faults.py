"""Injected faults: each kind does to a request what it says, to the requests it matches, as often as told."""

from __future__ import annotations

import base64
import binascii
import socket
import time

import pytest
import requests

from noojee_django.emulator import ControlClient, ControlError

from .helpers import API_KEY, CALLS, RECORDINGS, TIME, Api, decode_wav, sha256


def one_leg(control: ControlClient, seconds: int = 2) -> dict[str, object]:
    return dict(control.add_recording("FAULT", [seconds])["legs"][0])


def fetch(api: Api, leg: dict[str, object]) -> requests.Response:
    return api.rec("retrieveRecording", callRecordId=leg["call_record_id"])


def test_fault_hits_only_its_method_and_only_count_times(api: Api, control: ControlClient) -> None:
    control.add_fault("http_502", method="dial", count=2)
    assert api.subscribe("101", 0)["Code"] == 0
    assert api.call("dial", number="1", extenOrUniqueId="SIP/1").status_code == 502
    assert api.call("dial", number="1", extenOrUniqueId="SIP/1").status_code == 502
    assert api.call("dial", number="1", extenOrUniqueId="SIP/1").status_code == 200
    assert control.stats()["requests"]["dial"] == 3
    assert control.faults() == []


def test_fault_without_count_lasts_until_cleared_and_match_narrows_it(
    api: Api, control: ControlClient
) -> None:
    control.add_fault("negative_code", method="*", count=None, match={"exten": "201"})
    for _ in range(3):
        assert api.call("subscribe", exten="201", lastSequenceNumber=0).json()["Code"] == -5
    assert api.subscribe("202", 0)["Code"] == 0
    control.clear_faults()
    assert api.subscribe("201", 0)["Code"] == 0


def test_unknown_fault_kind_is_refused(control: ControlClient) -> None:
    with pytest.raises(ControlError):
        control.add_fault("meteor")


def test_latency_fault_delays_then_answers_normally(api: Api, control: ControlClient) -> None:
    control.add_fault("latency", method="Time", seconds=0.3)
    started = time.monotonic()
    response = requests.post(api.url + TIME)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.text.isdigit()


@pytest.mark.parametrize(("kind", "status"), [("http_500", 500), ("http_502", 502)])
def test_http_error_faults_answer_html_or_json(
    api: Api, control: ControlClient, kind: str, status: int
) -> None:
    control.add_fault(kind, method="retrieveMetaData")
    html = api.rec("retrieveMetaData", tag="x")
    assert html.status_code == status and html.headers["Content-Type"].startswith("text/html")
    control.add_fault(kind, method="retrieveMetaData", body="json")
    as_json = api.rec("retrieveMetaData", tag="x")
    assert as_json.status_code == status and as_json.json()["Code"] == -1


def test_negative_code_fault_uses_the_given_code_message_and_status(api: Api, control: ControlClient) -> None:
    control.add_fault("negative_code", method="dial", code=-7, message="Trunk busy")
    assert api.call("dial", number="1", extenOrUniqueId="SIP/1").json() == {
        "Code": -7,
        "Message": "Trunk busy",
    }
    control.add_fault("negative_code", method="retrieveRecording", code=-1, message="No such leg", status=404)
    response = api.rec("retrieveRecording", callRecordId=1)
    assert response.status_code == 404 and response.json() == {"Code": -1, "Message": "No such leg"}


def test_malformed_json_fault_sends_a_cut_json_body(api: Api, control: ControlClient) -> None:
    control.add_fault("malformed_json", method="subscribe")
    response = api.call("subscribe", exten="101", lastSequenceNumber=0)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_close_fault_closes_the_connection_without_a_reply(api: Api, control: ControlClient) -> None:
    control.add_fault("close", method="dial")
    with pytest.raises(requests.ConnectionError):
        requests.post(api.url + "/servicemanager/rest/CallManagementAPI/dial", params={"apiKey": API_KEY})
    assert api.dial()["Code"] == 0


def test_drop_fault_closes_the_connection_after_some_of_the_announced_body(
    api: Api, control: ControlClient
) -> None:
    leg = one_leg(control)
    control.add_fault("drop", method="retrieveRecording", after_bytes=1000)
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"POST {RECORDINGS}retrieveRecording?apiKey={API_KEY}&callRecordId={leg['call_record_id']}"
            " HTTP/1.1\r\n"
            f"Host: {host}\r\nContent-Length: 0\r\n\r\n".encode()
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"200" in head.split(b"\r\n")[0]
    announced = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
    )
    assert announced > 40_000
    assert len(body) == 1000
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        control.add_fault("drop", method="retrieveRecording", after_bytes=1000)
        fetch(api, leg)


def test_truncated_base64_is_a_short_but_well_framed_body(api: Api, control: ControlClient) -> None:
    leg = one_leg(control)
    control.add_fault("truncated_base64", method="retrieveRecording", fraction=0.5)
    response = fetch(api, leg)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    wav = decode_wav(response.content)  # still decodes: only the length gives it away
    assert wav[:4] == b"RIFF"
    assert len(wav) < int(str(leg["bytes"])) * 0.51
    assert int.from_bytes(wav[40:44], "little") == 2 * 16000  # the header still announces the whole leg


def test_invalid_base64_puts_non_alphabet_characters_in_the_body(api: Api, control: ControlClient) -> None:
    leg = one_leg(control)
    control.add_fault("invalid_base64", method="retrieveRecording")
    response = fetch(api, leg)
    assert response.status_code == 200
    assert b"*!" in response.content
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(binascii.Error):
        decode_wav(response.content)


def test_bad_wav_header_is_valid_base64_of_a_broken_wav(api: Api, control: ControlClient) -> None:
    leg = one_leg(control)
    control.add_fault("bad_wav_header", method="retrieveRecording")
    wav = base64.b64decode(b"".join(fetch(api, leg).content.split()))
    assert wav[:4] == b"RIFX"
    assert sha256(wav) != leg["sha256"]
    assert sha256(decode_wav(fetch(api, leg).content)) == leg["sha256"]  # count 1: the next fetch is clean


def test_body_faults_also_break_json_replies(api: Api, control: ControlClient) -> None:
    control.add_recording("JSONFAULT", [1])
    control.add_fault("truncated_base64", method="retrieveMetaData")
    with pytest.raises(ValueError):
        api.rec("retrieveMetaData", tag="JSONFAULT").json()
    assert len(api.rec("retrieveMetaData", tag="JSONFAULT").json()) == 1


def test_trickle_sends_the_normal_reply_a_piece_at_a_time(api: Api, control: ControlClient) -> None:
    control.add_fault("trickle", method="dial", bytes=8, interval=0.1)
    started = time.monotonic()
    params = {"apiKey": API_KEY, "number": "0383208100", "extenOrUniqueId": "SIP/101"}
    response = requests.post(api.url + CALLS + "dial", params=params, stream=True, timeout=30)
    headers_at = time.monotonic() - started
    body = response.content
    elapsed = time.monotonic() - started
    assert body.startswith(b'{"SessionID"')
    assert headers_at < 0.5  # headers at once, only the body trickles
    assert elapsed >= 0.1 * (len(body) // 8 - 1)


def test_trickle_stops_after_its_seconds_and_sends_the_rest(api: Api, control: ControlClient) -> None:
    made = control.add_recording("TRICKLE", [2])
    control.add_fault("trickle", method="retrieveRecording", count=None, interval=0.1, seconds=0.5)
    started = time.monotonic()
    response = api.rec("retrieveRecording", callRecordId=made["legs"][0]["call_record_id"])
    assert 0.4 <= time.monotonic() - started < 5
    assert sha256(decode_wav(response.content)) == made["legs"][0]["sha256"]
    # The emulator counts a piece once its write returned, which may be just after the client read it.
    deadline = time.monotonic() + 2
    while control.faults()[0]["sent_bytes"] != len(response.content) and time.monotonic() < deadline:
        time.sleep(0.01)
    (fault,) = control.faults()
    assert fault["sent_bytes"] == len(response.content)


def test_trickle_with_headers_holds_back_the_status_line_too(api: Api, control: ControlClient) -> None:
    control.add_fault("trickle", method="Time", bytes=16, interval=0.05, headers=True)
    started = time.monotonic()
    response = requests.post(api.url + TIME, timeout=30)
    assert time.monotonic() - started >= 0.05 * 4  # a status line and headers of more than 64 bytes
    assert response.status_code == 200 and response.text.isdigit()


@pytest.mark.parametrize("shape", ["array", "object"])
def test_huge_json_is_exactly_that_size_and_valid(api: Api, control: ControlClient, shape: str) -> None:
    control.add_fault("huge_json", method="retrieveMetaData", count=None, bytes=3_000_017, shape=shape)
    response = api.rec("retrieveMetaData", tag="x")
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) == 3_000_017
    parsed = response.json()
    assert isinstance(parsed, list if shape == "array" else dict)
    assert control.faults()[0]["sent_bytes"] == 3_000_017


def test_huge_json_without_length_ends_by_closing(api: Api, control: ControlClient) -> None:
    control.add_fault("huge_json", method="retrieveMetaData", bytes=200_000, length=False)
    response = api.rec("retrieveMetaData", tag="x")
    assert "Content-Length" not in response.headers
    assert len(response.content) == 200_000 and isinstance(response.json(), list)


def test_huge_json_stops_when_the_client_goes(api: Api, control: ControlClient) -> None:
    control.add_fault("huge_json", method="retrieveMetaData", count=None, bytes=1 << 30)
    with requests.post(
        api.url + RECORDINGS + "retrieveMetaData", params={"apiKey": API_KEY, "tag": "x"}, stream=True
    ) as response:
        assert len(response.raw.read(100_000)) == 100_000
    time.sleep(0.3)
    sent = control.faults()[0]["sent_bytes"]
    assert 100_000 <= sent < 64 * 1024 * 1024  # generated as it goes, never built whole
