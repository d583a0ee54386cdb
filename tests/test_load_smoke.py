"""``bench/load.py`` at small scale: concurrent dials and Range requests through a real gunicorn.

The same code as the benchmark (:mod:`tests.load_harness`): gunicorn with gthread workers on a
throwaway PostgreSQL, the emulator in its own process, recordings collected by the app's services.
Asserts what the benchmark counts, exactly: no error, one originate per agent, every byte right.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load_harness import LoadConfig, LoadReport, run_load
from tests.servers import ServerUnavailable, postgres_server, require

#: One worker runs both tests, on the one load run of the module fixture.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("load_smoke")]

CONFIG = LoadConfig(
    dials=20, ranges=10, full_gets=2, listeners=2, recordings=1, legs=(60, 30), workers=2, threads=8
)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server(max_connections=100))
        except ServerUnavailable as exc:
            require(str(exc))
        yield url


@pytest.fixture(scope="module")
def report(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> LoadReport:
    return run_load(Path(tmp_path_factory.mktemp("load")), CONFIG, database_url=database_url)


def test_concurrent_dials_through_gunicorn_answer_and_originate_once_each(report: LoadReport) -> None:
    assert [o.problem for o in report.dials if o.problem] == []
    assert len(report.dials) == CONFIG.dials
    assert report.originates == CONFIG.dials
    assert report.originate_pairs == report.expected_pairs
    assert len(report.expected_pairs) == CONFIG.dials  # twenty different agents and numbers
    assert report.rows["calls"] == CONFIG.dials
    assert report.rows["call_statuses"] == {"dialing": CONFIG.dials}


def test_concurrent_range_requests_get_exactly_the_stored_bytes(report: LoadReport) -> None:
    assert [o.problem for o in [*report.ranges, *report.full_gets] if o.problem] == []
    assert len(report.ranges) == CONFIG.ranges
    assert len(report.full_gets) == CONFIG.full_gets
    assert report.audio_files == 3  # the signature and both legs
    assert all(o.body_bytes > 0 for o in report.ranges)
    # every listen is logged, once
    assert report.rows["accesses"] == CONFIG.ranges + CONFIG.full_gets


def test_web_threads_hold_one_database_connection_each_at_most(report: LoadReport) -> None:
    """What the deployment guide's sizing rule counts on: connections <= workers x threads."""
    assert 0 < report.rows["db_connections"] <= CONFIG.workers * CONFIG.threads
