"""Bugs the lifecycle state machine (``tests/test_lifecycle_stateful.py``) found, one plain test each.

Each test is the machine's shrunk counterexample written out by hand, and fails without its fix.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from example_project.crm.models import Invoice
from noojee_django import services
from noojee_django.models import RecordingTag, StoredAudio
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
