"""``manage.py noojee_evidence_key``: the public key evidence bundles are signed with, or a new key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from noojee_django import signing


class Command(BaseCommand):
    help = (
        "Print the public key (PEM) that checks this deployment's evidence bundles, and its fingerprint; "
        "with --generate, print a new private key to put into the environment."
    )
    requires_system_checks: list[str] = []  # a missing or broken key is what this command is for

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--generate",
            action="store_true",
            help="Print a new signing key (stdout only) and its public key; nothing is stored.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate"]:
            private = signing.generate_private_key()
            public = signing.parse_private_key(private).public_key()
            self.stdout.write(
                f"# A new evidence signing key. Put this line into the environment of every process of "
                f"the app (web and workers), from your secret store, never into version control:\n"
                f"{signing.ENVIRONMENT_VARIABLE}={private}\n"
                "# Keep the public key below with your records: bundles signed with this key are "
                "checked with it, also after the key is replaced.\n"
            )
            self._print_public(public)
            return
        try:
            public = signing.signing_key().public_key()
        except signing.SigningKeyError as exc:
            raise CommandError(str(exc)) from None
        self._print_public(public)

    def _print_public(self, public: Any) -> None:
        self.stdout.write(signing.public_key_pem(public).decode("ascii"), ending="")
        self.stdout.write(f"fingerprint (sha256 of the raw public key): {signing.fingerprint(public)}")
