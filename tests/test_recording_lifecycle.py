"""The recording lifecycle where operator actions, retention, late legs, restarts and a missing listener
meet: the right audio on the right record, kept exactly as policy says.

Each test here reproduces a defect found on the app as it was before the lifecycle table, the audio
ledger and collection driven by the call's end; each fails on that code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from example_project.crm.models import Customer, Invoice
from noojee_django import services
from noojee_django.exceptions import PbxError
from noojee_django.models import CallSession, RecordingLeg, RecordingTag
from tests.polling import wait_for
from tests.recordings import stored_files

pytestmark = pytest.mark.django_db


def pbx_now(emulator: Any) -> dt.datetime:
    import zoneinfo

    return timezone.now().astimezone(zoneinfo.ZoneInfo(emulator.config.pbx_time_zone))


def reconcile(emulator: Any) -> int:
    now = pbx_now(emulator)
    return services.reconcile_hour(now.date(), now.hour)


def collect(recording_tag: RecordingTag) -> RecordingTag:
    """Poll once and fetch what the poll found, as the worker's task does."""
    for leg_id in services.poll_tag(recording_tag.pk).legs_to_fetch:
        services.fetch_leg(leg_id)
    recording_tag.refresh_from_db()
    return recording_tag


def fetch_pending(recording_tag: RecordingTag) -> None:
    for leg in RecordingLeg.objects.filter(
        recording_tag=recording_tag,
        fetch_status__in=["pending", "refetching"],
    ):
        services.fetch_leg(leg.pk)


def attached(control: Any, invoice: Invoice, *, legs: list[int] | None = None, **kwargs: Any) -> RecordingTag:
    control.add_recording(tag=invoice.number, legs=legs or [1], **kwargs)
    recording_tag = collect(services.watch_tag(invoice, invoice.number))
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    return recording_tag


def file_sha256(recording_tag: RecordingTag) -> str:
    with recording_tag.audio.open("rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def connected_call(agent: User, customer: Customer) -> CallSession:
    call = services.dial(agent, customer.phone, obj=customer)
    return wait_for(
        lambda: services.current_call_status(call).status == CallSession.Status.CONNECTED and call
    )


@pytest.fixture
def superuser_invoice(superuser: User, invoice: Invoice) -> tuple[User, Invoice]:
    return superuser, invoice


# ---------------------------------------------------------------------------------------------- 1


def test_a_refused_start_never_receives_the_legs_of_another_recording_with_its_tag(
    pbx: Any, settings: Any, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    settings.NOOJEE = {
        **settings.NOOJEE,
        "RESOLVE_TAG": lambda tag: Invoice.objects.filter(number=tag).first(),
    }
    with pytest.raises(PbxError):  # no call up: the PBX refuses
        services.start_recording(agent, customer, "INV-42")
    refused = RecordingTag.objects.get()
    assert refused.status == RecordingTag.Status.FAILED

    noojee_emulator_control.add_recording(tag="INV-42", legs=[1], exten="105")  # a handset recording
    assert reconcile(pbx) == 1
    fetch_pending(RecordingTag.objects.get(object_id=str(invoice.pk), content_type__model="invoice"))

    assert not refused.legs.exists()
    on_invoice = RecordingTag.objects.get(object_id=str(invoice.pk), content_type__model="invoice")
    assert on_invoice.legs.count() == 1
    assert on_invoice.status == RecordingTag.Status.ATTACHED
    assert not RecordingTag.objects.filter(
        content_type__model="customer", status=RecordingTag.Status.ATTACHED
    ).exists()


def test_a_leg_nobody_started_here_stays_unattached_without_a_resolve_hook(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer
) -> None:
    with pytest.raises(PbxError):
        services.start_recording(agent, customer, "INV-42")
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1], exten="105")
    reconcile(pbx)

    leg = RecordingLeg.objects.get()
    assert leg.recording_tag is None and leg.tag == "INV-42"
    assert not RecordingTag.objects.exclude(status=RecordingTag.Status.FAILED).exists()


def test_a_poll_takes_only_the_legs_of_the_call_the_recording_was_started_on(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1], exten="107")  # another call, same tag
    call = connected_call(agent, customer)
    recording_tag = services.start_recording(agent, invoice, "INV-42")
    time.sleep(1.1)
    services.stop_recording(agent, recording_tag)
    services.hangup(agent, call)
    wait_for(lambda: services.poll_tag(recording_tag.pk).legs_found or None)

    legs = list(RecordingLeg.objects.filter(recording_tag=recording_tag))
    assert [leg.unique_id for leg in legs] == [call.unique_id]


