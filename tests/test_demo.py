"""The main job, end to end: the scripted demo through the real HTTP endpoints of a running stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_scripted_demo_attaches_a_voice_signature_identical_to_the_pbx_audio() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "crm_demo", "--scripted"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(REPO)},
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0, result.stderr[-2000:]
    assert lines[-1] == "demo: attached=1 sha256_match=true"
