"""Bugs the lifecycle state machine (``tests/test_lifecycle_stateful.py``) found, one plain test each.

Each test is the machine's shrunk counterexample written out by hand, and fails without its fix.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from typing import Any

import pytest
from django.utils import timezone

from example_project.crm.models import Invoice
from noojee_django import services
from noojee_django.exceptions import InvalidState
from noojee_django.models import CallSession, RecordingLeg, RecordingTag, StoredAudio
from noojee_django.services.fetching import in_call_order
from noojee_django.stitching import stitch_wavs
from tests.polling import wait_for
from tests.recordings import stored_files

pytestmark = pytest.mark.django_db


def collect(recording_tag: RecordingTag) -> RecordingTag:
    """What a worker does: poll the tag, fetch each leg it found."""
    for leg_id in services.poll_tag(recording_tag.pk).legs_to_fetch:
        services.fetch_leg(leg_id)
    recording_tag.refresh_from_db()
    return recording_tag


def test_a_purged_recording_can_be_restored_although_its_old_names_are_in_the_ledger(
    pbx: Any, noojee_emulator_control: Any, superuser: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-43", legs=[1, 1])
    recording_tag = collect(services.watch_tag(invoice, "INV-43"))
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    services.purge_audio(recording_tag)

    recording_tag = services.restore_audio(superuser, recording_tag)
    for leg in recording_tag.legs.all():
        services.fetch_leg(leg.pk)  # stored again under a name no object of the ledger ever had

    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    live = StoredAudio.objects.filter(recording_tag=recording_tag, deleted_at__isnull=True)
    assert live.count() == 3
    assert len(stored_files()) == 3


def test_a_signature_of_two_calls_with_one_tag_joins_each_call_whole_in_turn(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    first = noojee_emulator_control.add_recording(tag="INV-42", legs=[2, 1])
    second = noojee_emulator_control.add_recording(tag="INV-42", legs=[1, 2])
    recording_tag = collect(services.watch_tag(invoice, "INV-42"))
    assert recording_tag.status == RecordingTag.Status.ATTACHED

    expected = io.BytesIO()
    stitch_wavs(
        [
            io.BytesIO(noojee_emulator_control.audio(leg["call_record_id"]))
            for leg in first["legs"] + second["legs"]
        ],
        expected,
    )
    with recording_tag.audio.open("rb") as signature:
        assert signature.read() == expected.getvalue()  # not leg 1, leg 1, leg 2, leg 2


def test_a_fetching_recording_whose_legs_the_pbx_lost_fails_instead_of_polling_forever(
    pbx: Any, settings: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "GIVE_UP_AFTER": 0}
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1, 1])
    recording_tag = services.watch_tag(invoice, "INV-42")
    services.poll_tag(recording_tag.pk)  # the legs' fetch tasks are sent, and lost with their worker
    noojee_emulator_control.reset()  # the PBX is cleaned up: it lists and has no legs any more

    services.poll_tag(recording_tag.pk, fetch_inline=True)  # the sweep's poll

    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.FAILED  # not fetching for ever
    assert "gone from the PBX" in recording_tag.last_error
    assert set(recording_tag.legs.values_list("fetch_status", flat=True)) == {RecordingLeg.FetchStatus.GONE}


def test_a_re_fetch_whose_task_was_lost_is_sent_again_by_the_next_poll(
    pbx: Any, noojee_emulator_control: Any, superuser: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1, 1])
    recording_tag = services.watch_tag(invoice, "INV-42")
    first, second = services.poll_tag(recording_tag.pk).legs_to_fetch
    services.fetch_leg(second)
    services.refetch_legs(RecordingLeg.objects.filter(pk=second), actor=superuser)  # its task is lost

    services.poll_tag(recording_tag.pk, fetch_inline=True)  # the sweep's poll fetches leg 1, and leg 2 again

    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert set(recording_tag.legs.values_list("fetch_status", flat=True)) == {
        RecordingLeg.FetchStatus.FETCHED
    }
    assert first


def test_a_recording_still_being_collected_is_not_purged_into_a_state_it_never_leaves(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-43", legs=[1, 1])
    recording_tag = services.watch_tag(invoice, "INV-43")
    services.poll_tag(recording_tag.pk)  # fetching: its legs are pending
    recording_tag.refresh_from_db()

    with pytest.raises(InvalidState, match="still being collected"):
        services.purge_audio(recording_tag)

    recording_tag = collect(recording_tag)
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert services.purge_audio(recording_tag)


def _connected(control: Any, unique_id: str) -> bool:
    return any(c["unique_id"] == unique_id and c["phase"] == "connected" for c in control.calls())


@pytest.mark.parametrize("asked_first", ["older", "newer"])
def test_an_agent_with_two_calls_at_once_gets_each_calls_own_unique_id(
    pbx: Any, noojee_emulator_control: Any, agent: Any, customer: Any, asked_first: str
) -> None:
    older = services.dial(agent, "0383208100", obj=customer)
    (older_id,) = [c["unique_id"] for c in noojee_emulator_control.calls()]
    newer = services.dial(agent, "0398765432", obj=customer)
    (newer_id,) = [c["unique_id"] for c in noojee_emulator_control.calls() if c["unique_id"] != older_id]
    wait_for(
        lambda: (
            _connected(noojee_emulator_control, older_id) and _connected(noojee_emulator_control, newer_id)
        )
    )

    calls = [older, newer] if asked_first == "older" else [newer, older]
    for call in calls:
        services.current_call_status(call)

    assert (older.unique_id, newer.unique_id) == (older_id, newer_id)
    services.hangup(agent, newer)
    assert [c["unique_id"] for c in noojee_emulator_control.calls()] == [older_id]  # only the one asked


def test_hanging_up_the_newer_of_two_unidentified_calls_to_one_number_ends_that_call(
    pbx: Any, noojee_emulator_control: Any, agent: Any, customer: Any
) -> None:
    older = services.dial(agent, "0383208100", obj=customer)
    (older_id,) = [c["unique_id"] for c in noojee_emulator_control.calls()]
    CallSession.objects.filter(pk=older.pk).update(created_at=timezone.now() - dt.timedelta(minutes=1))
    newer = services.dial(agent, "0383208100", obj=customer)  # the same number again, out of the window
    assert newer.pk != older.pk
    (newer_id,) = [c["unique_id"] for c in noojee_emulator_control.calls() if c["unique_id"] != older_id]

    services.hangup(agent, newer)

    assert [c["unique_id"] for c in noojee_emulator_control.calls()] == [older_id], f"{newer_id} stays up"


def test_restoring_a_recording_kept_forever_keeps_it_forever(
    pbx: Any, settings: Any, noojee_emulator_control: Any, superuser: Any, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "RETENTION_DAYS": 30}
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1])
    recording_tag = collect(services.watch_tag(invoice, "INV-42"))
    RecordingTag.objects.filter(pk=recording_tag.pk).update(keep_until=None)  # an operator: keep forever
    recording_tag.refresh_from_db()
    services.purge_audio(recording_tag)

    recording_tag = services.restore_audio(superuser, recording_tag)
    assert recording_tag.keep_until is None
    for leg in recording_tag.legs.all():
        services.fetch_leg(leg.pk)

    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert recording_tag.keep_until is None  # not 30 days from now


def test_a_late_leg_joins_the_signature_while_another_leg_waits_to_be_fetched_again(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    """A leg being fetched again still has its stored audio: a late leg's join must not wait for it
    (the lifecycle machine found the signature left without the late leg)."""
    first = noojee_emulator_control.add_recording(tag="INV-43", legs=[1])
    recording_tag = collect(services.watch_tag(invoice, "INV-43"))
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    services.refetch_legs(list(recording_tag.legs.all()))  # sent, not run yet
    noojee_emulator_control.add_recording(tag="INV-43", legs=[1])  # a second handset call, later
    pbx_now = timezone.now().astimezone(zoneinfo.ZoneInfo(pbx.config.pbx_time_zone))
    assert services.reconcile_hour(pbx_now.date(), pbx_now.hour) == 1
    late = recording_tag.legs.exclude(call_record_id=first["legs"][0]["call_record_id"]).get()
    services.fetch_leg(late.pk)

    recording_tag.refresh_from_db()
    legs = in_call_order(list(recording_tag.legs.all()))
    expected = io.BytesIO()
    stitch_wavs([leg.audio.open("rb") for leg in legs], expected)
    assert len(legs) == 2 and recording_tag.audio_duration == pytest.approx(2)
    with recording_tag.audio.open("rb") as signature:
        assert signature.read() == expected.getvalue()
