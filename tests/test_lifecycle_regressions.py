"""Bugs the lifecycle state machine (``tests/test_lifecycle_stateful.py``) found, one plain test each.

Each test is the machine's shrunk counterexample written out by hand, and fails without its fix.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from example_project.crm.models import Invoice
from noojee_django import services
from noojee_django.exceptions import InvalidState
from noojee_django.models import RecordingLeg, RecordingTag, StoredAudio
from noojee_django.stitching import stitch_wavs
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
