"""The services against the emulator over loopback HTTP: every use case, its errors, its idempotence."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from example_project.crm.models import Invoice
from noojee_django import services, signals
from noojee_django.exceptions import InvalidState, NoAgentPhone, NoojeePermissionDenied, PbxError
from noojee_django.models import AgentPhone, CallSession, RecordingAttempt, RecordingLeg, RecordingTag
from tests.polling import wait_for
from tests.recordings import stored_files

pytestmark = pytest.mark.django_db


def dials(control: Any) -> int:
    return int(control.stats()["requests"].get("dial", 0))


def connected_call(agent: User, customer: Any) -> CallSession:
    call = services.dial(agent, customer.phone, obj=customer)
    return wait_for(
        lambda: services.current_call_status(call).status == CallSession.Status.CONNECTED and call
    )


# ---------------------------------------------------------------------------------------------- dial


def test_dial_rings_the_agents_extension_and_keeps_the_pbx_session(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Any
) -> None:
    call = services.dial(agent, "03 8320 8100", obj=customer)

    assert call.status == CallSession.Status.DIALING
    assert call.pbx_session_id is not None
    assert call.number == "0383208100"
    assert call.content_object == customer
    assert dials(noojee_emulator_control) == 1


def test_dial_refuses_dial_string_injection_without_calling_the_pbx(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    for number in ["0383&208100", "0383,1", "SIP/1", "1\n2", "${EXTEN}"]:
        with pytest.raises(ValidationError):
            services.dial(agent, number)
    assert dials(noojee_emulator_control) == 0
    assert not CallSession.objects.exists()


def test_dial_needs_permission_and_a_phone(pbx: Any, outsider: User, staff: User) -> None:
    with pytest.raises(NoojeePermissionDenied):
        services.dial(outsider, "0383208100")
    staff_with_perm = staff
    from django.contrib.auth.models import Permission

    staff_with_perm.user_permissions.add(Permission.objects.get(codename="can_dial"))
    staff_with_perm = User.objects.get(pk=staff.pk)
    with pytest.raises(NoAgentPhone):
        services.dial(staff_with_perm, "0383208100")


def test_double_click_dials_once(pbx: Any, noojee_emulator_control: Any, agent: User) -> None:
    first = services.dial(agent, "0383208100")
    second = services.dial(agent, "0383208100")
    assert first.pk == second.pk
    assert dials(noojee_emulator_control) == 1


def test_a_double_click_while_the_first_call_is_still_queued_returns_it(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    # The first click's row exists, the PBX has not answered it yet.
    first, created = services._claim_dial(user=agent, extension="SIP/101", number="0383208100")
    assert created and first.status == CallSession.Status.QUEUED

    second = services.dial(agent, "0383208100")

    assert second.pk == first.pk
    assert dials(noojee_emulator_control) == 0
    assert CallSession.objects.count() == 1


def test_the_same_number_can_be_dialled_again_after_the_window(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    first = services.dial(agent, "0383208100")
    CallSession.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - services.DUPLICATE_DIAL_WINDOW - dt.timedelta(seconds=1)
    )

    second = services.dial(agent, "0383208100")

    assert second.pk != first.pk
    assert dials(noojee_emulator_control) == 2
    first.refresh_from_db()
    assert first.dial_guard is None and second.dial_guard == "SIP/101>0383208100"


def test_a_call_that_ended_releases_its_number_at_once(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    first = services.dial(agent, "0383208100")
    services.apply_call_status(first, CallSession.Status.HUNG_UP, pbx_status="Hungup")

    second = services.dial(agent, "0383208100")

    assert second.pk != first.pk
    assert dials(noojee_emulator_control) == 2


def test_a_failed_dial_can_be_retried_at_once(pbx: Any, noojee_emulator_control: Any, agent: User) -> None:
    noojee_emulator_control.add_fault("http_502", method="dial", count=1)
    with pytest.raises(PbxError):
        services.dial(agent, "0383208100")

    retried = services.dial(agent, "0383208100")

    assert retried.status == CallSession.Status.DIALING
    assert dials(noojee_emulator_control) == 2
    assert CallSession.objects.get(status=CallSession.Status.FAILED).dial_guard is None


def test_a_refused_dial_leaves_a_failed_call_with_the_pbx_reason(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    noojee_emulator_control.add_fault("negative_code", method="dial", code=-7, message="Trunk busy")
    with pytest.raises(PbxError, match=r"^The PBX could not place the call: it refused") as refused:
        services.dial(agent, "0383208100")
    assert "Trunk busy" not in refused.value.message and "Trunk busy" in str(refused.value.cause)
    call = CallSession.objects.get()
    assert call.status == CallSession.Status.FAILED
    assert "Trunk busy" in call.error


def test_dial_is_not_retried_when_the_pbx_fails(pbx: Any, noojee_emulator_control: Any, agent: User) -> None:
    noojee_emulator_control.add_fault("http_502", method="dial", count=1)
    with pytest.raises(PbxError):
        services.dial(agent, "0383208100")
    assert dials(noojee_emulator_control) == 1


def test_call_status_follows_the_pbx_without_a_listener(pbx: Any, agent: User, customer: Any) -> None:
    call = connected_call(agent, customer)
    assert call.unique_id
    assert call.connected_at is not None

    services.hangup(agent, call)
    call.refresh_from_db()
    assert call.status == CallSession.Status.HUNG_UP
    assert call.ended_at is not None


def test_another_agent_cannot_hang_up_my_call(
    pbx: Any, agent: User, other_agent: User, customer: Any
) -> None:
    call = services.dial(agent, customer.phone)
    with pytest.raises(NoojeePermissionDenied):
        services.hangup(other_agent, call)


# ---------------------------------------------------------------------------------------------- record


def test_recording_a_voice_signature_attaches_the_audio_to_the_invoice(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Any, invoice: Invoice
) -> None:
    attached: list[RecordingTag] = []

    def on_attached(sender: Any, recording_tag: RecordingTag, content_object: Any, **kwargs: Any) -> None:
        attached.append(recording_tag)

    signals.recording_attached.connect(on_attached)
    try:
        call = connected_call(agent, customer)
        recording_tag = services.start_recording(agent, invoice, "INV-42", consent_given=True)
        assert recording_tag.status == RecordingTag.Status.RECORDING
        time.sleep(1.1)
        recording_tag = services.stop_recording(agent, recording_tag)
        assert recording_tag.status == RecordingTag.Status.WAITING
        services.hangup(agent, call)

        poll = services.poll_tag(recording_tag.pk)
        assert poll.outcome == "ok"
        assert poll.legs_found == 1
        for leg_id in poll.legs_to_fetch:
            result = wait_for(
                lambda leg_id=leg_id: services.fetch_leg(leg_id)
            )  # audio ready once the call ended
            assert result.outcome == "ok", result
    finally:
        signals.recording_attached.disconnect(on_attached)

    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert recording_tag.content_object == invoice
    assert recording_tag.audio_duration and recording_tag.audio_duration >= 1
    assert [t.pk for t in attached] == [recording_tag.pk]
    leg = recording_tag.legs.get()
    emulator_legs = noojee_emulator_control.recordings(tag="INV-42")
    assert leg.audio_sha256 == emulator_legs[0]["sha256"]
    assert leg.fetch_status == RecordingLeg.FetchStatus.FETCHED


def _recorded_call_on(control: Any, exten: str) -> str:
    unique_id = control.inbound_call(caller_id="0398765432", exten=exten)
    control.answer(unique_id, exten)
    return unique_id


def _emulator_call(control: Any, unique_id: str) -> dict[str, Any]:
    return next(c for c in control.calls() if c["unique_id"] == unique_id)


def test_an_operator_stops_the_agents_recording_on_the_agents_extension(
    pbx: Any, noojee_emulator_control: Any, agent: User, staff: User, invoice: Invoice
) -> None:
    agents_call = _recorded_call_on(noojee_emulator_control, "101")
    operators_call = _recorded_call_on(noojee_emulator_control, "109")
    AgentPhone.objects.create(user=staff, extension="SIP/109")
    recording_tag = services.start_recording(agent, invoice, "INV-42", consent_given=True)

    recording_tag = services.stop_recording(staff, recording_tag)

    assert recording_tag.status == RecordingTag.Status.WAITING
    assert recording_tag.last_error == ""
    assert not _emulator_call(noojee_emulator_control, agents_call)["recording"]
    assert _emulator_call(noojee_emulator_control, operators_call)["status"] == "Connected"


def test_an_operator_without_a_phone_may_stop_an_agents_recording(
    pbx: Any, noojee_emulator_control: Any, agent: User, staff: User, invoice: Invoice
) -> None:
    agents_call = _recorded_call_on(noojee_emulator_control, "101")
    recording_tag = services.start_recording(agent, invoice, "INV-42", consent_given=True)
    assert services.stop_recording(staff, recording_tag).status == RecordingTag.Status.WAITING
    assert not _emulator_call(noojee_emulator_control, agents_call)["recording"]


@pytest.mark.parametrize("status", [RecordingTag.Status.RECORDING, RecordingTag.Status.ATTACHED])
def test_who_may_stop_a_recording_is_asked_whatever_its_state(
    pbx: Any, noojee_emulator_control: Any, agent: User, other_agent: User, invoice: Invoice, status: str
) -> None:
    recording_tag = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, extension="SIP/101", started_by=agent, status=status
    )
    with pytest.raises(NoojeePermissionDenied):
        services.stop_recording(other_agent, recording_tag)
    recording_tag.refresh_from_db()
    assert recording_tag.status == status
    assert noojee_emulator_control.stats()["total"] == 0


def test_start_recording_without_a_call_fails_with_the_reason_and_frees_the_tag(
    pbx: Any, agent: User, invoice: Invoice
) -> None:
    with pytest.raises(PbxError):
        services.start_recording(agent, invoice, "INV-42")
    recording_tag = RecordingTag.objects.get()
    assert recording_tag.status == RecordingTag.Status.FAILED
    assert recording_tag.last_error
    # the failed tag does not block a new attempt under the same tag
    with pytest.raises(PbxError):
        services.start_recording(agent, invoice, "INV-42")


def test_a_tag_cannot_be_recorded_twice_at_once(
    pbx: Any, agent: User, customer: Any, invoice: Invoice
) -> None:
    connected_call(agent, customer)
    services.start_recording(agent, invoice, "INV-42")
    with pytest.raises(InvalidState, match="is being recorded already: stop that recording first"):
        services.start_recording(agent, invoice, "INV-42")


def test_recording_needs_view_permission_on_the_object(pbx: Any, outsider: User, invoice: Invoice) -> None:
    with pytest.raises(NoojeePermissionDenied):
        services.start_recording(outsider, invoice, "INV-42")


# ---------------------------------------------------------------------------------------------- poll / fetch


def watched(invoice: Invoice, tag: str = "INV-42") -> RecordingTag:
    return services.watch_tag(invoice, tag)


def test_poll_upserts_legs_on_call_record_id_and_never_duplicates(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[2, 1, 1], duplicate_rows=True)
    recording_tag = watched(invoice)
    first = services.poll_tag(recording_tag.pk)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(status=RecordingTag.Status.WAITING)
    second = services.poll_tag(recording_tag.pk)
    assert first.legs_to_fetch == second.legs_to_fetch
    assert RecordingLeg.objects.filter(recording_tag=recording_tag).count() == 3
    assert list(recording_tag.legs.values_list("leg", flat=True)) == [1, 2, 3]


def test_poll_without_legs_waits_then_gives_up_as_absent(pbx: Any, settings: Any, invoice: Invoice) -> None:
    recording_tag = watched(invoice)
    result = services.poll_tag(recording_tag.pk)
    assert result.outcome == RecordingAttempt.Outcome.NO_LEGS
    assert result.retry_in is not None
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.WAITING
    assert recording_tag.next_poll_at > timezone.now()

    RecordingTag.objects.filter(pk=recording_tag.pk).update(stopped_at=timezone.now() - dt.timedelta(days=1))
    services.poll_tag(recording_tag.pk)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ABSENT
    assert "no recording tagged" in recording_tag.last_error


def test_poll_errors_wait_then_fail_with_the_reason(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_fault("http_500", method="retrieveMetaData", count=None)
    recording_tag = watched(invoice)
    result = services.poll_tag(recording_tag.pk)
    assert result.outcome == RecordingAttempt.Outcome.ERROR
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.WAITING
    assert "500" in recording_tag.last_error

    RecordingTag.objects.filter(pk=recording_tag.pk).update(stopped_at=timezone.now() - dt.timedelta(days=1))
    services.poll_tag(recording_tag.pk)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.FAILED
    assert "500" in recording_tag.last_error
    assert recording_tag.attempts_log.filter(outcome=RecordingAttempt.Outcome.ERROR, http_status=500).exists()


def test_a_leg_is_fetched_once_even_when_asked_twice(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1])
    recording_tag = watched(invoice)
    (leg_id,) = services.poll_tag(recording_tag.pk).legs_to_fetch
    assert services.fetch_leg(leg_id).outcome == "ok"
    assert services.fetch_leg(leg_id).outcome == "skipped"
    assert noojee_emulator_control.stats()["requests"].get("retrieveRecording") == 1
    assert len(stored_files()) == 2  # the leg and the signature


def test_leg_of_a_call_in_progress_waits_without_spending_an_attempt(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    created = noojee_emulator_control.add_recording(tag="INV-42", legs=[1], in_progress=True)
    recording_tag = watched(invoice)
    (leg_id,) = services.poll_tag(recording_tag.pk).legs_to_fetch
    result = services.fetch_leg(leg_id)
    assert result.outcome == RecordingAttempt.Outcome.NOT_READY
    leg = RecordingLeg.objects.get(pk=leg_id)
    assert leg.fetch_status == RecordingLeg.FetchStatus.PENDING
    assert leg.fetch_attempts == 0
    assert stored_files() == []

    noojee_emulator_control.hangup(created["unique_id"])
    assert wait_for(lambda: services.fetch_leg(leg_id).outcome == "ok")


@pytest.mark.parametrize("fault", ["truncated_base64", "invalid_base64", "bad_wav_header", "drop"])
def test_broken_audio_is_never_stored_and_fails_after_the_attempts(
    fault: str, pbx: Any, settings: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "MAX_FETCH_ATTEMPTS": 2}
    noojee_emulator_control.add_recording(tag="INV-42", legs=[2])
    noojee_emulator_control.add_fault(fault, method="retrieveRecording", count=None, after_bytes=1000)
    recording_tag = watched(invoice)
    (leg_id,) = services.poll_tag(recording_tag.pk).legs_to_fetch

    assert services.fetch_leg(leg_id).outcome == RecordingAttempt.Outcome.ERROR
    assert RecordingLeg.objects.get(pk=leg_id).fetch_status == RecordingLeg.FetchStatus.PENDING
    assert services.fetch_leg(leg_id).outcome == RecordingAttempt.Outcome.ERROR
    leg = RecordingLeg.objects.get(pk=leg_id)
    assert leg.fetch_status == RecordingLeg.FetchStatus.FAILED
    assert not leg.audio
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.FAILED
    assert "could not be fetched after 2 attempt(s)" in recording_tag.last_error
    assert stored_files() == []


def test_a_leg_gone_from_the_pbx_fails_the_tag_as_gone(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1])
    noojee_emulator_control.add_fault(
        "negative_code", method="retrieveRecording", code=-1, message="No such leg", status=404
    )
    recording_tag = watched(invoice)
    (leg_id,) = services.poll_tag(recording_tag.pk).legs_to_fetch
    assert services.fetch_leg(leg_id).outcome == RecordingAttempt.Outcome.GONE
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.FAILED
    assert "gone" in recording_tag.last_error


def test_a_stale_claim_of_a_lost_worker_is_taken_over(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1])
    recording_tag = watched(invoice)
    (leg_id,) = services.poll_tag(recording_tag.pk).legs_to_fetch
    RecordingLeg.objects.filter(pk=leg_id).update(fetch_status=RecordingLeg.FetchStatus.FETCHING)
    assert services.fetch_leg(leg_id).outcome == "skipped"  # another worker holds a fresh claim
    RecordingLeg.objects.filter(pk=leg_id).update(updated_at=timezone.now() - dt.timedelta(hours=1))
    assert services.fetch_leg(leg_id).outcome == "ok"


# ---------------------------------------------------------------------------------------------- operator


def attached_tag(control: Any, invoice: Invoice) -> RecordingTag:
    control.add_recording(tag=invoice.number, legs=[1])
    recording_tag = watched(invoice, invoice.number)
    for leg_id in services.poll_tag(recording_tag.pk).legs_to_fetch:
        services.fetch_leg(leg_id)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    return recording_tag


def test_purge_deletes_expired_audio_but_keeps_metadata_and_legal_holds(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice, customer: Any, superuser: User
) -> None:
    held_invoice = Invoice.objects.create(number="INV-43", customer=customer, amount="1")
    expired = attached_tag(noojee_emulator_control, invoice)
    held = attached_tag(noojee_emulator_control, held_invoice)
    services.set_legal_hold(superuser, [held], True)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    RecordingTag.objects.update(keep_until=yesterday)
    files_before = len(stored_files())

    assert services.purge_expired_audio() == 1

    expired.refresh_from_db()
    held.refresh_from_db()
    assert not expired.audio and expired.purged_at is not None
    assert expired.legs.get().fetch_status == RecordingLeg.FetchStatus.PURGED
    assert expired.legs.get().audio_sha256  # metadata kept
    assert held.audio and held.purged_at is None
    assert len(stored_files()) == files_before - 2
    with pytest.raises(InvalidState, match="legal hold"):
        services.purge_audio(held)


def test_attach_to_moves_a_recording_to_another_record(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice, customer: Any, superuser: User, agent: User
) -> None:
    recording_tag = attached_tag(noojee_emulator_control, invoice)
    other = Invoice.objects.create(number="INV-99", customer=customer, amount="1")
    with pytest.raises(NoojeePermissionDenied):
        services.attach_to(agent, recording_tag, other)
    services.attach_to(superuser, recording_tag, other)
    assert list(services.recordings_for(other)) == [recording_tag]
    assert not services.recordings_for(invoice).exists()


def test_retention_sets_keep_until_on_attach(
    pbx: Any, settings: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "RETENTION_DAYS": 30}
    recording_tag = attached_tag(noojee_emulator_control, invoice)
    assert recording_tag.keep_until == timezone.localdate() + dt.timedelta(days=30)


def test_sweep_sends_only_overdue_tags_and_moves_them_on(pbx: Any, invoice: Invoice, customer: Any) -> None:
    due = watched(invoice)
    later = services.watch_tag(Invoice.objects.create(number="INV-2", customer=customer, amount="1"), "INV-2")
    now = timezone.now()
    RecordingTag.objects.filter(pk=due.pk).update(next_poll_at=now - dt.timedelta(hours=1))
    RecordingTag.objects.filter(pk=later.pk).update(next_poll_at=now + dt.timedelta(hours=1))
    assert services.sweep_due_tags(now=now) == 1
    assert services.sweep_due_tags(now=now) == 0
    due.refresh_from_db()
    assert due.next_poll_at > now


def test_environment_api_key_is_used_when_settings_have_none(
    pbx: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, agent: User, noojee_emulator: Any
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "API_KEY": None}
    monkeypatch.setenv("NOOJEE_API_KEY", noojee_emulator.config.api_key)
    # the emulator refuses unknown keys: the dial goes through only with the environment's key
    assert services.dial(agent, "0383208100").status == CallSession.Status.DIALING


# ---------------------------------------------------------------------------------------------- reconcile


def pbx_now(emulator: Any) -> dt.datetime:
    import zoneinfo

    return timezone.now().astimezone(zoneinfo.ZoneInfo(emulator.config.pbx_time_zone))


def test_reconcile_attaches_tagged_legs_nobody_polled_through_the_resolve_hook(
    pbx: Any, settings: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    settings.NOOJEE = {
        **settings.NOOJEE,
        "RESOLVE_TAG": lambda tag: Invoice.objects.filter(number=tag).first(),
    }
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1, 1])
    noojee_emulator_control.add_recording(tag="NOBODY-KNOWS", legs=[1])
    now = pbx_now(pbx)

    assert services.reconcile_hour(now.date(), now.hour) == 2
    recording_tag = RecordingTag.objects.get()
    assert recording_tag.content_object == invoice
    assert recording_tag.status == RecordingTag.Status.FETCHING
    for leg in recording_tag.legs.all():
        services.fetch_leg(leg.pk)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert recording_tag.attempts_log.filter(action=RecordingAttempt.Action.RECONCILE).exists()


def test_a_leg_that_appears_late_is_added_and_the_signature_joined_again(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1, 1], late={"2": 1})
    recording_tag = watched(invoice)
    for leg_id in services.poll_tag(recording_tag.pk).legs_to_fetch:
        services.fetch_leg(leg_id)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    first_signature = recording_tag.audio_sha256
    assert recording_tag.legs.count() == 1

    time.sleep(1.1)
    now = pbx_now(pbx)
    assert services.reconcile_hour(now.date(), now.hour) == 1
    for leg in recording_tag.legs.filter(fetch_status=RecordingLeg.FetchStatus.PENDING):
        services.fetch_leg(leg.pk)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert recording_tag.legs.count() == 2
    assert recording_tag.audio_sha256 != first_signature
    assert recording_tag.audio_duration == pytest.approx(2)
    assert len(stored_files()) == 3  # two legs and one signature: the old signature was replaced
