"""axe-core in a Playwright page: the accessibility rules a page breaks, as a list a test can read.

``axe.min.js`` (axe-core 4.14.1 from the npm registry, MPL-2.0, beside its LICENSE in
``vendor/axe-core/``) is injected into the page and run over the whole document. Only the
``serious`` and ``critical`` violations fail a test: :func:`assert_accessible` lists each with its
rule, impact, the elements it was found on and axe's help text, so the failure says what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_SCRIPT = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

#: The impacts that fail a page.
BLOCKING = ("serious", "critical")


def axe_violations(page: Any, *, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on ``page`` as it is now, every impact (``exclude``: CSS selectors of
    parts of the page that are not ours to judge)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    context = {"exclude": [[selector] for selector in exclude]} if exclude else "document"
    result = page.evaluate(
        """async (context) => {
            const where = context === 'document' ? document : context;
            const result = await axe.run(where, {resultTypes: ['violations']});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                targets: v.nodes.map((n) => n.target.join(' ')),
                summaries: v.nodes.map((n) => n.failureSummary || ''),
            }));
        }""",
        context,
    )
    return list(result)


def describe(violations: list[dict[str, Any]]) -> str:
    """One line per violation, then one per element it was found on."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for target, summary in zip(violation["targets"], violation["summaries"], strict=False):
            reason = " ".join(summary.split())
            lines.append(f"    {target}" + (f" — {reason[:240]}" if reason else ""))
    return "\n".join(lines)


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [violation for violation in violations if violation["impact"] in BLOCKING]


def assert_accessible(page: Any, where: str, *, exclude: list[str] | None = None) -> None:
    """No serious or critical axe-core violation on ``page``; ``where`` names the page in the failure."""
    found = blocking(axe_violations(page, exclude=exclude))
    heading = f"axe-core: {len(found)} serious or critical violation(s) on {where} ({page.url}):"
    assert not found, f"{heading}\n{describe(found)}"
