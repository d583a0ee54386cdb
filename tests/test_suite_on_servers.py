"""Parts of this suite whose own database is PostgreSQL or MariaDB instead of SQLite's in-memory one.

The suite runs on SQLite, where a few things cannot go wrong: an in-memory test database ignores a
``close()``, so code that closes the connection of a test's transaction passes there and breaks on a
server. These files run again, in a pytest of their own, with ``DATABASE_URL`` naming a server:
the listener (which recycles connections), the permission matrix (every URL, API action and admin
page, with its queries), and the lifecycle's stateful test with the defects it pins (every use case
of the recording lifecycle, in any order, with its compare-and-set updates and the ledger), and two
PBXs side by side (numbers that collide across connections, and who may see which).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.drill_stack import fresh_database
from tests.servers import REPO

pytestmark = pytest.mark.slow

FILES = [
    "tests/test_listener.py",
    "tests/test_permission_matrix.py",
    "tests/test_lifecycle_stateful.py",
    "tests/test_lifecycle_regressions.py",
    "tests/test_recording_lifecycle.py",
    "tests/test_connections.py",
]
# Reads the URL configuration, not the database: it runs in the main suite.
DATABASE_FREE = [
    "tests/test_permission_matrix.py::test_the_matrix_covers_every_url_api_action_admin_page_and_admin_action"
]


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_the_database_heavy_files_pass_with_a_server_as_the_suites_database(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server_url = request.getfixturevalue("postgres_url" if engine == "postgresql" else "mariadb_url")
    database_url = fresh_database(server_url, f"suite_{engine}")
    deselect = [f"--deselect={node}" for node in DATABASE_FREE]
    # Its own Playwright output folder: a session empties it, and the suite's holds the browser tests'.
    playwright_output = f"--output={tmp_path / 'playwright'}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            playwright_output,
            *deselect,
            *FILES,
        ],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=REPO,
        capture_output=True,
        timeout=600,
        check=False,
    )
    output = result.stdout.decode(errors="replace")
    assert result.returncode == 0, output[-6000:]
    assert " passed" in output.splitlines()[-1] and "skipped" not in output.splitlines()[-1], output[-500:]
