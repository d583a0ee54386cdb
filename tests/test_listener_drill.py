"""The listener drill (``bench/reliability.py`` runs a larger one) in well under a minute.

Calls placed through ``services.dial`` and ended at the PBX while the listener process is SIGKILLed and
the emulator restarted (state kept) during long polls: every call's transitions match the emulator's
event log, none lost, none applied twice, none given to another call.
"""

from __future__ import annotations

import pytest

from tests.drill_stack import fresh_database, redis_database
from tests.test_reliability_drill import run_drill

pytestmark = pytest.mark.slow


def test_a_killed_listener_and_a_restarted_pbx_lose_and_repeat_no_event(
    loopback_servers: tuple[str, str],
) -> None:
    redis_url, server_url = loopback_servers
    report = run_drill(
        "listener",
        "--broker", redis_database(redis_url, 4),
        "--database", fresh_database(server_url, "drill_listener_test"),
        "--agents", "3",
        "--calls", "4",
        "--listener-kills", "2",
        "--emulator-restarts", "2",
    )  # fmt: skip

    assert report["problems"] == []
    assert (report["lost"], report["applied_twice"], report["misattributed"]) == (0, 0, 0)
    assert (report["listener_kills"], report["emulator_restarts"]) == (2, 2)
    assert report["calls"] + report["dials_refused"] == 12
    assert report["calls"] >= 8
    # Dialing Out, Connected and Hungup of every call, besides the inbound calls that are none of ours
    assert report["events"] >= 3 * report["calls"]
