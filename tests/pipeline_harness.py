"""Runs the recording pipeline for real: a Celery worker process, a broker, a database, the emulator.

Used by the end-to-end tests and by ``bench/pipeline.py``. Everything runs as separate processes with
the example project's settings, configured through the environment exactly as a deployment would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from noojee_django.signing import generate_private_key
from tests.servers import run_for_json

REPO = Path(__file__).resolve().parent.parent


class Pipeline:
    def __init__(
        self,
        workdir: Path,
        *,
        emulator_url: str,
        api_key: str,
        broker_url: str,
        database_url: str | None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "DJANGO_DEBUG": "0",  # as in production: no per-query bookkeeping in the worker
            "NOOJEE_EXAMPLE_VAR_DIR": str(workdir),
            "NOOJEE_BASE_URL": emulator_url,
            "NOOJEE_API_KEY": api_key,
            # A deployment's evidence signing key comes from its environment, never from the repo.
            "NOOJEE_EVIDENCE_SIGNING_KEY": generate_private_key(),
            "CELERY_BROKER_URL": broker_url,
            "NOOJEE_POLL_DELAY": "0.5",
            "NOOJEE_POLL_BACKOFF_BASE": "0.5",
            "NOOJEE_POLL_BACKOFF_CAP": "5",
            "PYTHONPATH": str(REPO),
            **(extra_env or {}),
        }
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.workers: list[subprocess.Popen[bytes]] = []

    @classmethod
    def for_driver(cls, workdir: Path, emulator: Any, database_url: str | None) -> Pipeline:
        """A pipeline with no broker of its own, against ``emulator``: for a driver that runs the
        services in its own process, on the database ``database_url`` names."""
        return cls(
            workdir,
            emulator_url=emulator.url,
            api_key=emulator.config.api_key,
            broker_url="memory://",
            database_url=database_url,
        )

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [sys.executable, str(REPO / "manage.py"), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr.decode()[-3000:]}")
        return result.stdout.decode()

    def migrate(self) -> None:
        self.manage("migrate", "--noinput", "-v0")

    def start_worker(
        self, *, concurrency: int = 8, pool: str = "threads", log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(log or self.workdir / f"worker-{len(self.workers)}.log", "ab")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "example_project",
                "worker",
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"worker{len(self.workers)}@%h",
            ],
            env=self.env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        return process

    def start_beat(self) -> subprocess.Popen[bytes]:
        """Celery beat with the example's schedule: the sweep and the hourly reconcile, as deployed."""
        process = self.spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "example_project",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(self.workdir / "celerybeat-schedule"),
            ],
            "beat",
        )
        self.workers.append(process)
        return process

    def spawn(self, command: Sequence[str], log_name: str) -> subprocess.Popen[bytes]:
        """Any process of the deployment, with the pipeline's environment, logging to the work folder."""
        out = open(self.workdir / f"{log_name}.log", "ab")
        return subprocess.Popen(list(command), env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

    def run_driver(
        self, args: Sequence[str], *, timeout: float = 600, module: str = "tests.pipeline_driver"
    ) -> dict[str, Any]:
        """Run a driver module in its own process with this pipeline's settings; its last line is JSON."""
        return dict(run_for_json([sys.executable, "-m", module, *args], env=self.env, timeout=timeout))

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.workers.clear()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
