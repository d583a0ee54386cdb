"""``manage.py noojee_backfill --since DATE [--until DATE] [--pbx NAME]``: adopt the recordings a PBX
already holds.

Walks the hours of one PBX connection (``--pbx``, by default ``"default"``), in that PBX's local time,
one listing a minute (the PBX's limit, kept per connection), and attaches what ``RESOLVE_TAG``
resolves; resumable: the same command again continues after the last completed hour. Progress goes
to stderr (one line redrawn in place on a terminal, a line per hour otherwise); the summary to stdout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from noojee_django import connections, services
from noojee_django.exceptions import NoojeeServiceError
from noojee_django.models import BackfillProgress
from noojee_django.pbx import get_client

DATE_FORMATS = "YYYY-MM-DD (a whole day), or YYYY-MM-DDTHH for one hour"
#: Exit status of a run stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def _plain(text: str) -> str:
    return text


def parse_moment(value: str, option: str, *, end_of_day: bool) -> dt.datetime:
    """A PBX-local date or hour as typed; a date alone is its first hour, or its last with ``end_of_day``."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, 23 if end_of_day else 0)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"{option} {value!r} is not a date: use {DATE_FORMATS}, in the PBX's time."
        ) from None


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _hour(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H}:00"


def _the_pbx(connection: str) -> str:
    return "the PBX" if connection == connections.DEFAULT else f"the PBX {connection!r}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class ProgressLine:
    """The backfill's progress on stderr: one line redrawn in place on a terminal, so an operator
    sees where it is; one line per completed hour elsewhere, so a log stays readable."""

    def __init__(self, out: OutputWrapper, *, enabled: bool) -> None:
        self.out = out
        self.enabled = enabled
        self.terminal = enabled and out.isatty()
        self.drawn = False

    def __call__(self, status: services.BackfillStatus) -> None:
        if not self.enabled:
            return
        line = (
            f"{status.event.replace('_', ' ')} {_hour(status.hour)}"
            f" · {status.hours_done}/{status.hours_total} hours"
            f" · {status.legs_found} found · {status.attached} attached"
            f" · {status.kept_unattached} unattached · {format_duration(status.seconds_left)} left"
        )
        if status.message:
            line += f" · {status.message}"
        if self.terminal:
            self.out.write(f"\r\x1b[K{line}", style_func=_plain, ending="")
            self.out.flush()
            self.drawn = True
        elif status.event != "asking":
            self.out.write(line, style_func=_plain)

    def close(self) -> None:
        if self.drawn:
            self.out.write("", style_func=_plain)
            self.drawn = False


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager, ``kill``) stops the run the way Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Command(BaseCommand):
    help = (
        "Walk a PBX's past hours (--pbx NAME, default 'default'), in that PBX's local time, one listing "
        "a minute, and attach the recordings RESOLVE_TAG names; run it again to continue after the last "
        "completed hour. Each PBX connection has its own progress and its own once-a-minute turn."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--since", required=True, metavar="DATE", help=f"First PBX-local day: {DATE_FORMATS}."
        )
        parser.add_argument(
            "--until", metavar="DATE", help="Last PBX-local day, inclusive (default: the current hour)."
        )
        parser.add_argument(
            "--pbx",
            default=connections.DEFAULT,
            metavar="NAME",
            help="The PBX connection to walk: a name of NOOJEE['PBXES'] (default: 'default'). "
            "--since and --until are that PBX's local time (its PBX_TIME_ZONE).",
        )
        parser.add_argument(
            "--restart", action="store_true", help="Start this range over from its first hour."
        )
        parser.add_argument("--quiet", action="store_true", help="Print only the summary (as --verbosity 0).")

    def handle(self, *args: Any, **options: Any) -> None:
        connection = options["pbx"]
        try:
            get_client(connection)  # an unknown name, or one without an address or a key, stops here
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        since = parse_moment(options["since"], "--since", end_of_day=False)
        until = parse_moment(options["until"], "--until", end_of_day=True) if options["until"] else None
        try:
            progress = services.start_backfill(
                since, until, restart=options["restart"], connection=connection
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        resume = " ".join(
            ["manage.py noojee_backfill", "--since", options["since"]]
            + (["--until", options["until"]] if options["until"] else [])
            + (["--pbx", connection] if connection != connections.DEFAULT else [])
        )
        if not services.backfill_hours(progress):
            self.stdout.write(
                f"{self.summary(progress)} This range was already backfilled:"
                f" `{resume} --restart` walks it again."
            )
            return

        line = ProgressLine(self.stderr, enabled=options["verbosity"] > 0 and not options["quiet"])
        try:
            with sigterm_as_keyboard_interrupt():
                services.run_backfill(progress, on_status=line)
        except KeyboardInterrupt:
            line.close()
            raise CommandError(
                self.stopped(progress, "Interrupted", resume), returncode=INTERRUPTED
            ) from None
        except NoojeeServiceError as exc:
            line.close()
            raise CommandError(self.stopped(progress, f"{exc}\nStopped", resume)) from None
        line.close()
        self.stdout.write(self.summary(progress))

    def summary(self, progress: BackfillProgress) -> str:
        progress.refresh_from_db()
        connection = services.backfill_connection(progress)
        zone = services.pbx_time_zone(connection)
        last = services.last_completed_hour(progress)
        asked = f"{_hour(progress.first_hour.astimezone(zone))} to {_hour(last)}, {zone}" if last else "none"
        return (
            f"Backfilled {_plural(progress.hours_done, 'hour')} of {_the_pbx(connection)} ({asked}):"
            f" {_plural(progress.legs_found, 'leg')} found ({progress.legs_known} known already),"
            f" {progress.legs_attached} attached, {progress.legs_unattached} kept unattached."
        )

    def stopped(self, progress: BackfillProgress, why: str, resume: str) -> str:
        progress.refresh_from_db()
        zone = services.pbx_time_zone(services.backfill_connection(progress))
        next_hour = progress.next_hour.astimezone(zone)
        last = services.last_completed_hour(progress)
        if last is not None:
            done = f"after {_hour(last)} ({zone}): {_plural(progress.hours_done, 'hour')} done"
        else:
            done = f"before its first hour, {_hour(next_hour)} ({zone})"
        return (
            f"{why} {done}, {progress.legs_attached} attached, {progress.legs_unattached} kept unattached."
            f" Run `{resume}` again to go on from {_hour(next_hour)}."
        )
