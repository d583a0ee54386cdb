"""The client on the wire, without a server: a scripted transport adapter plays the PBX."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import logging
import threading
from typing import Any

import pytest
import requests

from noojee_django.client import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    InvalidAudioError,
    KeyScopeError,
    LegacyRecordingClient,
    NoojeeClient,
    NoojeeError,
    NoojeeTimeout,
    NotFoundError,
    ProtocolError,
    RateLimited,
    RecordingNotReady,
    Reply,
    RetryPolicy,
    ServerError,
    TransportError,
)
from noojee_django.client.auth import hash_pair
from noojee_django.client.transport import error_for

from .fakes import BASE, KEY, ScriptedAdapter, Seen, make_client, routes, sequence
from .fakes import Reply as R
from .test_audio import make_wav

HTML_404 = R(404, "<html><body><h1>HTTP Status 404</h1></body></html>", {"Content-Type": "text/html"})
OK = R(200, {"Message": "Channel Hungup", "Code": 0})
DIAL_OK = R(200, {"SessionID": "7", "Message": "Originate successfully queued", "Code": 0})


# ---------------------------------------------------------------------------------------------- the wire


def test_dial_sends_every_parameter_by_its_exact_name_in_the_query_string() -> None:
    client, adapter, _ = make_client(sequence(DIAL_OK))
    result = client.dial(
        "0383208100",
        "SIP/101",
        auto_answer="Call-Info:\\; answer-after=0",
        caller_id="0399999999",
        phone_caption="Invoice 12",
        monitored=True,
        record=True,
        tag="INV-12",
    )
    assert result.session_id == 7 and result.code == 0
    (seen,) = adapter.seen
    assert seen.method == "POST" and seen.path == "/servicemanager/rest/CallManagementAPI/dial"
    assert seen.params == {
        "number": "0383208100",
        "extenOrUniqueId": "SIP/101",
        "autoAnswer": "Call-Info:\\; answer-after=0",
        "callerId": "0399999999",
        "phoneCaption": "Invoice 12",
        "monitored": "yes",
        "record": "true",
        "tag": "INV-12",
        "apiKey": KEY,
    }


def test_optional_dial_parameters_are_left_out() -> None:
    client, adapter, _ = make_client(sequence(DIAL_OK))
    client.dial("0383208100", "SIP/101")
    assert set(adapter.seen[0].params) == {"number", "extenOrUniqueId", "apiKey"}


def test_subscribe_strips_tech_and_waits_the_poll_timeout_plus_the_clients() -> None:
    body = {"Data": {}, "seq": 41, "Code": 0}
    client, adapter, _ = make_client(sequence(R(200, body)), timeout=(3.0, 7.0))
    assert client.subscribe(["SIP/400", "410", "PJSIP/420-0000ab"], 40, timeout=25).seq == 41
    (seen,) = adapter.seen
    assert seen.params == {
        "exten": "400,410,420",
        "lastSequenceNumber": "40",
        "timeOut": "25",
        "instanceId": "1",
        "apiKey": KEY,
    }
    assert seen.timeout == (3.0, 32.0)


def test_a_float_timeout_is_connect_and_read() -> None:
    client, adapter, _ = make_client(sequence(R(200, {"seq": 1, "Code": 0})), timeout=2.5)
    client.subscribe(["400"], 0, timeout=10)
    assert adapter.seen[0].timeout == (2.5, 12.5)


@pytest.mark.parametrize("body", [b"", {"Code": 0, "Message": "Recording started"}])
def test_start_and_stop_succeed_on_http_200_with_or_without_an_envelope(body: Any) -> None:
    client, adapter, _ = make_client(sequence(R(200, body)))
    assert client.start_recording("410", agent_login_name="fred", tag="INV-1").code == 0
    assert client.stop_recording("SIP/410-12FA7B", agent_login_name="fred").code == 0
    assert adapter.seen[0].params == {
        "extenOrUniqueId": "410",
        "agentLoginName": "fred",
        "tag": "INV-1",
        "apiKey": KEY,
    }
    assert [s.path.rsplit("/", 1)[-1] for s in adapter.seen] == ["start", "stop"]


def test_answer_and_hangup_parameters() -> None:
    client, adapter, _ = make_client(sequence(OK))
    client.answer("1412750652.496", "SIP/101", answer_string="Alert-Info: Ring Answer")
    client.hangup("1412750652.496")
    assert adapter.seen[0].params == {
        "uniqueId": "1412750652.496",
        "exten": "SIP/101",
        "answerString": "Alert-Info: Ring Answer",
        "apiKey": KEY,
    }
    assert adapter.seen[1].params == {"extenOrUniqueId": "1412750652.496", "apiKey": KEY}


def test_metadata_by_hour_formats_the_date_the_pbx_way() -> None:
    client, adapter, _ = make_client(sequence(R(200, [])))
    assert client.retrieve_metadata_by_hour(dt.date(2021, 9, 4), 7) == []
    assert adapter.seen[0].path == "/njadmin/rest/RecordingAPI/retrieveMetaDataByHour"
    assert adapter.seen[0].params == {"date": "2021/09/04", "hour": "7", "apiKey": KEY}


def test_metadata_keeps_the_pbx_order_and_duplicates() -> None:
    row = {"CallRecordId": "5", "Leg": "2", "Direction": "Outbound"}
    client, _, _ = make_client(sequence(R(200, [row, {**row, "Leg": "1"}, row])))
    assert [leg.leg for leg in client.retrieve_metadata("T")] == [2, 1, 2]


def test_server_time_is_plain_text_and_needs_no_key() -> None:
    client, adapter, _ = make_client(sequence(R(200, "1412750652000\n", {"Content-Type": "text/plain"})))
    assert client.server_time() == 1412750652000
    assert adapter.seen[0].path == "/servicemanager/rest/Time" and adapter.seen[0].params == {}


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "body", "method", "error"),
    [
        (404, b"<html>Not Found</html>", "dial", NotFoundError),
        (404, {"Code": -1, "Message": "No such recording leg"}, "retrieveRecording", NotFoundError),
        (409, {"Code": -2, "Message": "Recording in progress"}, "retrieveRecording", RecordingNotReady),
        (200, {"Code": -2, "Message": "Recording in progress"}, "retrieveRecording", RecordingNotReady),
        (409, {"Code": -1, "Message": "Call is already being recorded"}, "start", ApiError),
        (401, b"", "retrieveMetaData", AuthenticationError),
        (403, {"Code": -1, "Message": "Access denied: 10.0.0.1"}, "dial", AuthenticationError),
        (200, {"Code": -1, "Message": "Invalid apiKey"}, "dial", AuthenticationError),
        (200, {"Code": -1, "Message": "Invalid hash"}, "dial", AuthenticationError),
        (401, {"Code": -1, "Message": "Expired TimeStamp"}, "retrieveMetaData", AuthenticationError),
        (200, {"Code": -1, "Message": "Access denied"}, "hangup", AuthenticationError),
        (200, {"Code": -1, "Message": "A user key may not call subscribe"}, "subscribe", KeyScopeError),
        (403, {"Code": -1, "Message": "User API key: no access to this method"}, "retrieve", KeyScopeError),
        (401, {"Code": -1, "Message": "Invalid user key"}, "dial", AuthenticationError),
        (429, {"Code": -1, "Message": "Too many requests"}, "retrieveMetaDataByHour", RateLimited),
        (500, b"<html>oops</html>", "retrieveMetaData", ServerError),
        (502, {"Code": -1, "Message": "Bad Gateway"}, "dial", ServerError),
        (200, {"Code": -5, "Message": "No such channel"}, "hangup", ApiError),
        (400, {"Code": -1, "Message": "Missing parameter: tag"}, "retrieveMetaData", ApiError),
        (405, b"", "retrieveMetaData", ApiError),
        (200, {"Code": 0}, "retrieveMetaData", ProtocolError),
    ],
)
def test_refusals_map_to_typed_errors(status: int, body: Any, method: str, error: type[NoojeeError]) -> None:
    import json

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    mapped = error_for(status, raw, method)
    assert type(mapped) is error
    if isinstance(body, dict) and "Message" in body:
        assert mapped.pbx_message == body["Message"] and body["Message"] in str(mapped)
        assert mapped.code == body["Code"]


def test_a_negative_code_carries_the_pbx_message() -> None:
    client, _, _ = make_client(sequence(R(200, {"Code": -5, "Message": "No such channel"})))
    with pytest.raises(ApiError, match="No such channel") as refused:
        client.hangup("101")
    assert refused.value.code == -5 and refused.value.method == "hangup"


def test_a_positive_code_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    client, _, _ = make_client(sequence(R(200, {"Code": 3, "Message": "Handset busy, queued"})))
    with caplog.at_level(logging.WARNING, "noojee_django.client"):
        assert client.hangup("101") == Reply(3, "Handset busy, queued")
    assert any("Handset busy" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_html_where_json_is_expected_is_a_protocol_error() -> None:
    client, _, _ = make_client(sequence(R(200, "<html>login page</html>")))
    with pytest.raises(ProtocolError, match="not JSON"):
        client.hangup("101")


def test_a_redirect_is_refused_not_followed_and_names_the_new_address_without_the_key() -> None:
    moved = R(302, "", {"Location": f"https://pbx2.example.com/servicemanager/rest/x?apiKey={KEY}"})
    client, adapter, _ = make_client(sequence(moved, DIAL_OK))

    with pytest.raises(ApiError, match=r"redirects to https://pbx2\.example\.com") as raised:
        client.dial("0383208100", "SIP/101")

    assert KEY not in str(raised.value)
    assert raised.value.http_status == 302
    assert len(adapter.seen) == 1  # the dial was not replayed at the new address


def test_proxies_from_the_environment_are_read_when_the_client_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    client, adapter, _ = make_client(sequence(OK))
    monkeypatch.delenv("HTTPS_PROXY")

    client.hangup("101")

    assert adapter.seen[0].proxies == {"https": "http://proxy.example.com:3128"}


def test_an_unknown_path_is_not_found() -> None:
    client, _, _ = make_client(sequence(HTML_404))
    with pytest.raises(NotFoundError, match="no such method"):
        client.retrieve_metadata("T")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"Code": -1, "Message": "Invalid apiKey"}, AuthenticationError),
        ({"Code": -3, "Message": "Unknown tag"}, ApiError),
        ({"Code": 0, "Message": "OK"}, ProtocolError),
        ("not json", ProtocolError),
        ([{"Leg": "1"}], ProtocolError),
    ],
)
def test_metadata_that_is_not_an_array_of_legs_is_an_error(body: Any, error: type[NoojeeError]) -> None:
    client, _, _ = make_client(sequence(R(200, body)), retry=RetryPolicy(max_attempts=1))
    with pytest.raises(error):
        client.retrieve_metadata("T")


# ---------------------------------------------------------------------------------------------- retries


MUTATING_FAILURES = [
    requests.ConnectTimeout("connect timed out"),
    requests.ConnectionError("connection refused"),
    requests.ReadTimeout("read timed out"),
    R(500, "<html>oops</html>"),
    R(502, {"Code": -1, "Message": "Bad Gateway"}),
    R(200, '{"Code": 0, "Mess'),
    R(200, {"SessionID": 1, "Code": 0}, break_after=5),
]


@pytest.mark.parametrize(
    "failure", MUTATING_FAILURES, ids=lambda f: type(f).__name__ + str(getattr(f, "status", ""))
)
def test_dial_is_never_retried_whatever_failed(failure: Any) -> None:
    client, adapter, sleeps = make_client(sequence(failure, DIAL_OK))
    with pytest.raises((TransportError, ServerError, ProtocolError)):
        client.dial("0383208100", "SIP/101")
    assert adapter.count("dial") == 1 and sleeps == []


@pytest.mark.parametrize("method", ["hangup", "answer", "start", "stop"])
def test_other_mutating_methods_are_never_retried(method: str) -> None:
    client, adapter, _ = make_client(sequence(R(502, "<html/>"), OK))
    call = {
        "hangup": lambda: client.hangup("101"),
        "answer": lambda: client.answer("1.2", "SIP/101"),
        "start": lambda: client.start_recording("101"),
        "stop": lambda: client.stop_recording("101"),
    }[method]
    with pytest.raises(ServerError):
        call()
    assert len(adapter.seen) == 1


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError("reset"),
        requests.ReadTimeout("slow"),
        R(503, "<html/>"),
        R(200, "{broken"),
        R(200, b"[", break_after=0),
    ],
)
def test_reads_are_retried_on_passing_failures(failure: Any) -> None:
    client, adapter, sleeps = make_client(sequence(failure, R(200, [])))
    assert client.retrieve_metadata("T") == []
    assert adapter.count("retrieveMetaData") == 2 and len(sleeps) == 1


def test_reads_give_up_after_max_attempts_with_capped_backoff() -> None:
    policy = RetryPolicy(max_attempts=4, base=1.0, cap=3.0)
    client, adapter, sleeps = make_client(sequence(R(500, "")), retry=policy)
    with pytest.raises(ServerError):
        client.retrieve_metadata("T")
    assert adapter.count("retrieveMetaData") == 4
    bounds = [1.0, 2.0, 3.0]
    assert len(sleeps) == 3 and all(0 <= s <= b for s, b in zip(sleeps, bounds, strict=True))


def test_backoff_is_full_jitter_capped_exponential() -> None:
    policy = RetryPolicy(base=0.25, cap=5.0)
    top = [policy.delay(n, rng=lambda low, high: high) for n in range(8)]
    assert top == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert [policy.delay(n, rng=lambda low, high: low) for n in range(3)] == [0.0, 0.0, 0.0]
    assert all(0 <= policy.delay(3) <= 2.0 for _ in range(200))


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (R(409, {"Code": -2, "Message": "Recording in progress"}), RecordingNotReady),
        (R(429, {"Code": -1, "Message": "Once a minute"}), RateLimited),
    ],
)
def test_errors_that_pass_only_in_minutes_go_back_to_the_caller_at_once(reply: R, error: type) -> None:
    client, adapter, sleeps = make_client(sequence(reply))
    with pytest.raises(error):
        client.download_leg(io.BytesIO(), unique_id="1.2", leg=1)
    assert len(adapter.seen) == 1 and sleeps == []


def test_a_retry_policy_is_validated() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(base=-1)


# ---------------------------------------------------------------------------------------------- auth


def time_reply(counter: list[int]) -> Any:
    def handler(seen: Seen) -> R:
        counter.append(1)
        return R(200, str(1_700_000_000_000 + len(counter)))

    return handler


def test_hash_method_sends_timestamp_and_lower_case_sha256() -> None:
    times: list[int] = []
    client, adapter, _ = make_client(
        routes({"Time": time_reply(times), "retrieveMetaData": [R(200, [])]}), auth="hash"
    )
    client.retrieve_metadata("T")
    client.retrieve_metadata("T")
    assert len(times) == 1
    sent = adapter.seen[1].params
    assert "apiKey" not in sent
    assert sent["timeStamp"] == "1700000000001"
    assert sent["hash"] == hashlib.sha256(f"{KEY}:1700000000001".encode()).hexdigest()


def test_a_hand_computed_hash() -> None:
    # printf 'f863246a-973e-11e6-8784-08002718f5b5:1412750652000' | sha256sum
    expected = "cc3440c7f32400adcf73db0bbc3184061da5f69a8d214de1f7bf94966664bcce"
    assert hash_pair(KEY, 1412750652000) == expected
    assert hash_pair(KEY, "1412750652000") == expected


def test_an_expired_pair_is_renewed_once_and_the_call_resent() -> None:
    times: list[int] = []
    expired = R(200, {"Message": "Expired TimeStamp", "Code": -1})
    client, adapter, _ = make_client(
        routes({"Time": time_reply(times), "dial": [expired, DIAL_OK]}), auth="hash"
    )
    assert client.dial("0383208100", "SIP/101").session_id == 7
    assert len(times) == 2 and adapter.count("dial") == 2
    assert adapter.seen[-1].params["timeStamp"] == "1700000000002"


def test_a_pair_expired_twice_running_is_raised() -> None:
    times: list[int] = []
    expired = R(401, {"Message": "Expired TimeStamp", "Code": -1})
    client, adapter, _ = make_client(
        routes({"Time": time_reply(times), "retrieveMetaData": [expired]}), auth="hash"
    )
    with pytest.raises(AuthenticationError, match="Expired TimeStamp"):
        client.retrieve_metadata("T")
    assert adapter.count("retrieveMetaData") == 2


def test_the_pair_is_renewed_before_its_hour_is_up() -> None:
    times: list[int] = []
    client, _, _ = make_client(
        routes({"Time": time_reply(times), "retrieveMetaData": [R(200, [])]}),
        auth="hash",
        hash_pair_lifetime=0.000001,
    )
    client.retrieve_metadata("T")
    client.retrieve_metadata("T")
    assert len(times) == 2


@pytest.mark.parametrize(
    "refusal", [R(200, {"Code": -1, "Message": "Invalid apiKey"}), R(401, b""), R(403, b"Forbidden")]
)
def test_auto_switches_to_the_hash_method_once_and_remembers(refusal: R) -> None:
    times: list[int] = []

    def dial(seen: Seen) -> R:
        return refusal if "apiKey" in seen.params else DIAL_OK

    client, adapter, _ = make_client(routes({"Time": time_reply(times), "dial": dial}), auth="auto")
    client.dial("0383208100", "SIP/101")
    client.dial("0383208100", "SIP/101")
    assert [("apiKey" in s.params) for s in adapter.seen if s.path.endswith("dial")] == [True, False, False]
    assert client.auth.using_hash and len(times) == 1


def test_auto_gives_up_when_the_hash_is_refused_too() -> None:
    times: list[int] = []
    refused = R(200, {"Code": -1, "Message": "Invalid apiKey"})
    client, adapter, _ = make_client(routes({"Time": time_reply(times), "dial": [refused]}), auth="auto")
    with pytest.raises(AuthenticationError):
        client.dial("0383208100", "SIP/101")
    assert adapter.count("dial") == 2


def test_threads_share_one_hash_pair() -> None:
    times: list[int] = []
    lock = threading.Lock()

    def time_handler(seen: Seen) -> R:
        with lock:
            times.append(1)
        return R(200, "1700000000000")

    client, _, _ = make_client(routes({"Time": time_handler, "retrieveMetaData": [R(200, [])]}), auth="hash")
    threads = [threading.Thread(target=client.retrieve_metadata, args=("T",)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(times) == 1


@pytest.mark.parametrize("mode", ["bearer", ""])
def test_an_unknown_auth_mode_is_a_configuration_error(mode: str) -> None:
    with pytest.raises(ConfigurationError):
        NoojeeClient(BASE, api_key=KEY, auth=mode)


def test_settings_are_validated() -> None:
    for bad in (
        {"timeout": 0},
        {"timeout": (1, 2, 3)},
        {"audio_encoding": "mp3"},
        {"retrieve_recording_selector": "tag"},
        {"pbx_time_zone": "Mars/Olympus"},
        {"recording_api_path": ""},
    ):
        with pytest.raises(ConfigurationError):
            NoojeeClient(BASE, api_key=KEY, **bad)
    with pytest.raises(ConfigurationError):
        NoojeeClient(BASE, api_key="")


# ---------------------------------------------------------------------------------------------- secrets


def test_logs_and_errors_never_show_the_key_or_the_hash(caplog: pytest.LogCaptureFixture) -> None:
    times: list[int] = []
    failing = requests.ConnectionError(f"Max retries exceeded with url: /x?apiKey={KEY}&hash=abc")
    client, _, _ = make_client(
        routes({"Time": time_reply(times), "retrieveMetaData": [R(200, []), R(500, ""), failing]}),
        auth="hash",
        retry=RetryPolicy(max_attempts=2, base=0),
    )
    with caplog.at_level(logging.DEBUG):
        client.retrieve_metadata("T")
        with pytest.raises(TransportError) as failed:
            client.retrieve_metadata("T")
    pair_hash = hash_pair(KEY, 1700000000001)
    texts = [r.getMessage() for r in caplog.records] + [str(failed.value), repr(failed.value), repr(client)]
    assert any("retrieveMetaData" in t and "hash=***" in t and "ms" in t for t in texts)
    for text in texts:
        assert KEY not in text and pair_hash not in text
    # not chained at all: an error reporter walking __context__ would find the key in requests' text
    assert failed.value.__cause__ is None and failed.value.__context__ is None


def test_timeouts_are_their_own_transport_error() -> None:
    client, _, _ = make_client(sequence(requests.ReadTimeout(f"read timed out ?apiKey={KEY}")))
    with pytest.raises(NoojeeTimeout) as failed:
        client.hangup("101")
    assert KEY not in str(failed.value)


# ---------------------------------------------------------------------------------------------- audio


WAV = make_wav(bytes(range(256)) * 40)
B64 = base64.encodebytes(WAV)  # 76-character lines, \n


@pytest.mark.parametrize(
    "body",
    [
        WAV,
        B64,
        B64.replace(b"\n", b"\r\n"),
        base64.b64encode(WAV),
        b'{"Code":0,"Message":"OK","Audio":"' + base64.b64encode(WAV) + b'"}',
    ],
    ids=["raw", "base64-lines", "base64-crlf", "base64-one-line", "json"],
)
@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 20])
def test_download_leg_auto_detects_every_encoding(body: bytes, chunk_size: int) -> None:
    client, adapter, _ = make_client(sequence(R(200, body)))
    out = io.BytesIO()
    info = client.download_leg(out, unique_id="1.2", leg=3, chunk_size=chunk_size)
    assert out.getvalue() == WAV
    assert info.sha256 == hashlib.sha256(WAV).hexdigest() and info.bytes_written == len(WAV)
    assert adapter.seen[0].path == "/njadmin/rest/RecordingAPI/retrieveRecording"
    assert adapter.seen[0].params == {"uniqueId": "1.2", "leg": "3", "apiKey": KEY}


def test_download_leg_by_call_record_id_with_another_method_name() -> None:
    client, adapter, _ = make_client(
        sequence(R(200, B64)),
        retrieve_recording_selector="call_record_id",
        retrieve_recording_method="getRecording",
        recording_api_path="/rest/RecordingAPI/",
    )
    client.download_leg(io.BytesIO(), unique_id="1.2", leg=1, call_record_id=198348)
    assert adapter.seen[0].path == "/rest/RecordingAPI/getRecording"
    assert adapter.seen[0].params == {"callRecordId": "198348", "apiKey": KEY}
    with pytest.raises(ValueError, match="call_record_id"):
        client.download_leg(io.BytesIO(), unique_id="1.2", leg=1)


def test_a_renamed_audio_method_still_tells_in_progress_apart() -> None:
    client, _, _ = make_client(
        sequence(R(409, {"Code": -2, "Message": "Recording in progress"})),
        retrieve_recording_method="getRecording",
    )
    with pytest.raises(RecordingNotReady):
        client.download_leg(io.BytesIO(), unique_id="1.2", leg=1)


def test_a_json_refusal_with_http_200_is_the_typed_error() -> None:
    client, _, _ = make_client(sequence(R(200, {"Code": -2, "Message": "Recording in progress"})))
    with pytest.raises(RecordingNotReady):
        client.download_leg(io.BytesIO(), unique_id="1.2", leg=1)


@pytest.mark.parametrize("encoding", ["base64", "raw"])
def test_a_forced_encoding_refuses_the_other_one(encoding: str) -> None:
    body = WAV if encoding == "base64" else B64
    client, _, _ = make_client(sequence(R(200, body)), audio_encoding=encoding)
    with pytest.raises(InvalidAudioError):
        client.download_leg(io.BytesIO(), unique_id="1.2", leg=1)


def test_json_audio_under_another_field_name() -> None:
    body = b'{"Code":0,"Recording":"' + base64.b64encode(WAV) + b'","Wav":"x"}'
    client, _, _ = make_client(sequence(R(200, body)), audio_json_field="Wav", audio_encoding="json")
    with pytest.raises(InvalidAudioError):  # "x" is not a WAV: the configured field wins
        client.download_leg(io.BytesIO(), unique_id="1.2", leg=1)
    client, _, _ = make_client(sequence(R(200, body)), audio_encoding="json")
    assert client.download_leg(io.BytesIO(), unique_id="1.2", leg=1).bytes_written == len(WAV)


@pytest.mark.parametrize("after", [0, 100, len(B64) - 10])
def test_a_connection_dropped_mid_body_is_a_transport_error_and_not_retried(after: int) -> None:
    client, adapter, _ = make_client(sequence(R(200, B64, break_after=after), R(200, B64)))
    out = io.BytesIO()
    with pytest.raises(TransportError, match="connection broke") as failed:
        client.download_leg(out, unique_id="1.2", leg=1)
    assert len(adapter.seen) == 1
    assert failed.value.__context__ is None  # requests' own error (and its URL) is not kept


def test_failures_before_the_body_are_retried() -> None:
    client, adapter, sleeps = make_client(
        sequence(requests.ConnectionError("refused"), R(502, ""), R(200, B64))
    )
    out = io.BytesIO()
    client.download_leg(out, unique_id="1.2", leg=1)
    assert out.getvalue() == WAV and len(adapter.seen) == 3 and len(sleeps) == 2


def test_a_short_but_well_formed_body_is_invalid_audio() -> None:
    short = base64.b64encode(WAV[: len(WAV) // 2 // 3 * 3])
    client, _, _ = make_client(sequence(R(200, short)))
    with pytest.raises(InvalidAudioError, match="truncated"):
        client.download_leg(io.BytesIO(), unique_id="1.2", leg=1)


def test_a_bad_header_fails_before_anything_is_written() -> None:
    broken = bytearray(WAV)
    broken[0:4] = b"RIFX"
    client, _, _ = make_client(sequence(R(200, base64.b64encode(bytes(broken)))))
    out = io.BytesIO()
    with pytest.raises(InvalidAudioError, match="RIFF"):
        client.download_leg(out, unique_id="1.2", leg=1)
    assert out.getvalue() == b""


# ---------------------------------------------------------------------------------------------- legacy


def make_legacy(handler: Any, **options: Any) -> tuple[LegacyRecordingClient, ScriptedAdapter]:
    adapter = ScriptedAdapter(handler)
    session = requests.Session()
    session.mount("https://", adapter)
    options.setdefault("retry", RetryPolicy(max_attempts=2, base=0))
    return LegacyRecordingClient(BASE, api_key=KEY, session=session, **options), adapter


def test_the_legacy_api_is_get_with_a_method_parameter() -> None:
    client, adapter = make_legacy(
        routes({"start": [R(200, "Recording started")], "stop": [R(200, OK.body)], "retrieve": [R(200, B64)]})
    )
    assert client.start("SIP/410-12FA7B", tag="22") == Reply(0, "Recording started")
    assert client.stop("410").message == "Channel Hungup"
    out = io.BytesIO()
    assert client.retrieve(out, tag="21", username="fred").sha256 == hashlib.sha256(WAV).hexdigest()
    assert [s.method for s in adapter.seen] == ["GET"] * 3
    assert adapter.seen[0].path == "/servicemanager/services/njadmin-api-recording"
    assert adapter.seen[0].params == {
        "method": "start",
        "extenOrUniqueId": "SIP/410-12FA7B",
        "tag": "22",
        "apiKey": KEY,
    }
    assert adapter.seen[2].params == {"method": "retrieve", "tag": "21", "username": "fred", "apiKey": KEY}


def test_legacy_refusals_are_typed_and_start_is_not_retried() -> None:
    client, adapter = make_legacy(
        routes(
            {
                "start": [R(500, "Recording could not start")],
                "retrieveByUniqueId": [R(409, "in progress")],
                "stop": [R(200, {"Code": -1, "Message": "No active call"})],
            }
        )
    )
    with pytest.raises(ServerError, match="could not start"):
        client.start("410")
    with pytest.raises(RecordingNotReady):
        client.retrieve_by_unique_id(io.BytesIO(), unique_id="1.2")
    with pytest.raises(ApiError, match="No active call"):
        client.stop("410")
    assert len(adapter.seen) == 3
