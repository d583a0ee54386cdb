"""``manage.py noojee_backfill``: adopting a PBX that recorded calls before the app was installed.

Driven with ``call_command`` against the emulator over loopback. The PBX allows one hourly listing per
``metadata_rate_limit_seconds`` (0.2 s here, a minute on a real PBX); the app waits
``METADATA_HOUR_INTERVAL`` (0.4 s here) between two, so any request the app sends too early is refused
by the emulator and shows in its counters. With several PBXs, each connection is walked against an
emulator of its own.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import threading
import time
import zoneinfo
from typing import Any

import pytest
from celery.exceptions import Retry
from django.core.management import CommandError, call_command
from django.utils import timezone

from example_project.crm.models import Invoice
from noojee_django import services, tasks
from noojee_django.emulator.control import ControlClient
from noojee_django.models import BackfillProgress, RecordingLeg, RecordingTag

pytestmark = pytest.mark.django_db

PBX_WINDOW = 0.2  # the emulator's rate limit on retrieveMetaDataByHour
INTERVAL = 0.4  # the app's METADATA_HOUR_INTERVAL
BY_HOUR = "retrieveMetaDataByHour"


# ---------------------------------------------------------------------------------------------- hooks


def resolve_invoice(tag: str) -> Invoice | None:
    """``RESOLVE_TAG`` of these tests: an invoice number names its invoice."""
    return Invoice.objects.filter(number=tag).first()


#: Signals the next ``STOP-HERE`` tag sends to this process (then it resolves like any tag).
_interruptions: list[int | None] = []


def resolve_or_interrupt(tag: str) -> Invoice | None:
    """Like :func:`resolve_invoice`, but the first ``STOP-HERE`` is an operator pressing Ctrl-C
    (``None``: a KeyboardInterrupt) or a service manager stopping the process (``SIGTERM``)."""
    if tag == "STOP-HERE" and _interruptions:
        signum = _interruptions.pop(0)
        if signum is None:
            raise KeyboardInterrupt
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the signal arrives here
        raise AssertionError("the signal did not stop the backfill")
    return resolve_invoice(tag)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def backfill_pbx(pbx: Any, settings: Any, noojee_emulator_control: Any) -> Any:
    noojee_emulator_control.config(metadata_rate_limit_seconds=PBX_WINDOW)
    settings.NOOJEE = {
        **settings.NOOJEE,
        "METADATA_HOUR_INTERVAL": INTERVAL,
        "RESOLVE_TAG": "tests.test_backfill.resolve_invoice",
    }
    _interruptions.clear()
    return pbx


@pytest.fixture
def customer_invoices(customer: Any) -> dict[str, Invoice]:
    return {
        number: Invoice.objects.create(number=number, customer=customer, amount="10.00")
        for number in ("INV-1", "INV-2", "INV-3", "STOP-HERE")
    }


def pbx_zone(emulator: Any) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(emulator.config.pbx_time_zone)


def pbx_hour(emulator: Any, hours_ago: int) -> dt.datetime:
    """The start of the PBX-local hour ``hours_ago`` hours before the current one."""
    return hour_in(emulator.config.pbx_time_zone, hours_ago)


def hour_in(zone: str, hours_ago: int) -> dt.datetime:
    """The start of the hour ``hours_ago`` hours before the current one, local to ``zone``."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    return (now - dt.timedelta(hours=hours_ago)).astimezone(zoneinfo.ZoneInfo(zone))


def arg(moment: dt.datetime) -> str:
    """An hour as an operator types it: PBX-local ``YYYY-MM-DDTHH``."""
    return f"{moment:%Y-%m-%dT%H}"


def recorded(
    control: Any, tag: str, hour: dt.datetime, *, minute: int = 20, legs: tuple[int, ...] = (2,)
) -> Any:
    """A call recorded on the PBX that ended ``minute`` minutes into ``hour``."""
    return control.add_recording(tag=tag, legs=list(legs), ended_at=hour + dt.timedelta(minutes=minute))


def hour_requests(control: Any) -> int:
    return int(control.stats()["requests"].get(BY_HOUR, 0))


