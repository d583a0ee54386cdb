"""``python -m noojee_django.emulator --port 8765 --api-key KEY``: prints the base URL, then serves."""

from __future__ import annotations

import argparse

from .cli import add_arguments, config_from_options, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m noojee_django.emulator", description=__doc__)
    add_arguments(parser)
    serve(config_from_options(vars(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
