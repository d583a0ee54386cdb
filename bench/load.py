"""Concurrent clicks and listens through gunicorn: errors, exactness, p50 and p99.

    python bench/load.py [--dials 200] [--ranges 50] [--workers 2] [--threads 32] [--sqlite]

The emulator in its own process, a throwaway PostgreSQL (``--sqlite``: the example's SQLite file
instead), gunicorn with gthread workers serving ``example_project.wsgi`` with the settings
docs/deployment.md recommends, and real recordings collected by the app's services from the emulator
(several MB each). Then:

1. ``--dials`` agents each click their customer's dial button once, all at the same moment (CSRF token
   from the page, as the widget posts it). Counted: HTTP errors, wrong answers, and the originates the
   emulator received, per extension and number (lost and duplicated).
2. ``--ranges`` Range requests at once on the private playback URLs (signatures and legs): closed,
   suffix and open-ended ranges, each answer compared byte for byte with the stored file's slice, plus
   ``--full-gets`` whole-file GETs compared by sha256. Every listen must leave one access-log row.

Latencies are from the client's side (connect to last byte), nearest-rank percentiles. The machinery is
in ``tests/load_harness.py``, shared with ``tests/test_load_smoke.py``. Exits 1 if anything was wrong.

Last line: ``load: dials=<n> dial_errors=<n> dial_p50_ms=<x> dial_p99_ms=<x> range_requests=<n>
range_errors=<n> range_p50_ms=<x> range_p99_ms=<x>``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.load_harness import LoadConfig, run_load  # noqa: E402
from tests.servers import postgres_server  # noqa: E402


def main() -> None:
    defaults = LoadConfig()
    parser = argparse.ArgumentParser()
    parser.add_argument("--dials", type=int, default=defaults.dials)
    parser.add_argument("--ranges", type=int, default=defaults.ranges)
    parser.add_argument("--full-gets", type=int, default=defaults.full_gets)
    parser.add_argument("--listeners", type=int, default=defaults.listeners)
    parser.add_argument("--recordings", type=int, default=defaults.recordings)
    parser.add_argument("--legs", default=",".join(str(s) for s in defaults.legs), help="seconds per leg")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="gunicorn threads per worker")
    parser.add_argument(
        "--pbx-latency", type=float, default=defaults.pbx_latency, help="seconds added to each PBX request"
    )
    parser.add_argument(
        "--conn-max-age", type=int, default=defaults.conn_max_age, help="Django's CONN_MAX_AGE (PostgreSQL)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="of the random ranges")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument(
        "--pg-max-connections", type=int, default=100, help="PostgreSQL's max_connections (its default: 100)"
    )
    args = parser.parse_args()
    config = LoadConfig(
        dials=args.dials,
        ranges=args.ranges,
        full_gets=args.full_gets,
        listeners=args.listeners,
        recordings=args.recordings,
        legs=tuple(int(s) for s in args.legs.split(",")),
        workers=args.workers,
        threads=args.threads,
        seed=args.seed,
        pbx_latency=args.pbx_latency,
        conn_max_age=args.conn_max_age,
    )

    with tempfile.TemporaryDirectory(prefix="noojee-bench-load-") as work, contextlib.ExitStack() as stack:
        database_url = (
            None
            if args.sqlite
            else stack.enter_context(postgres_server(max_connections=args.pg_max_connections))
        )
        report = run_load(Path(work), config, database_url=database_url)

    if not args.sqlite:
        print(f"PostgreSQL max_connections={args.pg_max_connections}")
    print(report.table())
    wrong = (
        report.dial_errors
        + report.range_errors
        + report.full_get_errors
        + report.lost_originates
        + report.duplicate_originates
        + (report.originates != config.dials)
        + (report.rows.get("accesses") != config.ranges + config.full_gets)
        + (report.rows.get("calls") != config.dials)
    )
    print(report.summary_line())
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
