"""``make demo``: the example CRM with everything it needs, in one command, with nothing to install.

Starts the Noojee emulator, the Django server, the call-state listener, and a Celery worker with beat
on kombu's filesystem broker, all on SQLite. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = os.environ.get("DEMO_HOST", "127.0.0.1")
WEB_PORT = int(os.environ.get("DEMO_PORT", "8000"))
PBX_PORT = int(os.environ.get("DEMO_PBX_PORT", "8765"))


def main() -> int:
    from example_project.settings import EMULATOR_DEV_KEY

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "NOOJEE_BASE_URL": f"http://{HOST}:{PBX_PORT}",
        "NOOJEE_API_KEY": os.environ.get("NOOJEE_API_KEY", EMULATOR_DEV_KEY),
        "PYTHONUNBUFFERED": "1",
    }
    python = sys.executable
    manage = [python, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)
    subprocess.run([*manage, "seed_demo"], env=env, check=True)

    commands = {
        "emulator": [
            python,
            "-m",
            "noojee_django.emulator",
            "--host",
            HOST,
            "--port",
            str(PBX_PORT),
            "--api-key",
            env["NOOJEE_API_KEY"],
            "--answer-delay",
            "1.0",
        ],
        "web": [*manage, "runserver", f"{HOST}:{WEB_PORT}", "--noreload"],
        "listener": [*manage, "noojee_listen"],
        "worker": [
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
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        processes["emulator"] = subprocess.Popen(commands["emulator"], env=env, cwd=REPO)
        _wait_for(f"http://{HOST}:{PBX_PORT}/_emulator/stats")
        for name in ("web", "listener", "worker"):
            processes[name] = subprocess.Popen(commands[name], env=env, cwd=REPO)
        _wait_for(f"http://{HOST}:{WEB_PORT}/")
        print(
            f"\n  Example CRM:  http://{HOST}:{WEB_PORT}/\n"
            f"  Admin:        http://{HOST}:{WEB_PORT}/admin/\n"
            f"  Emulated PBX: http://{HOST}:{PBX_PORT}/ (agent handset SIP/101 answers by itself)\n"
            "  Logins (password 'demo'): agent, manager, intern\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        dead = [name for name, p in processes.items() if p.poll() is not None]
        print(f"demo: {', '.join(dead)} stopped; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (our own loopback URL)
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error status still means it is up
                return
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
