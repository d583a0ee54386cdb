"""What an agent sees, in a real browser: Playwright driving Debian's Chromium against the running
example CRM (Django server, emulator, listener and Celery worker as separate processes).

Screenshots go to ``test-artifacts/``. Without Chromium the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from example_project.stack import DemoStack, free_port
from tests.servers import require

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)), None)


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    if CHROMIUM is None:
        require("Chromium is not installed (apt-get install chromium)")
    folder = Path(tempfile.mkdtemp(prefix="noojee-browser-"))
    running = DemoStack(
        var_dir=folder, web_port=free_port(), pbx_port=free_port(), far_end_answer_delay=1.5, quiet=True
    )
    try:
        with running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(stack: DemoStack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
            ],
        )
        yield launched
        launched.close()


def logged_in(browser: Any, stack: DemoStack, username: str) -> Any:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(20_000)
    page.goto(f"{stack.web_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{stack.web_url}/")
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_clicking_a_number_shows_ringing_then_connected(browser: Any, stack: DemoStack) -> None:
    page = logged_in(browser, stack, "agent")
    page.click("form.noojee-dial button >> nth=0")
    status = page.locator("[data-noojee-call-status] .noojee-call-text")
    status.filter(has_text="Ringing").wait_for()
    shot(page, "dial-ringing")
    status.filter(has_text="On the call").wait_for()
    shot(page, "dial-connected")
    page.click("form[data-noojee=hangup] button")
    status.filter(has_text="Call ended").wait_for()
    page.close()


def test_a_recorded_voice_signature_appears_with_a_playable_player(browser: Any, stack: DemoStack) -> None:
    page = logged_in(browser, stack, "agent")
    page.click("a[href^='/invoices/'] >> nth=0")
    page.click("form.noojee-dial button >> nth=0")
    page.locator("[data-noojee-call-status] .noojee-call-text").filter(has_text="On the call").wait_for()
    page.check("input[name=consent]")
    page.click("form.noojee-record-start button")
    page.locator("form.noojee-record-stop:not([hidden]) button").wait_for()
    shot(page, "invoice-recording")
    page.wait_for_timeout(2000)
    page.click("form.noojee-record-stop button")
    page.click("form[data-noojee=hangup] button")

    player = page.locator("audio.noojee-player")
    for _ in range(60):
        page.reload()
        if player.count():
            break
        page.wait_for_timeout(1000)
    assert player.count() == 1, "the voice signature was never attached"
    duration = page.evaluate(
        """async () => {
            const audio = document.querySelector('audio.noojee-player');
            audio.preload = 'metadata';
            audio.load();
            if (!(audio.duration > 0)) {
                await new Promise((done) => { audio.onloadedmetadata = done; audio.onerror = done; });
            }
            return audio.duration;
        }"""
    )
    assert duration > 1.5
    assert page.locator(".noojee-timeline-leg").count() >= 1
    shot(page, "invoice-attached")
    page.close()


def test_a_user_without_permission_sees_no_player(browser: Any, stack: DemoStack) -> None:
    # The invoice the test above attached a signature to: the agent hears it there...
    agent_page = logged_in(browser, stack, "agent")
    agent_page.click("a[href^='/invoices/'] >> nth=0")
    assert agent_page.locator("audio.noojee-player").count() == 1, "no signature on the invoice to hide"
    invoice_url, heading = agent_page.url, agent_page.inner_text("h1")
    agent_page.close()
    # ...and the intern, who may not view invoices' recordings, sees the same page with no player.
    page = logged_in(browser, stack, "intern")
    page.goto(invoice_url)
    assert page.inner_text("h1") == heading
    assert page.locator("audio").count() == 0
    assert page.locator("form.noojee-record-start").count() == 0
    shot(page, "invoice-intern")
    page.close()
