"""``manage.py noojee_listen``: keep CallSession rows in step with one PBX (one long poll for all its
agents)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from noojee_django import connections
from noojee_django.listener import CallStateListener
from noojee_django.pbx import get_client


class Command(BaseCommand):
    help = (
        "Listen to one PBX's call events for every agent extension on it and update calls as they change "
        "(one process per PBX connection)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--timeout", type=int, default=20, help="Seconds the PBX may hold each poll.")
        parser.add_argument("--max-polls", type=int, default=None, help="Stop after this many polls.")
        parser.add_argument(
            "--pbx",
            default=connections.DEFAULT,
            metavar="NAME",
            help="The PBX connection to listen to: a name of NOOJEE['PBXES'] (default: 'default').",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["pbx"]
        try:
            connection = connections.get(name)
            client = get_client(name)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if connection.is_user_key:
            raise CommandError(
                f"The PBX connection {name!r} uses a user API key, which may not call subscribe: "
                "it has no call events to listen to (see noojee.W021)."
            )
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        listener = CallStateListener(
            client, poll_timeout=options["timeout"], stop_event=stop, connection=name
        )
        self.stdout.write(f"Listening to the call events of PBX {name!r} (Ctrl-C to stop)")
        listener.run(max_polls=options["max_polls"])
