"""The real client over a real socket against a PBX that says anything: typed results or typed errors.

Every method that reads a PBX reply (call control, subscribe, the three metadata methods, ``Time``,
leg audio in each encoding, the deprecated Recording API) meets replies of any status, any content
type, broken framing, any JSON, JSON of the right shape with hostile fields, and bytes that are not
HTTP at all. Whatever happens, the caller sees the method's dataclass or a ``NoojeeError``; and a
method that changes the PBX is sent exactly once, whatever came back.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noojee_django.client import LegacyRecordingClient, NoojeeClient, NoojeeError, RetryPolicy
from noojee_django.client.types import AudioInfo, DialResult, LegMetadata, Reply, SubscribeResult
from tests.hostile_values import json_values, mangled
from tests.hypothesis_profiles import examples
from tests.scripted_pbx import Scripted, ScriptedPbx, scripted_pbx

from .test_audio import make_wav
from .test_parser_properties import CALL_DATA, DIAL, ENTRY, ROW, assert_event, assert_leg

KEY = "scripted-key-0000"
NO_WAIT = RetryPolicy(max_attempts=2, base=0.0, cap=0.0)
MUTATING = {"dial", "hangup", "answer", "start", "stop"}
WAV = make_wav(b"\x01\x00" * 800)


@pytest.fixture(scope="module")
def pbx() -> Iterator[ScriptedPbx]:
    with scripted_pbx() as server:
        yield server


def rest(pbx: ScriptedPbx, **options: Any) -> NoojeeClient:
    return NoojeeClient(pbx.url, api_key=KEY, retry=NO_WAIT, timeout=5, pbx_time_zone="UTC", **options)


def legacy(pbx: ScriptedPbx) -> LegacyRecordingClient:
    return LegacyRecordingClient(pbx.url, api_key=KEY, retry=NO_WAIT, timeout=5)


Call = Callable[[ScriptedPbx], Any]

#: name -> (PBX method scripted, the call, what it returns)
CALLS: dict[str, tuple[str, Call, type]] = {
    "dial": ("dial", lambda p: rest(p).dial("0383208100", "SIP/101", record=True, tag="INV-1"), DialResult),
    "hangup": ("hangup", lambda p: rest(p).hangup("1412750652.496"), Reply),
    "answer": ("answer", lambda p: rest(p).answer("1412750652.496", "SIP/101"), Reply),
    "start": ("start", lambda p: rest(p).start_recording("SIP/101", tag="INV-1"), Reply),
    "stop": ("stop", lambda p: rest(p).stop_recording("SIP/101"), Reply),
    "subscribe": ("subscribe", lambda p: rest(p).subscribe(["SIP/101"], 0, timeout=0), SubscribeResult),
    "metadata": ("retrieveMetaData", lambda p: rest(p).retrieve_metadata("INV-1"), list),
    "metadata_by_unique_id": (
        "retrieveMetaDataByUniqueId",
        lambda p: rest(p).retrieve_metadata_by_unique_id("1412750652.496"),
        list,
    ),
    "metadata_by_hour": (
        "retrieveMetaDataByHour",
        lambda p: rest(p).retrieve_metadata_by_hour(dt.date(2024, 5, 1), 13),
        list,
    ),
    "time": ("Time", lambda p: rest(p).server_time(), int),
    "hash_auth_time": ("Time", lambda p: rest(p, auth="hash").hangup("101"), Reply),
    "legacy_start": ("start", lambda p: legacy(p).start("SIP/101", tag="INV-1"), Reply),
    "legacy_stop": ("stop", lambda p: legacy(p).stop("SIP/101"), Reply),
    "legacy_retrieve": ("retrieve", lambda p: legacy(p).retrieve(io.BytesIO(), tag="INV-1"), AudioInfo),
    "legacy_retrieve_by_unique_id": (
        "retrieveByUniqueId",
        lambda p: legacy(p).retrieve_by_unique_id(io.BytesIO(), unique_id="1412750652.496"),
        AudioInfo,
    ),
    **{
        f"download_{encoding}": (
            "retrieveRecording",
            lambda p, encoding=encoding: rest(p, audio_encoding=encoding).download_leg(
                io.BytesIO(), unique_id="1412750652.496", leg=1
            ),
            AudioInfo,
        )
        for encoding in ("auto", "base64", "raw", "json")
    },
}

SHAPED: dict[str, st.SearchStrategy[Any]] = {
    "dial": mangled(DIAL),
    "hangup": mangled({"Code": 0, "Message": "Channel Hungup"}),
    "subscribe": st.one_of(
        mangled({"Data": {"101": [ENTRY]}, "seq": 29, "Code": 0}),
        mangled(CALL_DATA).map(lambda data: {"Data": {"101": [{**ENTRY, "CallData": data}]}, "seq": 3}),
    ),
    "metadata": st.lists(mangled(ROW), max_size=3),
    "audio": st.one_of(
        st.just(WAV),
        st.just(base64.encodebytes(WAV)),
        st.binary(max_size=40).map(lambda tail: base64.b64encode(WAV[:60]) + tail),
        mangled({"Code": 0, "Message": "OK", "Audio": base64.b64encode(WAV).decode()}).map(
            lambda body: json.dumps(body).encode()
        ),
    ),
}


def shaped_for(method: str) -> st.SearchStrategy[bytes]:
    key = {"retrieveRecording": "audio", "retrieve": "audio", "retrieveByUniqueId": "audio"}.get(
        method, method
    )
    key = "metadata" if key.startswith("retrieveMetaData") else key
    strategy = SHAPED.get(key, SHAPED["hangup"])
    return strategy.map(lambda body: body if isinstance(body, bytes) else json.dumps(body).encode())


RAW_REPLIES = [
    b"",
    b"not http at all\r\n\r\n",
    b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"Code":',
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b'HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n{"a"',
    b"HTTP/1.1 999 Whatever\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]extra bytes",
]

replies = st.one_of(
    st.builds(
        Scripted,
        status=st.sampled_from(
            [200, 200, 200, 201, 204, 302, 400, 401, 403, 404, 409, 429, 500, 502, 503, 599]
        ),
        body=st.one_of(
            st.binary(max_size=200),
            json_values.map(lambda value: json.dumps(value).encode()),
            st.sampled_from([b"[" * 100_000, b'{"Code": "-\\u00b2"}', b"\xff\xfe{", b"NaN", b"1" * 5000]),
        ),
        content_type=st.sampled_from(
            [
                "application/json",
                "text/plain; charset=utf-8",
                "text/plain; charset=no-such-charset",
                "text/plain; charset=utf-16",
                "text/html",
                "audio/wav",
            ]
        ),
        headers=st.sampled_from(
            [{}, {}, {"Content-Encoding": "gzip"}, {"Content-Encoding": "br"}, {"Content-Length": "100000"}]
        ),
    ),
    st.builds(Scripted, raw=st.one_of(st.sampled_from(RAW_REPLIES), st.binary(max_size=100))),
)


def check_result(result: Any, expected: type) -> None:
    assert isinstance(result, expected)
    if isinstance(result, SubscribeResult):
        for event in result.events:
            assert_event(event)
    if isinstance(result, list):
        for leg in result:
            assert isinstance(leg, LegMetadata)
            assert_leg(leg)
    if isinstance(result, int) and expected is int:
        assert 0 <= result < 10**18  # the PBX clock in epoch ms
    if isinstance(result, Reply):
        assert "\x00" not in result.message


def run(pbx: ScriptedPbx, name: str, reply: Scripted) -> None:
    method, call, expected = CALLS[name]
    pbx.script(method, reply)
    pbx.script("Time", reply if method == "Time" else Scripted(200, b"1700000000000", "text/plain"))
    pbx.requests.clear()
    try:
        result = call(pbx)
    except NoojeeError as exc:
        assert str(exc)
        assert KEY not in str(exc)
    else:
        check_result(result, expected)
    if name in MUTATING or name.startswith("legacy_st"):
        assert pbx.requests[method] == 1, "a method that changes the PBX was resent"


@settings(
    max_examples=examples(400),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), name=st.sampled_from(sorted(CALLS)))
def test_any_reply_to_any_method_is_its_type_or_a_noojee_error(
    pbx: ScriptedPbx, data: st.DataObject, name: str
) -> None:
    method = CALLS[name][0]
    reply = data.draw(
        st.one_of(
            replies,
            st.builds(Scripted, body=shaped_for(method)),
            st.builds(Scripted, body=shaped_for(method), status=st.sampled_from([400, 404, 409, 500])),
        )
    )
    run(pbx, name, reply)


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        # each of these used to escape the client as a builtin exception
        pytest.param("time", Scripted(200, "²".encode(), "text/plain; charset=utf-8"), id="time-superscript"),
        pytest.param("time", Scripted(200, b"1" * 5000, "text/plain"), id="time-5000-digits"),
        pytest.param("hash_auth_time", Scripted(200, "²²".encode(), "text/plain; charset=utf-8"), id="hash"),
        pytest.param("metadata", Scripted(200, b"[" * 100_000), id="metadata-recursion"),
        pytest.param("dial", Scripted(200, b'{"a":' + b"[" * 100_000), id="dial-recursion"),
        pytest.param("hangup", Scripted(500, b"[" * 100_000), id="error-body-recursion"),
        pytest.param(
            "dial", Scripted(400, b'{"Code": "-\\u00b2", "Message": "x"}'), id="error-code-superscript"
        ),
        pytest.param("download_json", Scripted(200, b'{"Code": "-\\u00b2"}'), id="audio-code-superscript"),
        pytest.param("download_auto", Scripted(200, b'{"Audio":' + b"[" * 100_000), id="audio-recursion"),
        pytest.param("dial", Scripted(200, b'{"SessionID": 1e300, "Code": 0}'), id="dial-session-1e300"),
    ],
)
def test_replies_that_used_to_escape_as_builtin_errors_are_typed(
    pbx: ScriptedPbx, name: str, reply: Scripted
) -> None:
    method, call, _ = CALLS[name]
    pbx.script(method, reply)
    pbx.script("Time", reply if method == "Time" else Scripted(200, b"1700000000000", "text/plain"))
    with pytest.raises(NoojeeError):
        call(pbx)


def test_a_time_reply_in_an_unknown_charset_is_read_as_utf8(pbx: ScriptedPbx) -> None:
    pbx.script("Time", Scripted(200, b"1700000000000\n", "text/plain; charset=no-such-charset"))
    assert rest(pbx).server_time() == 1_700_000_000_000


def test_well_formed_metadata_still_parses_over_the_wire(pbx: ScriptedPbx) -> None:
    """The property above must not pass by refusing everything: good replies still come through."""
    pbx.script("retrieveMetaData", Scripted(200, json.dumps([ROW, {**ROW, "CallRecordId": 198349}]).encode()))
    legs = rest(pbx).retrieve_metadata("1234")
    assert [leg.call_record_id for leg in legs] == [198348, 198349]
