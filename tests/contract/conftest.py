"""The client against the emulator over loopback HTTP: two independent readings of one protocol.

Fixtures ``noojee_emulator``, ``noojee_emulator_control`` and ``noojee_emulator_factory`` come from the
emulator's pytest plugin. Request counts are read from the emulator's own statistics, so "was it
retried" is answered by the server, not by the client under test.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from noojee_django.client import NoojeeClient, RetryPolicy
from noojee_django.client.types import CallEvent

FAST = RetryPolicy(max_attempts=3, base=0.0, cap=0.0)


def make_client(emulator: Any, **options: Any) -> NoojeeClient:
    options.setdefault("api_key", emulator.config.api_key)
    options.setdefault("retry", FAST)
    options.setdefault("pbx_time_zone", emulator.config.pbx_time_zone)
    return NoojeeClient(emulator.url, **options)


def requests_for(control: Any, method: str) -> int:
    return int(control.stats()["requests"].get(method, 0))


def wait_for_status(client: NoojeeClient, exten: str, status: str, timeout: float = 5) -> CallEvent:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for e in client.subscribe([exten], 0, timeout=0).events if e.status == status]
        if events:
            return events[-1]
        time.sleep(0.05)
    raise AssertionError(f"{exten} never reached {status}")


def wait_for_event(client: NoojeeClient, exten: str, status: str, seq: int, timeout: float = 5) -> CallEvent:
    """Long-polls from ``seq`` (a snapshot shows only current calls, not what just ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = client.subscribe([exten], seq, timeout=1)
        seq = result.seq
        for event in result.events:
            if event.status == status:
                return event
    raise AssertionError(f"{exten} never showed {status}")


@pytest.fixture
def client(noojee_emulator: Any) -> NoojeeClient:
    return make_client(noojee_emulator)
