"""The emulator from a shell: ``python -m noojee_django.emulator`` and ``manage.py noojee_emulator``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from .helpers import CALLS, TIME

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def running(
    command: list[str], env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def test_module_prints_its_url_first_serves_and_stops_on_sigterm() -> None:
    command = [
        sys.executable, "-m", "noojee_django.emulator", "--port", "0", "--api-key", "cli-key",
        "--user-key", "cli-user=fred", "--latency", "0", "--audio-encoding", "raw",
    ]  # fmt: skip
    with running(command) as (process, url):
        assert url.startswith("http://127.0.0.1:")
        assert requests.post(url + TIME, timeout=5).text.isdigit()
        params = {"exten": "101", "lastSequenceNumber": "0", "timeOut": "0"}
        assert (
            requests.post(url + CALLS + "subscribe", params={"apiKey": "cli-key", **params}).json()["Code"]
            == 0
        )
        refused = requests.post(url + CALLS + "subscribe", params={"apiKey": "cli-user", **params})
        assert refused.json()["Code"] == -1
        assert requests.get(url + "/_emulator/config").json()["audio_encoding"] == "raw"
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
        assert process.stderr is not None
        log = process.stderr.read().decode()
        assert "subscribe" in log and "cli-key" not in log and "cli-user" not in log


def test_more_sigints_while_it_stops_end_it_cleanly() -> None:
    """Ctrl-C reaches the emulator twice when the demo started it: from the terminal and the demo."""
    command = [sys.executable, "-m", "noojee_django.emulator", "--port", "0", "--api-key", "k", "--quiet"]
    with running(command) as (process, url):
        assert requests.post(url + TIME, timeout=5).status_code == 200
        # The later ones arrive while the first is still stopping, and on to the moment it exits
        # (while the interpreter shuts down, when Python's own handlers are gone).
        deadline = time.monotonic() + 5
        while process.poll() is None and time.monotonic() < deadline:
            process.send_signal(signal.SIGINT)
            time.sleep(0.002)
        assert process.wait(5) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read().decode()


def test_management_command_takes_the_api_key_from_settings() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOOJEE_API_KEY"}
    env["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    command = [sys.executable, "manage.py", "noojee_emulator", "--port", "0", "--quiet"]
    with running(command, env) as (process, url):
        assert url.startswith("http://127.0.0.1:")
        from example_project.settings import EMULATOR_DEV_KEY

        params = {"apiKey": EMULATOR_DEV_KEY, "exten": "101", "lastSequenceNumber": "0", "timeOut": "0"}
        assert requests.post(url + CALLS + "subscribe", params=params).json()["Code"] == 0
        process.send_signal(signal.SIGINT)
        assert process.wait(5) == 0


def test_the_emulator_imports_neither_django_nor_the_client() -> None:
    code = (
        "import sys, noojee_django.emulator, noojee_django.emulator.__main__;"
        "import noojee_django.emulator.pytest_plugin;"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] == 'django' or m.startswith('noojee_django.client')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "[]"
