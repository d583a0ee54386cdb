"""``manage.py crm_demo --scripted``: the whole product, headless, through its real HTTP endpoints.

Starts the demo stack (emulator, Django server, listener, Celery worker on the filesystem broker) in a
throwaway folder on free ports, then does what an agent does: logs in, dials a customer, records a
voice signature on an invoice, stops, hangs up, waits for the worker to attach the audio, downloads it
through the private playback view, and compares its sha256 with the emulator's own audio joined in leg
order. Last line: ``demo: attached=<n> sha256_match=<true|false>``; exit status 1 when it failed.
"""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError

from example_project.stack import DemoStack, free_port
from noojee_django.emulator import ControlClient
from noojee_django.stitching import stitch_wavs


class Command(BaseCommand):
    help = "Run the demo flow headless through the real HTTP endpoints and check the attached audio."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scripted", action="store_true", help="Run the scripted flow (the only mode).")
        parser.add_argument("--seconds", type=float, default=2.0, help="How long the signature lasts.")
        parser.add_argument("--timeout", type=float, default=90.0, help="Seconds to wait for the attachment.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["scripted"]:
            raise CommandError("Use --scripted (for the interactive demo, run `make demo`).")
        with tempfile.TemporaryDirectory(prefix="noojee-demo-") as folder:
            stack = DemoStack(var_dir=Path(folder), web_port=free_port(), pbx_port=free_port(), quiet=True)
            with stack:
                attached, match = self._flow(stack, Path(folder), options["seconds"], options["timeout"])
        self.stdout.write(f"demo: attached={attached} sha256_match={str(match).lower()}")
        if not (attached and match):
            raise CommandError("the scripted demo did not end with a matching attached signature")

    def _flow(self, stack: DemoStack, folder: Path, seconds: float, timeout: float) -> tuple[int, bool]:
        web = stack.web_url
        browser = requests.Session()
        login = browser.get(f"{web}/accounts/login/", timeout=10)
        self._post(
            browser, f"{web}/accounts/login/", {"username": "agent", "password": "demo"}, referer=login.url
        )
        customer_id, invoice_id, number, tag = self._demo_records(folder)
        self.stdout.write(f"logged in as agent; calling customer {customer_id} on {number}")

        call = self._post(
            browser,
            f"{web}/noojee/dial/",
            {"number": number, "content_type": "crm.customer", "object_id": customer_id},
        ).json()
        self._wait(
            lambda: browser.get(web + call["status_url"], timeout=10).json()["status"] == "connected", timeout
        )
        self.stdout.write("call connected; recording the voice signature")

        recording = self._post(
            browser,
            f"{web}/noojee/recordings/start/",
            {"content_type": "crm.invoice", "object_id": invoice_id, "tag": tag, "consent": "on"},
        ).json()
        time.sleep(seconds)
        self._post(browser, web + recording["stop_url"], {})
        self._post(browser, web + call["hangup_url"], {})
        self.stdout.write("stopped and hung up; waiting for the worker to attach the audio")

        detail_url = f"{web}/noojee/api/recordings/{recording['id']}/"
        self._wait(
            lambda: browser.get(detail_url, timeout=10).json()["status"] in ("attached", "failed", "absent"),
            timeout,
        )
        detail = browser.get(detail_url, timeout=10).json()
        if detail["status"] != "attached":
            self.stderr.write(f"recording ended {detail['status']}: {detail.get('last_error', '')}")
            return 0, False
        audio = browser.get(
            detail["audio_url"] if detail["audio_url"].startswith("http") else web + detail["audio_url"],
            timeout=30,
        )
        audio.raise_for_status()
        downloaded = hashlib.sha256(audio.content).hexdigest()

        control = ControlClient(stack.pbx_url)
        legs = sorted(control.recordings(tag=tag), key=lambda leg: leg["leg"])
        reference = io.BytesIO()
        stitch_wavs([io.BytesIO(control.audio(leg["call_record_id"])) for leg in legs], reference)
        expected = hashlib.sha256(reference.getvalue()).hexdigest()
        self.stdout.write(
            f"downloaded {len(audio.content)} bytes through the playback view ({len(legs)} leg(s))"
        )
        return 1, downloaded == expected

    @staticmethod
    def _demo_records(folder: Path) -> tuple[str, str, str, str]:
        """The seeded customer and invoice, read from the demo's fresh database."""
        with sqlite3.connect(folder / "db.sqlite3") as db:
            invoice_id, tag, customer_id, phone = db.execute(
                "SELECT i.id, i.number, c.id, c.phone FROM crm_invoice i "
                "JOIN crm_customer c ON c.id = i.customer_id ORDER BY i.number LIMIT 1"
            ).fetchone()
        return str(customer_id), str(invoice_id), str(phone), str(tag)

    @staticmethod
    def _post(
        session: requests.Session, url: str, data: dict[str, Any], *, referer: str | None = None
    ) -> requests.Response:
        token = session.cookies.get("csrftoken", "")
        response = session.post(
            url,
            data={**data, "csrfmiddlewaretoken": token},
            headers={"Accept": "application/json", "X-CSRFToken": token, "Referer": referer or url},
            timeout=30,
        )
        if response.status_code >= 400:
            message = re.sub(r"\s+", " ", response.text)[:300]
            raise CommandError(f"POST {url} answered {response.status_code}: {message}")
        return response

    @staticmethod
    def _wait(predicate: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise CommandError(f"gave up waiting after {timeout:.0f} s")
