"""``manage.py noojee_verify_log``: walk the access log's and the recordings' histories' hash chains."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from noojee_django import services


class Command(BaseCommand):
    help = (
        "Verify the hash chains of the access log and of each recording's history; report the first "
        "break of each broken chain (table, row id and sequence, edited/missing/inserted/reordered). "
        "Exits 1 when any chain is broken."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--recording", type=int, default=None, help="Only this recording's chains (its id)."
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="The database to verify.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = services.verify_log(options["recording"], using=options["database"])
        for found in report.breaks:
            self.stderr.write(str(found))
        summary = f"{report.chains} chain(s), {report.rows} row(s) checked"
        if not report.ok:
            raise CommandError(f"{len(report.breaks)} broken chain(s) of {summary}.", returncode=1)
        self.stdout.write(f"All chains hold: {summary}.")
