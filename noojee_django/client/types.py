"""Typed replies of the Noojee API.

The PBX answers with loosely typed JSON (numbers as strings, capitalised keys, two date formats, two
spellings of a direction). These dataclasses are what the rest of the project sees instead.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"


class CallStatus(enum.StrEnum):
    """The documented ``status`` strings of a call event. Unknown strings are kept as plain ``str``."""

    RINGING = "Ringing"
    CONNECTED = "Connected"
    HUNGUP = "Hungup"
    BUSY = "Busy"
    NO_ANSWER = "No Answer"
    UNLINKED = "Unlinked"
    DIALING_OUT = "Dialing Out"


@dataclass(frozen=True)
class Reply:
    """The ``{"Code": ..., "Message": ...}`` envelope of a call-control method."""

    code: int
    message: str


@dataclass(frozen=True)
class DialResult:
    session_id: int
    code: int
    message: str


@dataclass(frozen=True)
class CallEvent:
    """One entry of a ``subscribe`` reply: the state of one call on one extension."""

    extension: str
    call_id: int | None
    code: int
    unique_call_id: str
    #: A :class:`CallStatus` value when the PBX sent a documented one, else the raw string.
    status: str
    caller_id: str = ""
    can_answer: bool | None = None
    call_start_time: dt.datetime | None = None
    is_queue_call: bool = False
    is_click_to_dial_call: bool = False
    inbound: bool | None = None
    other_party_caller_id: str | None = None
    connected_caller_id_num: str | None = None
    outbound_destination: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_known_status(self) -> bool:
        return self.status in CallStatus._value2member_map_


@dataclass(frozen=True)
class SubscribeResult:
    seq: int
    events: list[CallEvent]
    #: Why each event that could not be read was left out (the rest of the reply, and ``seq``, stand:
    #: one malformed event must not hold a listener on the same ``seq`` for ever).
    unreadable: tuple[str, ...] = ()


@dataclass(frozen=True)
class LegMetadata:
    """One leg of a recorded call, from ``retrieveMetaData*``."""

    call_record_id: int
    leg: int
    unique_id: str
    tag: str
    source: str
    destination: str
    did: str
    direction: Direction
    username: str
    start: dt.datetime | None
    duration: int
    call_end: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class AudioInfo:
    """What :meth:`NoojeeClient.download_leg` wrote, measured while it streamed."""

    bytes_written: int
    sha256: str
    sample_rate: int
    channels: int
    bits_per_sample: int
    duration_seconds: float
    #: The CRC-32 of the same bytes (``zlib.crc32``): a ZIP's checksum, known without reading them again.
    crc32: int
