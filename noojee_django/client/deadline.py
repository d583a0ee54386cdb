"""A total deadline for each PBX request, whatever the server does with its reply.

``requests`` bounds each socket operation (connect, one read), not the whole reply: a server that sends
a byte every half second never lets a read time out, and a one-second timeout becomes minutes. Here one
watchdog thread per process holds every request's deadline; when one passes, it shuts that request's
socket down, which wakes the blocked read at once (on any thread, HTTP or HTTPS), and the transport
reports a :class:`~.errors.NoojeeTimeout` instead of the broken connection.

The socket is found two ways. :class:`DeadlineAdapter` (the default session's) builds connections
that register themselves with the deadline of the request they carry, so a server that is slow even
with its status line is cut too. With any other adapter (a ``session=`` of your own), the deadline
learns the connection once the headers have arrived: the body is bounded, the wait for the headers is
bounded by the read timeout per read only.

A download's allowance grows with what arrives (``rate`` bytes a second earn a second), up to an
optional hard cap: a one-hour leg that keeps coming is not cut at ``timeout``, one that trickles is.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class Deadline:
    """When one request must be over. Thread safe: the request's thread and the watchdog share it."""

    def __init__(self, seconds: float, *, rate: float | None = None, cap: float | None = None) -> None:
        self.started = time.monotonic()
        self.seconds = seconds
        self.rate = rate
        self.cap = cap
        self.at = self.started + (seconds if cap is None else min(seconds, cap))
        #: Set by the watchdog when the deadline passed; the request's thread reads it after a failure.
        self.fired = False
        self._active = True
        self._connection: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        """The allowance, in words, for the error message (never the URL)."""
        text = f"{self.seconds:g} s"
        if self.rate:
            text += f" plus 1 s per {self.rate:g} bytes received"
        if self.cap is not None:
            text += f", at most {self.cap:g} s"
        return text

    def received(self, total: int) -> None:
        """``total`` body bytes have arrived: a download earns more time."""
        if self.rate:
            allowance = self.seconds + total / self.rate
            self.at = self.started + (allowance if self.cap is None else min(allowance, self.cap))

    def attach(self, connection: Any) -> None:
        """The connection carrying this request: the one the watchdog shuts when time is up."""
        with self._lock:
            if not self._active:
                return
            self._connection = connection
            fired = self.fired
        if fired:  # attached after the deadline passed: shut it now
            _shut(connection)

    def close(self) -> None:
        """The request is over (either way): the watchdog must leave its connection alone."""
        with self._lock:
            self._active = False
            self._connection = None

    def _expire(self, now: float) -> bool:
        """Fire if the deadline passed; False when it was extended (watch it again)."""
        with self._lock:
            if not self._active or self.fired:
                return True
            if now < self.at:
                return False
            self.fired = True
            connection = self._connection
        if connection is not None:
            _shut(connection)
        return True

    @property
    def active(self) -> bool:
        return self._active


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            # socket.socket's own shutdown, not SSLSocket's: that one also drops the TLS object under
            # the feet of the thread that is reading.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


class _Watchdog:
    """One daemon thread for every deadline of the process, started at the first request."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="noojee-deadlines", daemon=True)
                self._thread.start()
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if earliest is None or deadline.at < earliest:
                self._cond.notify()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._heap:
                    cond.wait()
                at, _, deadline = self._heap[0]
                now = time.monotonic()
                if at > now:
                    cond.wait(at - now)
                    continue
                heapq.heappop(self._heap)
            if deadline.active and not deadline._expire(now):
                with cond:  # extended (a download that keeps coming): watch its new time
                    heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))


_WATCHDOG = _Watchdog()
_current = threading.local()


def watch(deadline: Deadline) -> Deadline:
    _WATCHDOG.watch(deadline)
    return deadline


def bind(deadline: Deadline | None) -> Deadline | None:
    """Make ``deadline`` the one connections made or used on this thread register with; returns the
    previous one, to bind back."""
    previous: Deadline | None = getattr(_current, "deadline", None)
    _current.deadline = deadline
    return previous


def _register(connection: Any) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.attach(connection)


class _Watched:
    """Registers the connection with the request's deadline as it connects and sends."""

    def connect(self) -> None:
        _register(self)
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An :class:`HTTPAdapter` whose connections the deadline watchdog can reach from the first byte.

    Mount it on a session of your own (with ``max_retries=0``) to get the same bound on the wait for
    the status line as the default session has.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager
