"""The example CRM's processes, started and stopped together: used by ``make demo`` and by
``manage.py crm_demo --scripted``.

Two client companies, each on a PBX of its own: the emulator of the connection ``"default"`` and the
emulator of ``"acme"`` (``NOOJEE["PBXES"]``, set up by the environment this stack gives its processes:
the second PBX's address in ``NOOJEE_ACME_BASE_URL``, its key in ``NOOJEE_ACME_API_KEY``), a
call-state listener for each, the Django server and a Celery worker with embedded beat, on SQLite and
kombu's filesystem broker inside ``var_dir``: nothing to install.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The second client company's PBX connection.
ACME = "acme"
#: The time zone of the acme emulator, and of its connection: not the default PBX's.
ACME_PBX_TIME_ZONE = "Australia/Perth"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoStack:
    def __init__(
        self,
        *,
        var_dir: Path | None = None,
        host: str = "127.0.0.1",
        web_port: int = 8000,
        pbx_port: int = 8765,
        acme_pbx_port: int | None = None,
        api_key: str | None = None,
        answer_delay: float = 1.0,
        far_end_answer_delay: float = 2.0,
        hangup_after: int = 0,
        quiet: bool = False,
    ) -> None:
        from example_project.settings import EMULATOR_DEV_KEY

        self.host, self.web_port, self.pbx_port = host, web_port, pbx_port
        self.acme_pbx_port = acme_pbx_port or free_port()
        self.api_key = api_key or os.environ.get("NOOJEE_API_KEY") or EMULATOR_DEV_KEY
        # Another key than the default PBX's, made for this run: it is only ever in the environment.
        self.acme_api_key = os.environ.get("NOOJEE_ACME_API_KEY") or secrets.token_hex(16)
        self.answer_delay = answer_delay
        self.far_end_answer_delay = far_end_answer_delay
        self.hangup_after = hangup_after
        self.quiet = quiet
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "example_project.settings",
            "NOOJEE_BASE_URL": self.pbx_url,
            "NOOJEE_API_KEY": self.api_key,
            "NOOJEE_ACME_BASE_URL": self.acme_pbx_url,
            "NOOJEE_ACME_API_KEY": self.acme_api_key,
            "NOOJEE_ACME_PBX_TIME_ZONE": ACME_PBX_TIME_ZONE,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO),
            "NOOJEE_DEMO_PBX": "1",
            "NOOJEE_DEMO_HANGUP_AFTER": str(hangup_after),
        }
        if var_dir is not None:
            self.env["NOOJEE_EXAMPLE_VAR_DIR"] = str(var_dir)
            self.env.pop("DATABASE_URL", None)
            self.env.pop("CELERY_BROKER_URL", None)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    @property
    def pbx_url(self) -> str:
        return f"http://{self.host}:{self.pbx_port}"

    @property
    def acme_pbx_url(self) -> str:
        """The second client company's emulated PBX."""
        return f"http://{self.host}:{self.acme_pbx_port}"

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, str(REPO / "manage.py"), *args], env=self.env, check=True, cwd=REPO)

    def start(self) -> None:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("seed_demo")
        python, manage = sys.executable, str(REPO / "manage.py")
        output = subprocess.DEVNULL if self.quiet else None
        self._spawn("emulator", self._emulator(self.pbx_port, self.api_key), output)
        self._spawn(
            f"{ACME}-emulator",
            self._emulator(self.acme_pbx_port, self.acme_api_key, "--pbx-time-zone", ACME_PBX_TIME_ZONE),
            output,
        )
        self._wait_for(f"{self.pbx_url}/_emulator/stats")
        self._wait_for(f"{self.acme_pbx_url}/_emulator/stats")
        self._spawn(
            "web", [python, manage, "runserver", f"{self.host}:{self.web_port}", "--noreload"], output
        )
        self._spawn("listener", [python, manage, "noojee_listen"], output)
        self._spawn(f"{ACME}-listener", [python, manage, "noojee_listen", "--pbx", ACME], output)
        self._spawn(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "example_project",
                "worker",
                "--beat",
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--loglevel",
                "WARNING" if self.quiet else "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            output,
        )
        self._wait_for(f"{self.web_url}/accounts/login/")

    def _emulator(self, port: int, api_key: str, *options: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "noojee_django.emulator",
            "--host",
            self.host,
            "--port",
            str(port),
            "--api-key",
            api_key,
            "--answer-delay",
            str(self.answer_delay),
            "--far-end-answer-delay",
            str(self.far_end_answer_delay),
            *(["--far-end-hangup-after", str(self.hangup_after)] if self.hangup_after else []),
            *options,
            *(["--quiet"] if self.quiet else []),
        ]

    def _spawn(self, name: str, command: list[str], output: int | None) -> None:
        self.processes[name] = subprocess.Popen(command, env=self.env, cwd=REPO, stdout=output, stderr=output)

    def dead(self) -> list[str]:
        return [name for name, process in self.processes.items() if process.poll() is not None]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes.clear()

    def _wait_for(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.dead():
                raise RuntimeError(f"demo: {', '.join(self.dead())} exited during start-up")
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (our own loopback URL)
                    return
            except OSError as exc:
                if getattr(exc, "code", None):  # an HTTP error status still means it is up
                    return
                time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")

    def __enter__(self) -> DemoStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
