"""docs/integration.md, carried out: a project built from nothing but its code blocks takes a voice
signature from the record button to attached audio that plays.

The blocks are applied in order in a throwaway folder (see ``tests/support/guide.py`` for the words that
mark them). The environment is what a reader's would be: the project's Python first on ``PATH``, the
app importable (from this checkout, as ``pip install`` would make it), and the addresses of the
throwaway Redis and the emulator in the variables the guide's settings read (``REDIS_URL``,
``NOOJEE_BASE_URL``). The only words of the page the test changes are the two fixed local ports of the
``background`` block (the emulator's ``--port 8765`` and ``runserver``'s default), for free ones, and
``runserver`` runs without its autoreloader.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from noojee_django.emulator import ControlClient
from tests.servers import free_port
from tests.support.guide import (
    Block,
    GuideError,
    Page,
    blocks,
    commands,
    compile_python,
    feed_stdin,
    run_shell,
    tail,
    write_file,
)

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "integration.md"
VENV_BIN = Path(sys.executable).parent


def guide_blocks() -> list[Block]:
    return blocks(GUIDE.read_text())


def test_every_block_of_the_guide_says_what_to_do_with_it_and_python_blocks_compile() -> None:
    found = guide_blocks()
    assert len(found) > 10
    for block in found:
        assert block.action  # raises for a block that says nothing
        compile_python(block)
    not_run = [block.where() for block in found if block.action == "not-executed"]
    assert len(not_run) <= 4, f"blocks not run: keep them to those that cannot be: {not_run}"


def test_a_block_that_says_nothing_is_refused() -> None:
    (block,) = blocks("```python\nx = 1\n```\n")
    with pytest.raises(GuideError, match="neither what to do"):
        _ = block.action


def test_a_python_block_that_does_not_compile_is_refused() -> None:
    (block,) = blocks('```python not-executed\nNOOJEE = {"BASE_URL": \n```\n')
    with pytest.raises(GuideError, match="does not compile"):
        compile_python(block)


def test_a_block_changing_a_file_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    (block,) = blocks('```python title="mysite/settings.py" append\nX = 1\n```\n')
    with pytest.raises(GuideError, match="does not exist"):
        write_file(block, tmp_path)


def test_the_install_extras_the_guide_names_are_the_packages() -> None:
    text = GUIDE.read_text()
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {
        extra for group in re.findall(r"noojee-django\[([a-z0-9,]+)\]", text) for extra in group.split(",")
    }
    assert named and named <= extras
    table = set(re.findall(r"^\| `([a-z0-9]+)` \|", text, re.M))
    assert table == extras - {"dev"}


def test_the_readme_install_section_points_at_the_guide() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Installing into your CRM", 1)[1].split("\n## ", 1)[0]
    assert "docs/integration.md" in section


# --------------------------------------------------------------------------------------------------
# The whole guide


class Stack:
    """The guide's long-running processes, each in its own process group and log file."""

    def __init__(self, folder: Path, logs: Path, env: dict[str, str]) -> None:
        self.folder, self.logs, self.env = folder, logs, env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command.split(),
            cwd=self.folder,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def logs_tail(self) -> str:
        return "\n".join(f"--- {name}\n{tail(self.logs / f'{name}.log')}" for name in self.processes)

    def check_alive(self) -> None:
        dead = [name for name, process in self.processes.items() if process.poll() is not None]
        if dead:
            raise AssertionError(f"{', '.join(dead)} exited\n{self.logs_tail()}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def wait_for(what: str, predicate: Callable[[], Any], stack: Stack, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        with contextlib.suppress(requests.RequestException):
            value = predicate()
            if value:
                return value
        time.sleep(0.25)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s\n{stack.logs_tail()}")


def local_command(line: str, emulator_port: int, web_port: int) -> tuple[str, str]:
    """A background line with the guide's fixed local ports made free ones: ``(name, command)``."""
    if "noojee_emulator" in line:
        assert "--port 8765" in line, line
        return "emulator", line.replace("--port 8765", f"--port {emulator_port}")
    if line.endswith(" runserver"):
        return "web", f"{line} 127.0.0.1:{web_port} --noreload"
    if "noojee_listen" in line:
        return "listener", line
    if line.startswith("celery "):
        return "worker", line
    raise AssertionError(f"the test does not know this process of the guide: {line!r}")


def widget_post(session: requests.Session, url: str, form: dict[str, Any], **extra: str) -> dict[str, Any]:
    """Post a rendered form as noojee.js does: its fields, JSON asked for, the form's CSRF token."""
    fields = dict(form["fields"])
    response = session.post(
        url,
        data={**fields, **extra},
        headers={
            "Accept": "application/json",
            "X-Requested-With": "XMLHttpRequest",
            "X-CSRFToken": fields["csrfmiddlewaretoken"],
        },
        timeout=30,
    )
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:500]}"
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    running = Stack(tmp_path, logs, env)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
def test_the_guide_builds_a_crm_that_attaches_a_voice_signature(
    tmp_path: Path, redis_url: str, stack: Stack
) -> None:
    emulator_port, web_port = free_port(), free_port()
    stack.env.update(
        REDIS_URL=redis_url.rsplit("/", 1)[0] + "/6",  # a database no other test of the suite uses
        NOOJEE_BASE_URL=f"http://127.0.0.1:{emulator_port}",
    )
    folder = tmp_path / "work"
    folder.mkdir()
    guide = guide_blocks()
    background: list[str] = []
    for block in guide:
        action = block.action
        if action == "not-executed":
            compile_python(block)
        elif action in ("create", "replace", "append"):
            path = write_file(block, folder)
            if block.language == "python":
                compile(path.read_text(), str(path), "exec")
        elif action == "run":
            folder = run_shell(block, folder, stack.env, stack.logs / "shell.log")
        elif action == "stdin":
            feed_stdin(block, folder, stack.env, stack.logs / "stdin.log")
        else:
            background += commands(block)
    stack.folder = folder

    # What the guide says to check, whatever the page's own blocks ran.
    for check in (
        ["check", "--fail-level", "WARNING"],
        ["check", "--database", "default", "--fail-level", "WARNING"],
    ):
        result = subprocess.run(
            ["python", "manage.py", *check, "--fail-level", "WARNING"],
            cwd=folder,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = result.stdout + result.stderr
        assert result.returncode == 0 and "no issues (0 silenced)" in said, said

    names = [local_command(line, emulator_port, web_port) for line in background]
    assert sorted(name for name, _ in names) == ["emulator", "listener", "web", "worker"]
    emulator = f"http://127.0.0.1:{emulator_port}"
    web = f"http://127.0.0.1:{web_port}"
    for name, command in names:
        stack.start(name, command)
        if name == "emulator":  # a reader starts the PBX before what talks to it
            wait_for(
                "the emulator", lambda: requests.get(f"{emulator}/_emulator/stats", timeout=2).ok, stack, 30
            )
    wait_for("the web server", lambda: requests.get(f"{web}/admin/login/", timeout=2).ok, stack, 60)
    wait_for("the listener", lambda: "Listening" in tail(stack.logs / "listener.log"), stack, 60)

    # Log in and open the page as section 10 of the guide says.
    text = GUIDE.read_text()
    username, password = re.search(r'create_user\("([^"]+)", password="([^"]+)"', text).groups()  # type: ignore[union-attr]
    page_path = re.search(r"/admin/login/\?next=(/[^>)\s]+)", text)[1]  # type: ignore[index]
    browser = requests.Session()
    browser.get(f"{web}/admin/login/", timeout=10)
    logged_in = browser.post(
        f"{web}/admin/login/?next={page_path}",
        data={
            "username": username,
            "password": password,
            "next": page_path,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        },
        timeout=10,
    )
    assert logged_in.url == web + page_path, logged_in.url
    page = Page(logged_in.text)
    assert {"data-noojee", "data-noojee-call-status", "data-noojee-record"} <= page.marked, page.marked
    assert len(page.assets) == 3  # the stylesheet, the catalog of the widget's words, the script
    for asset in page.assets:
        assert browser.get(web + asset, timeout=10).status_code == 200, asset
    assert "No recordings yet." in logged_in.text

    dial = page.form("dial")
    call = widget_post(browser, web + dial["attrs"]["action"], dial)  # type: ignore[index]
    wait_for(
        "the call to connect",
        lambda: browser.get(web + call["status_url"], timeout=10).json()["status"] == "connected",
        stack,
        30,
    )
    record = page.form("record-start")
    consent = {name: value or "1" for name, value in record["checkboxes"].items()}  # type: ignore[union-attr]
    recording = widget_post(browser, web + record["attrs"]["action"], record, **consent)  # type: ignore[index]
    assert recording["is_recording"], recording
    time.sleep(1.5)

    # The customer hangs up (the emulator's call control); nobody clicks Stop.
    control = ControlClient(emulator)
    (pbx_call,) = [pbx_call for pbx_call in control.calls() if pbx_call["recording"]]
    control.hangup(pbx_call["unique_id"])

    def signature_player() -> str | None:
        players = Page(browser.get(web + page_path, timeout=10).text).players
        sources = [
            player["src"] for player in players if "noojee-signature-player" in player.get("class", "")
        ]
        return sources[0] if sources else None

    source = wait_for("the voice signature to be attached", signature_player, stack, 90)
    audio = browser.get(web + source, timeout=30)
    assert audio.status_code == 200
    assert audio.headers["Content-Type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF" and len(audio.content) > 8000
    assert "attached" in browser.get(web + page_path, timeout=10).text

    # The admin kit's section: the invoice's change page, on the admin and on the CRM's own admin
    # site, has the panel (a dial button and the signature's player) outside the admin's form.
    invoice_id = page_path.rstrip("/").rsplit("/", 1)[-1]
    for site in ("admin", "sales"):
        change_page = browser.get(f"{web}/{site}/crm/invoice/{invoice_id}/change/", timeout=10)
        assert change_page.status_code == 200, (site, change_page.status_code)
        panel = Page(change_page.text)
        assert "data-noojee" in panel.marked and source in [p["src"] for p in panel.players], site
