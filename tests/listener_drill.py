"""The listener drill: calls placed through the app while the listener is killed and the PBX restarted.

Agents click-to-dial through ``services.dial`` (each its own extension, one call at a time, a new number
each call); the emulator answers, and the drill hangs up through the emulator, so only the listener can
tell the app about ``Connected`` and ``Hungup``. Meanwhile inbound calls ring the same extensions (events
that are none of the app's), and the drill SIGKILLs the listener (``manage.py noojee_listen``) and
restarts the emulator (state kept) during long polls.

The listener runs in its own process with one extra: a receiver of ``call_status_changed`` that writes
each transition in a table, in the listener's own database transaction. At the end, each call's
transitions are compared with the emulator's event log (``ControlClient.events()``): an event whose
status change is missing is lost, a change seen more often than the PBX made it was applied twice.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from noojee_django.emulator import ControlError
from tests.drill_stack import DrillStack, log

TRANSITIONS = "reliability_drill_transition"
FIRST_EXTENSION = 300
T = TypeVar("T")


def listen() -> None:
    """The listener process: ``noojee_listen`` with a receiver that records every transition it makes."""
    import os

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from noojee_django import signals

    def record(sender: Any, call: Any, previous_status: str, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TRANSITIONS} (call_id, previous, status, pid) VALUES (%s, %s, %s, %s)",
                [call.pk, previous_status, call.status, os.getpid()],
            )

    signals.call_status_changed.connect(record, weak=False)
    call_command("noojee_listen", timeout=int(os.environ.get("DRILL_POLL_TIMEOUT", "5")))


def retrying(action: Callable[..., T], *args: Any) -> T:
    """The drill's own requests to the control API wait out an emulator restart (up to six seconds)."""
    for _ in range(59):
        try:
            return action(*args)
        except OSError:
            time.sleep(0.1)
    return action(*args)