def backfill(*args: str, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("noojee_backfill", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def interrupted_backfill(*args: str) -> str:
    err = io.StringIO()
    with pytest.raises(CommandError) as stopped:
        call_command("noojee_backfill", *args, stdout=io.StringIO(), stderr=err)
    return f"{err.getvalue()}\n{stopped.value}"


# ---------------------------------------------------------------------------------------------- walking


def test_backfill_walks_every_hour_and_attaches_what_resolve_tag_names(
    backfill_pbx: Any, noojee_emulator_control: Any, customer_invoices: dict[str, Invoice]
) -> None:
    first, last = pbx_hour(backfill_pbx, 5), pbx_hour(backfill_pbx, 3)
    recorded(noojee_emulator_control, "INV-1", first, legs=(2, 1))
    recorded(noojee_emulator_control, "NOBODY-KNOWS", pbx_hour(backfill_pbx, 4))
    recorded(noojee_emulator_control, "INV-2", last)
    recorded(noojee_emulator_control, "INV-3", pbx_hour(backfill_pbx, 1))  # after --until: not asked

    out, _ = backfill("--since", arg(first), "--until", arg(last))

    assert hour_requests(noojee_emulator_control) == 3
    inv1 = RecordingTag.objects.get(tag="INV-1")
    assert inv1.content_object == customer_invoices["INV-1"]
    assert inv1.status == RecordingTag.Status.FETCHING
    assert inv1.legs.count() == 2
    assert RecordingTag.objects.get(tag="INV-2").legs.count() == 1
    assert not RecordingTag.objects.filter(tag__in=["INV-3", "NOBODY-KNOWS"]).exists()
    kept = RecordingLeg.objects.get(tag="NOBODY-KNOWS")
    assert kept.recording_tag is None  # kept for an operator, attached to nothing
    assert not RecordingLeg.objects.filter(tag="INV-3").exists()
    progress = BackfillProgress.objects.get()
    assert progress.finished_at is not None
    assert (progress.hours_done, progress.legs_found, progress.legs_attached, progress.legs_unattached) == (
        3,
        4,
        3,
        1,
    )
    assert "3 hours" in out and "4 legs found" in out and "3 attached" in out and "1 kept unattached" in out


def test_dates_are_whole_pbx_days_and_until_defaults_to_the_current_hour(
    backfill_pbx: Any, noojee_emulator_control: Any, customer_invoices: dict[str, Invoice]
) -> None:
    current = pbx_hour(backfill_pbx, 0)
    recorded(noojee_emulator_control, "INV-1", pbx_hour(backfill_pbx, 1), minute=1)
    since = pbx_hour(backfill_pbx, 1)

    out, _ = backfill("--since", arg(since))

    assert hour_requests(noojee_emulator_control) == 2  # the last hour and the current one, no later
    assert RecordingTag.objects.get(tag="INV-1").legs.count() == 1
    assert f"{current:%Y-%m-%d %H}:00" in out


def test_a_date_is_a_whole_pbx_day(
    backfill_pbx: Any, settings: Any, noojee_emulator_control: Any, customer_invoices: dict[str, Invoice]
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "RESOLVE_TAG": "tests.test_backfill.resolve_or_interrupt"}
    day = (pbx_hour(backfill_pbx, 0) - dt.timedelta(days=3)).date()
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=pbx_zone(backfill_pbx))
    recorded(noojee_emulator_control, "STOP-HERE", midnight)
    _interruptions.append(None)  # stop in the first hour: the range is what matters here

    said = interrupted_backfill("--since", day.isoformat(), "--until", day.isoformat())

    progress = BackfillProgress.objects.get()
    assert progress.first_hour == midnight
    assert progress.last_hour == midnight.replace(hour=23)
    assert progress.hours_done == 0
    assert len(services.backfill_hours(progress)) in (23, 24, 25)  # 23 or 25 when the clocks change
    assert f"before its first hour, {midnight:%Y-%m-%d} 00:00" in said


def test_a_leg_whose_recording_was_started_for_its_call_goes_to_that_recording(
    backfill_pbx: Any, noojee_emulator_control: Any, agent: Any, invoice: Invoice
) -> None:
    unique_id = noojee_emulator_control.inbound_call(caller_id="0398765432", exten="101")
    noojee_emulator_control.answer(unique_id, "101")
    recording_tag = services.start_recording(agent, invoice, "INV-42", consent_given=True)
    time.sleep(1.1)
    services.stop_recording(agent, recording_tag)
    noojee_emulator_control.hangup(unique_id)

    backfill("--since", arg(pbx_hour(backfill_pbx, 1)))

    assert RecordingTag.objects.count() == 1  # RESOLVE_TAG names the invoice too: no second recording
    leg = RecordingLeg.objects.get()
    assert leg.recording_tag_id == recording_tag.pk
    assert leg.unique_id == unique_id


# ---------------------------------------------------------------------------------------------- the rate


def test_never_more_than_one_hourly_listing_per_interval_and_the_beat_waits_its_turn(
    backfill_pbx: Any, noojee_emulator_control: Any, customer_invoices: dict[str, Invoice], settings: Any
) -> None:
    # A longer interval than the module's: the backfill's last hour (its legs attached) must take less
    # than one interval for the beat's reconcile to find the slot still taken, on a loaded machine too.
    interval = 1.0
    settings.NOOJEE = {**settings.NOOJEE, "METADATA_HOUR_INTERVAL": interval}
    first = pbx_hour(backfill_pbx, 4)
    for hours_ago, tag in ((4, "INV-1"), (3, "INV-2"), (2, "INV-3")):
        recorded(noojee_emulator_control, tag, pbx_hour(backfill_pbx, hours_ago))

    started = time.monotonic()
    backfill("--since", arg(first), "--until", arg(pbx_hour(backfill_pbx, 1)))
    elapsed = time.monotonic() - started
    # The beat's reconcile right after the backfill: the slot is taken, so the task asks to be sent
    # again (it does not hold a worker) for when the slot frees, and asks nothing of the PBX.
    recorded(noojee_emulator_control, "INV-42", pbx_hour(backfill_pbx, 0), minute=0)
    retry_in = services.hour_listing_slot_or_wait()
    assert retry_in is not None and 0 < retry_in <= interval
    with pytest.raises(Retry):
        tasks.reconcile_recent_recordings()
    assert hour_requests(noojee_emulator_control) == 4
    time.sleep(retry_in + 0.01)  # the cache's own expiry is a few microseconds after the time it gave
    tasks.reconcile_recent_recordings()  # its retry: the slot is free again

    assert hour_requests(noojee_emulator_control) == 5  # four hours and the beat's: none refused
    assert elapsed >= 3 * interval
    assert RecordingTag.objects.filter(tag__in=["INV-1", "INV-2", "INV-3"]).count() == 3


def test_the_backfill_lets_a_waiting_reconcile_go_first(backfill_pbx: Any) -> None:
    """The slot lives in the cache: a thread is as good as another process to wait for it."""
    assert services.take_hour_listing_slot(wait=0)  # somebody has just listed an hour
    assert not services.take_hour_listing_slot(wait=0)  # and nobody else may, yet
    retry_in = services.hour_listing_slot_or_wait()  # the beat's reconcile: "send me again then"
    assert retry_in is not None
    taken: dict[str, float] = {}

    def backfill_hour() -> None:
        if services.take_hour_listing_slot(wait=INTERVAL * 3, defer=True):
            taken["backfill"] = time.monotonic()

    backfilling = threading.Thread(target=backfill_hour)
    backfilling.start()
    time.sleep(retry_in + INTERVAL / 10)  # the slot is free: the backfill leaves it to the reconcile
    assert services.hour_listing_slot_or_wait() is None
    taken["beat"] = time.monotonic()
    backfilling.join()

    assert taken["beat"] < taken["backfill"]  # the slot that freed went to the live reconcile
    assert taken["backfill"] - taken["beat"] >= INTERVAL * 0.8  # and the backfill waited its own turn


def test_a_rate_limited_answer_is_retried_not_skipped(
    backfill_pbx: Any, noojee_emulator_control: Any, customer_invoices: dict[str, Invoice]
) -> None:
    first, second = pbx_hour(backfill_pbx, 3), pbx_hour(backfill_pbx, 2)
    recorded(noojee_emulator_control, "INV-1", first)
    recorded(noojee_emulator_control, "INV-2", second)
    noojee_emulator_control.add_fault(
        "negative_code",
        method=BY_HOUR,
        count=2,
        match={"hour": str(second.hour)},
        status=429,
        code=-1,
        message="Rate limit exceeded",
    )

    _, err = backfill("--since", arg(first), "--until", arg(second))

    assert hour_requests(noojee_emulator_control) == 4  # the second hour asked three times
    assert RecordingTag.objects.get(tag="INV-2").legs.count() == 1
    assert "rate limited" in err
    assert BackfillProgress.objects.get().rate_limited == 2


# ---------------------------------------------------------------------------------------------- resuming


@pytest.mark.parametrize("signum", [None, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_backfill_resumes_after_the_last_completed_hour_and_adds_nothing_twice(
    backfill_pbx: Any,
    settings: Any,
    noojee_emulator_control: Any,
    customer_invoices: dict[str, Invoice],
    signum: int | None,
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "RESOLVE_TAG": "tests.test_backfill.resolve_or_interrupt"}
    hours = [pbx_hour(backfill_pbx, n) for n in (4, 3, 2)]
    recorded(noojee_emulator_control, "INV-1", hours[0])
    recorded(noojee_emulator_control, "INV-2", hours[1], minute=10, legs=(1, 1))
    recorded(noojee_emulator_control, "STOP-HERE", hours[1], minute=30)
    recorded(noojee_emulator_control, "INV-3", hours[2])
    command = ("--since", arg(hours[0]), "--until", arg(hours[2]))
    _interruptions.append(signum)
    previous_handler = signal.getsignal(signal.SIGTERM)

    said = interrupted_backfill(*command)

    assert signal.getsignal(signal.SIGTERM) == previous_handler
    assert f"{hours[0]:%Y-%m-%d %H}:00" in said  # the last completed hour
    assert "noojee_backfill --since" in said  # how to go on
    progress = BackfillProgress.objects.get()
    assert progress.hours_done == 1 and progress.finished_at is None
    # The second hour stopped halfway: INV-2 was placed, STOP-HERE was not.
    assert RecordingTag.objects.get(tag="INV-2").legs.count() == 2
    assert not RecordingTag.objects.filter(tag="STOP-HERE").exists()
    assert hour_requests(noojee_emulator_control) == 2

    backfill(*command)

    assert hour_requests(noojee_emulator_control) == 4  # the interrupted hour again, then the last
    assert RecordingTag.objects.filter(tag="INV-1").count() == 1
    assert RecordingTag.objects.filter(tag="INV-2").count() == 1
    assert RecordingLeg.objects.filter(tag="INV-2").count() == 2
    assert RecordingTag.objects.get(tag="STOP-HERE").legs.count() == 1
    assert RecordingTag.objects.get(tag="INV-3").legs.count() == 1
    progress.refresh_from_db()
    assert progress.hours_done == 3 and progress.finished_at is not None
    # The legs the interrupted hour placed count as known when it is asked again, not found twice.
    assert (progress.legs_found, progress.legs_attached, progress.legs_known) == (3, 3, 2)


def test_repeating_hours_adds_no_leg_and_no_recording_twice(
    backfill_pbx: Any, noojee_emulator_control: Any, customer_invoices: dict[str, Invoice]
) -> None:
    hour = pbx_hour(backfill_pbx, 2)
    recorded(noojee_emulator_control, "INV-1", hour, legs=(1, 2))
    recorded(noojee_emulator_control, "NOBODY-KNOWS", hour)
    command = ("--since", arg(hour), "--until", arg(hour))
    backfill(*command)
    legs = set(RecordingLeg.objects.values_list("pk", "call_record_id", "recording_tag_id"))

    out, _ = backfill(*command)  # done already: nothing is asked
    assert hour_requests(noojee_emulator_control) == 1
    assert "already" in out

    out, _ = backfill(*command, "--restart")

    assert hour_requests(noojee_emulator_control) == 2
    assert set(RecordingLeg.objects.values_list("pk", "call_record_id", "recording_tag_id")) == legs
    assert RecordingTag.objects.count() == 1
    assert "0 legs found" in out  # every leg of the hour is known already
    progress = BackfillProgress.objects.get()
    assert (progress.hours_done, progress.legs_found) == (1, 0)


# ---------------------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--since", "2026-02-30"), "2026-02-30"),
        (("--since", "yesterday"), "yesterday"),
        (("--since", "2021-09-15", "--until", "2021-09-14"), "after"),
        (("--since", "2999-01-01"), "future"),
        (("--pbx", "nowhere", "--since", "2021-09-15"), "no PBX connection named 'nowhere'"),
    ],
    ids=["no-such-day", "not-a-date", "since-after-until", "future", "no-such-pbx"],
)
def test_bad_dates_are_command_errors_that_say_what_is_wrong(
    backfill_pbx: Any, noojee_emulator_control: Any, args: tuple[str, ...], words: str
) -> None:
    with pytest.raises(CommandError, match=words):
        backfill(*args)
    assert hour_requests(noojee_emulator_control) == 0
    assert not BackfillProgress.objects.exists()


def test_since_is_required(backfill_pbx: Any) -> None:
    with pytest.raises(CommandError, match="--since"):
        backfill()


# ---------------------------------------------------------------------------------------------- progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_the_hour_found_attached_unattached_and_time_left(
    backfill_pbx: Any, noojee_emulator_control: Any, customer_invoices: dict[str, Invoice]
) -> None:
    first, last = pbx_hour(backfill_pbx, 3), pbx_hour(backfill_pbx, 2)
    recorded(noojee_emulator_control, "INV-1", first, legs=(1, 1))
    recorded(noojee_emulator_control, "NOBODY-KNOWS", last)

    _, err = backfill("--since", arg(first), "--until", arg(last))

    lines = err.splitlines()
    assert len(lines) == 2 and "\r" not in err  # a log: one plain line per hour
    assert f"{first:%Y-%m-%d %H}:00" in lines[0]
    assert "1/2 hours" in lines[0] and "2 found" in lines[0] and "2 attached" in lines[0]
    assert "0 unattached" in lines[0] and f"{INTERVAL:.1f} s left" in lines[0]
    assert "2/2 hours" in lines[1] and "3 found" in lines[1] and "1 unattached" in lines[1]

    terminal = Terminal()
    call_command(
        "noojee_backfill",
        "--since",
        arg(first),
        "--until",
        arg(last),
        "--restart",
        stderr=terminal,
        stdout=io.StringIO(),
    )
    drawn = terminal.getvalue()
    assert drawn.count("\r") >= 2 and drawn.count("\n") == 1  # one line, redrawn in place
    assert f"asking {last:%Y-%m-%d %H}:00" in drawn


