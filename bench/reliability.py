"""Reliability drills: the recording pipeline under faults, and the call-state listener under kills.

    python bench/reliability.py [--tags 12] [--legs 2,1,1] [--kills 12] [--scenarios KILL,TRUNC,...]
                                [--agents 10] [--calls 8] [--listener-kills 6] [--emulator-restarts 4]

1. Fault drill (``tests/reliability_drill.py``): every scenario on its own batch of tags, through a real
   Celery worker on Redis and PostgreSQL with the emulator in its own process and the app's clock
   shortened (``tests/drill_stack.py``: FAST_CLOCK). One row per scenario: tags, attached,
   failed-with-reason, lost, duplicates, partial files, seconds.
2. Listener drill (``tests/listener_drill.py``): click-to-dial calls through the app while the listener
   is SIGKILLed and the emulator restarted (state kept) during long polls; each call's transitions
   against the emulator's event log.

The last two lines:
``listener: events=<n> lost=<n> applied_twice=<n> listener_kills=<n> emulator_restarts=<n>``
``reliability: scenarios=<n> unsurvived=<n> lost=<n> duplicates=<n> partial_files=<n> worker_kills=<n>``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.drill_stack import fresh_database, redis_database  # noqa: E402
from tests.servers import postgres_server, redis_server, run_for_json  # noqa: E402


def run_drill(*arguments: str, timeout: float) -> dict[str, Any]:
    """One drill in its own process (it sets Django up with the example project's settings)."""
    command = [sys.executable, "-m", "tests.reliability_drill", *arguments]
    return dict(run_for_json(command, timeout=timeout, show_stderr=True))


def table(rows: list[dict[str, Any]]) -> list[str]:
    head = (
        "scenario",
        "tags",
        "attached",
        "failed-with-reason",
        "lost",
        "duplicates",
        "partial files",
        "seconds",
    )
    cells = [
        (
            row["scenario"],
            str(row["tags"]),
            str(row["attached"]),
            str(row["failed_with_reason"]),
            str(row["lost"]),
            str(row["duplicates"]),
            str(row["partial_files"]),
            f"{row['seconds']:.1f}",
        )
        for row in rows
    ]
    widths = [max(len(head[i]), *(len(c[i]) for c in cells)) for i in range(len(head))]

    def line(values: tuple[str, ...]) -> str:
        return (
            "| "
            + " | ".join(v.ljust(widths[i]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(values))
            + " |"
        )

    return [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(c) for c in cells)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=12, help="tags per fault scenario")
    parser.add_argument("--legs", default="2,1,1", help="leg durations in seconds")
    parser.add_argument("--kills", type=int, default=12, help="worker SIGKILLs mid-download")
    parser.add_argument("--scenarios", default="", help="scenario prefixes (default: all)")
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--calls", type=int, default=8, help="calls per agent")
    parser.add_argument("--listener-kills", type=int, default=6)
    parser.add_argument("--emulator-restarts", type=int, default=4)
    args = parser.parse_args()

    with redis_server() as redis_url, postgres_server() as server_url:
        faults = run_drill(
            "faults",
            f"--broker={redis_database(redis_url, 1)}",
            f"--database={fresh_database(server_url, 'drill_faults')}",
            f"--tags={args.tags}",
            f"--legs={args.legs}",
            f"--kills={args.kills}",
            f"--scenarios={args.scenarios}",
            timeout=3600,
        )
        listener = run_drill(
            "listener",
            f"--broker={redis_database(redis_url, 2)}",
            f"--database={fresh_database(server_url, 'drill_listener')}",
            f"--agents={args.agents}",
            f"--calls={args.calls}",
            f"--listener-kills={args.listener_kills}",
            f"--emulator-restarts={args.emulator_restarts}",
            timeout=1800,
        )

    rows = faults["scenarios"]
    kills = faults["worker_kills"]
    print(f"fault drill: {args.tags} tags per scenario, legs {args.legs} s, {kills} worker kills")
    for line in table(rows):
        print(line)
    acted = [f"{row['scenario']}: {row['fault_hits']}" for row in rows if row["fault_hits"]]
    print("faults injected (hits): " + ", ".join(acted))
    print(f"emulator restarts: {faults['emulator_restarts']}, worker SIGKILLs mid-download: {kills}")
    reasons = [row for row in rows if row["reason"]]
    if reasons:
        print("what the failed tags say (one per scenario):")
    for row in reasons:
        print(f"  {row['scenario']}: {row['reason'][:240]}")
    for row in rows:
        for problem in row["problems"][:5]:
            print(f"  {row['scenario']}: {problem}")
    print(
        f"listener drill: {listener['calls']} calls by {args.agents} agents in {listener['seconds']:.1f} s, "
        f"{listener['dials_refused']} dial(s) refused while the PBX restarted, "
        f"{listener['misattributed']} call(s) misattributed"
    )
    for problem in listener["problems"][:5]:
        print(f"  listener: {problem}")
    unsurvived = sum(1 for row in rows if not row["survived"])
    print(
        f"listener: events={listener['events']} lost={listener['lost']} "
        f"applied_twice={listener['applied_twice']} listener_kills={listener['listener_kills']} "
        f"emulator_restarts={listener['emulator_restarts']}"
    )
    lost = sum(row["lost"] for row in rows)
    duplicates = sum(row["duplicates"] for row in rows)
    partial = sum(row["partial_files"] for row in rows)
    print(
        f"reliability: scenarios={len(rows)} unsurvived={unsurvived} lost={lost} duplicates={duplicates} "
        f"partial_files={partial} worker_kills={kills}"
    )


if __name__ == "__main__":
    main()
