"""The call-state listener: one long poll over every agent extension of one PBX connection, applied to
``CallSession`` rows.

One ``subscribe`` request covers all monitored extensions (not one connection per agent). The
``lastSequenceNumber`` protocol is followed exactly: ``0`` asks for a snapshot, afterwards the ``seq``
of the previous reply, which is stored after each reply is applied, so a restarted listener resumes
where it stopped, neither losing nor repeating an event (the events and the cursor are stored in one
transaction). A ``seq`` lower than the stored one means the PBX itself restarted its counter: the
listener takes a fresh snapshot instead of waiting for numbers it will never see again. Each PBX
connection has its own listener, cursor and heartbeat (``manage.py noojee_listen --pbx NAME``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable

from django.db import DatabaseError, connections, transaction

from . import services
from .client import NoojeeClient
from .client.errors import NoojeeError
from .client.types import CallEvent
from .connections import DEFAULT
from .models import AgentPhone, ListenerCursor

logger = logging.getLogger("noojee_django.listener")


class CallStateListener:
    def __init__(
        self,
        client: NoojeeClient,
        *,
        poll_timeout: int = 20,
        backoff_cap: float = 30.0,
        extensions: Callable[[], list[str]] | None = None,
        connection: str = DEFAULT,
        cursor_name: str | None = None,
        stop_event: threading.Event | None = None,
        idle_wait: float = 1.0,
    ) -> None:
        self.client = client
        self.poll_timeout = poll_timeout
        self.backoff_cap = backoff_cap
        self.connection = connection
        self.extensions = extensions or (lambda: monitored_extensions(connection))
        self.cursor_name = cursor_name or connection
        self.stop_event = stop_event or threading.Event()
        self.idle_wait = idle_wait
        self.failures = 0

    def run(self, *, max_polls: int | None = None) -> None:
        """Poll until ``stop_event`` is set (a signal, in ``noojee_listen``) or ``max_polls`` ran.

        PBX and database errors are logged and retried with capped backoff: they never end the loop.
        """
        polls = 0
        while not self.stop_event.is_set() and (max_polls is None or polls < max_polls):
            polls += 1
            _recycle_connections()
            services.mark_listener_alive(self.connection)
            try:
                self.poll_once()
                self.failures = 0
            except NoojeeError as exc:
                self._back_off("PBX subscribe failed (%s); retrying in %.1f s", exc)
            except DatabaseError as exc:
                # A busy SQLite file, a database restarting, a dropped connection: the events stay on
                # the PBX (the cursor did not move), so wait and ask again with a fresh connection.
                _recycle_connections(failed=True)
                self._back_off("The database failed (%s); retrying in %.1f s", exc)

    def _back_off(self, message: str, exc: Exception) -> None:
        self.failures += 1
        delay = min(self.backoff_cap, 0.5 * 2 ** min(self.failures, 10)) * random.uniform(0.5, 1.0)
        logger.warning(message, exc, delay)
        self.stop_event.wait(delay)

    def poll_once(self) -> int:
        """One subscribe round trip; returns the number of events applied."""
        extensions = self.extensions()
        if not extensions:
            self.stop_event.wait(min(self.poll_timeout, 5))
            return 0
        cursor, _ = ListenerCursor.objects.get_or_create(name=self.cursor_name)
        last = cursor.last_sequence_number
        timeout = 0 if last == 0 else self.poll_timeout
        result = self.client.subscribe(extensions, last, timeout=timeout)
        if last and result.seq < last:
            logger.info("PBX event counter went back from %s to %s: taking a new snapshot", last, result.seq)
            result = self.client.subscribe(extensions, 0, timeout=0)
        # The events and the cursor that moves past them are one transaction: a listener that dies
        # mid-batch applied none of it, and its successor applies it all, once.
        with transaction.atomic():
            applied = apply_events(result.events, self.connection)
            ListenerCursor.objects.filter(pk=cursor.pk).update(last_sequence_number=result.seq)
        if result.seq == 0:
            # A PBX that has seen no event yet answers every poll with an instant snapshot (seq 0 asks
            # for one): wait a little instead of spinning.
            self.stop_event.wait(self.idle_wait)
        return applied


def _recycle_connections(*, failed: bool = False) -> None:
    """What Django does between requests, for a loop that never ends: drop each connection that is
    unusable or past ``CONN_MAX_AGE`` (every one, after a database error), so the next poll opens a
    fresh one.

    A connection inside an atomic block is left alone: it carries its caller's transaction (a test's,
    or a caller that runs the listener inside ``atomic()``), which closing it would break.
    """
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            continue
        if failed:
            connection.close()
        else:
            connection.close_if_unusable_or_obsolete()


def monitored_extensions(connection: str = DEFAULT) -> list[str]:
    phones = AgentPhone.objects.filter(connection=connection, is_active=True)
    return sorted({ext.split("/", 1)[-1] for ext in phones.values_list("extension", flat=True)})


def apply_events(events: Iterable[CallEvent], connection: str = DEFAULT) -> int:
    applied = 0
    for event in events:
        if services.apply_call_event(event, connection) is not None:
            applied += 1
    return applied
