"""Backfill: adopting a PBX that recorded calls before the app was installed.

The PBX lists the legs that ended in one of its hours (``retrieveMetaDataByHour``), one listing a
minute. A backfill walks a range of those hours, oldest first, and places each hour's legs the way
the hourly reconcile does (:func:`~.collecting.reconcile_hour_report`: the recording started for the
call, else what ``RESOLVE_TAG`` names, else kept unattached). It takes its turns through
:func:`~.collecting.take_hour_listing_slot`, deferring to the beat's reconcile, so neither makes the
PBX refuse the other. Its progress is a :class:`~noojee_django.models.BackfillProgress` row, saved
after every hour: a stopped run repeats at most the hour it was in, which adds nothing twice.

Each PBX connection is walked on its own: in its own local hours (its ``PBX_TIME_ZONE``), through its
own listing slot, placing legs on its own rows. A range's row belongs to one connection, named at the
start of its ``key`` (``acme:``); the ``"default"`` connection's keys carry no name, as before there
were several.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from .. import connections
from ..client import errors as client_errors
from ..exceptions import PbxError
from ..models import BackfillProgress
from .collecting import HourReport, hour_listing_interval, reconcile_hour_report, take_hour_listing_slot

#: Failures in a row, other than "too soon", after which a backfill stops (to be run again later).
MAX_FAILURES_PER_HOUR = 3
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class BackfillStatus:
    """Where a running backfill is, for a progress display.

    ``event`` is ``asking`` (waiting for the PBX's slot, then asking for ``hour``), ``done`` (``hour``
    is completed and saved), ``rate_limited`` (the PBX said "too soon": the hour is asked again) or
    ``retrying`` (the PBX failed; the hour is asked again).
    """

    event: str
    hour: dt.datetime  # PBX-local start of the hour
    hours_done: int
    hours_total: int
    legs_found: int
    attached: int
    kept_unattached: int
    seconds_left: float
    message: str = ""


def pbx_time_zone(connection: str = connections.DEFAULT) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(connections.get(connection).PBX_TIME_ZONE)


def current_pbx_hour(now: dt.datetime | None = None, connection: str = connections.DEFAULT) -> dt.datetime:
    """The start of the current hour of the PBX ``connection``, in its local time."""
    local = (now or timezone.now()).astimezone(pbx_time_zone(connection))
    return local.replace(minute=0, second=0, microsecond=0)


def _pbx_hour(moment: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """``moment`` as the start of its hour in ``zone``; a naive datetime is PBX-local time."""
    local = moment.replace(tzinfo=zone) if timezone.is_naive(moment) else moment.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0)


def _label(hour: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    return f"{hour.astimezone(zone):%Y-%m-%dT%H}"


def _next_pbx_hour(hour: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The start of the PBX-local hour after ``hour``. Clocks going back show an hour twice: the PBX
    lists both as one ``date``/``hour``, asked once."""
    wall = hour.astimezone(zone).replace(tzinfo=None)
    following = hour
    while True:
        following = (following.astimezone(dt.UTC) + HOUR).astimezone(zone).replace(minute=0, second=0)
        if following.replace(tzinfo=None) > wall:
            return following


def _progress_key(
    connection: str, zone: zoneinfo.ZoneInfo, first: dt.datetime, last: dt.datetime | None
) -> str:
    """The range's row: ``2026-01-01T00..2026-01-31T23 Australia/Melbourne`` on ``"default"``, the
    same after ``acme:`` on the connection ``acme``. A key too long for its column keeps the
    connection's name and digests the rest, so it still names its connection and only its range."""
    key = f"{_label(first, zone)}..{_label(last, zone) if last is not None else 'now'} {zone}"
    if connection == connections.DEFAULT:
        return key
    prefix = f"{connection}:"
    width = BackfillProgress._meta.get_field("key").max_length or 100
    if len(prefix) + len(key) > width:
        key = hashlib.sha256(key.encode()).hexdigest()[: width - len(prefix)]
    return prefix + key


def backfill_connection(progress: BackfillProgress) -> str:
    """The PBX connection whose hours ``progress`` walks: the name before the colon of its key,
    ``"default"`` for a key without one."""
    name, colon, _range = progress.key.partition(":")
    return name if colon and connections.NAME_PATTERN.match(name) else connections.DEFAULT


