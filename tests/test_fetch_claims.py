"""A leg's download when workers overlap: a claim that outlived its lease, and what a download leaves on disk.

Found by the fault drill (``bench/reliability.py``, scenarios "download outlives its lease" and "worker
SIGKILL mid-download"); pinned here in a few seconds each.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from example_project.crm.models import Invoice
from noojee_django import services
from noojee_django.models import RecordingAttempt, RecordingLeg, RecordingTag
from tests.polling import wait_for
from tests.recordings import stored_files

pytestmark = pytest.mark.django_db(transaction=True)

HELD = 1.5  # seconds the emulator holds the first worker's download


def polled_leg(control: Any, invoice: Invoice) -> int:
    """A tag with one leg, polled: the leg is waiting to be fetched."""
    control.add_recording(tag=invoice.number, legs=[1])
    recording_tag = services.watch_tag(invoice, invoice.number)
    (leg_id,) = services.poll_tag(recording_tag.pk).legs_to_fetch
    return leg_id


class FetchInThread:
    """``services.fetch_leg`` on a thread of its own, as another worker would run it."""

    def __init__(self, leg_id: int) -> None:
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, args=(leg_id,))
        self.thread.start()

    def _run(self, leg_id: int) -> None:
        try:
            self.result = services.fetch_leg(leg_id)
        finally:
            connection.close()

    def join(self) -> Any:
        self.thread.join(30)
        return self.result


def downloads(control: Any) -> int:
    return int(control.stats()["requests"].get("retrieveRecording", 0))


@pytest.mark.parametrize("failure", ["negative_code", "truncated_base64"])
def test_a_fetch_that_fails_after_its_lease_passed_on_leaves_the_other_workers_leg_alone(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice, failure: str
) -> None:
    control = noojee_emulator_control
    leg_id = polled_leg(control, invoice)
    # The first worker's download is held, then fails: for good (negative Code) or for a retry (truncated).
    control.add_fault("latency", "retrieveRecording", count=1, seconds=HELD)
    control.add_fault(failure, "retrieveRecording", count=1)
    first = FetchInThread(leg_id)
    wait_for(lambda: downloads(control) == 1)
    # Its lease runs out while it waits: the sweep gives the leg to a second worker, which stores it.
    RecordingLeg.objects.filter(pk=leg_id).update(updated_at=timezone.now() - dt.timedelta(hours=1))
    second = services.fetch_leg(leg_id)

    assert first.join().outcome == "skipped"  # its failure came too late to count
    assert second.outcome == "ok"
    leg = RecordingLeg.objects.get(pk=leg_id)
    assert leg.fetch_status == RecordingLeg.FetchStatus.FETCHED and leg.audio
    assert leg.recording_tag.status == RecordingTag.Status.ATTACHED
    fetched = RecordingAttempt.objects.filter(
        leg=leg, action=RecordingAttempt.Action.FETCH, outcome=RecordingAttempt.Outcome.OK
    )
    assert fetched.count() == 1
    assert len(stored_files()) == 2  # the leg and the signature, nothing orphaned


def test_a_download_in_progress_has_no_named_temporary_file_a_killed_worker_would_leave(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    control = noojee_emulator_control
    leg_id = polled_leg(control, invoice)
    control.add_fault("latency", "retrieveRecording", count=1, seconds=HELD)
    fetching = FetchInThread(leg_id)
    wait_for(lambda: downloads(control) == 1)

    during = list(tmp_path.iterdir())
    assert fetching.join().outcome == "ok"
    assert during == []  # a SIGKILL at that moment would leave nothing behind
    assert RecordingLeg.objects.get(pk=leg_id).recording_tag.status == RecordingTag.Status.ATTACHED


@pytest.mark.parametrize("last_error", [True, False])
def test_a_leg_whose_downloads_never_finish_fails_instead_of_being_fetched_forever(
    pbx: Any, settings: Any, noojee_emulator_control: Any, invoice: Invoice, last_error: bool
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "MAX_FETCH_ATTEMPTS": 2}
    control = noojee_emulator_control
    leg_id = polled_leg(control, invoice)
    leg = RecordingLeg.objects.get(pk=leg_id)
    if last_error:  # a download failed, but after its lease had passed to the next worker
        RecordingAttempt.objects.create(
            recording_tag=leg.recording_tag,
            leg=leg,
            action=RecordingAttempt.Action.FETCH,
            outcome=RecordingAttempt.Outcome.ERROR,
            message="retrieveRecording: the PBX did not answer in time",
        )
    # Both allowed downloads were claimed and never finished: what lost workers leave behind.
    RecordingLeg.objects.filter(pk=leg_id).update(
        fetch_status=RecordingLeg.FetchStatus.FETCHING,
        fetch_attempts=2,
        updated_at=timezone.now() - dt.timedelta(hours=1),
    )

    assert services.fetch_leg(leg_id).outcome == RecordingAttempt.Outcome.ERROR
    leg.refresh_from_db()
    assert leg.fetch_status == RecordingLeg.FetchStatus.FAILED
    assert leg.recording_tag.status == RecordingTag.Status.FAILED
    said = "did not answer in time" if last_error else "no download finished"
    assert "after 2 attempt(s)" in leg.recording_tag.last_error and said in leg.recording_tag.last_error
    assert downloads(control) == 0  # not fetched a third time
