"""The processes of a reliability drill, each one a thing the drill can stop, kill or restart.

A drill runs the deployment for real: the emulator in its own process (on a fixed port and a state
file, so it can be stopped and started again as the same PBX), Celery workers and beat, the call-state
listener, Redis and PostgreSQL. The drill's own process sets Django up with the same settings and
environment, to create tags and read the outcome from the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.pipeline_harness import REPO, Pipeline
from tests.servers import free_port

API_KEY = "drill-key"

#: The whole clock of the app, shortened so that a drill of minutes covers what takes hours in production.
FAST_CLOCK = {
    "NOOJEE_TIMEOUT": "2",  # client read timeout: a 3 s latency fault is a timeout
    "NOOJEE_POLL_DELAY": "0.5",
    "NOOJEE_POLL_BACKOFF_BASE": "0.5",
    "NOOJEE_POLL_BACKOFF_CAP": "3",
    "NOOJEE_GIVE_UP_AFTER": "60",
    "NOOJEE_FETCH_LEASE": "4",
    "NOOJEE_SWEEP_GRACE": "1",
    "NOOJEE_SWEEP_EVERY": "2",
    "NOOJEE_RECONCILE_EVERY": "5",  # the task itself runs at most once a minute
    "NOOJEE_MAX_FETCH_ATTEMPTS": "5",
}


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database on the PostgreSQL or MariaDB server at ``server_url``; returns its URL."""
    if server_url.startswith("mysql://"):
        from urllib.parse import urlsplit

        import MySQLdb

        parts = urlsplit(server_url)
        connection = MySQLdb.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
            password=parts.password or "",
        )  # fmt: skip
        try:
            cursor = connection.cursor()
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            connection.close()
    else:
        import psycopg

        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def redis_database(server_url: str, number: int) -> str:
    """The URL of database ``number`` on the Redis at ``server_url``: one broker per user of one server."""
    return server_url.rsplit("/", 1)[0] + f"/{number}"


def log(message: str) -> None:
    sys.stderr.write(f"[drill {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


class EmulatorProcess:
    """``python -m noojee_django.emulator`` on one port and one state file, restartable as the same PBX."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.state_file = workdir / "pbx-state.json"
        self.extra_args = extra_args
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._log = open(workdir / "emulator.log", "ab")  # for the drill's whole life

    def start(self) -> None:
        command = [
            sys.executable, "-m", "noojee_django.emulator", "--host", "127.0.0.1", "--port", str(self.port),
            "--api-key", API_KEY, "--state-file", str(self.state_file), "--quiet", *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=self._log)
        assert self.process.stdout is not None
        url = self.process.stdout.readline().decode().strip()
        if url != self.url:
            raise RuntimeError(f"the emulator did not start on {self.url} (got {url!r}); see emulator.log")

    def stop(self) -> None:
        """SIGTERM, as an init system stops a server: it writes its state and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()
        self.restarts += 1


class DrillStack:
    """The deployment under drill, and the drill process's own Django set up against it."""

    def __init__(
        self,
        workdir: Path,
        *,
        broker_url: str,
        database_url: str,
        emulator_args: tuple[str, ...] = (),
        worker_concurrency: int = 4,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.temp_dir = workdir / "tmp"  # the workers' TMPDIR: what a killed worker leaves is found here
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.emulator = EmulatorProcess(workdir, extra_args=emulator_args)
        self.pipeline = Pipeline(
            workdir,
            emulator_url=self.emulator.url,
            api_key=API_KEY,
            broker_url=broker_url,
            database_url=database_url,
            extra_env={**FAST_CLOCK, "TMPDIR": str(self.temp_dir), **(extra_env or {})},
        )
        self.worker_concurrency = worker_concurrency
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_started_at = 0.0
        self.worker_kills = 0

    @property
    def control(self) -> Any:
        from noojee_django.emulator import ControlClient

        return ControlClient(self.emulator.url)

    def start(self, *, workers: bool = True) -> None:
        self.emulator.start()
        self.pipeline.migrate()
        os.environ.update(self.pipeline.env)
        import django

        django.setup()
        if workers:
            self.start_worker()
            self.pipeline.start_beat()

    def start_worker(self) -> None:
        from django.utils import timezone

        self.worker_started_at = timezone.now().timestamp()
        self.worker = self.pipeline.start_worker(concurrency=self.worker_concurrency)

    def kill_worker(self) -> None:
        """SIGKILL: no handler runs, no message is acknowledged, no temporary file is removed."""
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(10)
        self.worker_kills += 1

    def stop(self) -> None:
        self.pipeline.stop()
        self.emulator.stop()
