"""The operator's admin: pages, actions (through the changelist, as a browser posts them), constant
query counts, the recordings inline and the Dial action."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from example_project.crm.models import Customer, Invoice
from noojee_django.models import (
    CallSession,
    RecordingAccess,
    RecordingAttempt,
    RecordingLeg,
    RecordingTag,
)
from tests.recordings import attached_recording

pytestmark = pytest.mark.django_db

MODELS = ["agentphone", "callsession", "recordingtag", "recordingleg", "recordingattempt", "recordingaccess"]


@pytest.fixture
def admin_client(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def invoices(customer: Customer, count: int) -> list[Invoice]:
    start = Invoice.objects.count()
    return [
        Invoice.objects.create(number=f"INV-{start + i}", customer=customer, amount="1") for i in range(count)
    ]


def populate(customer: Customer, count: int) -> None:
    for invoice in invoices(customer, count):
        recording_tag = attached_recording(invoice, tag=invoice.number)
        RecordingAttempt.objects.create(recording_tag=recording_tag, action="poll", outcome="ok")
        RecordingAccess.objects.create(recording_tag=recording_tag, action="play", user=None)
        CallSession.objects.create(extension="SIP/101", number="0383208100")


@pytest.mark.parametrize("model", MODELS)
def test_changelists_run_a_constant_number_of_queries(
    admin_client: Client, customer: Customer, model: str
) -> None:
    url = reverse(f"admin:noojee_django_{model}_changelist")
    populate(customer, 2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    populate(customer, 10)
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_the_tag_page_shows_the_call_picture_players_and_attempts(
    admin_client: Client, invoice: Invoice, settings: Any
) -> None:
    recording_tag = attached_recording(invoice)
    RecordingAttempt.objects.create(
        recording_tag=recording_tag, action="poll", outcome="ok", message="2 leg(s) found"
    )
    page = admin_client.get(
        reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk])
    ).content.decode()
    assert reverse("noojee:recording-audio", args=[recording_tag.pk]) in page
    for leg in recording_tag.legs.all():
        assert reverse("noojee:leg-audio", args=[leg.pk]) in page
    assert "noojee-timeline-leg" in page
    assert "gap of 3.0 s before this leg" in page
    assert "2 leg(s) found" in page
    assert settings.NOOJEE["API_KEY"] not in page


def test_poll_now_makes_tags_due(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, status=RecordingTag.Status.FAILED, last_error="boom"
    )
    response = admin_client.post(
        reverse("admin:noojee_django_recordingtag_changelist"),
        {"action": "poll_now", "_selected_action": [recording_tag.pk]},
        follow=True,
    )
    assert "1 recording(s) will be polled now" in response.content.decode()
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.WAITING and recording_tag.next_poll_at is not None


def test_legal_hold_set_and_clear(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    url = reverse("admin:noojee_django_recordingtag_changelist")
    admin_client.post(url, {"action": "set_legal_hold", "_selected_action": [recording_tag.pk]})
    recording_tag.refresh_from_db()
    assert recording_tag.legal_hold
    admin_client.post(url, {"action": "clear_legal_hold", "_selected_action": [recording_tag.pk]})
    recording_tag.refresh_from_db()
    assert not recording_tag.legal_hold


def test_purge_asks_for_confirmation_then_keeps_held_recordings(
    admin_client: Client, customer: Customer
) -> None:
    first, second = invoices(customer, 2)
    purged = attached_recording(first, tag="P-1")
    held = attached_recording(second, tag="P-2")
    held.legal_hold = True
    held.save()
    url = reverse("admin:noojee_django_recordingtag_changelist")
    selection = {"action": "purge_audio", "_selected_action": [purged.pk, held.pk]}

    confirmation = admin_client.post(url, selection)
    assert confirmation.status_code == 200
    text = confirmation.content.decode()
    assert "Yes, purge the audio" in text and "On legal hold" in text
    purged.refresh_from_db()
    assert purged.audio  # nothing deleted yet

    done = admin_client.post(url, {**selection, "post": "yes"}, follow=True)
    assert "P-2 is on legal hold: not purged" in done.content.decode()
    purged.refresh_from_db()
    held.refresh_from_db()
    assert not purged.audio and purged.purged_at is not None
    assert all(leg.fetch_status == RecordingLeg.FetchStatus.PURGED for leg in purged.legs.all())
    assert held.audio and held.purged_at is None


def test_fetch_again_resets_the_leg_and_its_tag(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    leg = recording_tag.legs.first()
    assert leg is not None
    RecordingLeg.objects.filter(pk=leg.pk).update(fetch_status="failed", fetch_attempts=5)
    admin_client.post(
        reverse("admin:noojee_django_recordingleg_changelist"),
        {"action": "fetch_again", "_selected_action": [leg.pk]},
    )
    leg.refresh_from_db()
    recording_tag.refresh_from_db()
    assert leg.fetch_status == RecordingLeg.FetchStatus.PENDING and leg.fetch_attempts == 0
    assert recording_tag.status == RecordingTag.Status.FETCHING


def test_purge_is_offered_only_with_the_delete_permission(staff: User, invoice: Invoice) -> None:
    attached_recording(invoice)
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("admin:noojee_django_recordingtag_changelist")).content.decode()
    assert "purge_audio" not in page  # needs the delete permission
    assert "poll_now" in page


def test_attempts_and_accesses_are_read_only(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    attempt = RecordingAttempt.objects.create(recording_tag=recording_tag, action="poll", outcome="ok")
    assert admin_client.get(reverse("admin:noojee_django_recordingattempt_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:noojee_django_recordingattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert RecordingAttempt.objects.filter(pk=attempt.pk).exists()


def test_the_invoice_admin_shows_its_voice_signatures(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    page = admin_client.get(reverse("admin:crm_invoice_change", args=[invoice.pk])).content.decode()
    assert "voice signatures" in page.lower()
    assert reverse("noojee:recording-audio", args=[recording_tag.pk]) in page


def test_the_dial_action_calls_the_customer(
    pbx: Any, noojee_emulator_control: Any, superuser: User, customer: Customer
) -> None:
    from noojee_django.models import AgentPhone

    AgentPhone.objects.create(user=superuser, extension="SIP/109")
    client = Client()
    client.force_login(superuser)
    response = client.post(
        reverse("admin:crm_customer_changelist"),
        {"action": "noojee_dial", "_selected_action": [customer.pk]},
        follow=True,
    )
    assert "Calling 0383208100" in response.content.decode()
    call = CallSession.objects.get()
    assert call.content_object == customer and call.extension == "SIP/109"
    assert noojee_emulator_control.stats()["requests"]["dial"] == 1


def test_the_dial_action_reports_errors_as_messages(pbx: Any, superuser: User, customer: Customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(phone="0383&1")
    client = Client()
    client.force_login(superuser)
    response = client.post(
        reverse("admin:crm_customer_changelist"),
        {"action": "noojee_dial", "_selected_action": [customer.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "may contain only digits" in response.content.decode()
    assert not CallSession.objects.exists()
