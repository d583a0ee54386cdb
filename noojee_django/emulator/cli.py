"""Command-line options shared by ``python -m noojee_django.emulator`` and ``manage.py noojee_emulator``."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from .config import AUDIO_ENCODINGS, AUTH_REFUSALS, EmulatorConfig
from .server import EmulatorServer
from .state import StateFileError


def add_arguments(parser: argparse.ArgumentParser, *, require_api_key: bool = True) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    parser.add_argument("--api-key", required=require_api_key, default=None, help="the global API key")
    parser.add_argument(
        "--user-key",
        action="append",
        default=[],
        metavar="KEY[=LOGIN[:CAMPAIGN,...]]",
        help="a user key, optionally with its Noojee login name and the campaigns of the user's teams,"
        " the first being where its dials go (repeatable)",
    )
    parser.add_argument(
        "--allow-ip", action="append", default=None, metavar="IP", help="repeatable; default all"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every PBX request")
    parser.add_argument("--answer-delay", type=float, default=1.0, help="seconds to the handset answering")
    parser.add_argument("--far-end-answer-delay", type=float, default=0.5)
    parser.add_argument(
        "--far-end-hangup-after",
        type=float,
        default=None,
        metavar="S",
        help="the called number hangs up this many seconds after answering; default: it stays on",
    )
    parser.add_argument("--hangup-settle", type=float, default=0.0)
    parser.add_argument("--audio-encoding", choices=AUDIO_ENCODINGS, default="base64")
    parser.add_argument("--audio-line-length", type=int, default=76)
    parser.add_argument("--auth-refusal", choices=AUTH_REFUSALS, default="code")
    parser.add_argument("--pbx-time-zone", default="Australia/Melbourne")
    parser.add_argument("--metadata-rate-limit", type=float, default=60.0, help="seconds; 0: no limit")
    parser.add_argument(
        "--state-file",
        default=None,
        metavar="PATH",
        help="keep calls, legs, events and counters in this JSON file, across restarts",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests on stderr")


def config_from_options(options: dict[str, Any]) -> EmulatorConfig:
    user_keys: dict[str, Any] = {}
    for item in options.get("user_key") or []:
        key, _, tenant = item.partition("=")
        login, _, campaigns = tenant.partition(":")
        names = [name.strip() for name in campaigns.split(",") if name.strip()]
        user_keys[key] = {"login": login or "user", "campaigns": names}
    return EmulatorConfig(
        host=options["host"],
        port=options["port"],
        api_key=options["api_key"],
        user_keys=user_keys,
        allowed_ips=options.get("allow_ip"),
        latency=options["latency"],
        answer_delay=options["answer_delay"],
        far_end_answer_delay=options["far_end_answer_delay"],
        far_end_hangup_after=options.get("far_end_hangup_after"),
        hangup_settle=options["hangup_settle"],
        audio_encoding=options["audio_encoding"],
        audio_line_length=options["audio_line_length"],
        auth_refusal=options["auth_refusal"],
        pbx_time_zone=options["pbx_time_zone"],
        metadata_rate_limit_seconds=options["metadata_rate_limit"],
        log_requests=not options.get("quiet"),
        state_file=options.get("state_file") or None,
    )


def serve(config: EmulatorConfig, out: Any = None) -> None:
    """Print the base URL as the first line of ``out``, then serve until SIGINT or SIGTERM."""
    out = out or sys.stdout
    try:
        emulator = EmulatorServer(config).start()
    except StateFileError as exc:
        raise SystemExit(f"noojee emulator: {exc}") from None
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: emulator.stop())
    out.write(emulator.url + "\n")
    out.flush()
    emulator.serve_forever()
    # Stopped: more of the same signals may still arrive (the terminal's and the demo's), also while
    # the interpreter shuts down, when Python has put back the default handlers that die of them.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
