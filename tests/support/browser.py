"""What the browser test modules share: Debian's Chromium under pytest-playwright, a running example
CRM (:class:`DemoStack`) per module, a logged-in page, screenshots, and the checks every page of a
walkthrough passes.

A module imports the fixtures it uses (``from tests.support.browser import browser, ...``): they are
module-scoped, so each module has its own Playwright, browser and stack. While Playwright's sync API
runs, its event loop counts as running in the worker's thread, and Django refuses database calls
there; the tests after a browser module on the same xdist worker need it stopped.
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

REPO = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = REPO / "test-artifacts"
DOC_IMAGES = REPO / "docs" / "images"
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)), None)

#: What the PBX's own diagnostics look like ("... (method=start, HTTP 404, Code -1)"): never on a page.
RAW_DIAGNOSTIC = re.compile(r"HTTP \d{3}|\bCode -?\d+|method=|Traceback|NoojeeError")


def require_chromium() -> str:
    if CHROMIUM is None:
        require("Chromium is not installed (apt-get install chromium)")
    assert CHROMIUM is not None
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options (``--headed``, ``--slowmo``...), for Debian's Chromium rather
    than a downloaded one."""
    return {
        **browser_type_launch_args,
        "executable_path": require_chromium(),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
        ],
    }


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


def running_stack(**options: Any) -> Iterator[DemoStack]:
    """A :class:`DemoStack` on free ports in a folder of its own, for a module's ``stack`` fixture."""
    require_chromium()
    folder = Path(tempfile.mkdtemp(prefix="noojee-browser-"))
    running = DemoStack(var_dir=folder, web_port=free_port(), pbx_port=free_port(), quiet=True, **options)
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


#: The screenshots the README shows: the walkthrough's step -> the image in ``docs/images/``.
DOC_SHOTS = {
    "walkthrough/agent-1-customers": "customers",
    "walkthrough/agent-3-connected": "call-connected",
    "walkthrough/agent-4-recording": "recording",
    "walkthrough/agent-5-waiting": "waiting-for-the-call-to-end",
    "walkthrough/agent-7-attached": "invoice-page",
    "walkthrough/intern-2-invoice": "invoice-intern",
}


def shot(page: Any, name: str) -> None:
    """A full-page screenshot in ``test-artifacts/<name>.png``; with ``NOOJEE_WRITE_DOC_IMAGES=1``,
    the steps the README shows (:data:`DOC_SHOTS`) are written to ``docs/images/`` too."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    if name in DOC_SHOTS and os.environ.get("NOOJEE_WRITE_DOC_IMAGES") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_IMAGES / f"{DOC_SHOTS[name]}.png")


def assert_no_raw_diagnostics(page: Any, where: str) -> None:
    """No PBX diagnostic in what the page shows (its text, not its markup)."""
    text = page.inner_text("body")
    found = RAW_DIAGNOSTIC.search(text)
    if found is not None:
        around = text[max(0, found.start() - 80) : found.end() + 80]
        raise AssertionError(f"a raw diagnostic on {where}: …{around}…")


def empty_headings(page: Any) -> list[str]:
    """The headings with nothing under them: no text, or followed by no content before the next
    heading of the same or a higher level."""
    return list(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('main h1, main h2, main h3, main h4'))
            .filter((h) => h.offsetParent !== null)
            .filter((h) => {
                if (!h.textContent.trim()) return true;
                const level = Number(h.tagName[1]);
                let next = h.nextElementSibling;
                while (next && (next.hidden || next.offsetParent === null && !/^H\\d$/.test(next.tagName))) {
                    next = next.nextElementSibling;
                }
                if (!next) return h.parentElement.tagName !== 'MAIN' ? false : true;
                const nextLevel = /^H(\\d)$/.exec(next.tagName);
                return Boolean(nextLevel) && Number(nextLevel[1]) <= level;
            })
            .map((h) => h.outerHTML)"""
        )
    )
