"""The wheel a CRM installs holds the whole app: every template, static file, migration and the
``py.typed`` marker, and nothing of the repository around it (tests, the example CRM, benches)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "noojee_django"


def source_tree(into: Path) -> Path:
    """The repository's files as a fresh clone would have them (what git tracks, plus new files it does
    not ignore): no ``*.egg-info`` left by an editable install, whose file list setuptools would reuse."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


@pytest.fixture(scope="module")
def wheel_members(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    source = source_tree(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = out.glob("noojee_django-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def app_files() -> set[str]:
    """The app's own files as they are in the repository (no bytecode)."""
    return {
        path.relative_to(REPO).as_posix()
        for path in APP.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


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
