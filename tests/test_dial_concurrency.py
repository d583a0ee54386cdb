"""Simultaneous identical clicks, on PostgreSQL and on SQLite, from threads with their own connections:
the customer is rung once per agent, and every click is answered with that one call."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline_harness import Pipeline
from tests.servers import ServerUnavailable, postgres_server, require

pytestmark = pytest.mark.slow

AGENTS, CLICKS = 8, 4


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None  # the example project's SQLite file in the pipeline's folder
        return
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except ServerUnavailable as exc:
            require(str(exc))
        yield url


def test_simultaneous_double_clicks_ring_each_customer_once(
    tmp_path: Path, database_url: str | None, noojee_emulator: Any
) -> None:
    noojee_emulator.control.config(answer_delay=30)  # the calls stay "starting" for the whole test
    with Pipeline(
        tmp_path,
        emulator_url=noojee_emulator.url,
        api_key=noojee_emulator.config.api_key,
        broker_url="memory://",
        database_url=database_url,
    ) as pipeline:
        pipeline.migrate()
        report = pipeline.run_driver(
            ["--agents", str(AGENTS), "--clicks", str(CLICKS)], module="tests.dial_race_driver", timeout=120
        )

    assert report["errors"] == []
    assert report["answers"] == AGENTS * CLICKS
    assert report["originates"] == AGENTS
    assert report["call_rows"] == AGENTS
    assert all(len(ids) == 1 for ids in report["calls_per_agent"].values()), report["calls_per_agent"]
