"""Every reply parser, fed anything: a typed result within bounds, or a ``ProtocolError``, nothing else.

"Nothing else" is the point: a ``KeyError``, ``ValueError``, ``OverflowError`` or ``RecursionError`` from
deep inside a parser escapes every ``except NoojeeError`` of the services and becomes a 500 or a dead
task. And "within bounds" is the other half: a parsed id that does not fit its database column fails
later, further from its cause.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zoneinfo
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from noojee_django.client.audio import write_audio
from noojee_django.client.errors import InvalidAudioError, NoojeeError, ProtocolError
from noojee_django.client.parsing import (
    INT32_MAX,
    INT64_MAX,
    as_bool,
    as_int,
    as_str,
    parse_call_event,
    parse_dial,
    parse_metadata,
    parse_pbx_datetime,
    parse_reply,
    parse_subscribe,
)
from noojee_django.client.transport import error_for
from noojee_django.client.types import CallEvent, Direction, LegMetadata
from tests.hostile_values import UNICODE_DIGITS, field_values, json_values, mangled, nested
from tests.hypothesis_profiles import examples

from .test_audio import make_wav

MELBOURNE = zoneinfo.ZoneInfo("Australia/Melbourne")
PROPERTY = settings(max_examples=examples(300), deadline=None)

ROW = {
    "Source": "400",
    "Leg": "1",
    "Start": "2014-02-13 17:06:52.0",
    "Tag": "1234",
    "Duration": "4",
    "Username": "Fred",
    "CallRecordId": "198348",
    "UniqueId": "1392271611.238",
    "DID": "internal",
    "Direction": "2",
    "Destination": "410",
    "callend": "2014-02-13 17:06:56.0",
}
CALL_DATA = {
    "canAnswer": True,
    "callerId": "400",
    "uniqueCallId": "1412750652.496",
    "callStartTime": "2014/10/08 17:24:12",
    "isQueueCall": False,
    "isClickToDialCall": True,
    "inbound": False,
    "status": "Ringing",
    "otherPartyCallerId": "0383208100",
    "connectedCallerIdNum": "0383208100",
    "outboundDestination": "0383208100",
    "seq": "3",
}
ENTRY = {"CallData": CALL_DATA, "CallID": "10", "Code": 0}
DIAL = {"SessionID": "7", "Message": "Originate successfully queued", "Code": "0"}


def only_protocol_errors(parse: Callable[[], Any]) -> Any:
    """The parser's result, or ``None`` when it refused with a ``ProtocolError``; anything else fails."""
    try:
        return parse()
    except ProtocolError:
        return None


def assert_text(value: Any) -> None:
    assert isinstance(value, str)
    assert "\x00" not in value


def assert_date(value: Any) -> None:
    assert value is None or (isinstance(value, dt.datetime) and value.tzinfo is not None)
    if value is not None:
        value.astimezone(dt.UTC)  # storable: converting to UTC stays within datetime's range
        assert 1970 <= value.year <= 9000


def assert_leg(leg: LegMetadata) -> None:
    assert 0 <= leg.call_record_id <= INT64_MAX
    assert 0 <= leg.leg <= INT32_MAX
    assert -INT64_MAX - 1 <= leg.duration <= INT32_MAX
    assert isinstance(leg.direction, Direction)
    for text in (leg.unique_id, leg.tag, leg.source, leg.destination, leg.did, leg.username):
        assert_text(text)
    assert_date(leg.start)
    assert_date(leg.call_end)


def assert_event(event: CallEvent) -> None:
    assert event.call_id is None or -INT64_MAX - 1 <= event.call_id <= INT64_MAX
    assert -INT64_MAX - 1 <= event.code <= INT64_MAX
    for text in (event.unique_call_id, event.status, event.caller_id):
        assert_text(text)
    for optional in (event.other_party_caller_id, event.connected_caller_id_num, event.outbound_destination):
        assert optional is None or "\x00" not in optional
    assert event.can_answer in (None, True, False) and event.inbound in (None, True, False)
    assert_date(event.call_start_time)


# ---------------------------------------------------------------------------------------------- scalars


