"""The main job, end to end: the scripted demo through the real HTTP endpoints of a running stack; and
the demo's two client companies, each on an emulated PBX of its own, kept apart.

The two emulators number their calls and legs alike (each starts from the same counters), so both
companies' signatures have the same ``CallRecordId``s on their PBXs: each must still be the audio of
its own PBX, heard by its own company only.
"""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from example_project.stack import ACME, DemoStack, free_port
from noojee_django.emulator import ControlClient
from noojee_django.stitching import stitch_wavs
from tests.polling import wait_for

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_scripted_demo_attaches_a_voice_signature_identical_to_the_pbx_audio() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "crm_demo", "--scripted"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(REPO)},
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stderr[-2000:]
    assert lines[-1] == "demo: attached=1 sha256_match=true"


# ------------------------------------------------------------------- two client companies, two PBXs


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    running = DemoStack(
        var_dir=tmp_path_factory.mktemp("demo-stack"),
        web_port=free_port(),
        pbx_port=free_port(),
        acme_pbx_port=free_port(),
        quiet=True,
    )
    with running:
        yield running


class User:
    """A demo user in a browser of their own (their own cookies), speaking to the CRM as its pages do."""

    def __init__(self, stack: DemoStack, username: str) -> None:
        self.web = stack.web_url
        self.session = requests.Session()
        self.session.get(f"{self.web}/accounts/login/", timeout=10)
        answer = self.post("/accounts/login/", {"username": username, "password": "demo"})
        assert answer.url == f"{self.web}/", f"{username} could not log in"

    def get(self, path: str) -> requests.Response:
        return self.session.get(path if path.startswith("http") else self.web + path, timeout=30)

    def post(self, path: str, data: dict[str, Any]) -> requests.Response:
        token = self.session.cookies.get("csrftoken", "")
        return self.session.post(
            self.web + path,
            data={**data, "csrfmiddlewaretoken": token},
            headers={"Accept": "application/json", "X-CSRFToken": token, "Referer": self.web + path},
            timeout=30,
        )

    def recording_ids(self) -> set[int]:
        return {row["id"] for row in self.get("/noojee/api/recordings/").json()["results"]}


@dataclass
class Invoice:
    id: int
    number: str
    customer_id: int
    phone: str


def first_invoice(stack: DemoStack, pbx: str) -> Invoice:
    """The seeded company's first invoice, read from the demo's database."""
    with sqlite3.connect(Path(stack.env["NOOJEE_EXAMPLE_VAR_DIR"]) / "db.sqlite3") as db:
        row = db.execute(
            "SELECT i.id, i.number, c.id, c.phone FROM crm_invoice i JOIN crm_customer c "
            "ON c.id = i.customer_id WHERE c.pbx = ? ORDER BY i.number LIMIT 1",
            [pbx],
        ).fetchone()
    return Invoice(*row)


def dials(*controls: ControlClient) -> list[int]:
    return [control.stats()["requests"].get("dial", 0) for control in controls]


def pbx_audio(control: ControlClient, tag: str) -> str:
    """The sha256 of the PBX's own audio for ``tag``, its legs joined in order."""
    legs = sorted(control.recordings(tag=tag), key=lambda leg: leg["leg"])
    joined = io.BytesIO()
    stitch_wavs([io.BytesIO(control.audio(leg["call_record_id"])) for leg in legs], joined)
    return hashlib.sha256(joined.getvalue()).hexdigest()


@pytest.mark.slow
@pytest.mark.xdist_group("demo-stack")  # the tests of the running demo share it: on one worker
def test_the_demo_runs_a_pbx_and_a_listener_for_each_client_company(stack: DemoStack) -> None:
    assert {"emulator", f"{ACME}-emulator", "listener", f"{ACME}-listener", "web", "worker"} <= set(
        stack.processes
    )
    assert stack.dead() == []
    # Each listener long-polls its own PBX, with that PBX's key: the second's is another, and it is
    # given to the processes in the connection's own environment variable only.
    for control in (ControlClient(stack.pbx_url), ControlClient(stack.acme_pbx_url)):
        wait_for(lambda control=control: control.stats()["requests"].get("subscribe", 0) >= 2, timeout=30)
    assert stack.acme_api_key != stack.api_key
    assert stack.env["NOOJEE_ACME_API_KEY"] == stack.acme_api_key
    assert stack.acme_api_key not in (REPO / "example_project" / "settings.py").read_text()

    login = requests.get(f"{stack.web_url}/accounts/login/", timeout=10).text
    for username in ("agent", "intern", "acme-agent", "acme-manager", "manager"):
        assert f"<code>{username}</code>" in login


