"""The emulated PBX: extensions, calls, call events and recorded legs, behind one lock.

Everything the HTTP layer and the control API do to the PBX goes through :class:`Pbx`. Delayed
transitions (the agent's handset answering, the far end answering) run on timers; a timer that fires
after its call ended, or after a reset, does nothing.

The counters (``seq``, SessionID, CallID, CallRecordId, unique ids) keep increasing across
:meth:`Pbx.reset`, so a listener that outlives a reset never sees ``seq`` go backwards.

:meth:`Pbx.snapshot` and :meth:`Pbx.restore` turn the state into plain JSON data and back, so an
emulator started on a state file (see :mod:`.state`) serves the same calls, legs, audio and ``seq``
after a restart.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from .audio import Segment, sha256_and_size, wav_size
from .config import EmulatorConfig, normalise_user_keys

CLICK_TO_DIAL = "click_to_dial"
INBOUND = "inbound"
SCRIPTED = "scripted"

DIRECTION_INBOUND, DIRECTION_OUTBOUND, DIRECTION_INTERNAL = 0, 1, 2
DIRECTION_WORDS = {0: "Inbound", 1: "Outbound", 2: "Internal"}
DIRECTION_NAMES = {"inbound": 0, "outbound": 1, "internal": 2, "0": 0, "1": 1, "2": 2}

FIRST_CALL_RECORD_ID = 198348
TECHS = ("SIP", "PJSIP", "IAX2")
_CHANNEL = re.compile(r"^(?:(?P<tech>[A-Za-z0-9]+)/)?(?P<exten>[A-Za-z0-9_.*#+]+?)(?:-[A-Za-z0-9]+)?$")
_DIAL_EXTEN = re.compile(r"^(?P<tech>[A-Za-z0-9]+)/(?P<exten>[A-Za-z0-9_]+)$")
_NUMBER = re.compile(r"^\+?[0-9]+$")
INTERNAL_NUMBER_MAX_DIGITS = 5  # a dialled number this short is another extension: an internal call

#: What a key may see: ``None`` for the global key (everything), else the campaigns of a user key.
#: Calls and legs outside a user key's campaigns do not exist for it: they answer exactly as unknown
#: ones do, so a tenant cannot even learn that another's call or leg exists.
Scope = frozenset[str] | None


def in_scope(campaign: str, scope: Scope) -> bool:
    return scope is None or (bool(campaign) and campaign in scope)


class PbxError(Exception):
    """A refusal the PBX answers with ``{"Code": code, "Message": message}`` and HTTP ``status``."""

    def __init__(self, message: str, code: int = -1, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def strip_exten(value: str) -> str:
    """``SIP/410-12FA7B``, ``SIP/410`` and ``410`` all name extension ``410``."""
    value = value.strip()
    found = _CHANNEL.match(value)
    return found.group("exten") if found else value


def round_seconds(seconds: float) -> int:
    return max(1, int(seconds + 0.5))


@dataclass
class Leg:
    call_record_id: int
    unique_id: str
    leg: int
    tag: str
    source: str
    destination: str
    username: str
    did: str
    direction: int
    start: float  # PBX epoch seconds
    end: float | None = None
    fixed_duration: int | None = None
    visible_from: float = 0.0
    sha256: str | None = None
    size: int | None = None
    campaign: str = ""  # "" : in no campaign (only the global key sees it)
    #: For a leg recorded live: the call's second it began at (its audio is that span of the call's).
    offset: int | None = None

    def duration(self, now: float) -> int:
        if self.fixed_duration is not None:
            return self.fixed_duration
        return round_seconds((self.end if self.end is not None else now) - self.start)

    def segment(self, now: float) -> Segment:
        return Segment(self.unique_id, self.leg, self.duration(now), self.offset)


@dataclass
class Call:
    call_id: int
    unique_id: str
    kind: str
    exten: str  # the extension that holds the call now
    number: str  # the far end: the dialled number (click-to-dial) or the caller (inbound)
    caller_id: str
    started_at: float
    phase: str  # ringing_agent, dialing_far_end, ringing, connected, ended
    status: str
    session_id: int | None = None
    direction: int = DIRECTION_OUTBOUND
    did: str = ""
    is_queue: bool = False
    connected_at: float | None = None
    hung_up_at: float | None = None
    ended_at: float | None = None  # fully ended: audio can be fetched from then on
    record_on_connect: bool = False
    recording_leg: Leg | None = None
    rec_tag: str = ""
    rec_username: str = ""
    legs: list[Leg] = field(default_factory=list)
    duplicate_rows: bool = False
    campaign: str = ""  # "" : in no campaign (only the global key sees it)

    @property
    def can_answer(self) -> bool:
        return self.phase == "ringing"

    def summary(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id,
            "call_id": self.call_id,
            "session_id": self.session_id,
            "kind": self.kind,
            "phase": self.phase,
            "status": self.status,
            "exten": self.exten,
            "number": self.number,
            "caller_id": self.caller_id,
            "recording": self.recording_leg is not None,
            "tag": self.rec_tag,
            "campaign": self.campaign,
            "legs": [leg.call_record_id for leg in self.legs],
        }


@dataclass
class Event:
    seq: int
    exten: str
    status: str
    unique_id: str
    time: float
    entry: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "exten": self.exten,
            "status": self.status,
            "uniqueCallId": self.unique_id,
            "time": self.time,
            **self.entry,
        }


class Pbx:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._closed = False
        self._seq = 0
        # the next value of each counter
        self._ids = {"session": 1, "call": 1, "record": FIRST_CALL_RECORD_ID, "unique": 100}
        self._generation = 0
        self._version = 0  # bumped by every change worth keeping in a state file
        self._on_change: Callable[[], None] | None = None
        self._timers: set[threading.Timer] = set()
        self._clear()

    def _clear(self) -> None:
        self._calls: dict[str, Call] = {}  # every call by unique id, ended ones too
        self._active: dict[str, Call] = {}  # calls not hung up, by unique id
        self._legs: dict[int, Leg] = {}
        self._events: list[Event] = []
        self._event_seqs: list[int] = []
        self._requests: dict[str, int] = {}
        self._rate_limits: dict[str, float] = {}
        self._hash_uses: dict[tuple[str, str], float] = {}
        self._last_polls: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------ clock

    def now(self) -> float:
        """The PBX clock, epoch seconds."""
        return time.time() + self.config.clock_offset_ms / 1000.0

    def local(self, epoch: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(epoch, ZoneInfo(self.config.pbx_time_zone))

    # ------------------------------------------------------------------------------------------ life

    def reset(self) -> None:
        with self._lock:
            self._cancel_timers()
            self._clear()
            self._changed.notify_all()
            self._touch()

    def close(self) -> None:
        """Stop every pending transition and wake the long polls; the state stays readable (and savable)."""
        with self._lock:
            self._closed = True
            self._cancel_timers()
            self._changed.notify_all()

    def _cancel_timers(self) -> None:
        self._generation += 1
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _next_id(self, name: str) -> int:
        value = self._ids[name]
        self._ids[name] = value + 1
        return value

    def touch(self) -> None:
        """Something kept in the state file changed outside the PBX's own methods (the user keys)."""
        with self._lock:
            self._touch()

    def _touch(self) -> None:
        self._version += 1
        if self._on_change is not None:
            self._on_change()

    @property
    def version(self) -> int:
        """A number that changes whenever the state does (a state file is stale when it differs)."""
        return self._version

    def on_change(self, callback: Callable[[], None] | None) -> None:
        """``callback()`` runs (under the PBX lock: keep it quick) after every change of state."""
        self._on_change = callback

    def _schedule(self, delay: float, action: Callable[..., None], *args: Any) -> None:
        generation = self._generation

        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
                if generation == self._generation and not self._closed:
                    action(*args)

        timer = threading.Timer(max(0.0, delay), fire)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    # ------------------------------------------------------------------------------------------ counters

    def count_request(self, method: str) -> None:
        with self._lock:
            self._requests[method] = self._requests.get(method, 0) + 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "total": sum(self._requests.values()),
                "seq": self._seq,
                "active_calls": len(self._active),
                "legs": len(self._legs),
            }

    def check_rate_limit(self, key: str, method: str) -> None:
        """One call per ``metadata_rate_limit_seconds`` per key; a refused call does not reset the wait."""
        window = self.config.metadata_rate_limit_seconds
        if window <= 0:
            return
        with self._lock:
            clock = time.monotonic()
            last = self._rate_limits.get(f"{method}:{key}")
            if last is not None and clock - last < window:
                wait = window - (clock - last)
                raise PbxError(
                    f"Rate limit exceeded: {method} may be called once every {window:g} s;"
                    f" retry in {wait:.0f} s",
                    status=self.config.rate_limit_status,
                )
            self._rate_limits[f"{method}:{key}"] = clock

    def use_hash(self, timestamp: str, digest: str) -> bool:
        """Record the first use of a hash pair; False when the pair is no longer (or not yet) valid."""
        now = self.now()
        with self._lock:
            first_use = self._hash_uses.get((timestamp, digest))
            if first_use is None:
                try:
                    stamped = int(timestamp) / 1000.0
                except ValueError:
                    return False
                if abs(now - stamped) > self.config.hash_first_use_window:
                    return False
                self._hash_uses[(timestamp, digest)] = now
                return True
            return now - first_use <= self.config.hash_validity

    def pace_poll(self, client: str) -> float:
        """Seconds the poll of ``client`` must wait so polls are at least ``min_poll_interval`` apart."""
        with self._lock:
            clock = time.monotonic()
            last = self._last_polls.get(client)
            wait = 0.0
            if last is not None:
                wait = max(0.0, self.config.min_poll_interval - (clock - last))
            self._last_polls[client] = clock + wait
            return wait

    # ------------------------------------------------------------------------------------------ events

    def _call_data(self, call: Call, status: str) -> dict[str, Any]:
        connected = call.connected_at is not None
        start_time = (
            "" if call.connected_at is None else self.local(call.connected_at).strftime("%Y/%m/%d %H:%M:%S")
        )
        return {
            "canAnswer": call.can_answer and status == "Ringing",
            "callerId": call.caller_id,
            "uniqueCallId": call.unique_id,
            "callStartTime": start_time,
            "isQueueCall": call.is_queue,
            "isClickToDialCall": call.kind == CLICK_TO_DIAL,
            "inbound": call.kind == INBOUND,
            "status": status,
            "otherPartyCallerId": call.number,
            "connectedCallerIdNum": call.number if connected else "",
            "outboundDestination": call.number if call.kind == CLICK_TO_DIAL else "",
        }

    def _entry(self, call: Call, status: str) -> dict[str, Any]:
        return {"CallData": self._call_data(call, status), "CallID": call.call_id, "Code": 0}

    def _emit(self, call: Call, exten: str, status: str) -> None:
        self._seq += 1
        event = Event(self._seq, exten, status, call.unique_id, self.now(), self._entry(call, status))
        self._events.append(event)
        self._event_seqs.append(event.seq)
        self._changed.notify_all()
        self._touch()

    def _set_status(self, call: Call, status: str) -> None:
        call.status = status
        self._emit(call, call.exten, status)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.to_dict() for e in self._events]

    def subscribe(self, extens: list[str], last_seq: int, timeout: float) -> tuple[dict[str, Any], int]:
        """``(Data, seq)``: a snapshot for ``last_seq`` 0, else the events after ``last_seq`` on
        ``extens``, waiting up to ``timeout`` seconds for the first one."""
        wanted = set(extens)
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            if last_seq <= 0 or last_seq > self._seq:
                data: dict[str, list[dict[str, Any]]] = {}
                for call in self._active.values():
                    if call.exten in wanted:
                        data.setdefault(call.exten, []).append(self._entry(call, call.status))
                return data, self._seq
            while True:
                start = bisect.bisect_right(self._event_seqs, last_seq)
                found = [e for e in self._events[start:] if e.exten in wanted]
                if found:
                    data = {}
                    for event in found:
                        data.setdefault(event.exten, []).append(event.entry)
                    return data, self._seq
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return {}, self._seq
                self._changed.wait(remaining)

    # ------------------------------------------------------------------------------------------ calls

    def _new_unique_id(self, at: float | None = None) -> str:
        """``<epoch seconds of the call's start>.<counter>``."""
        return f"{int(self.now() if at is None else at)}.{self._next_id('unique')}"

    def _find_active(self, exten_or_unique_id: str, scope: Scope = None) -> Call | None:
        value = exten_or_unique_id.strip()
        if value in self._active:
            call = self._active[value]
            return call if in_scope(call.campaign, scope) else None
        exten = strip_exten(value)
        on_exten = [c for c in self._active.values() if c.exten == exten and in_scope(c.campaign, scope)]
        return max(on_exten, key=lambda c: c.call_id) if on_exten else None

    def dial(
        self,
        number: str,
        exten_with_tech: str,
        *,
        auto_answer: bool = False,
        caller_id: str = "",
        record: bool = False,
        tag: str = "",
        username: str = "",
        campaign: str = "",
    ) -> int:
        number = number.strip()
        if not number:
            raise PbxError("Missing parameter: number")
        if not _NUMBER.match(number):
            raise PbxError(f"Invalid number '{number}': digits only, with an optional leading +")
        channel = _DIAL_EXTEN.match(exten_with_tech.strip())
        if not channel:
            raise PbxError(
                f"Invalid extenOrUniqueId '{exten_with_tech}':"
                " expected an extension with technology, e.g. SIP/101"
            )
        if channel.group("tech").upper() not in TECHS:
            tech = channel.group("tech")
            raise PbxError(f"Unknown technology '{tech}': expected one of {', '.join(TECHS)}")
        with self._lock:
            now = self.now()
            call = Call(
                call_id=self._next_id("call"),
                unique_id=self._new_unique_id(),
                kind=CLICK_TO_DIAL,
                exten=channel.group("exten"),
                number=number,
                caller_id=caller_id or number,
                started_at=now,
                phase="ringing_agent",
                status="Dialing Out",
                session_id=self._next_id("session"),
                direction=DIRECTION_INTERNAL
                if len(number.lstrip("+")) <= INTERNAL_NUMBER_MAX_DIGITS
                else DIRECTION_OUTBOUND,
                did="internal" if len(number.lstrip("+")) <= INTERNAL_NUMBER_MAX_DIGITS else "",
                record_on_connect=record,
                rec_tag=tag,
                rec_username=username,
                campaign=campaign,
            )
            self._calls[call.unique_id] = call
            self._active[call.unique_id] = call
            self._emit(call, call.exten, call.status)
            self._schedule(0.0 if auto_answer else self.config.answer_delay, self._agent_answered, call)
            assert call.session_id is not None
            return call.session_id

    def _agent_answered(self, call: Call) -> None:
        if call.phase != "ringing_agent":
            return
        call.phase = "dialing_far_end"
        self._touch()
        self._schedule(self.config.far_end_answer_delay, self._far_end_answered, call)

    def _far_end_answered(self, call: Call) -> None:
        if call.phase != "dialing_far_end":
            return
        call.phase = "connected"
        call.connected_at = self.now()
        self._set_status(call, "Connected")
        if call.record_on_connect and call.recording_leg is None:
            self._start_leg(call, call.rec_tag, call.rec_username)
        if self.config.far_end_hangup_after is not None:
            self._schedule(self.config.far_end_hangup_after, self._far_end_hung_up, call)

    def _far_end_hung_up(self, call: Call) -> None:
        """The customer puts the phone down (``far_end_hangup_after``)."""
        if call.phase == "connected" and call.unique_id in self._active:
            self.hangup(call.unique_id)

    def inbound_call(
        self, caller_id: str, exten: str, queue: str = "", did: str = "", campaign: str = ""
    ) -> str:
        with self._lock:
            exten = strip_exten(exten)
            internal = len(caller_id.lstrip("+")) <= INTERNAL_NUMBER_MAX_DIGITS
            call = Call(
                call_id=self._next_id("call"),
                unique_id=self._new_unique_id(),
                kind=INBOUND,
                exten=exten,
                number=caller_id,
                caller_id=caller_id,
                started_at=self.now(),
                phase="ringing",
                status="Ringing",
                direction=DIRECTION_INTERNAL if internal else DIRECTION_INBOUND,
                did="internal" if internal else (did or exten),
                is_queue=bool(queue),
                campaign=campaign,
            )
            self._calls[call.unique_id] = call
            self._active[call.unique_id] = call
            self._emit(call, exten, "Ringing")
            return call.unique_id

    def answer(self, unique_id: str, exten: str, scope: Scope = None) -> None:
        with self._lock:
            call = self._active.get(unique_id.strip())
            if call is None or not in_scope(call.campaign, scope):
                raise PbxError(f"No ringing call with uniqueId '{unique_id}'", status=404)
            exten = strip_exten(exten) if exten else call.exten
            if call.kind == CLICK_TO_DIAL and call.phase == "ringing_agent" and exten == call.exten:
                self._agent_answered(call)
                return
            if call.phase != "ringing":
                raise PbxError(f"Call '{unique_id}' is not ringing", status=409)
            if exten != call.exten:
                self._emit(call, call.exten, "Unlinked")
                call.exten = exten
            call.phase = "connected"
            call.connected_at = self.now()
            self._set_status(call, "Connected")
            if call.recording_leg is not None:
                self._next_leg(call)

    def transfer(self, unique_id: str, exten: str, username: str = "") -> None:
        with self._lock:
            call = self._active.get(unique_id.strip())
            if call is None:
                raise PbxError(f"No active call with uniqueId '{unique_id}'", status=404)
            if call.phase != "connected":
                raise PbxError(f"Call '{unique_id}' is not connected", status=409)
            exten = strip_exten(exten)
            if exten == call.exten:
                raise PbxError(f"Call '{unique_id}' is already on extension {exten}", status=409)
            self._emit(call, call.exten, "Unlinked")
            call.exten = exten
            self._set_status(call, "Connected")
            if call.recording_leg is not None:
                self._next_leg(call, username)

    def hangup(self, exten_or_unique_id: str, scope: Scope = None) -> str:
        """Hang up by unique id or extension; returns the unique id of the call."""
        with self._lock:
            value = exten_or_unique_id.strip()
            if not value:
                raise PbxError("Missing parameter: extenOrUniqueId")
            call = self._find_active(value, scope)
            if call is None:
                scripted = self._calls.get(value)
                if (
                    scripted is not None
                    and scripted.kind == SCRIPTED
                    and scripted.ended_at is None
                    and in_scope(scripted.campaign, scope)
                ):
                    scripted.ended_at = self.now() + self.config.hangup_settle
                    self._touch()
                    return scripted.unique_id
                raise PbxError(f"No active channel for '{value}'", status=404)
            if call.recording_leg is not None:
                self._end_leg(call)
            call.phase = "ended"
            now = self.now()
            call.hung_up_at = now
            call.ended_at = now + self.config.hangup_settle
            del self._active[call.unique_id]
            self._set_status(call, "Hungup")
            return call.unique_id

    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            current = [c for c in self._calls.values() if c.unique_id in self._active or c.ended_at is None]
            return [c.summary() for c in current]

    # ------------------------------------------------------------------------------------------ recording

    def _start_leg(self, call: Call, tag: str, username: str) -> Leg:
        inbound = call.kind == INBOUND
        now = self.now()
        leg = Leg(
            call_record_id=self._next_id("record"),
            unique_id=call.unique_id,
            leg=len(call.legs) + 1,
            tag=tag,
            source=call.number if inbound else call.exten,
            destination=call.exten if inbound else call.number,
            username=username or "Administrator",
            did=call.did,
            direction=call.direction,
            start=now,
            campaign=call.campaign,
            offset=max(0, round(now - call.started_at)),
        )
        call.legs.append(leg)
        call.recording_leg = leg
        call.rec_tag, call.rec_username = tag, username
        self._legs[leg.call_record_id] = leg
        self._touch()
        return leg

    def _end_leg(self, call: Call) -> None:
        leg = call.recording_leg
        if leg is not None:
            leg.end = self.now()
            call.recording_leg = None
            self._touch()

    def _next_leg(self, call: Call, username: str = "") -> None:
        tag, previous = call.rec_tag, call.rec_username
        self._end_leg(call)
        self._start_leg(call, tag, username or previous)

    def start_recording(
        self, exten_or_unique_id: str, tag: str = "", username: str = "", scope: Scope = None
    ) -> str:
        with self._lock:
            call = self._find_active(exten_or_unique_id, scope)
            if call is None:
                raise PbxError(f"No active call on '{exten_or_unique_id}'", status=404)
            if call.recording_leg is not None:
                raise PbxError(f"Call on '{exten_or_unique_id}' is already being recorded", status=409)
            leg = self._start_leg(call, tag, username)
            return f"Recording started (leg {leg.leg})"

    def stop_recording(self, exten_or_unique_id: str, scope: Scope = None) -> str:
        with self._lock:
            call = self._find_active(exten_or_unique_id, scope)
            if call is None:
                raise PbxError(f"No active call on '{exten_or_unique_id}'", status=404)
            if call.recording_leg is None:
                raise PbxError(f"Call on '{exten_or_unique_id}' is not being recorded", status=409)
            self._end_leg(call)
            return "Recording stopped"

    def add_recording(
        self,
        tag: str,
        legs: list[int],
        *,
        exten: str = "101",
        number: str = "0383208100",
        username: str = "agent1",
        direction: str = "outbound",
        did: str = "",
        in_progress: bool = False,
        late: dict[str, float] | None = None,
        duplicate_rows: bool = False,
        ended_at: float | None = None,
        campaign: str = "",
    ) -> dict[str, Any]:
        """A scripted, already recorded call: legs back to back, the last ending now, or at
        ``ended_at`` (epoch seconds, not in the future): a call recorded before anyone asked."""
        if not legs:
            raise PbxError("legs: at least one leg duration is needed", status=400)
        durations = [int(d) for d in legs]
        if any(d < 1 for d in durations):
            raise PbxError("legs: every duration must be at least 1 second", status=400)
        if str(direction).lower() not in DIRECTION_NAMES:
            raise PbxError(f"direction: one of {sorted(DIRECTION_NAMES)}", status=400)
        direction_code = DIRECTION_NAMES[str(direction).lower()]
        late = {str(k): float(v) for k, v in (late or {}).items()}
        if ended_at is not None and in_progress:
            raise PbxError("ended_at: a call still in progress has not ended", status=400)
        with self._lock:
            if ended_at is not None and float(ended_at) > self.now():
                raise PbxError("ended_at: a recorded call cannot end in the future", status=400)
            end = float(int(self.now() if ended_at is None else ended_at))
            exten = strip_exten(exten)
            call = Call(
                call_id=self._next_id("call"),
                unique_id=self._new_unique_id(end - sum(durations)),
                kind=SCRIPTED,
                exten=exten,
                number=number,
                caller_id=number,
                started_at=end - sum(durations),
                phase="connected" if in_progress else "ended",
                status="Connected" if in_progress else "Hungup",
                direction=direction_code,
                did=did or ("" if direction_code == DIRECTION_OUTBOUND else "internal"),
                ended_at=None if in_progress else end,
                duplicate_rows=duplicate_rows,
                campaign=campaign,
            )
            start = call.started_at
            for index, seconds in enumerate(durations, start=1):
                inbound = direction_code == DIRECTION_INBOUND
                leg = Leg(
                    call_record_id=self._next_id("record"),
                    unique_id=call.unique_id,
                    leg=index,
                    tag=tag,
                    source=number if inbound else exten,
                    destination=exten if inbound else number,
                    username=username,
                    did=call.did,
                    direction=direction_code,
                    start=start,
                    end=start + seconds,
                    fixed_duration=seconds,
                    visible_from=self.now() + late.get(str(index), 0.0),
                    campaign=campaign,
                )
                start += seconds
                call.legs.append(leg)
                self._legs[leg.call_record_id] = leg
            self._calls[call.unique_id] = call
            self._touch()
        return {"unique_id": call.unique_id, "legs": [self._leg_info(leg) for leg in call.legs]}

    def _leg_info(self, leg: Leg) -> dict[str, Any]:
        now = self.now()
        segment = leg.segment(now)
        if leg.end is not None and leg.sha256 is None:
            leg.sha256, leg.size = sha256_and_size([segment])
        return {
            "call_record_id": leg.call_record_id,
            "unique_id": leg.unique_id,
            "leg": leg.leg,
            "tag": leg.tag,
            "campaign": leg.campaign,
            "duration": segment.seconds,
            "bytes": leg.size if leg.size is not None else wav_size([segment]),
            "sha256": leg.sha256,  # None while the leg is still being recorded
            "ended": leg.end is not None,
            "ready": self._ready(leg, now),
        }

    def recordings(self, tag: str | None = None, unique_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            legs = [
                leg
                for leg in self._legs.values()
                if (tag is None or leg.tag == tag) and (unique_id is None or leg.unique_id == unique_id)
            ]
            legs.sort(key=lambda leg: leg.call_record_id)
        return [self._leg_info(leg) for leg in legs]

    # ------------------------------------------------------------------------------------------ metadata

    def _ready(self, leg: Leg, now: float) -> bool:
        call = self._calls[leg.unique_id]
        return leg.end is not None and call.ended_at is not None and call.ended_at <= now

    def _visible_rows(self, legs: list[Leg], scope: Scope) -> list[Leg]:
        now = self.now()
        rows: list[Leg] = []
        for leg in sorted(legs, key=lambda leg: leg.call_record_id):
            if leg.visible_from > now or not in_scope(leg.campaign, scope):
                continue
            rows.append(leg)
            if self._calls[leg.unique_id].duplicate_rows:
                rows.append(leg)
        return rows

    def _row(self, leg: Leg, now: float) -> dict[str, str]:
        return {
            "Source": leg.source,
            "Leg": str(leg.leg),
            "Start": self.local(leg.start).strftime("%Y-%m-%d %H:%M:%S") + ".0",
            "Tag": leg.tag,
            "Duration": str(leg.duration(now)),
            "Username": leg.username,
            "CallRecordId": str(leg.call_record_id),
            "UniqueId": leg.unique_id,
            "DID": leg.did,
            "Direction": str(leg.direction),
            "Destination": leg.destination,
        }

    def metadata_by_tag(self, tag: str, scope: Scope = None) -> list[dict[str, str]]:
        with self._lock:
            now = self.now()
            legs = [x for x in self._legs.values() if x.tag == tag]
            return [self._row(leg, now) for leg in self._visible_rows(legs, scope)]

    def metadata_by_unique_id(self, unique_id: str, scope: Scope = None) -> list[dict[str, str]]:
        with self._lock:
            now = self.now()
            legs = [x for x in self._legs.values() if x.unique_id == unique_id]
            return [self._row(leg, now) for leg in self._visible_rows(legs, scope)]

    def metadata_by_hour(self, day: dt.date, hour: int, scope: Scope = None) -> list[dict[str, str]]:
        """Legs that ended in that PBX-local hour, in the older ``Tue Sep 14 15:03:30 AEST 2021`` form."""
        zone = ZoneInfo(self.config.pbx_time_zone)
        begin = dt.datetime(day.year, day.month, day.day, hour, tzinfo=zone).timestamp()
        end = begin + 3600
        with self._lock:
            now = self.now()
            legs = [x for x in self._legs.values() if x.end is not None and begin <= x.end < end]
            rows = []
            for leg in self._visible_rows(legs, scope):
                row = self._row(leg, now)
                assert leg.end is not None
                row["Start"] = _java_date(self.local(leg.start))
                row["callend"] = _java_date(self.local(leg.end))
                row["Direction"] = DIRECTION_WORDS[leg.direction]
                rows.append(row)
            return rows

    # ------------------------------------------------------------------------------------------ audio

    def leg_segment(
        self,
        *,
        unique_id: str | None = None,
        leg: int | None = None,
        call_record_id: int | None = None,
        scope: Scope = None,
    ) -> Segment:
        """The audio of one leg; 404 (Code -1) when unknown, or outside ``scope`` (checked before
        readiness: another tenant's leg in progress is as unknown as any), 409 (Code -2) while its
        call goes on."""
        with self._lock:
            found: Leg | None = None
            if call_record_id is not None:
                found = self._legs.get(call_record_id)
            else:
                found = next(
                    (x for x in self._legs.values() if x.unique_id == unique_id and x.leg == leg),
                    None,
                )
            if found is None or not in_scope(found.campaign, scope):
                raise PbxError("No such recording leg", code=-1, status=404)
            now = self.now()
            if not self._ready(found, now):
                raise PbxError("Recording in progress", code=-2, status=409)
            return found.segment(now)

    def joined_segments(
        self, *, tag: str | None = None, unique_id: str | None = None, scope: Scope = None
    ) -> list[Segment]:
        """Every leg with ``tag`` (or of call ``unique_id``) in leg order: the deprecated API's one WAV."""
        with self._lock:
            legs = sorted(
                (
                    x
                    for x in self._legs.values()
                    if (x.tag == tag or x.unique_id == unique_id) and in_scope(x.campaign, scope)
                ),
                key=lambda x: (self._calls[x.unique_id].started_at, x.unique_id, x.leg),
            )
            if not legs:
                raise PbxError("No recording found", code=-1, status=404)
            now = self.now()
            if not all(self._ready(x, now) for x in legs):
                raise PbxError("Recording in progress", code=-2, status=409)
            return [x.segment(now) for x in legs]

    def leg_wav_segment(self, call_record_id: int) -> Segment:
        """Any leg's audio for the control API, ready or not (a live leg: its length so far)."""
        with self._lock:
            found = self._legs.get(call_record_id)
            if found is None:
                raise PbxError("No such recording leg", status=404)
            return found.segment(self.now())

    # ------------------------------------------------------------------------------------------ state file

    def snapshot(self) -> dict[str, Any]:
        """Everything a restarted emulator needs to answer as this one would: plain JSON data.

        Faults, rate-limit windows, hash first uses and poll pacing are left out: they belong to the
        connection, not to the PBX's records.
        """
        with self._lock:
            legs = [dataclasses.asdict(leg) for leg in sorted(self._legs.values(), key=_by_record_id)]
            calls = []
            for call in self._calls.values():
                fields = {
                    f.name: getattr(call, f.name)
                    for f in dataclasses.fields(call)
                    if f.name not in ("legs", "recording_leg")
                }
                fields["legs"] = [leg.call_record_id for leg in call.legs]
                recording = call.recording_leg
                fields["recording_leg"] = recording.call_record_id if recording is not None else None
                calls.append(fields)
            return {
                "seq": self._seq,
                "ids": dict(self._ids),
                "requests": dict(self._requests),
                "legs": legs,
                "calls": calls,
                "active": list(self._active),
                "events": [dataclasses.asdict(event) for event in self._events],
                "user_keys": {key: dict(tenant) for key, tenant in self.config.user_keys.items()},
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Replace the state with a :meth:`snapshot`; pending transitions (a handset about to answer)
        start again with the configured delays. User keys saved in the state (added at run time) join
        the configured ones; a key configured at start keeps its configured tenant."""
        with self._lock:
            saved = {k: v for k, v in state.get("user_keys", {}).items() if k != self.config.api_key}
            self.config.user_keys = normalise_user_keys({**saved, **self.config.user_keys})
            self._cancel_timers()
            self._clear()
            self._seq = int(state["seq"])
            self._ids.update({name: int(value) for name, value in state["ids"].items()})
            self._requests = {str(k): int(v) for k, v in state.get("requests", {}).items()}
            self._legs = {int(raw["call_record_id"]): Leg(**raw) for raw in state["legs"]}
            for raw in state["calls"]:
                fields = dict(raw)
                legs = [self._legs[int(i)] for i in fields.pop("legs")]
                recording = fields.pop("recording_leg")
                call = Call(**fields, legs=legs)
                call.recording_leg = self._legs[int(recording)] if recording is not None else None
                self._calls[call.unique_id] = call
            self._active = {uid: self._calls[uid] for uid in state["active"]}
            self._events = [Event(**raw) for raw in state["events"]]
            self._event_seqs = [event.seq for event in self._events]
            for call in self._active.values():
                if call.phase == "ringing_agent":
                    self._schedule(self.config.answer_delay, self._agent_answered, call)
                elif call.phase == "dialing_far_end":
                    self._schedule(self.config.far_end_answer_delay, self._far_end_answered, call)
            self._changed.notify_all()


def _by_record_id(leg: Leg) -> int:
    return leg.call_record_id


def _java_date(moment: dt.datetime) -> str:
    """``java.util.Date.toString()``: ``Tue Sep 14 15:03:30 AEST 2021``."""
    return moment.strftime("%a %b %d %H:%M:%S ") + (moment.tzname() or "UTC") + moment.strftime(" %Y")
