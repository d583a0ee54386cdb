"""Reachability: a PBX that cannot be reached holds up only its own connection's work.

Every poll and fetch waits up to ``TIMEOUT`` (and the client's retries) for a PBX that does not answer,
holding a worker all that time: with one PBX down, its recordings' tasks would take the workers from
every other PBX's. So a connection whose PBX could not be reached (refused, unreachable, or silent until
the timeout: a :class:`~noojee_django.client.errors.TransportError` with ``no_reply``; never an answer,
however unwelcome, such as "not ready", "not found" or a reply broken off) is paused for
``UNREACHABLE_PAUSE`` seconds, in the shared cache, for every worker. During the pause its polls and
fetches are rescheduled without a request, their attempt logged as ``unreachable``; the first task
after it asks the PBX again (only one: the others keep waiting for its answer). A failure there doubles
the pause, up to ``UNREACHABLE_PAUSE_CAP``; any answer ends it.

The state is a cache key per connection, as the hourly listing's slot is: shared by every worker on the
cache backends the deployment guide recommends (Redis, Memcached, a database cache), so a per-process
cache pauses each process on its own, which still protects its workers.

A pause starts only once a request failed, after ``TIMEOUT`` and the client's retries; until then every
worker that takes one of the connection's tasks waits too. So, with several connections, at most
``PBX_MAX_IN_FLIGHT`` polls and fetches of one connection wait for its PBX at once, over every worker
(a slot each in the cache, held for the request); a task that finds every slot held is sent again a
moment later, as after a pause. A PBX that stops answering then holds that many workers at most, never
all of them.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.cache import cache

from .. import connections
from ..client import NoojeeClient
from ..client import errors as client_errors
from ..conf import noojee_settings
from .base import logger

#: The pause of a connection whose PBX could not be reached (``:<name>`` after it for a named one).
UNREACHABLE_KEY = "noojee_django:pbx-unreachable"
#: Held by the one task that asks a paused connection's PBX again once the pause is over.
PROBE_KEY = "noojee_django:pbx-probe"

#: The slots of the requests waiting for a connection's PBX (``:<name>:<n>`` after it).
SLOT_KEY = "noojee_django:pbx-slot"
#: ``PBX_MAX_IN_FLIGHT`` when it is unset and there are several connections.
DEFAULT_MAX_IN_FLIGHT = 8
#: Seconds a task that found every slot held waits (at least) before it asks again.
BUSY_WAIT = 1.0

#: The error kind a skipped attempt is logged with (``RecordingAttempt.error_kind``).
UNREACHABLE_KIND = "unreachable"
#: The error kind of an attempt put off because the connection's slots were all held.
BUSY_KIND = "pbx_busy"


def _keys(connection: str) -> tuple[str, str]:
    if connection == connections.DEFAULT:
        return UNREACHABLE_KEY, PROBE_KEY
    return f"{UNREACHABLE_KEY}:{connection}", f"{PROBE_KEY}:{connection}"


@dataclass(frozen=True)
class UnreachablePause:
    """A connection's pause: until when (epoch seconds), how long it was, and why."""

    until: float
    seconds: float
    reason: str


def unreachable_pause(connection: str) -> UnreachablePause | None:
    """The connection's pause, over or not; ``None`` when its PBX answered last."""
    found = cache.get(_keys(connection)[0])
    if not isinstance(found, dict):
        return None
    return UnreachablePause(float(found["until"]), float(found["seconds"]), str(found.get("reason", "")))


@dataclass
class Turn:
    """Whether a poll or fetch may ask its connection's PBX now: ``wait`` is ``None`` when it may (in
    the ``with`` block of :func:`turn_to_ask`), else the seconds to wait, with ``message`` and ``kind``
    to log."""

    connection: str
    wait: float | None = None
    message: str = ""
    kind: str = ""

    def failed(self, exc: client_errors.NoojeeError) -> None:
        note_failure(self.connection, exc)

    def answered(self) -> None:
        note_answer(self.connection)


def request_hold(client: NoojeeClient) -> float:
    """The longest one request of ``client`` may take, its retries and their waits included."""
    retry = client.transport.retry
    return retry.max_attempts * (client.transport.total_deadline() + retry.cap)


