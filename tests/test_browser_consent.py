"""The script and the consent rule in a real browser: the notice to read first, the script while
recording, and with ``REQUIRE_CONSENT`` on, Record without the consent box ticked refused in words.

The browser fixtures are those of ``tests/support/browser.py`` (Debian's Chromium through
pytest-playwright); this module runs its own example CRM with ``NOOJEE_REQUIRE_CONSENT=1``, seeded
with the invoices' script (``seed_demo``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from example_project.crm.management.commands.seed_demo import INVOICE_SCRIPT
from example_project.stack import DemoStack, free_port
from tests.servers import require
from tests.support.browser import (  # noqa: F401  (the browser fixtures, for this module too)
    CHROMIUM,
    browser,
    browser_context_args,
    browser_type,
    browser_type_launch_args,
    logged_in,
    playwright,
    shot,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

REFUSED = "Read the recording notice to the customer and tick that they were told"


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    if CHROMIUM is None:
        require("Chromium is not installed (apt-get install chromium)")
    folder = Path(tempfile.mkdtemp(prefix="noojee-browser-consent-"))
    running = DemoStack(
        var_dir=folder, web_port=free_port(), pbx_port=free_port(), far_end_answer_delay=1.5, quiet=True
    )
    running.env["NOOJEE_REQUIRE_CONSENT"] = "1"
    try:
        with running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_script_is_shown_and_record_without_consent_is_refused_in_words(
    new_context: Callable[..., Any], stack: DemoStack
) -> None:
    page = logged_in(new_context, stack, "agent")
    page.click("a[href^='/invoices/'] >> nth=0")
    number = page.locator("[data-noojee-record] input[name=tag]").input_value()
    script_opening = INVOICE_SCRIPT.split("{number}")[0]  # "I confirm that I agree to pay invoice "

    # the recording notice, to read first, names the invoice; the script waits for the recording
    notice = page.locator("[data-noojee=record-notice]")
    assert f"agreement to invoice {number}" in notice.inner_text()
    script = page.locator("[data-noojee=record-script]")
    assert script.is_hidden()
    consent = page.get_by_label("The customer agrees to be recorded")
    assert consent.get_attribute("aria-describedby") == notice.get_attribute("id")

    page.click("form.noojee-dial button >> nth=0")
    page.locator("[data-noojee-call-status] .noojee-call-text").filter(has_text="On the call").wait_for()

    # Record without the box ticked: refused by the server, in words, and nothing starts
    page.click("form.noojee-record-start button")
    message = page.locator("[data-noojee-record] .noojee-message[role=alert]")
    message.filter(has_text=REFUSED).wait_for()
    assert page.locator("form.noojee-record-stop").is_hidden()
    shot(page, "invoice-consent-refused")

    # ticked: recording, with the script to read, filled with the invoice's own fields
    consent.check()
    page.click("form.noojee-record-start button")
    page.locator("form.noojee-record-stop:not([hidden]) button").wait_for()
    script.wait_for(state="visible")
    text = script.inner_text()
    assert script_opening in text and f"invoice {number} for " in text
    shot(page, "invoice-recording-script")
    page.click("form.noojee-record-stop button")
    script.wait_for(state="hidden")
    page.click("form[data-noojee=hangup] button")
    page.close()
