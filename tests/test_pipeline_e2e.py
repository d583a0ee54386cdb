"""The recording pipeline end to end: a real Celery worker on a real Redis broker, on SQLite,
PostgreSQL and MariaDB in turn.

The servers are started by the tests on loopback (see :mod:`tests.servers`); the worker and the driver
are separate processes using the example project's settings, talking to the emulator over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.drill_stack import redis_database
from tests.pipeline_harness import Pipeline

pytestmark = pytest.mark.slow


@pytest.fixture
def pipeline(
    tmp_path: Path, redis_url: str, engine_database: str, noojee_emulator: Any
) -> Iterator[Pipeline]:
    with Pipeline(
        tmp_path,
        emulator_url=noojee_emulator.url,
        api_key=noojee_emulator.config.api_key,
        broker_url=redis_database(redis_url, 0),
        database_url=engine_database,
    ) as running:
        running.migrate()
        yield running


def test_worker_attaches_every_tag_with_the_emulators_audio(pipeline: Pipeline) -> None:
    pipeline.start_worker(concurrency=4)
    report = pipeline.run_driver(["--tags", "4", "--legs", "3,2,1", "--prefix", "E2E", "--timeout", "90"])

    assert set(report["tags"]) == {f"E2E-{i}" for i in range(4)}
    for tag, entry in report["tags"].items():
        assert entry["status"] == "attached", (tag, entry)
        assert entry["legs_match"], (tag, entry)
        assert entry["leg_rows"] == 3
        assert entry["signature_match"], (tag, entry)
    # One metadata call per tag, one audio request per leg: nothing asked twice.
    assert report["requests"].get("retrieveMetaData", 0) == 4
    assert report["requests"].get("retrieveRecording", 0) == 12


def test_tags_wait_in_the_broker_until_a_worker_comes(pipeline: Pipeline) -> None:
    driver_args = ["--tags", "2", "--legs", "1", "--prefix", "LATE", "--timeout", "3"]
    report = pipeline.run_driver(driver_args)
    assert {entry["status"] for entry in report["tags"].values()} == {"waiting"}

    pipeline.start_worker(concurrency=2)
    output = pipeline.manage("shell", "-c", _WAIT_FOR_ATTACHED)
    assert output.strip().splitlines()[-1] == "attached attached"


_WAIT_FOR_ATTACHED = """
import time
from noojee_django.models import RecordingTag
tags = RecordingTag.objects.filter(tag__startswith="LATE-").order_by("tag")
deadline = time.monotonic() + 60
while time.monotonic() < deadline and tags.exclude(status__in=RecordingTag.FINAL_STATUSES).exists():
    time.sleep(0.2)
print(" ".join(t.status for t in tags))
"""
