"""What an agent sees, in a real browser: Playwright driving Debian's Chromium against the running
example CRM (Django server, emulator, listener and Celery worker as separate processes).

The browser, its contexts and pages come from pytest-playwright (``browser``, ``new_context``, set up
in ``tests/support/browser.py``); the suite's options (``pyproject.toml``) keep a screenshot and a
trace of every failed test under ``test-artifacts/playwright/`` (``playwright show-trace <trace.zip>``
replays one). The screenshots the tests take on the way go to ``test-artifacts/``. The tests run on
one xdist worker, in order: the third reads the signature the second attached. Without Chromium they
skip locally and fail under CI=true. ``tests/test_browser_walkthrough.py`` walks the whole flow as
each demo user, with axe-core on every page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from example_project.stack import DemoStack
from tests.support.browser import (  # noqa: F401  (the module's browser fixtures)
    browser,
    browser_context_args,
    browser_type,
    browser_type_launch_args,
    logged_in,
    playwright,
    running_stack,
    shot,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    yield from running_stack(far_end_answer_delay=1.5)


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
