from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from noojee_django.client.errors import ProtocolError
from noojee_django.client.parsing import (
    parse_dial,
    parse_metadata,
    parse_pbx_datetime,
    parse_reply,
    parse_subscribe,
)
from noojee_django.client.types import CallStatus, Direction

MELBOURNE = zoneinfo.ZoneInfo("Australia/Melbourne")


def test_session_id_is_read_from_an_int_or_a_numeric_string() -> None:
    assert parse_dial({"SessionID": 7, "Message": "queued", "Code": 0}).session_id == 7
    assert parse_dial({"SessionID": "7", "Message": "queued", "Code": "0"}).session_id == 7
    with pytest.raises(ProtocolError):
        parse_dial({"SessionID": "seven", "Code": 0})
    with pytest.raises(ProtocolError):
        parse_dial({"Code": 0})


def test_both_pbx_date_formats_become_aware_datetimes_in_the_pbx_zone() -> None:
    expected = dt.datetime(2014, 2, 13, 17, 6, 52, tzinfo=MELBOURNE)
    assert parse_pbx_datetime("2014-02-13 17:06:52.0", MELBOURNE) == expected
    java = parse_pbx_datetime("Tue Sep 14 15:03:30 AEST 2021", MELBOURNE)
    assert java == dt.datetime(2021, 9, 14, 15, 3, 30, tzinfo=MELBOURNE)
    assert parse_pbx_datetime("2014/10/08 17:24:12", MELBOURNE) == dt.datetime(
        2014, 10, 8, 17, 24, 12, tzinfo=MELBOURNE
    )
    assert parse_pbx_datetime("", MELBOURNE) is None
    with pytest.raises(ProtocolError):
        parse_pbx_datetime("yesterday", MELBOURNE)


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
}


def test_metadata_rows_become_typed_legs() -> None:
    (leg,) = parse_metadata([ROW], MELBOURNE)
    assert leg.call_record_id == 198348 and leg.leg == 1 and leg.duration == 4
    assert leg.direction is Direction.INTERNAL
    assert leg.start is not None and leg.start.tzinfo is MELBOURNE
    assert leg.tag == "1234" and leg.username == "Fred"


@pytest.mark.parametrize(
    ("raw", "direction"),
    [
        ("0", Direction.INBOUND),
        ("1", Direction.OUTBOUND),
        ("Internal", Direction.INTERNAL),
        ("?", Direction.UNKNOWN),
    ],
)
def test_directions_are_normalised_from_numbers_and_words(raw: str, direction: Direction) -> None:
    (leg,) = parse_metadata([{**ROW, "Direction": raw}], MELBOURNE)
    assert leg.direction is direction


def test_hourly_rows_read_callend_and_word_dates() -> None:
    row = {
        **ROW,
        "Start": "Tue Sep 14 15:03:30 AEST 2021",
        "callend": "Tue Sep 14 15:04:30 AEST 2021",
        "Tag": "",
    }
    (leg,) = parse_metadata([row], MELBOURNE)
    assert leg.call_end is not None and leg.start is not None
    assert (leg.call_end - leg.start).total_seconds() == 60


@pytest.mark.parametrize(
    "body", [{"Code": -1, "Message": "x"}, "[]", [1], [{"Leg": "1"}], [{**ROW, "Leg": "one"}]]
)
def test_metadata_of_the_wrong_shape_is_a_protocol_error(body: Any) -> None:
    with pytest.raises(ProtocolError):
        parse_metadata(body, MELBOURNE)


def test_subscribe_keeps_unknown_statuses_and_newer_fields() -> None:
    body = {
        "Data": {
            "410": [
                {
                    "CallData": {
                        "canAnswer": True,
                        "callerId": "400",
                        "uniqueCallId": "1412750652.496",
                        "callStartTime": "",
                        "isQueueCall": False,
                        "isClickToDialCall": False,
                        "inbound": True,
                        "status": "Ringing",
                    },
                    "CallID": 10,
                    "Code": 0,
                },
                {
                    "CallData": {
                        "uniqueCallId": "1412750652.497",
                        "status": "Parked Somewhere",
                        "otherPartyCallerId": "0383208100",
                        "connectedCallerIdNum": "0383208100",
                        "outboundDestination": "0383208100",
                        "callStartTime": "2014/10/08 17:24:12",
                    },
                    "CallID": "11",
                    "Code": 0,
                },
            ]
        },
        "seq": 29,
        "Code": 0,
    }
    result = parse_subscribe(body, MELBOURNE)
    assert result.seq == 29
    ringing, unknown = result.events
    assert ringing.status == CallStatus.RINGING and ringing.can_answer is True and ringing.is_known_status
    assert ringing.call_start_time is None
    assert unknown.status == "Parked Somewhere" and not unknown.is_known_status
    assert unknown.can_answer is None  # newer servers may omit it
    assert unknown.other_party_caller_id == "0383208100" and unknown.call_id == 11
    assert unknown.call_start_time == dt.datetime(2014, 10, 8, 17, 24, 12, tzinfo=MELBOURNE)


def test_an_unreadable_event_is_left_out_and_the_rest_of_the_reply_stands() -> None:
    good = {"CallData": {"uniqueCallId": "1.2", "status": "Ringing"}, "CallID": 1, "Code": 0}
    body = {
        "Data": {"410": [{"CallData": "not an object"}, good], "411": "not a list", "412": [good]},
        "seq": 30,
        "Code": 0,
    }

    result = parse_subscribe(body, MELBOURNE)

    assert result.seq == 30
    assert [(e.extension, e.unique_call_id) for e in result.events] == [("410", "1.2"), ("412", "1.2")]
    assert len(result.unreadable) == 2
    assert "CallData is not an object" in result.unreadable[0]
    assert "not a list" in result.unreadable[1]


def test_a_poll_that_timed_out_may_omit_data() -> None:
    assert parse_subscribe({"seq": 5, "Code": 0}, MELBOURNE).events == []
    assert parse_subscribe({"Data": {}, "seq": "5", "Code": 0}, MELBOURNE).seq == 5
    with pytest.raises(ProtocolError):
        parse_subscribe({"Data": {}, "Code": 0}, MELBOURNE)


def test_an_empty_body_is_a_successful_reply() -> None:
    assert parse_reply(None).code == 0
    assert parse_reply({"Code": 2, "Message": "notice"}).code == 2
