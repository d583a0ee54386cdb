"""``manage.py noojee_listen``: keep CallSession rows in step with the PBX (one long poll for all agents)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from noojee_django.listener import CallStateListener
from noojee_django.pbx import get_client


class Command(BaseCommand):
    help = "Listen to the PBX's call events for every agent extension and update calls as they change."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--timeout", type=int, default=20, help="Seconds the PBX may hold each poll.")
        parser.add_argument("--max-polls", type=int, default=None, help="Stop after this many polls.")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        listener = CallStateListener(get_client(), poll_timeout=options["timeout"], stop_event=stop)
        self.stdout.write("Listening to PBX call events (Ctrl-C to stop)")
        listener.run(max_polls=options["max_polls"])
