"""The lifecycle state machine (``tests/support/lifecycle_machine.py``), run longer than the suite does.

    python bench/lifecycle.py [--steps 2000] [--steps-per-sequence 40] [--shrink] [--seeded]

It runs ``tests/test_lifecycle_stateful.py`` through pytest (the suite's Django settings, database
and in-process emulator), with about ``--steps`` steps in sequences of ``--steps-per-sequence``,
each run exploring new sequences (``--seeded``: the suite's fixed ones). Without ``--shrink`` a
failing sequence is printed as found, not shrunk (shrinking a long sequence against a live emulator
takes minutes). The machine's counters are read from the JSON report it writes.

Last line: ``lifecycle: steps=<n> violations=<n>``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="about this many steps in all")
    parser.add_argument("--steps-per-sequence", type=int, default=40)
    parser.add_argument("--shrink", action="store_true", help="shrink a failing sequence")
    parser.add_argument("--seeded", action="store_true", help="the suite's fixed sequences")
    args = parser.parse_args()

    sequences = max(1, math.ceil(args.steps / args.steps_per_sequence))
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "lifecycle.json"
        env = {
            **os.environ,
            "NOOJEE_LIFECYCLE_EXAMPLES": str(sequences),
            "NOOJEE_LIFECYCLE_STEPS": str(args.steps_per_sequence),
            "NOOJEE_LIFECYCLE_RANDOM": "0" if args.seeded else "1",
            "NOOJEE_LIFECYCLE_SHRINK": "1" if args.shrink else "0",
            "NOOJEE_LIFECYCLE_REPORT": str(report_path),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "--timeout",
            str(max(300, sequences * 60)),
            "tests/test_lifecycle_stateful.py",
        ]
        started = time.monotonic()
        print(
            f"lifecycle bench: {sequences} sequence(s) of up to {args.steps_per_sequence} steps", flush=True
        )
        outcome = subprocess.run(command, cwd=REPO, env=env, check=False)
        seconds = time.monotonic() - started
        if not report_path.exists():
            print("the machine wrote no report (pytest could not start it)", file=sys.stderr)
            return 2
        report = json.loads(report_path.read_text(encoding="utf-8"))
    print(
        f"sequences={report['examples']} tasks_run={report['tasks_run']} settles={report['settles']} "
        f"seconds={seconds:.1f} pytest_exit={outcome.returncode}"
    )
    for message in report.get("first_violations", []):
        print(f"violation: {message}")
    print(f"lifecycle: steps={report['steps']} violations={report['violations']}")
    return 0 if outcome.returncode == 0 and report["violations"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