@pytest.mark.slow
@pytest.mark.xdist_group("demo-stack")
def test_each_agent_dials_through_their_own_pbx_and_hears_only_their_own_recordings(
    stack: DemoStack,
) -> None:
    default_pbx, acme_pbx = ControlClient(stack.pbx_url), ControlClient(stack.acme_pbx_url)
    agent, acme_agent = User(stack, "agent"), User(stack, "acme-agent")
    ours, theirs = first_invoice(stack, "default"), first_invoice(stack, ACME)

    # Each sees their own company's customers, and is told which PBX they are on.
    page = acme_agent.get("/").text
    assert "Karri Timber Co" in page and "Acme Pty Ltd" not in page
    assert "<span data-demo-pbx>acme</span>" in page and "SIP/201" in page
    page = agent.get("/").text
    assert "Acme Pty Ltd" in page and "Karri Timber Co" not in page
    assert "<span data-demo-pbx>default</span>" in page
    assert acme_agent.get(f"/invoices/{ours.id}/").status_code == 404
    assert agent.get(f"/invoices/{theirs.id}/").status_code == 404

    # A dial reaches the dialling agent's PBX, and only it.
    before = dials(default_pbx, acme_pbx)
    calls = {}
    for user, invoice, expected in (
        (acme_agent, theirs, [0, 1]),
        (agent, ours, [1, 1]),
    ):
        answer = user.post(
            "/noojee/dial/",
            {"number": invoice.phone, "content_type": "crm.customer", "object_id": invoice.customer_id},
        )
        assert answer.status_code == 200, answer.text[:300]
        calls[invoice.number] = answer.json()
        assert [n - b for n, b in zip(dials(default_pbx, acme_pbx), before, strict=True)] == expected

    # Each records a voice signature on their own company's invoice.
    recordings = {}
    for user, invoice in ((acme_agent, theirs), (agent, ours)):
        call = calls[invoice.number]
        wait_for(lambda u=user, c=call: u.get(c["status_url"]).json()["status"] == "connected", timeout=30)
        answer = user.post(
            "/noojee/recordings/start/",
            {"content_type": "crm.invoice", "object_id": invoice.id, "tag": invoice.number, "consent": "on"},
        )
        assert answer.status_code in (200, 201), answer.text[:300]
        recordings[invoice.number] = answer.json()
    for user, invoice in ((acme_agent, theirs), (agent, ours)):
        assert user.post(recordings[invoice.number]["stop_url"], {}).status_code == 200
        assert user.post(calls[invoice.number]["hangup_url"], {}).status_code == 200
    details = {}
    for user, invoice in ((acme_agent, theirs), (agent, ours)):
        url = f"/noojee/api/recordings/{recordings[invoice.number]['id']}/"
        wait_for(lambda u=user, url=url: u.get(url).json()["status"] in ("attached", "failed"), timeout=90)
        details[invoice.number] = user.get(url).json()
        assert details[invoice.number]["status"] == "attached", details[invoice.number]

    # Each hears their own signature, the audio of their own PBX...
    for user, invoice, control in ((acme_agent, theirs, acme_pbx), (agent, ours, default_pbx)):
        audio = user.get(details[invoice.number]["audio_url"])
        assert audio.status_code == 200
        assert hashlib.sha256(audio.content).hexdigest() == pbx_audio(control, invoice.number)
    # ...and never the other company's: not listed, not found, not played.
    acme_id, default_id = recordings[theirs.number]["id"], recordings[ours.number]["id"]
    assert acme_agent.recording_ids() == {acme_id}
    assert agent.recording_ids() == {default_id}
    for user, other in ((acme_agent, ours), (agent, theirs)):
        assert user.get(f"/noojee/api/recordings/{recordings[other.number]['id']}/").status_code == 404
        assert user.get(details[other.number]["audio_url"]).status_code in (403, 404)

    # The acme manager has no phone: the group pbx:acme gives them the acme PBX's recordings only.
    acme_manager = User(stack, "acme-manager")
    assert acme_manager.recording_ids() == {acme_id}
    assert acme_manager.get(details[theirs.number]["audio_url"]).status_code == 200
    assert acme_manager.get(details[ours.number]["audio_url"]).status_code in (403, 404)
    page = acme_manager.get(f"/invoices/{theirs.id}/").text
    assert re.search(r"<audio[^>]+noojee-player", page), "the acme manager hears the acme signature"
    # The admin (a superuser) sees both companies.
    assert User(stack, "manager").recording_ids() == {acme_id, default_id}
