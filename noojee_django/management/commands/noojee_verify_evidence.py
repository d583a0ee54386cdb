"""``manage.py noojee_verify_evidence bundle.zip``: does an evidence bundle hold what was signed?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from noojee_django import services


class Command(BaseCommand):
    help = (
        "Check an evidence bundle: every file's size and sha256 against its manifest, no file added, "
        "removed or renamed, and the manifest's signature by the expected key (the configured signing "
        "key, or --public-key). Exits with status 1 on any problem, naming it."
    )
    requires_system_checks: list[str] = []  # verifying needs no PBX, and no signing key with --public-key

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("bundle", help="The evidence bundle (a .zip file).")
        parser.add_argument(
            "--public-key",
            metavar="FILE",
            help="The PEM public key the bundle must be signed with (an earlier key, after a rotation); "
            "default: the configured signing key's.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        public_key = None
        if options["public_key"]:
            try:
                public_key = Path(options["public_key"]).read_bytes()
            except OSError as exc:
                raise CommandError(
                    f"Cannot read the public key {options['public_key']}: {exc.strerror}."
                ) from None
        if not Path(options["bundle"]).is_file():
            raise CommandError(f"No such bundle: {options['bundle']}.")
        report = services.verify_evidence(options["bundle"], public_key=public_key)
        for line in report.lines():
            (self.stdout if report.ok else self.stderr).write(line)
        if not report.ok:
            raise CommandError(
                f"{options['bundle']} does not verify: {len(report.findings)} problem(s).", returncode=1
            )
