"""The suite's Hypothesis profiles, loaded on import (``tests/conftest.py`` imports this first).

- ``ci``: the full example counts (Hypothesis's 100 by default, and each test's own count), derandomized
  and with no example database, so a CI run is reproducible from its log alone (``print_blob``).
  Selected when ``CI=true``.
- ``dev``: a fifth of the examples, randomized, with the local example database in ``.hypothesis/``
  so a failure found once is replayed first. The default everywhere else (``make test``,
  ``make test-fast``, a bare ``pytest``).

``HYPOTHESIS_PROFILE=ci`` (or ``dev``) chooses one explicitly. Neither profile has a deadline: the suite
runs in parallel on shared cores, where a per-example time limit measures the machine, not the code.

A test that needs its own count writes ``@settings(max_examples=examples(300))``: 300 under ``ci``, a
fifth of it under ``dev``. A literal ``max_examples=300`` would override the profile and run 300
everywhere.
"""

from __future__ import annotations

import os

from hypothesis import settings

#: Examples a test without its own count runs, per profile; :func:`examples` scales by the same ratio.
FULL = 100
DEV = 20

settings.register_profile(
    "ci", max_examples=FULL, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("dev", max_examples=DEV, deadline=None)


def profile_name() -> str:
    """``$HYPOTHESIS_PROFILE``, else ``ci`` under ``CI=true``, else ``dev``."""
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"


settings.load_profile(profile_name())


def examples(full: int) -> int:
    """``full`` examples under the ``ci`` profile, scaled like the loaded profile's default elsewhere
    (a fifth under ``dev``), never fewer than one."""
    return max(1, round(full * settings.default.max_examples / FULL))