# ---------------------------------------------------------------------------------------------- 2


def test_fetch_again_after_the_pbx_lost_the_audio_keeps_the_signature(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    recording_tag = attached(noojee_emulator_control, invoice, legs=[1, 1])
    before = (recording_tag.audio.name, recording_tag.audio_sha256, file_sha256(recording_tag))
    noojee_emulator_control.reset()  # the PBX restarted without its recordings

    services.refetch_legs(list(recording_tag.legs.all()))
    fetch_pending(recording_tag)

    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert (recording_tag.audio.name, recording_tag.audio_sha256, file_sha256(recording_tag)) == before
    assert {leg.fetch_status for leg in recording_tag.legs.all()} == {RecordingLeg.FetchStatus.FETCHED}
    assert all(leg.audio and leg.audio.storage.exists(leg.audio.name) for leg in recording_tag.legs.all())
    assert "stored audio stays" in recording_tag.legs.first().last_error  # type: ignore[union-attr]


def test_fetch_again_replaces_a_leg_only_once_the_new_audio_is_stored_and_leaves_no_old_file(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    recording_tag = attached(noojee_emulator_control, invoice, legs=[1])
    old_leg_file = recording_tag.legs.get().audio.name

    services.refetch_legs(list(recording_tag.legs.all()))
    fetch_pending(recording_tag)

    leg = recording_tag.legs.get()
    assert leg.fetch_status == RecordingLeg.FetchStatus.FETCHED and leg.audio.name != old_leg_file
    names = sorted(str(p.name) for p in stored_files())
    assert len(names) == 2, names  # the new leg file and the signature: the old leg file is gone


# ---------------------------------------------------------------------------------------------- 3


def test_a_late_leg_on_a_held_recording_is_kept_beside_it_and_the_signature_never_changes(
    pbx: Any, noojee_emulator_control: Any, superuser: User, invoice: Invoice
) -> None:
    recording_tag = attached(noojee_emulator_control, invoice, legs=[1, 1], late={"2": 1})
    services.set_legal_hold(superuser, [recording_tag], True)
    ten_years = timezone.localdate() + dt.timedelta(days=3650)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(keep_until=ten_years)
    before = (recording_tag.audio.name, recording_tag.audio_sha256, file_sha256(recording_tag))

    time.sleep(1.1)
    assert reconcile(pbx) == 1
    fetch_pending(recording_tag)

    recording_tag.refresh_from_db()
    assert (recording_tag.audio.name, recording_tag.audio_sha256, file_sha256(recording_tag)) == before
    assert recording_tag.keep_until == ten_years
    assert recording_tag.needs_review
    late = recording_tag.legs.get(leg=2)
    assert late.kept_aside and late.fetch_status == RecordingLeg.FetchStatus.FETCHED
    assert late.audio.storage.exists(late.audio.name)


def test_a_late_leg_joins_again_but_never_shortens_keep_until(
    pbx: Any, settings: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "RETENTION_DAYS": 30}
    recording_tag = attached(noojee_emulator_control, invoice, legs=[1, 1], late={"2": 1})
    ten_years = timezone.localdate() + dt.timedelta(days=3650)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(keep_until=ten_years)

    time.sleep(1.1)
    reconcile(pbx)
    fetch_pending(recording_tag)

    recording_tag.refresh_from_db()
    assert recording_tag.legs.count() == 2 and recording_tag.audio_duration == pytest.approx(2)
    assert recording_tag.keep_until == ten_years


# ---------------------------------------------------------------------------------------------- 4, 5


def test_fetch_again_on_purged_legs_stores_nothing_and_restore_brings_the_audio_back(
    pbx: Any, settings: Any, noojee_emulator_control: Any, superuser: User, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "RETENTION_DAYS": 30}
    recording_tag = attached(noojee_emulator_control, invoice, legs=[1])
    services.purge_audio(recording_tag)
    assert stored_files() == []

    services.refetch_legs(list(recording_tag.legs.all()))
    fetch_pending(recording_tag)

    recording_tag.refresh_from_db()
    assert stored_files() == []
    assert recording_tag.purged_at is not None
    assert recording_tag.legs.get().fetch_status == RecordingLeg.FetchStatus.PURGED

    services.restore_audio(superuser, recording_tag)
    fetch_pending(recording_tag)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED and recording_tag.purged_at is None
    assert recording_tag.keep_until == timezone.localdate() + dt.timedelta(days=30)
    assert len(stored_files()) == 2


def test_restore_needs_its_own_permission(
    pbx: Any, noojee_emulator_control: Any, staff: User, invoice: Invoice
) -> None:
    from noojee_django.exceptions import NoojeePermissionDenied

    recording_tag = attached(noojee_emulator_control, invoice)
    services.purge_audio(recording_tag)
    with pytest.raises(NoojeePermissionDenied):
        services.restore_audio(staff, recording_tag)


def test_a_late_leg_on_a_purged_recording_leaves_it_final_and_the_purge_takes_it_too(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    recording_tag = attached(noojee_emulator_control, invoice, legs=[1, 1], late={"2": 1})
    RecordingTag.objects.filter(pk=recording_tag.pk).update(keep_until=timezone.localdate())
    services.purge_audio(recording_tag)

    time.sleep(1.1)
    reconcile(pbx)
    fetch_pending(recording_tag)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED and recording_tag.purged_at is not None
    assert recording_tag.needs_review
    assert services.sweep_due_tags(now=timezone.now() + dt.timedelta(hours=2)) <= 1
    recording_tag.refresh_from_db()
    assert recording_tag.next_poll_at is None  # nothing left to poll for ever

    assert services.purge_expired_audio(timezone.localdate() + dt.timedelta(days=1)) == 1
    assert stored_files() == []


# ---------------------------------------------------------------------------------------------- 6


def test_without_the_listener_a_call_hung_up_without_stop_is_collected(
    pbx: Any, settings: Any, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "UNLISTED_CALL_GRACE": 0}
    call = connected_call(agent, customer)
    recording_tag = services.start_recording(agent, invoice, "INV-42")
    time.sleep(1.1)
    noojee_emulator_control.hangup(call.unique_id)  # the customer hangs up; nobody pressed Stop

    assert services.sweep_live_calls() >= 1
    recording_tag.refresh_from_db()
    call.refresh_from_db()
    assert call.status == CallSession.Status.HUNG_UP
    assert recording_tag.status == RecordingTag.Status.WAITING and recording_tag.next_poll_at is not None
    wait_for(lambda: collect(recording_tag).status == RecordingTag.Status.ATTACHED)


def test_without_the_listener_a_dial_that_ends_before_it_connects_does_not_stay_dialing(
    pbx: Any, settings: Any, noojee_emulator_control: Any, agent: User, customer: Customer
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "UNLISTED_CALL_GRACE": 0}
    noojee_emulator_control.config(far_end_answer_delay=60)
    call = services.dial(agent, customer.phone, obj=customer)
    unique_id = wait_for(lambda: services.current_call_status(call).unique_id or None)
    noojee_emulator_control.hangup(unique_id)  # the far end rejected it

    call = services.current_call_status(call)
    assert call.status == CallSession.Status.FAILED and not call.is_active
    assert call.error == "The call ended before it was answered."


def test_hanging_up_a_call_the_pbx_cannot_identify_sends_nothing_and_ends_it_here(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer
) -> None:
    stale = CallSession.objects.create(
        user=agent,
        extension="SIP/101",
        number="0399999999",
        status=CallSession.Status.DIALING,
        created_at=timezone.now() - dt.timedelta(hours=1),
    )
    current = connected_call(agent, customer)
    hangups_before = noojee_emulator_control.stats()["requests"].get("hangup", 0)

    stale = services.hangup(agent, stale)

    assert stale.status == CallSession.Status.HUNG_UP
    assert noojee_emulator_control.stats()["requests"].get("hangup", 0) == hangups_before
    live = next(c for c in noojee_emulator_control.calls() if c["unique_id"] == current.unique_id)
    assert live["status"] == "Connected"


# ---------------------------------------------------------------------------------------------- 7


def test_stop_after_a_transfer_stops_the_recording_on_the_call(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    call = connected_call(agent, customer)
    recording_tag = services.start_recording(agent, invoice, "INV-42")
    noojee_emulator_control.transfer(call.unique_id, "102")

    recording_tag = services.stop_recording(agent, recording_tag)

    assert recording_tag.status == RecordingTag.Status.WAITING
    live = next(c for c in noojee_emulator_control.calls() if c["unique_id"] == call.unique_id)
    assert not live["recording"]


def test_a_stop_the_pbx_refuses_is_reported_as_refused(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice
) -> None:
    unique_id = noojee_emulator_control.inbound_call(exten="101")
    noojee_emulator_control.answer(unique_id, "101")
    recording_tag = services.start_recording(agent, invoice, "INV-42")  # by extension: no call row
    noojee_emulator_control.transfer(unique_id, "102")
    client = Client(HTTP_ACCEPT="application/json")
    client.force_login(agent)

    response = client.post(reverse("noojee:stop-recording", args=[recording_tag.pk]))

    assert response.status_code == 502
    assert "refused to stop" in response.json()["error"]
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.RECORDING


# ---------------------------------------------------------------------------------------------- 8


def test_not_ready_answers_back_off_exponentially_while_the_call_goes_on(
    pbx: Any, settings: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "POLL_BACKOFF_BASE": 10, "POLL_BACKOFF_CAP": 600}
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1], in_progress=True)
    recording_tag = services.watch_tag(invoice, "INV-42")
    (leg_id,) = services.poll_tag(recording_tag.pk).legs_to_fetch
    waits = []
    for _ in range(5):
        result = services.fetch_leg(leg_id)
        assert result.outcome == "not_ready"
        waits.append(result.retry_in)
    assert waits[4] is not None and waits[0] is not None
    assert waits[4] >= 80 > 10 >= waits[0]  # 10·2^4 / 2 at least, against 10 at most


def test_with_the_listener_running_a_poll_does_not_download_while_the_call_is_up(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    call = connected_call(agent, customer)
    recording_tag = services.start_recording(agent, invoice, "INV-42")
    time.sleep(1.1)
    services.stop_recording(agent, recording_tag)
    services.mark_listener_alive()
    fetches = noojee_emulator_control.stats()["requests"].get("retrieveRecording", 0)

    result = services.poll_tag(recording_tag.pk, fetch_inline=True)

    assert result.legs_found == 1 and result.legs_to_fetch == ()
    assert noojee_emulator_control.stats()["requests"].get("retrieveRecording", 0) == fetches
    services.hangup(agent, call)  # the call's end fetches it
    recording_tag.refresh_from_db()
    leg = recording_tag.legs.get()
    wait_for(lambda: services.fetch_leg(leg.pk).outcome == "ok" or None)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED


# ---------------------------------------------------------------------------------------------- 9


def test_poll_again_while_the_tag_is_recorded_again_is_a_409_in_words(
    pbx: Any, staff: User, agent: User, invoice: Invoice, customer: Customer
) -> None:
    from rest_framework.test import APIClient

    other = Invoice.objects.create(number="INV-43", customer=customer, amount="1")
    failed = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, status=RecordingTag.Status.FAILED, started_by=agent
    )
    RecordingTag.objects.create(tag="INV-42", content_object=other, status=RecordingTag.Status.RECORDING)
    client = APIClient()
    client.force_authenticate(staff)

    response = client.post(reverse("noojee:api-recording-poll", args=[failed.pk]))

    assert response.status_code == 409, response.content
    assert "again" in response.json()["detail"]
    failed.refresh_from_db()
    assert failed.status == RecordingTag.Status.FAILED


def test_fetch_again_while_the_tag_is_recorded_again_is_a_message_not_a_500(
    pbx: Any, superuser: User, agent: User, invoice: Invoice, customer: Customer
) -> None:
    other = Invoice.objects.create(number="INV-43", customer=customer, amount="1")
    failed = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, status=RecordingTag.Status.FAILED, started_by=agent
    )
    leg = RecordingLeg.objects.create(
        recording_tag=failed, call_record_id=77, leg=1, unique_id="1.1", duration=1,
        fetch_status=RecordingLeg.FetchStatus.GONE,
    )  # fmt: skip
    RecordingTag.objects.create(tag="INV-42", content_object=other, status=RecordingTag.Status.RECORDING)
    client = Client(raise_request_exception=True)
    client.force_login(superuser)

    response = client.post(
        reverse("admin:noojee_django_recordingleg_changelist"),
        {"action": "fetch_again", "_selected_action": [leg.pk]},
        follow=True,
    )

    assert response.status_code == 200
    text = " ".join(str(m) for m in response.context["messages"])
    assert "being recorded or collected again" in text
    leg.refresh_from_db()
    assert leg.fetch_status == RecordingLeg.FetchStatus.GONE