def test_quiet_prints_only_the_summary(
    backfill_pbx: Any, noojee_emulator_control: Any, customer_invoices: dict[str, Invoice]
) -> None:
    hour = pbx_hour(backfill_pbx, 2)
    recorded(noojee_emulator_control, "INV-1", hour)
    for quiet in ({"quiet": True}, {"verbosity": 0}):
        out, err = backfill("--since", arg(hour), "--until", arg(hour), "--restart", **quiet)
        assert err == ""
        assert out.count("\n") == 1 and "1 hour" in out


# ---------------------------------------------------------------------------------------------- several PBXs

ACME_KEY = "acme-global-key-0000"
ACME_ZONE = "Australia/Perth"  # three hours behind the default PBX's Melbourne in summer, two in winter
DEFAULT_ZONE = "Australia/Melbourne"


@pytest.fixture
def two_pbxs(
    pbx: Any,
    settings: Any,
    noojee_emulator_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, ControlClient]:
    """Two new emulators, numbering alike from the same start: the connections ``"default"`` and
    ``"acme"``, each with the hourly listing's limit of these tests."""
    default = noojee_emulator_factory(metadata_rate_limit_seconds=PBX_WINDOW, pbx_time_zone=DEFAULT_ZONE)
    acme = noojee_emulator_factory(
        api_key=ACME_KEY, pbx_time_zone=ACME_ZONE, metadata_rate_limit_seconds=PBX_WINDOW
    )
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", ACME_KEY)
    settings.NOOJEE = {
        **settings.NOOJEE,
        "BASE_URL": default.url,
        "PBX_TIME_ZONE": DEFAULT_ZONE,
        "METADATA_HOUR_INTERVAL": INTERVAL,
        "RESOLVE_TAG": "tests.test_backfill.resolve_invoice",
        "PBXES": {"acme": {"BASE_URL": acme.url, "PBX_TIME_ZONE": ACME_ZONE}},
    }
    _interruptions.clear()
    return {"default": ControlClient(default.url), "acme": ControlClient(acme.url)}


