"""The wheel a CRM installs holds the whole app: every template, static file, migration and the
``py.typed`` marker, and nothing of the repository around it (tests, the example CRM, benches)."""

from __future__ import annotations

import email
import email.message
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: One worker runs the tests that read the wheel, so it is built once.
pytestmark = pytest.mark.xdist_group("packaging")


def repository_files() -> list[str]:
    """The repository's files as a fresh clone would have them: what git tracks, plus new files it does
    not ignore. No ``*.egg-info`` left by an editable install, whose file list setuptools would reuse,
    and no ignored leftovers in the app's folder."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def source_tree(into: Path) -> Path:
    for name in repository_files():
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, into / name)
    return into


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = source_tree(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (built_wheel,) = out.glob("noojee_django-*.whl")
    return built_wheel


@pytest.fixture(scope="module")
def wheel_members(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


def app_files() -> set[str]:
    """The app's own files, from the same listing the wheel is built from."""
    return {name for name in repository_files() if name.startswith("noojee_django/")}


def test_the_wheel_holds_every_file_of_the_app(wheel_members: set[str]) -> None:
    files = app_files()
    assert {"noojee_django/py.typed", "noojee_django/static/noojee_django/noojee.js"} <= files
    assert any(name.startswith("noojee_django/templates/") for name in files)
    assert any(name.startswith("noojee_django/migrations/0001") for name in files)
    assert sorted(files - wheel_members) == []


def test_the_wheel_holds_nothing_but_the_app(wheel_members: set[str]) -> None:
    tops = {name.split("/", 1)[0] for name in wheel_members}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"noojee_django"}
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_members)


def test_the_metadata_names_the_project_its_extras_and_an_uncapped_django(wheel: Path) -> None:
    metadata = wheel_metadata(wheel)
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    assert {"redis", "s3", "postgres", "mysql"} <= set(metadata.get_all("Provides-Extra") or [])
    (django,) = [r for r in metadata.get_all("Requires-Dist") or [] if re.match(r"(?i)django\b(?!-)", r)]
    assert ">=5.2" in django and "<" not in django
