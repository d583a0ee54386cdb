"""Turning the PBX's loosely typed JSON into the dataclasses of :mod:`.types`.

Every function raises :class:`~.errors.ProtocolError` for a reply it cannot read, never a
``KeyError`` or ``ValueError`` from deep inside.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import ProtocolError
from .types import CallEvent, CallStatus, DialResult, Direction, LegMetadata, Reply, SubscribeResult

_DIRECTIONS = {
    "0": Direction.INBOUND,
    "1": Direction.OUTBOUND,
    "2": Direction.INTERNAL,
    "inbound": Direction.INBOUND,
    "outbound": Direction.OUTBOUND,
    "internal": Direction.INTERNAL,
}
# "Tue Sep 14 15:03:30 AEST 2021": the zone abbreviation is ambiguous; the PBX time zone decides.
_JAVA_DATE = re.compile(r"^\w{3} (\w{3}) +([0-9]{1,2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:\S+ )?([0-9]{4})$")
#: Years a PBX date may have: outside them it is a broken clock, and converting it to UTC for the
#: database, or adding a duration to it, could leave the range of ``datetime``.
_YEARS = range(1970, 9001)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_KNOWN_STATUSES = {s.value: s for s in CallStatus}


#: The widest integer any field may carry: the database keeps ids in signed 64-bit columns.
INT64_MAX = 2**63 - 1
#: Counts and durations fit a signed 32-bit column (a leg of 2**31 seconds lasts 68 years).
INT32_MAX = 2**31 - 1
_INT_TEXT = re.compile(r"\s*-?[0-9]{1,18}\s*")  # ASCII digits: int() would also take "٣"


def preview(value: Any, limit: int = 40) -> str:
    """A short description of a value for an error message, safe for any value the PBX can send.

    ``str()`` of a reply fragment can itself fail (an int beyond 4300 digits) or recurse without end
    (a deeply nested array), and would quote a whole megabyte; only strings and numbers are quoted.
    """
    if isinstance(value, str):
        return repr(value[:limit])
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 64 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return repr(value)
    return f"a {type(value).__name__}"


def as_int(value: Any, field: str, *, minimum: int = -INT64_MAX - 1, maximum: int = INT64_MAX) -> int:
    """An int from an int or a numeric string (the PBX sends both), within ``[minimum, maximum]``.

    The bounds keep a hostile or broken reply from reaching a database column it does not fit.
    """
    if isinstance(value, bool):
        raise ProtocolError(f"field {field!r} is a boolean, not a number")
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None:
        raise ProtocolError(f"field {field!r} is not an integer: {preview(value)}")
    if not minimum <= number <= maximum:
        raise ProtocolError(f"field {field!r} is out of range: {preview(number)}")
    return number


def as_str(value: Any) -> str:
    """A text field; NUL characters dropped (no PBX field means one, and PostgreSQL cannot store one)."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        raise ProtocolError(f"expected a string, got {preview(value)}")
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).replace("\x00", "")
    raise ProtocolError(f"expected a string, got {type(value).__name__}")


def as_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    if isinstance(value, int):
        return bool(value)
    raise ProtocolError(f"expected a boolean, got {preview(value, 20)}")


def load_json(content: bytes | str) -> Any:
    """A reply body as JSON; :class:`ProtocolError` for anything that is not (nesting too deep too)."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        raise ProtocolError("the reply is not JSON") from None


def parse_pbx_datetime(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """Both date formats the PBX uses, as aware datetimes in the PBX's time zone; ``""`` -> ``None``."""
    text = as_str(value).strip()
    if not text:
        return None
    parsed = _read_date(text[:64], tz)
    if parsed is None:
        raise ProtocolError(f"unreadable PBX date {text[:40]!r}")
    if parsed.year not in _YEARS:
        raise ProtocolError(f"implausible PBX date {text[:40]!r}")
    return parsed