def start_backfill(
    since: dt.datetime,
    until: dt.datetime | None = None,
    *,
    restart: bool = False,
    connection: str = connections.DEFAULT,
) -> BackfillProgress:
    """The progress row of the range from the hour of ``since`` to the hour of ``until`` (inclusive;
    ``None``: the current hour of each run) on the PBX ``connection``; found again for the same range
    and connection, started over with ``restart``. Naive datetimes are local to that PBX. Raises
    :class:`~noojee_django.connections.UnknownConnection` for a connection nobody defined and
    ``ValidationError`` for a range that starts in the future or ends before it starts.
    """
    zone = pbx_time_zone(connection)
    first = _pbx_hour(since, zone)
    last = _pbx_hour(until, zone) if until is not None else None
    now_hour = current_pbx_hour(connection=connection)
    if first > now_hour:
        raise ValidationError(
            f"The backfill cannot start at {first:%Y-%m-%d %H:%M}: that hour is in the future "
            f"(it is {now_hour:%Y-%m-%d %H}:xx on the PBX, {first.tzinfo})."
        )
    if last is not None and last < first:
        raise ValidationError(
            f"The first hour ({first:%Y-%m-%d %H:%M}) is after the last ({last:%Y-%m-%d %H:%M})."
        )
    key = _progress_key(connection, zone, first, last)
    fresh = {
        "next_hour": first,
        "hours_done": 0,
        "legs_found": 0,
        "legs_attached": 0,
        "legs_unattached": 0,
        "legs_known": 0,
        "rate_limited": 0,
        "started_at": timezone.now(),
        "finished_at": None,
    }
    progress, created = BackfillProgress.objects.get_or_create(
        key=key,
        defaults={"time_zone": str(first.tzinfo), "first_hour": first, "last_hour": last, **fresh},
    )
    if restart and not created:
        for name, value in fresh.items():
            setattr(progress, name, value)
        progress.save()
    return progress


def backfill_hours(progress: BackfillProgress, *, now: dt.datetime | None = None) -> list[dt.datetime]:
    """The PBX-local hours of ``progress`` still to ask, oldest first; never an hour to come."""
    connection = backfill_connection(progress)
    zone = pbx_time_zone(connection)
    end = current_pbx_hour(now, connection)
    if progress.last_hour is not None:
        end = min(end, progress.last_hour.astimezone(zone))
    hours: list[dt.datetime] = []
    hour = progress.next_hour.astimezone(zone)
    while hour <= end:
        hours.append(hour)
        hour = _next_pbx_hour(hour, zone)
    return hours


def last_completed_hour(progress: BackfillProgress) -> dt.datetime | None:
    """The PBX-local start of the last hour ``progress`` completed; ``None`` before the first."""
    if not progress.hours_done:
        return None
    before = progress.next_hour.astimezone(dt.UTC) - HOUR
    zone = pbx_time_zone(backfill_connection(progress))
    return before.astimezone(zone).replace(minute=0, second=0, microsecond=0)


def run_backfill(
    progress: BackfillProgress, *, on_status: Callable[[BackfillStatus], None] | None = None
) -> BackfillProgress:
    """Ask the PBX of ``progress`` for every hour still to do, one a ``METADATA_HOUR_INTERVAL`` (that
    PBX's own turns: another connection's backfill or reconcile never waits for this one), and place
    their legs on its connection; ``on_status`` hears of each step.

    The row is saved after each hour. A "too soon" from the PBX is waited out and the same hour asked
    again, never skipped; any other failure is asked again up to :data:`MAX_FAILURES_PER_HOUR` times
    in a row, then raised (:class:`~noojee_django.exceptions.PbxError`) with the row where it stopped.
    A KeyboardInterrupt goes through untouched: the hour it interrupted is simply not saved.
    """
    connection = backfill_connection(progress)
    hours = backfill_hours(progress)
    total = progress.hours_done + len(hours)
    zone = pbx_time_zone(connection)
    interval = hour_listing_interval(connection)

    def tell(event: str, hour: dt.datetime, message: str = "") -> None:
        if on_status is not None:
            on_status(
                BackfillStatus(
                    event=event,
                    hour=hour,
                    hours_done=progress.hours_done,
                    hours_total=total,
                    legs_found=progress.legs_found,
                    attached=progress.legs_attached,
                    kept_unattached=progress.legs_unattached,
                    seconds_left=(total - progress.hours_done) * interval,
                    message=message,
                )
            )

    for hour in hours:
        report = _ask_until_answered(progress, connection, hour, tell)
        _complete_hour(progress, _next_pbx_hour(hour, zone), report)
        tell("done", hour)
    progress.finished_at = timezone.now()
    progress.save(update_fields=["finished_at", "updated_at"])
    return progress


def _ask_until_answered(
    progress: BackfillProgress,
    connection: str,
    hour: dt.datetime,
    tell: Callable[[str, dt.datetime, str], None],
) -> HourReport:
    failures = 0
    tell("asking", hour, "")
    while True:
        take_hour_listing_slot(wait=None, defer=True, connection=connection)
        try:
            return reconcile_hour_report(hour.date(), hour.hour, connection)
        except PbxError as exc:
            if isinstance(exc.cause, client_errors.RateLimited):
                BackfillProgress.objects.filter(pk=progress.pk).update(rate_limited=F("rate_limited") + 1)
                progress.rate_limited += 1
                tell("rate_limited", hour, "the PBX said it was asked too soon; asking again")
                continue
            failures += 1
            if not exc.cause.retryable or failures >= MAX_FAILURES_PER_HOUR:
                raise
            tell("retrying", hour, str(exc))


def _complete_hour(progress: BackfillProgress, next_hour: dt.datetime, report: HourReport) -> None:
    progress.next_hour = next_hour
    progress.hours_done += 1
    progress.legs_found += report.legs_found
    progress.legs_attached += report.attached
    progress.legs_unattached += report.kept_unattached
    progress.legs_known += report.legs_known
    progress.save(
        update_fields=[
            "next_hour",
            "hours_done",
            "legs_found",
            "legs_attached",
            "legs_unattached",
            "legs_known",
            "updated_at",
        ]
    )
