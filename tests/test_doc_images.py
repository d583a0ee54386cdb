"""The images the docs show are in the repository, and each is a screenshot the browser walkthrough
takes (``NOOJEE_WRITE_DOC_IMAGES=1`` writes them to ``docs/images/``), so running it again brings them
up to date."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.browser import DOC_SHOTS

REPO = Path(__file__).resolve().parent.parent
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def images_of(markdown: Path) -> list[str]:
    return IMAGE.findall(markdown.read_text())


def test_every_image_the_readme_shows_exists_and_is_a_png() -> None:
    images = images_of(REPO / "README.md")
    assert len(images) >= 4, images
    for name in images:
        path = REPO / name
        assert path.is_file(), f"README.md shows {name}, which is not in the repository"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"


def test_every_image_in_docs_images_is_shown_and_taken_by_the_walkthrough() -> None:
    docs = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    shown = {Path(name).name for doc in docs for name in images_of(doc)}
    on_disk = {path.name for path in (REPO / "docs" / "images").glob("*.png")}
    assert on_disk <= shown, f"images no page shows: {sorted(on_disk - shown)}"
    assert on_disk == {f"{name}.png" for name in DOC_SHOTS.values()}, "an image the walkthrough does not take"
    walkthrough = (REPO / "tests" / "test_browser_walkthrough.py").read_text()
    for step in DOC_SHOTS:
        name = step.removeprefix("walkthrough/").partition("-")[2]
        assert f'"{name}"' in walkthrough, f"the walkthrough takes no {step}"
