"""The example CRM walked through in Chromium as each demo user, the way they would use it: what each
sees at every step of a voice signature, that every page passes axe-core, and that dialling and
recording work from the keyboard alone.

The agent records on an invoice page, the manager on the invoice's admin page (the admin kit's
panel); the emulated customer hangs up by themselves a few seconds after answering (the demo's
"hangs up after N s"), so nobody presses Hang up: after Stop the page says it waits for the call to
end, then that the audio is being collected (the PBX's audio answer is held a moment, so the step is
seen), then the player and the legs picture swap in without a reload. At every step: the state in
words, no raw PBX diagnostic, no heading without content, no serious or critical axe-core violation.
The intern, who may see customers but not invoices' recordings, sees no player, no control and no
empty heading.

Every step leaves a screenshot in ``test-artifacts/walkthrough/``; with
``NOOJEE_WRITE_DOC_IMAGES=1`` the steps the README shows are written to ``docs/images/`` too. The
tests run in order on one xdist worker (the intern's reads what the agent's attached).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from example_project.stack import DemoStack
from noojee_django.emulator.control import ControlClient
from tests.support.axe import assert_accessible, axe_violations, blocking, describe
from tests.support.browser import (  # noqa: F401  (the module's browser fixtures)
    assert_no_raw_diagnostics,
    browser,
    browser_context_args,
    browser_type,
    browser_type_launch_args,
    empty_headings,
    logged_in,
    playwright,
    running_stack,
    shot,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

#: Seconds after answering when the emulated customer hangs up: time to record, stop and look.
HANGUP_AFTER = 14
#: Seconds the PBX holds its answer for a leg's audio, so "Collecting the audio" shows.
AUDIO_HELD = 3

CALL_TEXT = "[data-noojee-call-status] .noojee-call-text"
WIDGET_MESSAGE = "[data-noojee-record] > .noojee-message"
CARD = "[data-noojee-recordings] article.noojee-recording"
#: Django's own parts of an admin page: axe's findings there are Django's, reported, not failed.
DJANGO_ADMIN_PARTS = ["#header", ".breadcrumbs", "#nav-sidebar", "#toggle-nav-sidebar", "#content-start"]


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    yield from running_stack(far_end_answer_delay=3.0, hangup_after=HANGUP_AFTER)


def look(page: Any, user: str, step: str, *, admin: bool = False, operator: bool = False) -> None:
    """What every step passes: a screenshot, axe-core, no raw diagnostic (except on the operator's
    pages, where the PBX's own words belong), no empty heading."""
    shot(page, f"walkthrough/{user}-{step}")
    where = f"{user}'s {step} page"
    assert_accessible(page, where, exclude=DJANGO_ADMIN_PARTS if admin else None)
    if not operator:
        assert_no_raw_diagnostics(page, where)
    if not admin:
        assert empty_headings(page) == [], f"headings with nothing under them on {where}"


def wait_for_text(page: Any, selector: str, text: str, timeout: float = 30_000) -> None:
    page.locator(selector).filter(has_text=text).first.wait_for(timeout=timeout)


def pipeline_story(page: Any, stack: DemoStack) -> str:
    """What the stack's admin lists of PBX polls and status changes show, newest first: why a step
    that should have come did not (the user must be staff)."""
    other = page.context.new_page()
    try:
        story = []
        for model in ("recordingattempt", "recordingtransition"):
            other.goto(f"{stack.web_url}/admin/noojee_django/{model}/")
            rows = other.locator("#result_list tbody tr")
            story += [
                f"{model}: {' | '.join(rows.nth(i).inner_text().split(chr(9)))}"
                for i in range(min(rows.count(), 12))
            ]
        return "\n".join(story)
    finally:
        other.close()


def record_a_signature(page: Any, stack: DemoStack, user: str, tag: str, *, admin: bool = False) -> None:
    """Dial the customer from the record's page, record, stop, and watch the signature arrive as the
    customer hangs up, checking each step; the page is never reloaded."""
    page.evaluate("() => { window.noojeeSamePage = true; }")
    page.click("form.noojee-dial button >> nth=0")
    wait_for_text(page, CALL_TEXT, "Ringing")
    look(page, user, "2-ringing", admin=admin)
    wait_for_text(page, CALL_TEXT, "On the call")
    assert page.locator(CALL_TEXT).count() == 1, "one call, one line in the call bar"
    call_line = page.inner_text(CALL_TEXT)
    assert call_line == "On the call: 0383208100", call_line  # the number as the dial button shows it
    assert "0383208100" in page.inner_text("form.noojee-dial button >> nth=0")
    look(page, user, "3-connected", admin=admin)

    page.check("input[name=consent]")
    page.click("form.noojee-record-start button")
    page.locator("form.noojee-record-stop:not([hidden]) button").wait_for()
    wait_for_text(page, WIDGET_MESSAGE, "Recording")
    assert page.locator("form.noojee-record-start").is_hidden()
    look(page, user, "4-recording", admin=admin)

    # The audio of the leg is held a moment by the PBX, so "Collecting the audio" stays on screen.
    ControlClient(stack.pbx_url, timeout=5).add_fault(
        "latency", "retrieveRecording", count=1, seconds=AUDIO_HELD
    )
    page.wait_for_timeout(1500)
    page.click("form.noojee-record-stop button")
    wait_for_text(page, WIDGET_MESSAGE, f"{tag}: Waiting for the call to end")
    wait_for_text(page, CARD, "Waiting for the call to end")
    assert "once the call has ended" in page.inner_text(CARD)
    assert page.locator("form.noojee-record-start").is_visible()
    look(page, user, "5-waiting", admin=admin)

    # The customer hangs up by themselves; nobody presses Hang up.
    wait_for_text(page, CALL_TEXT, "Call ended", timeout=HANGUP_AFTER * 1000 + 20_000)
    # At once on a quiet machine; a poll task lost on a loaded one is sent again by the beat's sweep.
    try:
        wait_for_text(page, CARD, "Collecting the audio", timeout=60_000)
    except Exception as exc:
        raise AssertionError(f"no collecting after the call ended:\n{pipeline_story(page, stack)}") from exc
    wait_for_text(page, WIDGET_MESSAGE, f"{tag}: Collecting the audio")
    look(page, user, "6-collecting", admin=admin)

    page.locator(f"{CARD} audio.noojee-player").wait_for(timeout=60_000)
    wait_for_text(page, CARD, "Attached")
    wait_for_text(page, WIDGET_MESSAGE, f"{tag}: Attached")
    assert page.evaluate("() => window.noojeeSamePage === true"), "the page was reloaded"
    assert page.locator(f"{CARD} .noojee-timeline-leg").count() >= 1, "no legs picture"
    assert page.locator("audio.noojee-player").count() == 1, "one player for the signature"
    look(page, user, "7-attached", admin=admin)


def test_the_agent_records_a_voice_signature_on_an_invoice(
    new_context: Callable[..., Any], stack: DemoStack
) -> None:
    page = new_context().new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{stack.web_url}/accounts/login/")
    assert page.title() == "Log in · Example CRM"
    look(page, "agent", "0-login")
    page.close()

    page = logged_in(new_context, stack, "agent")
    assert page.locator("form.noojee-dial button").count() >= 3, "a dial button for each customer"
    look(page, "agent", "1-customers")
    page.click("a[href='/customers/1/']")
    assert page.locator("form.noojee-dial").count() == 1
    look(page, "agent", "1-customer")
    page.click("a[href='/invoices/1/']")
    assert page.inner_text("h1") == "Invoice INV-1001"
    assert page.locator(".noojee-no-recordings").inner_text() == "No recordings yet."
    look(page, "agent", "1-invoice")
    record_a_signature(page, stack, "agent", "INV-1001")
    page.close()


def test_the_manager_records_from_the_invoice_admin_page(
    new_context: Callable[..., Any], stack: DemoStack
) -> None:
    page = logged_in(new_context, stack, "manager")
    assert page.locator("header a", has_text="Admin").count() == 1, "the manager's way to the admin"
    page.goto(f"{stack.web_url}/admin/crm/invoice/2/change/")
    assert page.locator("#noojee-panel h2").all_inner_texts() == ["Call and record", "Recordings"]
    look(page, "manager", "1-invoice-admin", admin=True)
    record_a_signature(page, stack, "manager", "INV-1002", admin=True)
    # The admin's form still saves around the panel.
    assert page.locator("#invoice_form input[name=_save]").count() == 1
    # The recording's own admin page: its attempts, legs and the PBX's words are for the operator.
    page.goto(f"{stack.web_url}/admin/noojee_django/recordingtag/")
    page.click("#result_list tbody tr >> nth=0 >> a >> nth=0")
    page.wait_for_url("**/recordingtag/*/change/")
    page.locator("h1, h2").filter(has_text="INV-").first.wait_for()
    look(page, "manager", "8-recording-admin", admin=True, operator=True)
    page.close()


def test_the_intern_sees_no_player_and_no_control(new_context: Callable[..., Any], stack: DemoStack) -> None:
    page = logged_in(new_context, stack, "intern")
    assert page.locator("form.noojee-dial").count() == 0, "no phone, no permission to dial"
    assert page.locator("[data-noojee-call-status]").count() == 0
    assert "03 8320 8100" in page.inner_text("main")  # the number, as text
    look(page, "intern", "1-customers")
    page.goto(f"{stack.web_url}/invoices/1/")  # the invoice the agent attached a signature to
    assert page.inner_text("h1") == "Invoice INV-1001"
    assert page.locator("audio").count() == 0
    assert page.locator("button").all_inner_texts() == ["Log out", "Set"]  # the header's, the demo's
    headings = page.locator("main h2").all_inner_texts()
    assert "Recordings" not in headings and "Voice signature" not in headings
    look(page, "intern", "2-invoice")
    page.close()


def test_the_api_documentation_page_passes_axe(new_context: Callable[..., Any], stack: DemoStack) -> None:
    page = logged_in(new_context, stack, "manager")
    page.goto(f"{stack.web_url}/noojee/api/docs/")
    page.locator(".opblock").first.wait_for()
    shot(page, "walkthrough/manager-api-docs")
    assert_accessible(page, "the API documentation")
    page.keyboard.press("Tab")  # an operation opened from the keyboard: its parameters and "Try it out"
    page.locator(".opblock-summary-control").first.focus()
    page.keyboard.press("Enter")
    page.locator(".opblock-body").first.wait_for()
    shot(page, "walkthrough/manager-api-docs-operation")
    assert_accessible(page, "an operation of the API documentation")
    page.close()


def test_djangos_own_admin_pages_are_looked_at(
    new_context: Callable[..., Any], stack: DemoStack, record_property: Callable[[str, Any], None]
) -> None:
    """The admin's pages pass axe-core in what the app adds to them; what axe finds in Django's own
    parts (header, breadcrumbs, sidebar) is Django's, written to the report rather than failed."""
    page = logged_in(new_context, stack, "manager")
    djangos: dict[str, str] = {}
    for path in (
        "/admin/",
        "/admin/crm/invoice/",
        "/admin/crm/invoice/1/change/",
        "/admin/crm/customer/1/change/",
        "/admin/noojee_django/recordingtag/",
        "/admin/noojee_django/callsession/",
    ):
        page.goto(f"{stack.web_url}{path}")
        assert_accessible(page, f"the admin page {path}", exclude=DJANGO_ADMIN_PARTS)
        found = blocking(axe_violations(page))
        if found:
            djangos[path] = describe(found)
    record_property("django_admin_axe", djangos)
    print("\n".join(f"{path}:\n{found}" for path, found in djangos.items()))
    page.close()


def test_dialling_and_recording_work_from_the_keyboard_alone(
    new_context: Callable[..., Any], stack: DemoStack
) -> None:
    page = logged_in(new_context, stack, "agent")
    page.goto(f"{stack.web_url}/invoices/3/")  # INV-1003, Blue Gum Cafe

    def focused() -> dict[str, Any]:
        return dict(
            page.evaluate(
                """() => {
                    const el = document.activeElement;
                    const style = getComputedStyle(el);
                    const shown = el.cloneNode(true);
                    shown.querySelectorAll('[aria-hidden=true]').forEach((hidden) => hidden.remove());
                    return {
                        tag: el.tagName.toLowerCase(),
                        name: (el.getAttribute('aria-label') || shown.textContent || el.name || '').trim(),
                        form: el.form ? el.form.className : '',
                        outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
                    };
                }"""
            )
        )

    def tab_to(form_class: str, *, back: bool = False, limit: int = 25) -> list[dict[str, Any]]:
        passed = []
        for _ in range(limit):
            page.keyboard.press("Shift+Tab" if back else "Tab")
            now = focused()
            passed.append(now)
            assert now["outline"], f"no visible focus on {now}"
            if form_class in now["form"].split():
                return passed
        raise AssertionError(f"Tab never reached form.{form_class}: {passed}")

    order = tab_to("noojee-dial")
    names = [element["name"] for element in order]
    assert names[0] == "Example CRM" and "Log out" in names, names  # the header first, then the page
    assert names[-1] == "Call +61298765432 from your phone", names
    page.keyboard.press("Enter")
    wait_for_text(page, CALL_TEXT, "On the call")

    order = tab_to("noojee-record-start")
    assert order[-1]["tag"] == "input" and order[-1]["name"] == "consent", order  # consent before Record
    page.keyboard.press("Space")
    assert page.is_checked("input[name=consent]")
    page.keyboard.press("Tab")
    assert focused()["name"] == "Record voice signature INV-1003"
    page.keyboard.press("Enter")
    wait_for_text(page, WIDGET_MESSAGE, "Recording")
    assert focused()["name"] == "Stop recording INV-1003", "focus goes to Stop"
    shot(page, "walkthrough/keyboard-recording")
    page.wait_for_timeout(1000)
    page.keyboard.press("Enter")
    wait_for_text(page, WIDGET_MESSAGE, "INV-1003: Waiting for the call to end")
    assert focused()["name"] == "consent", "focus comes back to the record controls"

    order = tab_to("noojee-hangup", back=True)
    assert order[-1]["name"] == "Hang up the call to +61298765432", order
    page.keyboard.press("Enter")
    wait_for_text(page, CALL_TEXT, "Call ended")
    shot(page, "walkthrough/keyboard-hung-up")
    page.close()