@PROPERTY
@given(field_values)
@example(1e300)
@example(float("nan"))
@example("٣")
@example("9" * 19)
def test_scalar_readers_return_their_type_or_refuse(value: Any) -> None:
    number = only_protocol_errors(lambda: as_int(value, "field"))
    assert number is None or (type(number) is int and -INT64_MAX - 1 <= number <= INT64_MAX)
    text = only_protocol_errors(lambda: as_str(value))
    assert text is None or "\x00" not in text
    assert only_protocol_errors(lambda: as_bool(value)) in (None, True, False)
    assert_date(only_protocol_errors(lambda: parse_pbx_datetime(value, MELBOURNE)))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(10**5000, id="str-raises-ValueError"),  # Python's 4300-digit limit
        pytest.param({"deep": 10**5000}, id="str-of-container-raises-ValueError"),
        pytest.param(nested(5000), id="str-recurses-past-the-limit"),
    ],
)
def test_values_whose_str_fails_are_refused_in_words(value: Any) -> None:
    readers = [lambda: as_int(value, "Leg"), lambda: as_str(value)]
    if not isinstance(value, int):
        readers.append(lambda: as_bool(value))  # an int of any size is a fine boolean
    for read in readers:
        with pytest.raises(ProtocolError) as refused:
            read()
        assert len(str(refused.value)) < 200


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_digits_other_than_ascii_are_not_numbers(digits: str) -> None:
    with pytest.raises(ProtocolError):
        as_int(digits, "CallRecordId")


@pytest.mark.parametrize(
    "text",
    ["0001-01-01 00:00:00", "9999-12-31 23:59:59", "Fri Dec 31 23:59:59 AEDT 9999", "1969-12-31 10:00:00"],
)
def test_dates_a_pbx_clock_cannot_give_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError, match="implausible"):
        parse_pbx_datetime(text, MELBOURNE)


def test_text_fields_lose_nul_characters() -> None:
    assert as_str("14127\x0050652.496") == "1412750652.496"


# ---------------------------------------------------------------------------------------------- envelopes


@PROPERTY
@given(st.one_of(json_values, mangled(DIAL, ("Data",))))
@example({"SessionID": 1e300, "Code": 0})  # a float SessionID no BigIntegerField holds
@example({"SessionID": 2**63, "Code": 0})
@example({"SessionID": "7", "Code": "-٣"})
@example({"SessionID": "7", "Message": {"a": 10**5000}})
def test_dial_and_reply_envelopes_parse_or_refuse(body: Any) -> None:
    dial = only_protocol_errors(lambda: parse_dial(body))
    if dial is not None:
        assert -INT64_MAX - 1 <= dial.session_id <= INT64_MAX
        assert_text(dial.message)
    reply = only_protocol_errors(lambda: parse_reply(body))
    if reply is not None:
        assert -INT64_MAX - 1 <= reply.code <= INT64_MAX
        assert_text(reply.message)


# ---------------------------------------------------------------------------------------------- subscribe

subscribe_bodies = st.one_of(
    json_values,
    st.builds(
        lambda entries, seq: {"Data": {"101": entries}, **seq},
        st.lists(
            st.one_of(mangled(ENTRY), mangled(CALL_DATA).map(lambda data: {**ENTRY, "CallData": data})),
            max_size=3,
        ),
        st.one_of(st.just({"seq": 5}), st.just({}), field_values.map(lambda seq: {"seq": seq})),
    ),
    mangled({"Data": {"101": [ENTRY]}, "seq": 29, "Code": 0}),
)


@PROPERTY
@given(subscribe_bodies)
@example({"Data": {"101": [{**ENTRY, "CallID": 10**30}]}, "seq": 1})
@example({"Data": {"101": [ENTRY]}, "seq": 1e300})
@example({"Data": {"101": [{**ENTRY, "CallData": {**CALL_DATA, "uniqueCallId": "1\x00"}}]}, "seq": 1})
@example({"Data": {"101": [{**ENTRY, "CallData": {**CALL_DATA, "callStartTime": "0001-01-01 00:00:00"}}]}})
def test_subscribe_replies_parse_or_refuse(body: Any) -> None:
    result = only_protocol_errors(lambda: parse_subscribe(body, MELBOURNE))
    if result is not None:
        assert -INT64_MAX - 1 <= result.seq <= INT64_MAX
        for event in result.events:
            assert_event(event)
    event = only_protocol_errors(lambda: parse_call_event("101", body, MELBOURNE))
    if event is not None:
        assert_event(event)


# ---------------------------------------------------------------------------------------------- metadata

metadata_bodies = st.one_of(
    json_values,
    st.lists(mangled(ROW, ("CallEnd", "callEnd")), max_size=4),
    st.lists(st.one_of(field_values, st.just(ROW)), max_size=4),
)


