"""``manage.py noojee_emulator``: the emulated PBX, with the API key from ``NOOJEE["API_KEY"]`` or the
``NOOJEE_API_KEY`` environment variable unless ``--api-key`` is given."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from noojee_django.emulator.cli import add_arguments, config_from_options, serve


class Command(BaseCommand):
    help = "Run the emulated Noojee PBX (prints its base URL, serves until Ctrl-C)."
    requires_system_checks: list[str] = []  # the emulator needs none of the project to be sound

    def add_arguments(self, parser: Any) -> None:
        add_arguments(parser, require_api_key=False)

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["api_key"]:
            options["api_key"] = (getattr(settings, "NOOJEE", None) or {}).get("API_KEY") or os.environ.get(
                "NOOJEE_API_KEY"
            )
        if not options["api_key"]:
            raise CommandError('No API key: pass --api-key, or set NOOJEE["API_KEY"] or NOOJEE_API_KEY.')
        serve(config_from_options(options), self.stdout)
