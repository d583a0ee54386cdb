"""The example project's settings with more PBXs, for the several-PBX pipeline runs
(``bench/pipeline.py --pbxes``, ``tests/test_pbx_reachability.py``).

``NOOJEE_PBXES`` holds ``NOOJEE["PBXES"]`` as JSON: each connection's address, never its key, which
each connection reads from its own environment variable (``NOOJEE_<NAME>_API_KEY``), as a deployment's
settings would. ``NOOJEE_UNREACHABLE_PAUSE``, ``NOOJEE_UNREACHABLE_PAUSE_CAP`` and
``NOOJEE_PBX_MAX_IN_FLIGHT`` set what a PBX that cannot be reached may cost the others.
"""

import json
import os

from example_project.settings import *  # noqa: F403
from example_project.settings import NOOJEE as _EXAMPLE

NOOJEE = {
    **_EXAMPLE,
    "PBXES": json.loads(os.environ.get("NOOJEE_PBXES", "{}")),
    **{
        key: kind(os.environ[f"NOOJEE_{key}"])
        for key, kind in (
            ("UNREACHABLE_PAUSE", float),
            ("UNREACHABLE_PAUSE_CAP", float),
            ("PBX_MAX_IN_FLIGHT", int),
        )
        if os.environ.get(f"NOOJEE_{key}")
    },
}