def test_a_backfill_of_a_named_pbx_lists_only_that_pbx_and_attaches_its_legs_there(
    two_pbxs: dict[str, ControlClient], customer_invoices: dict[str, Invoice]
) -> None:
    hour = hour_in(ACME_ZONE, 3)
    recorded(two_pbxs["acme"], "INV-1", hour, legs=(2, 1))
    recorded(two_pbxs["acme"], "NOBODY-KNOWS", hour)
    recorded(two_pbxs["default"], "INV-2", hour)  # the same hour on the other PBX: not this backfill's

    out, _ = backfill("--pbx", "acme", "--since", arg(hour), "--until", arg(hour))

    assert (hour_requests(two_pbxs["acme"]), hour_requests(two_pbxs["default"])) == (1, 0)
    inv1 = RecordingTag.objects.get(tag="INV-1")
    assert (inv1.connection, inv1.content_object) == ("acme", customer_invoices["INV-1"])
    assert list(inv1.legs.values_list("connection", flat=True)) == ["acme", "acme"]
    kept = RecordingLeg.objects.get(tag="NOBODY-KNOWS")
    assert (kept.connection, kept.recording_tag) == ("acme", None)
    assert not RecordingLeg.objects.filter(tag="INV-2").exists()
    progress = BackfillProgress.objects.get()
    assert progress.key == f"acme:{arg(hour)}..{arg(hour)} {ACME_ZONE}"
    assert services.backfill_connection(progress) == "acme"
    # The hour typed is the acme PBX's own local hour, not the default one's.
    assert (progress.time_zone, progress.first_hour) == (ACME_ZONE, hour)
    assert f"of the PBX 'acme' ({hour:%Y-%m-%d %H}:00 to {hour:%Y-%m-%d %H}:00, {ACME_ZONE})" in out
    assert "2 attached, 1 kept unattached" in out


