"""``docs/architecture.md`` against the code: the lifecycle tables, and the layers' imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from noojee_django import lifecycle
from noojee_django.models import RecordingLeg, RecordingTag
from tests import architecture_doc

APP = Path(__file__).resolve().parent.parent / "noojee_django"

MODEL_LAYER = {
    "models",
    "lifecycle",
    "states",
    "ledger",
    "signing",
    "exceptions",
    "conf",
    "signals",
    "validation",
    "stitching",
    "zipstream",
    "storage",
    "pbx",
    "permissions",
    "script_template",
}
ENTRY_POINTS = {
    "views",
    "playback",
    "api",
    "admin",
    "admin_actions",
    "admin_kit",
    "templatetags",
    "management",
    "listener",
    "tasks",
    "forms",
    "checks",
    "urls",
    "apps",
}


def test_the_docs_show_the_lifecycle_tables_of_the_code() -> None:
    assert architecture_doc.in_doc(architecture_doc.DOC.read_text()) == architecture_doc.generated(), (
        "docs/architecture.md is out of date: python -m tests.architecture_doc --write"
    )


def test_every_status_is_in_the_tables_and_every_target_is_a_status() -> None:
    for table, choices in (
        (lifecycle.RECORDING_TAG_TRANSITIONS, RecordingTag.Status.values),
        (lifecycle.RECORDING_LEG_TRANSITIONS, RecordingLeg.FetchStatus.values),
    ):
        named = set(table) | {target for targets in table.values() for target in targets}
        assert named <= set(choices)
        assert set(choices) - {RecordingTag.Status.ATTACHED} <= named


def _app_imports(path: Path, source: str | None = None) -> set[str]:
    """The app's top-level modules that ``path`` imports (``services``, ``models`` ...)."""
    module = path.relative_to(APP.parent).with_suffix("").parts  # (..., "__init__") for a package
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        names: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            base = [*module[: len(module) - node.level]] if node.level else []
            parts = [*base, *(node.module.split(".") if node.module else [])]
            names = [[*parts, alias.name] for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        found |= {name[1] for name in names if len(name) > 1 and name[0] == "noojee_django"}
    return found


def _roots(path: Path) -> set[str]:
    """Top-level packages ``path`` imports absolutely (``django``, ``requests`` ...)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
    return roots


def _modules(*names: str) -> list[Path]:
    paths: list[Path] = []
    for name in names:
        target = APP / name
        paths += sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return [p for p in paths if p.exists()]


@pytest.mark.parametrize("path", _modules(*sorted(MODEL_LAYER)), ids=lambda p: p.name)
def test_the_model_layer_imports_no_service_task_or_entry_point(path: Path) -> None:
    assert not _app_imports(path) & ({"services"} | ENTRY_POINTS)


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: p.name)
def test_the_services_import_no_task_and_no_entry_point(path: Path) -> None:
    assert not _app_imports(path) & ENTRY_POINTS


@pytest.mark.parametrize("path", _modules("client", "emulator"), ids=lambda p: str(p.relative_to(APP)))
def test_the_client_and_the_emulator_import_no_django_and_nothing_above_them(path: Path) -> None:
    layer = "client" if "client" in path.relative_to(APP).parts else "emulator"
    assert "django" not in _roots(path)
    assert _app_imports(path) <= {layer}


def test_the_import_check_sees_forbidden_imports() -> None:
    """The checker must be able to fail: relative and absolute imports of the layers above are seen."""
    source = "from ..tasks import poll_recording_tag\nfrom .. import views\nimport noojee_django.admin\n"
    found = _app_imports(APP / "services" / "probe.py", source)
    assert found == {"tasks", "views", "admin"}
    assert _app_imports(APP / "services" / "__init__.py", "from .calls import dial\n") == {"services"}