def _read_date(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    match = _JAVA_DATE.match(text)
    if match and match.group(1) in _MONTHS:
        month = _MONTHS[match.group(1)]
        day, hour, minute, second, year = (int(match.group(i)) for i in (2, 3, 4, 5, 6))
        try:
            return dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError:
            return None
    return None


def parse_direction(value: Any) -> Direction:
    return _DIRECTIONS.get(as_str(value).strip().lower(), Direction.UNKNOWN)


def _code(body: Mapping[str, Any]) -> int | None:
    if "Code" not in body:
        return None
    return as_int(body["Code"], "Code")


def parse_reply(body: Any) -> Reply:
    """The ``{Code, Message}`` envelope; an empty body (HTTP 200, nothing said) is success."""
    if body is None or body == "":
        return Reply(0, "")
    if not isinstance(body, Mapping):
        raise ProtocolError("expected a JSON object with Code and Message")
    code = _code(body)
    return Reply(0 if code is None else code, as_str(body.get("Message")))


def parse_dial(body: Any) -> DialResult:
    if not isinstance(body, Mapping):
        raise ProtocolError("the dial reply is not a JSON object")
    reply = parse_reply(body)
    if "SessionID" not in body:
        raise ProtocolError("the dial reply has no SessionID")
    return DialResult(
        session_id=as_int(body["SessionID"], "SessionID"), code=reply.code, message=reply.message
    )


def _optional_str(value: Any) -> str | None:
    """Fields only newer servers send: ``None`` tells "not sent" from "sent empty"."""
    return None if value is None else as_str(value)


def parse_call_event(extension: str, entry: Any, tz: dt.tzinfo) -> CallEvent:
    if not isinstance(entry, Mapping):
        raise ProtocolError("a subscribe event is not an object")
    data = entry.get("CallData", {})
    if not isinstance(data, Mapping):
        raise ProtocolError("CallData is not an object")
    status = as_str(data.get("status"))
    call_id = entry.get("CallID")
    return CallEvent(
        extension=extension,
        call_id=None if call_id in (None, "") else as_int(call_id, "CallID"),
        code=0 if entry.get("Code") in (None, "") else as_int(entry.get("Code"), "Code"),
        unique_call_id=as_str(data.get("uniqueCallId")),
        status=_KNOWN_STATUSES.get(status, status),
        caller_id=as_str(data.get("callerId")),
        can_answer=as_bool(data.get("canAnswer")),
        call_start_time=parse_pbx_datetime(data.get("callStartTime"), tz),
        is_queue_call=bool(as_bool(data.get("isQueueCall"))),
        is_click_to_dial_call=bool(as_bool(data.get("isClickToDialCall"))),
        inbound=as_bool(data.get("inbound")),
        other_party_caller_id=_optional_str(data.get("otherPartyCallerId")),
        connected_caller_id_num=_optional_str(data.get("connectedCallerIdNum")),
        outbound_destination=_optional_str(data.get("outboundDestination")),
        raw=dict(data),
    )


def parse_subscribe(body: Any, tz: dt.tzinfo) -> SubscribeResult:
    if not isinstance(body, Mapping):
        raise ProtocolError("the subscribe reply is not a JSON object")
    data = body.get("Data") or {}
    if not isinstance(data, Mapping):
        raise ProtocolError("the subscribe reply's Data is not an object")
    events: list[CallEvent] = []
    inner_seqs: list[int] = []
    unreadable: list[str] = []
    for extension, entries in data.items():
        if entries is None:
            continue
        if not isinstance(entries, list):
            unreadable.append(f"events of extension {preview(extension, 20)} are not a list")
            continue
        for entry in entries:
            try:
                event = parse_call_event(str(extension), entry, tz)
                if event.raw.get("seq") not in (None, ""):
                    inner_seqs.append(as_int(event.raw["seq"], "CallData.seq"))
            except ProtocolError as exc:
                unreadable.append(f"extension {preview(extension, 20)}: {exc.message}")
                continue
            events.append(event)
    seq_value = body.get("seq")
    if seq_value is not None:
        seq = as_int(seq_value, "seq")
    elif inner_seqs:
        seq = max(inner_seqs)  # the wiki's prose puts it in each CallData
    else:
        raise ProtocolError("the subscribe reply has no seq")
    return SubscribeResult(seq=seq, events=events, unreadable=tuple(unreadable))


def _first(row: Mapping[str, Any], *names: str) -> Any:
    return next((row[name] for name in names if name in row), None)


def parse_metadata(body: Any, tz: dt.tzinfo) -> list[LegMetadata]:
    """Rows in the PBX's order; duplicates kept (the service layer upserts on ``CallRecordId``)."""
    if not isinstance(body, list):
        raise ProtocolError("recording metadata is not a JSON array")
    legs = []
    for row in body:
        if not isinstance(row, Mapping):
            raise ProtocolError("a recording metadata row is not an object")
        try:
            call_record_id, leg = row["CallRecordId"], row["Leg"]
        except KeyError as exc:
            raise ProtocolError(f"a recording metadata row has no {exc.args[0]}") from None
        duration = row.get("Duration")
        legs.append(
            LegMetadata(
                call_record_id=as_int(call_record_id, "CallRecordId", minimum=0),
                leg=as_int(leg, "Leg", minimum=0, maximum=INT32_MAX),
                unique_id=as_str(row.get("UniqueId")),
                tag=as_str(row.get("Tag")),
                source=as_str(row.get("Source")),
                destination=as_str(row.get("Destination")),
                did=as_str(row.get("DID")),
                direction=parse_direction(row.get("Direction")),
                username=as_str(row.get("Username")),
                start=parse_pbx_datetime(row.get("Start"), tz),
                duration=0 if duration in (None, "") else as_int(duration, "Duration", maximum=INT32_MAX),
                call_end=parse_pbx_datetime(_first(row, "callend", "CallEnd", "callEnd"), tz),
                raw=dict(row),
            )
        )
    return legs
