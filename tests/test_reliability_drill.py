"""A few scenarios of the fault drill (``bench/reliability.py`` runs them all) in about a minute.

A worker killed with SIGKILL mid-download, truncated base64, HTTP 502 and the emulator restarted
mid-poll, each on its own small batch of tags, through a real Celery worker on Redis and PostgreSQL:
every tag attached with the emulator's exact audio or failed naming the fault, nothing lost, nothing
fetched twice, no partial or temporary file left.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.drill_stack import fresh_database, redis_database
from tests.servers import run_for_json

pytestmark = pytest.mark.slow


def run_drill(*arguments: str) -> dict[str, Any]:
    return dict(run_for_json([sys.executable, "-m", "tests.reliability_drill", *arguments], timeout=300))


def test_representative_faults_end_attached_or_failed_with_their_reason_and_nothing_else(
    loopback_servers: tuple[str, str],
) -> None:
    redis_url, server_url = loopback_servers
    report = run_drill(
        "faults",
        "--broker", redis_database(redis_url, 3),
        "--database", fresh_database(server_url, "drill_faults_test"),
        "--scenarios", "KILL,TRUNC,HTTP502,RESTART",
        "--tags", "4",
        "--kills", "2",
        "--concurrency", "3",
    )  # fmt: skip

    rows = {row["scenario"]: row for row in report["scenarios"]}
    assert set(rows) == {
        "worker SIGKILL mid-download",
        "truncated base64",
        "HTTP 502",
        "emulator restart mid-poll",
    }
    for name, row in rows.items():
        assert row["problems"] == [], name
        assert (row["lost"], row["duplicates"], row["partial_files"]) == (0, 0, 0), name
        assert row["attached"] + row["failed_with_reason"] == row["tags"] == 4, name
    # the faults that never pass failed their tags, saying which; the others were all survived
    assert rows["truncated base64"]["failed_with_reason"] == 2
    assert rows["HTTP 502"]["failed_with_reason"] == 2
    assert rows["truncated base64"]["fault_hits"] > 2 and rows["HTTP 502"]["fault_hits"] > 2
    assert rows["worker SIGKILL mid-download"]["attached"] == 4
    assert rows["worker SIGKILL mid-download"]["worker_kills"] == report["worker_kills"] == 2
    assert rows["emulator restart mid-poll"]["emulator_restarts"] == 2
