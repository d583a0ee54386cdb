"""Secure pause in a real browser: Playwright driving Debian's Chromium against the running example
CRM (Django server, emulator, listener and Celery worker as separate processes), as in
``tests/test_browser.py``: the agent pauses a recording, sees the word "Paused" and the countdown to
the automatic resume tick down, then resumes it. Without Chromium it skips locally and fails under
CI=true.
"""

from __future__ import annotations

import os
import re
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


# pytest-playwright's Playwright, browser type and browser for this module only (see test_browser.py:
# Django refuses database calls in a thread where Playwright's event loop runs).


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
    folder = Path(tempfile.mkdtemp(prefix="noojee-browser-pause-"))
    running = DemoStack(
        var_dir=folder, web_port=free_port(), pbx_port=free_port(), far_end_answer_delay=1.5, quiet=True
    )
    try:
        with running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def logged_in(new_context: Callable[..., Any], stack: DemoStack, username: str) -> Any:
    page = new_context().new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{stack.web_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(f"{stack.web_url}/")
    return page


def seconds_left(text: str) -> int:
    found = re.search(r"(\d+):(\d\d)", text)
    assert found, f"no countdown in {text!r}"
    return int(found.group(1)) * 60 + int(found.group(2))


def test_pause_shows_paused_and_a_countdown_then_resume_records_again(
    new_context: Callable[..., Any], stack: DemoStack
) -> None:
    page = logged_in(new_context, stack, "agent")
    page.click("a[href^='/invoices/'] >> nth=0")
    page.click("form.noojee-dial button >> nth=0")
    page.locator("[data-noojee-call-status] .noojee-call-text").filter(has_text="On the call").wait_for()
    page.check("input[name=consent]")
    page.click("form.noojee-record-start button")
    page.locator("form.noojee-record-pause:not([hidden]) button").wait_for()

    page.click("form.noojee-record-pause button")

    resume = page.locator("form.noojee-record-resume:not([hidden])")
    resume.wait_for()
    assert page.locator("form.noojee-record-pause").is_hidden()
    assert resume.locator(".noojee-paused-badge").inner_text() == "Paused"
    countdown = page.locator(".noojee-countdown[role=timer]")
    first = seconds_left(countdown.inner_text())
    assert 100 < first <= 120
    message = page.locator("[data-noojee-record] > .noojee-message")
    assert message.get_attribute("role") == "status"
    assert "resumes by itself in" in message.inner_text()
    assert page.evaluate("document.activeElement.closest('form')?.dataset.noojee") == "record-resume"
    page.wait_for_timeout(2500)
    assert seconds_left(countdown.inner_text()) < first  # it counts down
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "invoice-paused.png"), full_page=True)

    page.click("form.noojee-record-resume button")

    page.locator("form.noojee-record-pause:not([hidden])").wait_for()
    assert page.locator("form.noojee-record-resume").is_hidden()
    assert countdown.inner_text() == ""
    assert "again" in message.inner_text()
    page.click("form.noojee-record-stop button")
    page.click("form[data-noojee=hangup] button")
    page.close()