def max_in_flight() -> int | None:
    """How many polls and fetches of one connection may wait for its PBX at once (``None``: any)."""
    limit = noojee_settings.PBX_MAX_IN_FLIGHT
    if limit is None and len(connections.names()) > 1:
        return DEFAULT_MAX_IN_FLIGHT
    return limit


@contextmanager
def turn_to_ask(connection: str, *, hold: float) -> Iterator[Turn]:
    """The leave to ask the connection's PBX, for the ``with`` block (at most ``hold`` seconds: a lost
    worker's slot frees then); see :class:`Turn`. Report what the request ended with through
    :meth:`Turn.failed` or :meth:`Turn.answered`."""
    wait, probing = _breaker(connection)
    if wait is not None:
        yield Turn(connection, wait, skipped_message(connection, wait), UNREACHABLE_KIND)
        return
    limit = max_in_flight()
    slot = _take_slot(connection, limit, hold) if limit is not None else None
    if limit is not None and slot is None:
        if probing:
            cache.delete(_keys(connection)[1])
        message = (
            f"PBX busy, not asked: {limit} requests of this connection wait for it already; "
            f"it is asked again in {BUSY_WAIT:.0f} s or more"
        )
        yield Turn(connection, BUSY_WAIT, message, BUSY_KIND)
        return
    try:
        yield Turn(connection)
    finally:
        if slot is not None:
            key, token = slot
            if cache.get(key) == token:
                cache.delete(key)


def _take_slot(connection: str, limit: int, hold: float) -> tuple[str, str] | None:
    token = uuid.uuid4().hex
    first = random.randrange(limit)
    for n in range(limit):
        key = f"{SLOT_KEY}:{connection}:{(first + n) % limit}"
        if cache.add(key, token, timeout=max(hold, 1)):
            return key, token
    return None


def wait_before_asking(connection: str) -> float | None:
    """``None``: ask the PBX now (it answered last, or this caller is the one that asks again after a
    pause); otherwise the seconds to wait before asking (at least one: the answer of the caller asking
    again is awaited)."""
    return _breaker(connection)[0]


def _breaker(connection: str) -> tuple[float | None, bool]:
    pause = unreachable_pause(connection)
    if pause is None:
        return None, False
    left = pause.until - time.time()
    if left > 0:
        return left, False
    # Over: one caller asks again, for as long as a request and its retries may take.
    settings = connections.get(connection)
    if cache.add(_keys(connection)[1], 1, timeout=max(3 * settings.TIMEOUT + 10, 1)):
        return None, True
    return max(1.0, min(pause.seconds, settings.TIMEOUT)), False


def note_failure(connection: str, exc: client_errors.NoojeeError) -> None:
    """What a request to the connection's PBX ended with, when it failed: a failure to reach it pauses
    the connection (or doubles its pause, when it was the request asking again after one); any other
    error is an answer, and ends the pause."""
    if not isinstance(exc, client_errors.TransportError) or not exc.no_reply:
        note_answer(connection)  # it answered, if only to refuse or to break off
        return
    key, probe = _keys(connection)
    now = time.time()
    pause = unreachable_pause(connection)
    if pause is not None and pause.until > now:
        return  # paused already, by a request that failed at the same time as this one
    first = noojee_settings.UNREACHABLE_PAUSE
    cap = noojee_settings.UNREACHABLE_PAUSE_CAP
    seconds = first if pause is None else min(max(pause.seconds * 2, first), cap)
    reason = str(exc)
    # Kept past the pause, so that the next failure knows how long the last pause was.
    cache.set(key, {"until": now + seconds, "seconds": seconds, "reason": reason}, timeout=seconds + 2 * cap)
    cache.delete(probe)
    logger.warning(
        "The PBX of connection %r could not be reached (%s): its polls and fetches wait %.0f s.",
        connection,
        reason,
        seconds,
    )


def note_answer(connection: str) -> None:
    """The connection's PBX answered: its pause, if any, is over."""
    key, probe = _keys(connection)
    if cache.get(key) is None:
        return
    cache.delete_many([key, probe])
    logger.warning("The PBX of connection %r answers again: its polls and fetches go on.", connection)


def skipped_message(connection: str, wait: float) -> str:
    """What a skipped poll or fetch logs: the PBX was not asked, and why."""
    pause = unreachable_pause(connection)
    why = f": {pause.reason}" if pause is not None and pause.reason else ""
    return f"PBX unreachable, not asked; it is asked again in {wait:.0f} s{why}"
