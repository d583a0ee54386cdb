"""The agent's Resume, the resume task and the sweep at the same instant, on SQLite, PostgreSQL and
MariaDB, from threads with their own connections: the PBX is told ``start`` once per pause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.pipeline_harness import Pipeline

pytestmark = pytest.mark.slow

ROUNDS, RESUMERS = 4, 2


def test_racing_resumes_tell_the_pbx_start_once_per_pause(
    tmp_path: Path, engine_database: str, noojee_emulator: Any
) -> None:
    with Pipeline.for_driver(tmp_path, noojee_emulator, engine_database) as pipeline:
        pipeline.migrate()
        report = pipeline.run_driver(
            ["--rounds", str(ROUNDS), "--resumers", str(RESUMERS)],
            module="tests.pause_race_driver",
            timeout=180,
        )

    assert report["errors"] == []
    assert report["starts_per_round"] == [1] * ROUNDS
    assert report["resumes"] == ROUNDS
    assert report["open_pauses"] == 0 and report["status"] == "recording"
    assert all(ending in ("resumed", "resumed_automatically") for ending in report["endings"])
    assert report["legs"] == ROUNDS + 1