@PROPERTY
@given(metadata_bodies)
@example([{**ROW, "CallRecordId": 10**30}])  # used to reach the BigIntegerField and overflow there
@example([{**ROW, "Leg": -1}])  # used to break PositiveIntegerField's check, then a DoesNotExist
@example([{**ROW, "Duration": 2**40}])
@example([{**ROW, "CallRecordId": "١٩٨٣٤٨"}])
@example([{**ROW, "Start": "Tue Sep 14 15:03:30 AEST 0001"}])  # UTC of it is before year 1
@example([{**ROW, "UniqueId": ["a"]}])
@example([{**ROW, "Tag": 10**5000}])
def test_metadata_parses_into_storable_legs_or_refuses(body: Any) -> None:
    legs = only_protocol_errors(lambda: parse_metadata(body, MELBOURNE))
    if legs is not None:
        assert len(legs) == len(body)
        for leg in legs:
            assert_leg(leg)


# ---------------------------------------------------------------------------------------------- refusals

bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(["Code", "Message", "Data"]), field_values, max_size=3),
    st.sampled_from(
        [b"[" * 100_000, b'{"Code": "-\\u00b2"}', b'{"Code": -1, "Message": ' + b"[" * 5000 + b"}"]
    ),
)


@PROPERTY
@given(
    status=st.one_of(
        st.none(), st.sampled_from([200, 400, 401, 403, 404, 409, 429, 500, 502]), st.integers()
    ),
    body=bodies,
    method=st.sampled_from(["dial", "retrieveRecording", "subscribe", "retrieveMetaData"]),
)
@example(status=400, body=b'{"Code": "-\\u00b2"}', method="dial")  # "-²".isdigit(), then int() raised
@example(status=500, body=b"[" * 100_000, method="dial")  # json.loads raised RecursionError
@example(status=200, body={"Code": -1, "Message": {"deep": 10**5000}}, method="dial")
@example(status=200, body={"Code": "-" + "9" * 5000}, method="dial")
def test_any_refusal_becomes_a_typed_error_without_raising(status: Any, body: Any, method: str) -> None:
    error = error_for(status, body, method, secrets=("secret-key",))
    assert isinstance(error, NoojeeError)
    assert str(error) and len(str(error)) < 2000
    assert "\x00" not in str(error)  # it is stored in error columns, which PostgreSQL guards
    assert error.code is None or -INT64_MAX - 1 <= error.code <= INT64_MAX


# ---------------------------------------------------------------------------------------------- audio

WAV = make_wav(b"\x01\x00" * 400)

audio_bodies = st.one_of(
    st.binary(max_size=300),
    st.just(WAV),
    st.binary(max_size=64).map(lambda tail: WAV[:44] + tail),
    json_values.map(lambda value: json.dumps(value).encode()),
    mangled({"Code": 0, "Message": "OK", "Audio": "UklGRg=="}, ("Recording", "data")).map(
        lambda envelope: json.dumps(envelope).encode()
    ),
    st.sampled_from(
        [
            b'{"Audio":' + b"[" * 100_000,
            b'{"Code": "-\\u00b2", "Audio": "UklGRg=="}',
            b'{"Code": -2, "Message": ' + b"[" * 5000 + b"}",
            b'{"Audio": "\\u0663\\u0663\\u0663\\u0663"}',
        ]
    ),
)


@settings(max_examples=examples(300), deadline=None)
@given(
    body=audio_bodies,
    encoding=st.sampled_from(["auto", "base64", "raw", "json"]),
    chunk=st.integers(min_value=1, max_value=97),
    refusals_typed=st.booleans(),
)
@example(
    body=b'{"Audio":' + b"[" * 100_000, encoding="auto", chunk=50, refusals_typed=False
)  # RecursionError
@example(body=b'{"Code": "-\\u00b2"}', encoding="json", chunk=5, refusals_typed=False)  # int("-²")
def test_any_audio_body_is_a_verified_wav_or_a_typed_error(
    body: bytes, encoding: str, chunk: int, refusals_typed: bool
) -> None:
    out = io.BytesIO()
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    json_error = (lambda parsed: error_for(200, parsed, "retrieveRecording")) if refusals_typed else None
    try:
        info = write_audio(chunks, out, encoding=encoding, json_error=json_error)
    except NoojeeError as exc:
        assert refusals_typed or isinstance(exc, InvalidAudioError)
        return
    assert info.bytes_written == len(out.getvalue())
    assert out.getvalue().startswith(b"RIFF")
