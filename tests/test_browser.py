"""What an agent sees, in a real browser: Playwright driving Debian's Chromium against the running
example CRM (Django server, emulator, listener and Celery worker as separate processes).

The browser, its contexts and pages come from pytest-playwright (``browser``, ``new_context``); the
suite's options (``pyproject.toml``) keep a screenshot and a trace of every failed test under
``test-artifacts/playwright/`` (``playwright show-trace <trace.zip>`` replays one). The screenshots
the tests take on the way, which the docs show, go to ``test-artifacts/``. The tests run on one
xdist worker, in order: the third reads the signature the second attached. Without Chromium they
skip locally and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from example_project.stack import DemoStack, free_port
from tests.servers import require

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)), None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options (``--headed``, ``--slowmo``...), for Debian's Chromium rather
    than a downloaded one."""
    if CHROMIUM is None:
        require("Chromium is not installed (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
        ],
    }


# pytest-playwright's Playwright, browser type, browser and context arguments, for this module only
# instead of the whole session: while Playwright's sync API runs, its event loop counts as running in
# the worker's thread, and Django refuses database calls there. The tests after these on the same
# xdist worker need it stopped.


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser_type(playwright: Any, browser_name: str) -> Any:
    return getattr(playwright, browser_name)


@pytest.fixture(scope="module")
def browser(browser_type: Any, browser_type_launch_args: dict[str, Any]) -> Iterator[Any]:
    launched = browser_type.launch(**browser_type_launch_args)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1100, "height": 900}}


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


def logged_in(new_context: Callable[..., Any], stack: DemoStack, username: str) -> Any:
    """A page of a new browser context (its own cookies), logged in as ``username``."""
    page = new_context().new_page()
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


def test_clicking_a_number_shows_ringing_then_connected(
    new_context: Callable[..., Any], stack: DemoStack
) -> None:
    page = logged_in(new_context, stack, "agent")
    page.click("form.noojee-dial button >> nth=0")
    status = page.locator("[data-noojee-call-status] .noojee-call-text")
    status.filter(has_text="Ringing").wait_for()
    shot(page, "dial-ringing")
    status.filter(has_text="On the call").wait_for()
    shot(page, "dial-connected")
    page.click("form[data-noojee=hangup] button")
    status.filter(has_text="Call ended").wait_for()
    page.close()


def test_a_recorded_voice_signature_appears_with_a_playable_player(
    new_context: Callable[..., Any], stack: DemoStack
) -> None:
    page = logged_in(new_context, stack, "agent")
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


def test_a_user_without_permission_sees_no_player(new_context: Callable[..., Any], stack: DemoStack) -> None:
    # The invoice the test above attached a signature to: the agent hears it there...
    agent_page = logged_in(new_context, stack, "agent")
    agent_page.click("a[href^='/invoices/'] >> nth=0")
    assert agent_page.locator("audio.noojee-player").count() == 1, "no signature on the invoice to hide"
    invoice_url, heading = agent_page.url, agent_page.inner_text("h1")
    agent_page.close()
    # ...and the intern, who may not view invoices' recordings, sees the same page with no player.
    page = logged_in(new_context, stack, "intern")
    page.goto(invoice_url)
    assert page.inner_text("h1") == heading
    assert page.locator("audio").count() == 0
    assert page.locator("form.noojee-record-start").count() == 0
    shot(page, "invoice-intern")
    page.close()