def test_a_named_pbx_without_its_key_stops_before_anything_is_asked_or_saved(
    two_pbxs: dict[str, ControlClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOOJEE_ACME_API_KEY")

    with pytest.raises(CommandError, match="'acme' needs the NOOJEE_ACME_API_KEY environment variable"):
        backfill("--pbx", "acme", "--since", arg(hour_in(ACME_ZONE, 2)))

    assert hour_requests(two_pbxs["acme"]) == 0
    assert not BackfillProgress.objects.exists()


def test_a_named_pbxs_dates_are_its_own_local_time(
    two_pbxs: dict[str, ControlClient], customer_invoices: dict[str, Invoice]
) -> None:
    # The acme PBX's next hour is still to come there, though that wall time is past in Melbourne.
    with pytest.raises(CommandError, match="future"):
        backfill("--pbx", "acme", "--since", arg(hour_in(ACME_ZONE, -1)))
    assert not BackfillProgress.objects.exists()

    out, _ = backfill("--pbx", "acme", "--since", arg(hour_in(ACME_ZONE, 1)))

    assert hour_requests(two_pbxs["acme"]) == 2  # its last hour and its current one, no later
    assert f"to {hour_in(ACME_ZONE, 0):%Y-%m-%d %H}:00, {ACME_ZONE})" in out


def test_an_interrupted_backfill_of_one_pbx_resumes_on_its_own_row_whatever_the_other_pbx_did(
    two_pbxs: dict[str, ControlClient], settings: Any, customer_invoices: dict[str, Invoice]
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "RESOLVE_TAG": "tests.test_backfill.resolve_or_interrupt"}
    acme, default = two_pbxs["acme"], two_pbxs["default"]
    hours = [hour_in(ACME_ZONE, n) for n in (4, 3, 2)]
    recorded(acme, "INV-1", hours[0])
    recorded(acme, "STOP-HERE", hours[1])
    recorded(acme, "INV-3", hours[2])
    # The default PBX reads the same typed hours in its own time zone.
    recorded(default, "INV-2", hours[1].replace(tzinfo=zoneinfo.ZoneInfo(DEFAULT_ZONE)))
    typed = ("--since", arg(hours[0]), "--until", arg(hours[2]))
    _interruptions.append(None)

    said = interrupted_backfill("--pbx", "acme", *typed)

    assert f"noojee_backfill --since {arg(hours[0])} --until {arg(hours[2])} --pbx acme" in said
    acme_row = BackfillProgress.objects.get()
    assert acme_row.hours_done == 1 and acme_row.finished_at is None

    backfill(*typed)  # the default PBX, the same range as typed: a row of its own, from its first hour

    assert BackfillProgress.objects.count() == 2
    default_row = BackfillProgress.objects.exclude(pk=acme_row.pk).get()
    # The default connection's key is what it was before there were several PBXs: found again.
    assert default_row.key == f"{arg(hours[0])}..{arg(hours[2])} {DEFAULT_ZONE}"
    assert services.backfill_connection(default_row) == "default"
    assert default_row.hours_done == 3 and default_row.finished_at is not None
    assert hour_requests(default) == 3
    assert RecordingTag.objects.get(tag="INV-2").connection == "default"
    acme_row.refresh_from_db()
    assert acme_row.hours_done == 1  # left where it stopped
    assert hour_requests(acme) == 2

    backfill("--pbx", "acme", *typed)

    assert hour_requests(acme) == 4  # the interrupted hour again, then the last
    assert hour_requests(default) == 3
    acme_row.refresh_from_db()
    assert acme_row.hours_done == 3 and acme_row.finished_at is not None
    assert dict(RecordingTag.objects.values_list("tag", "connection")) == {
        "INV-1": "acme",
        "INV-2": "default",
        "STOP-HERE": "acme",
        "INV-3": "acme",
    }


SLOW = 1.0  # METADATA_HOUR_INTERVAL of the test below: long enough to tell a wait from a request


def test_backfills_of_two_pbxs_at_once_each_take_only_their_own_pbxs_turns(
    two_pbxs: dict[str, ControlClient], settings: Any, customer_invoices: dict[str, Invoice]
) -> None:
    """The default PBX's backfill is under way when the acme one runs, start to end, between two of
    its hours. (One thread: the turns are in the cache, the same for every process; the test database
    of SQLite takes no two writers from threads.)"""
    settings.NOOJEE = {**settings.NOOJEE, "METADATA_HOUR_INTERVAL": SLOW}
    zones = {"default": DEFAULT_ZONE, "acme": ACME_ZONE}
    for name, zone in zones.items():
        for hours_ago, tag in ((3, "INV-1"), (2, "INV-2"), (1, "INV-3")):
            recorded(two_pbxs[name], tag, hour_in(zone, hours_ago))
    done: list[float] = []
    acme_run: list[float] = []

    def default_hour_done(status: services.BackfillStatus) -> None:
        if status.event != "done":
            return
        done.append(time.monotonic())
        if len(done) == 1:  # the default PBX's turn was just taken: the acme backfill starts now
            acme_run.append(time.monotonic())
            backfill(
                "--pbx", "acme", "--since", arg(hour_in(ACME_ZONE, 3)), "--until", arg(hour_in(ACME_ZONE, 1))
            )
            acme_run.append(time.monotonic())

    default_progress = services.start_backfill(hour_in(DEFAULT_ZONE, 3), hour_in(DEFAULT_ZONE, 1))
    services.run_backfill(default_progress, on_status=default_hour_done)

    # The acme backfill's three hours took two of its PBX's intervals: its first was asked at once,
    # not after the default PBX's turn that had just been taken.
    assert acme_run[1] - acme_run[0] < 2.5 * SLOW
    # And the default backfill's next hour came right after, though acme's turn had just been taken.
    assert done[1] - acme_run[1] < SLOW / 2
    assert done[2] - done[1] >= SLOW * 0.9  # each keeps its own PBX's interval
    for name, control in two_pbxs.items():
        assert hour_requests(control) == 3  # and neither PBX refused an hour
        (progress,) = [p for p in BackfillProgress.objects.all() if services.backfill_connection(p) == name]
        assert (progress.hours_done, progress.rate_limited, progress.legs_attached) == (3, 0, 3)
        tags = RecordingLeg.objects.filter(connection=name).values_list("tag", flat=True)
        assert sorted(tags) == ["INV-1", "INV-2", "INV-3"]


def test_a_long_connection_name_still_names_its_row_and_keeps_ranges_apart(settings: Any, db: Any) -> None:
    name = "a" * 64
    settings.NOOJEE = {
        **settings.NOOJEE,
        "PBXES": {
            name: {
                "BASE_URL": "https://long.example.com",
                "PBX_TIME_ZONE": "America/Argentina/ComodRivadavia",
            }
        },
    }
    day, other = hour_in("UTC", 72).replace(tzinfo=None), hour_in("UTC", 48).replace(tzinfo=None)

    rows = [services.start_backfill(day, until, connection=name) for until in (day, other)]

    width = BackfillProgress._meta.get_field("key").max_length
    assert rows[0].key != rows[1].key
    for row in rows:
        assert row.key.startswith(f"{name}:") and len(row.key) <= width
        assert services.backfill_connection(row) == name
    assert services.start_backfill(day, other, connection=name).pk == rows[1].pk  # found again