class ListenerDrill:
    def __init__(self, stack: DrillStack, *, agents: int, calls: int, kills: int, restarts: int) -> None:
        self.stack = stack
        self.agents = agents
        self.calls = calls
        self.kills = kills
        self.restarts = restarts
        self.listener: subprocess.Popen[bytes] | None = None
        self.listener_kills = 0
        self.placed: dict[int, str] = {}  # CallSession pk -> the unique id the PBX gave the call
        self.refused = 0
        self.done = threading.Event()
        self._lock = threading.Lock()

    @property
    def control(self) -> Any:
        return self.stack.control

    def start_listener(self) -> None:
        self.listener = self.stack.pipeline.spawn(
            [sys.executable, "-m", "tests.reliability_drill", "listen"], "listener"
        )

    def prepare(self) -> list[Any]:
        from django.contrib.auth.models import Permission, User
        from django.db import connection

        from noojee_django.models import AgentPhone

        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {TRANSITIONS} (id bigserial PRIMARY KEY, call_id bigint,"
                " previous text, status text, pid integer, at timestamptz DEFAULT now())"
            )
        can_dial = Permission.objects.get(content_type__app_label="noojee_django", codename="can_dial")
        users = []
        for index in range(self.agents):
            user = User.objects.create_user(f"drill-agent-{index}")
            user.user_permissions.add(can_dial)
            AgentPhone.objects.create(user=user, extension=f"SIP/{FIRST_EXTENSION + index}")
            users.append(User.objects.get(pk=user.pk))
        return users

    # ------------------------------------------------------------------------------------------ traffic

    def agent(self, index: int, user: Any) -> None:
        from django.db import connection

        from noojee_django import services
        from noojee_django.exceptions import PbxError

        exten = str(FIRST_EXTENSION + index)
        try:
            for number in range(self.calls):
                try:
                    call = services.dial(user, f"039{index:03d}{number:04d}")
                except PbxError:
                    # The PBX was restarting: a dial is never resent. If it went through after all,
                    # the call is hung up and left out of the comparison.
                    with self._lock:
                        self.refused += 1
                    time.sleep(0.5)
                    for stray in self._my_calls(exten):
                        with contextlib.suppress(ControlError):  # it may have ended meanwhile
                            retrying(self.control.hangup, stray["unique_id"])
                    continue
                unique_id = self._wait_connected(exten)
                with self._lock:
                    self.placed[call.pk] = unique_id
                time.sleep(random.uniform(0.1, 0.6))
                retrying(self.control.hangup, unique_id)
                time.sleep(random.uniform(0.05, 0.3))
        finally:
            connection.close()

    def _my_calls(self, exten: str) -> list[dict[str, Any]]:
        calls = retrying(self.control.calls)
        return [c for c in calls if c["exten"] == exten and c["kind"] == "click_to_dial"]

    def _wait_connected(self, exten: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            connected = [c for c in self._my_calls(exten) if c["phase"] == "connected"]
            if connected:
                return str(connected[0]["unique_id"])
            time.sleep(0.05)
        raise RuntimeError(f"the call on {exten} never connected")

    def inbound_noise(self) -> None:
        """Calls that ring the agents' extensions but are none of the app's: the listener skips them."""
        while not self.done.is_set():
            exten = str(FIRST_EXTENSION + random.randrange(self.agents))
            unique_id = retrying(self.control.inbound_call, "0398765432", exten)
            time.sleep(0.2)
            retrying(self.control.hangup, unique_id)
            self.done.wait(1.0)

    def disrupt(self) -> None:
        """Alternately SIGKILL the listener and restart the emulator, each time during a long poll."""
        plan = ["kill"] * self.kills + ["restart"] * self.restarts
        random.shuffle(plan)
        for action in plan:
            time.sleep(random.uniform(1.0, 2.0))
            self._wait_for_a_long_poll()
            if action == "kill":
                assert self.listener is not None
                self.listener.send_signal(signal.SIGKILL)
                self.listener.wait(10)
                self.listener_kills += 1
                log(f"listener killed ({self.listener_kills}/{self.kills})")
                time.sleep(random.uniform(0.2, 1.0))
                self.start_listener()
            else:
                log("restarting the emulator during a long poll")
                self.stack.emulator.restart(down_for=random.uniform(0.2, 0.8))

    def _wait_for_a_long_poll(self) -> None:
        """Until a new subscribe request has arrived and is being held (no event to answer it with)."""
        before = retrying(self.control.stats)["requests"].get("subscribe", 0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if retrying(self.control.stats)["requests"].get("subscribe", 0) > before:
                time.sleep(0.2)
                return
            time.sleep(0.05)

    # ------------------------------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        from noojee_django.models import CallSession

        users = self.prepare()
        # The listener's first poll is a snapshot (lastSequenceNumber 0): what ended before it is not
        # replayed. Traffic starts once it has one, as in a deployment where the listener runs first.
        retrying(self.control.inbound_call, "0398765432", "999")  # the PBX's seq is not 0
        self.start_listener()
        self._wait_for_cursor()
        noise = threading.Thread(target=self.inbound_noise, daemon=True)
        disruptor = threading.Thread(target=self.disrupt)
        agents = [threading.Thread(target=self.agent, args=(i, user)) for i, user in enumerate(users)]
        started = time.monotonic()
        for thread in [noise, disruptor, *agents]:
            thread.start()
        for thread in [*agents, disruptor]:
            thread.join()
        self.done.set()
        noise.join()
        # Let the listener catch up with the last events, then stop it in good order.
        deadline = time.monotonic() + 60
        calls = CallSession.objects.filter(pk__in=list(self.placed))
        while time.monotonic() < deadline and calls.exclude(status=CallSession.Status.HUNG_UP).exists():
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        assert self.listener is not None
        self.listener.send_signal(signal.SIGTERM)
        try:
            self.listener.wait(30)
        except subprocess.TimeoutExpired:
            self.listener.kill()
        return self.compare(elapsed)

    def _wait_for_cursor(self) -> None:
        from noojee_django.models import ListenerCursor

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ListenerCursor.objects.filter(last_sequence_number__gt=0).exists():
                return
            time.sleep(0.1)
        raise RuntimeError("the listener never took its first snapshot; see listener.log")

    def compare(self, elapsed: float) -> dict[str, Any]:
        from django.db import connection

        from noojee_django import services
        from noojee_django.models import CallSession

        events = retrying(self.control.events)
        extensions = {str(FIRST_EXTENSION + i) for i in range(self.agents)}
        by_call: dict[str, list[str]] = collections.defaultdict(list)
        for event in events:
            by_call[event["uniqueCallId"]].append(event["status"])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT call_id, previous, status FROM {TRANSITIONS} ORDER BY id")
            transitions: dict[int, list[tuple[str, str]]] = collections.defaultdict(list)
            for call_id, previous, status in cursor.fetchall():
                transitions[call_id].append((previous, status))

        lost = applied_twice = misattributed = 0
        problems: list[str] = []
        for pk, unique_id in sorted(self.placed.items()):
            expected = _changes([services.status_from_pbx(s) for s in by_call[unique_id]])
            applied = [status for previous, status in transitions[pk]]
            if applied and applied[0] == CallSession.Status.DIALING and transitions[pk][0][0] == "queued":
                applied = applied[1:]  # the listener saw "Dialing Out" before dial() had said so itself
            missing = collections.Counter(expected) - collections.Counter(applied)
            extra = collections.Counter(applied) - collections.Counter(expected)
            lost += sum(missing.values())
            applied_twice += sum(extra.values())
            call = CallSession.objects.get(pk=pk)
            if call.unique_id != unique_id:
                misattributed += 1
                problems.append(f"call {pk} carries unique id {call.unique_id!r}, the PBX's is {unique_id!r}")
            if missing or extra:
                problems.append(f"call {pk} ({unique_id}): PBX {expected}, applied {applied}")
        return {
            "events": sum(1 for e in events if e["exten"] in extensions),
            "calls": len(self.placed),
            "dials_refused": self.refused,
            "lost": lost,
            "applied_twice": applied_twice,
            "misattributed": misattributed,
            "listener_kills": self.listener_kills,
            "emulator_restarts": self.stack.emulator.restarts,
            "seconds": elapsed,
            "problems": problems[:20],
        }


def _changes(statuses: list[str | None]) -> list[str]:
    """The status changes a call goes through: unmapped statuses dropped, repeats collapsed, and the
    first ``dialing`` left out (``services.dial`` sets it itself, without a signal)."""
    changes: list[str] = []
    for status in statuses:
        if status is not None and (not changes or changes[-1] != status):
            changes.append(status)
    if changes and changes[0] == "dialing":
        changes = changes[1:]
    return changes


def run_listener_drill(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    stack = DrillStack(
        workdir,
        broker_url=args.broker,
        database_url=args.database,
        emulator_args=("--answer-delay", "0.2", "--far-end-answer-delay", "0.2"),
        extra_env={"DRILL_POLL_TIMEOUT": "5"},
    )
    try:
        stack.start(workers=False)  # calls without recording: nothing for a worker to do
        drill = ListenerDrill(
            stack,
            agents=args.agents,
            calls=args.calls,
            kills=args.listener_kills,
            restarts=args.emulator_restarts,
        )
        return drill.run()
    finally:
        if "drill" in locals() and drill.listener is not None and drill.listener.poll() is None:
            drill.listener.kill()
        stack.stop()
