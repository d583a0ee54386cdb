"""Simultaneous identical clicks, on SQLite, PostgreSQL and MariaDB, from threads with their own
connections: the customer is rung once per agent, and every click is answered with that one call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.pipeline_harness import Pipeline

pytestmark = pytest.mark.slow

AGENTS, CLICKS = 8, 4


def test_simultaneous_double_clicks_ring_each_customer_once(
    tmp_path: Path, engine_database: str, noojee_emulator: Any
) -> None:
    noojee_emulator.control.config(answer_delay=30)  # the calls stay "starting" for the whole test
    with Pipeline.for_driver(tmp_path, noojee_emulator, engine_database) as pipeline:
        pipeline.migrate()
        report = pipeline.run_driver(
            ["--agents", str(AGENTS), "--clicks", str(CLICKS)], module="tests.dial_race_driver", timeout=120
        )

    assert report["errors"] == []
    assert report["answers"] == AGENTS * CLICKS
    assert report["originates"] == AGENTS
    assert report["call_rows"] == AGENTS
    assert all(len(ids) == 1 for ids in report["calls_per_agent"].values()), report["calls_per_agent"]
