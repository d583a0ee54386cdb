"""The operator's admin: pages, actions (posted through the changelist, as a browser does), constant
query counts, the legs picture, the recordings inline and the Dial action."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models.signals import post_init
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from example_project.crm.models import Customer, Invoice
from noojee_django.models import (
    AgentPhone,
    CallSession,
    RecordingAccess,
    RecordingAttempt,
    RecordingLeg,
    RecordingTag,
)
from noojee_django.timeline import legs_timeline
from tests.recordings import attached_recording
from tests.test_views import _raising, service_errors

pytestmark = pytest.mark.django_db

MODELS = ["agentphone", "callsession", "recordingtag", "recordingleg", "recordingattempt", "recordingaccess"]
SECRET = "sk-live-do-not-show-4242"
TAGS = "admin:noojee_django_recordingtag_changelist"
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _secret_api_key(settings: Any) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "API_KEY": SECRET}


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(superuser: User) -> Client:
    return logged_in(superuser)


def make_user(username: str, *perms: str, is_staff: bool = True) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=is_staff)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def act(client: Client, changelist: str, action: str, ids: list[int], **extra: Any) -> Any:
    return client.post(reverse(changelist), {"action": action, "_selected_action": ids, **extra}, follow=True)


def populate(customer: Customer, count: int) -> None:
    """``count`` rows in every model, each with all the relations its changelist shows."""
    for _ in range(count):
        n = next(_numbers)
        user = User.objects.create_user(f"user{n}")
        AgentPhone.objects.create(user=user, extension=f"SIP/{300 + n}")
        invoice = Invoice.objects.create(number=f"Q-{n}", customer=customer, amount="1")
        recording_tag = attached_recording(invoice, tag=invoice.number)
        leg = recording_tag.legs.first()
        RecordingAttempt.objects.create(recording_tag=recording_tag, leg=leg, action="fetch", outcome="ok")
        RecordingAccess.objects.create(recording_tag=recording_tag, leg=leg, action="play", user=user)
        CallSession.objects.create(
            user=user, extension=f"SIP/{300 + n}", number="0383208100", content_object=customer
        )


# Pages


@pytest.mark.parametrize("model", MODELS)
def test_changelists_run_a_constant_number_of_queries(
    admin_client: Client, customer: Customer, model: str
) -> None:
    url = reverse(f"admin:noojee_django_{model}_changelist")
    populate(customer, 2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    populate(customer, 18)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == (40 if model == "recordingleg" else 20)  # 2 legs each
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


@pytest.mark.parametrize("who", ["superuser", "staff"])
def test_every_admin_page_opens_and_never_shows_the_api_key(
    request: pytest.FixtureRequest, who: str, agent: User, customer: Customer, invoice: Invoice
) -> None:
    client = logged_in(request.getfixturevalue(who))
    populate(customer, 1)
    rows = {
        "agentphone": AgentPhone.objects.get(user=agent),
        "callsession": CallSession.objects.first(),
        "recordingtag": RecordingTag.objects.first(),
        "recordingleg": RecordingLeg.objects.first(),
        "recordingattempt": RecordingAttempt.objects.first(),
        "recordingaccess": RecordingAccess.objects.first(),
    }
    expected = {
        "agentphone": "SIP/101",
        "callsession": "0383208100",
        "recordingtag": "Q-",
        "recordingleg": "leg 1",
        "recordingattempt": "Fetch audio",
        "recordingaccess": "Played",
    }
    for model, row in rows.items():
        if who == "staff" and model == "agentphone":
            continue  # staff has no permission on phones
        assert row is not None
        for url in (
            reverse(f"admin:noojee_django_{model}_changelist"),
            reverse(f"admin:noojee_django_{model}_change", args=[row.pk]),
        ):
            response = client.get(url)
            assert response.status_code == 200, url
            page = response.content.decode()
            assert expected[model] in page, url
            assert SECRET not in page, url
    for url in (reverse("admin:crm_invoice_change", args=[invoice.pk]), reverse("admin:index")):
        response = client.get(url)
        assert response.status_code == 200 and SECRET not in response.content.decode()


def test_the_tag_page_shows_the_call_picture_with_players(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    page = admin_client.get(
        reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk])
    ).content.decode()
    assert f'src="{reverse("noojee:recording-audio", args=[recording_tag.pk])}"' in page
    assert f"{reverse('noojee:recording-audio', args=[recording_tag.pk])}?download=1" in page
    for leg in recording_tag.legs.all():
        assert f'src="{reverse("noojee:leg-audio", args=[leg.pk])}"' in page
    assert page.count('preload="metadata"') == 3  # the signature and two legs
    assert page.count('class="noojee-timeline-leg') == 2
    assert page.count('class="noojee-timeline-gap"') == 1
    assert "gap of 3.0 s before this leg" in page
    assert "noojee_django/noojee.css" in page  # the bars are drawn by the app's stylesheet
    assert 'href="{}"'.format(reverse("admin:crm_invoice_change", args=[invoice.pk])) in page


def test_the_tag_page_tells_the_attempts_in_words(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    leg = recording_tag.legs.get(leg=2)
    RecordingAttempt.objects.create(
        recording_tag=recording_tag,
        action="poll",
        outcome="not_ready",
        http_status=200,
        message="call still in progress",
        duration_ms=12,
        created_at=timezone.now() - dt.timedelta(minutes=1),
    )
    RecordingAttempt.objects.create(
        recording_tag=recording_tag,
        leg=leg,
        action="fetch",
        outcome="error",
        http_status=503,
        error_kind="server",
        message="Service Unavailable",
    )
    page = admin_client.get(
        reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk])
    ).content.decode()
    assert "Poll metadata\n  — <strong>not ready yet</strong>, HTTP 200, in 12 ms." in page
    assert f"Fetch audio of leg 2 (#{leg.call_record_id})" in page
    assert "<strong>error</strong>, HTTP 503, server." in page
    assert page.index("Service Unavailable") < page.index("call still in progress")  # newest first


def test_a_long_attempt_log_links_to_all_of_the_tags_attempts(
    admin_client: Client, customer: Customer
) -> None:
    first, other = (Invoice.objects.create(number=n, customer=customer, amount="1") for n in ("A-1", "A-2"))
    recording_tag = attached_recording(first, tag="A-1")
    other_tag = attached_recording(other, tag="A-2")
    RecordingAttempt.objects.bulk_create(
        RecordingAttempt(recording_tag=recording_tag, action="poll", outcome="no_legs") for _ in range(60)
    )
    RecordingAttempt.objects.create(recording_tag=other_tag, action="poll", outcome="ok")
    page = admin_client.get(
        reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk])
    ).content.decode()
    assert page.count('class="noojee-attempt ') == 20  # the latest 20
    link = reverse("admin:noojee_django_recordingattempt_changelist") + (
        f"?recording_tag__id__exact={recording_tag.pk}"
    )
    assert f'<a href="{link}">all 60</a>' in page
    # collapsed, and its heading gives the count the listing gives
    assert re.search(r"<details[^>]*>\s*<summary>\s*<h2[^>]*>What was asked of the PBX \(60\)", page), page
    listing = admin_client.get(link)
    assert listing.status_code == 200 and listing.context["cl"].result_count == 60


def test_the_timeline_places_legs_by_start_and_shows_gaps(invoice: Invoice) -> None:
    recording_tag = RecordingTag.objects.create(tag="T-1", content_object=invoice)
    origin = timezone.now()
    for leg, offset, duration in [(1, 0, 10), (2, 10, 5), (3, 25, 15)]:
        RecordingLeg.objects.create(
            recording_tag=recording_tag,
            call_record_id=700 + leg,
            leg=leg,
            unique_id="1.1",
            start=origin + dt.timedelta(seconds=offset),
            duration=duration,
        )
    timeline = legs_timeline(recording_tag)
    assert timeline.total_seconds == 40
    assert [(b.left_percent, b.width_percent) for b in timeline.bars] == [(0, 25), (25, 12.5), (62.5, 37.5)]
    assert [b.gap_before_seconds for b in timeline.bars] == [0, 0, 10]
    gap = timeline.bars[2]
    assert (gap.gap_left_percent, gap.gap_width_percent) == (37.5, 25)
    assert timeline.gap_seconds == 10


def test_the_timeline_lines_up_legs_without_a_start_one_after_another(invoice: Invoice) -> None:
    recording_tag = RecordingTag.objects.create(tag="T-2", content_object=invoice)
    for leg, duration in [(1, 3), (2, 1)]:
        RecordingLeg.objects.create(
            recording_tag=recording_tag, call_record_id=800 + leg, leg=leg, unique_id="1.1", duration=duration
        )
    timeline = legs_timeline(recording_tag)
    assert [b.offset_seconds for b in timeline.bars] == [0, 3]
    assert not timeline.gaps
    assert legs_timeline(RecordingTag(tag="none"), legs=[]).bars == []


# Actions on recordings


@contextmanager
def written_meanwhile(model: type[Any], pk: int, **values: Any) -> Iterator[None]:
    """A worker writes ``values`` on the row just after the admin has read it for its change form."""
    done = []

    def worker_writes(sender: Any, instance: Any, **kwargs: Any) -> None:
        if instance.pk == pk and not done:
            done.append(True)
            model._default_manager.filter(pk=pk).update(**values)

    post_init.connect(worker_writes, sender=model)
    try:
        yield
    finally:
        post_init.disconnect(worker_writes, sender=model)
    assert done, "the admin never read the row"


def test_saving_a_tag_page_writes_only_what_the_form_changed(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(
        status=RecordingTag.Status.FETCHING, attached_at=None, audio_size=None
    )
    attached_at = timezone.now()
    url = reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk])
    with written_meanwhile(
        RecordingTag,
        recording_tag.pk,
        status=RecordingTag.Status.ATTACHED,
        attached_at=attached_at,
        audio_size=7,
    ):
        response = admin_client.post(url, {"legal_hold": "on", "keep_until": "2031-01-31", "_save": "Save"})
    assert response.status_code == 302, response.content
    recording_tag.refresh_from_db()
    assert (recording_tag.legal_hold, recording_tag.keep_until) == (True, dt.date(2031, 1, 31))
    # what the worker wrote while the page was being saved is still there
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert (recording_tag.attached_at, recording_tag.audio_size) == (attached_at, 7)


def test_a_tag_page_changes_legal_hold_only_with_the_change_permission(invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    viewer = logged_in(make_user("viewer", "noojee_django.view_recordingtag"))
    url = reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk])
    response = viewer.post(url, {"legal_hold": "on", "_save": "Save"})
    assert response.status_code == 403
    recording_tag.refresh_from_db()
    assert not recording_tag.legal_hold


def test_saving_a_leg_or_call_page_leaves_what_the_worker_wrote(
    admin_client: Client, invoice: Invoice
) -> None:
    leg = attached_recording(invoice).legs.get(leg=1)
    audio = leg.audio.name
    RecordingLeg.objects.filter(pk=leg.pk).update(fetch_status=RecordingLeg.FetchStatus.FETCHING, audio="")
    url = reverse("admin:noojee_django_recordingleg_change", args=[leg.pk])
    with written_meanwhile(RecordingLeg, leg.pk, fetch_status=RecordingLeg.FetchStatus.FETCHED, audio=audio):
        assert admin_client.post(url, {"_save": "Save"}).status_code == 302
    leg.refresh_from_db()
    assert (leg.fetch_status, leg.audio.name) == (RecordingLeg.FetchStatus.FETCHED, audio)

    call = CallSession.objects.create(extension="SIP/101", number="0383208100")
    url = reverse("admin:noojee_django_callsession_change", args=[call.pk])
    with written_meanwhile(CallSession, call.pk, status=CallSession.Status.CONNECTED, pbx_status="Connected"):
        assert admin_client.post(url, {"_save": "Save"}).status_code == 302
    call.refresh_from_db()
    assert (call.status, call.pbx_status) == (CallSession.Status.CONNECTED, "Connected")


def test_poll_now_makes_failed_tags_due_and_skips_attached_ones(
    admin_client: Client, customer: Customer
) -> None:
    first, second = (Invoice.objects.create(number=n, customer=customer, amount="1") for n in ("P-1", "P-2"))
    failed = RecordingTag.objects.create(
        tag="P-1", content_object=first, status=RecordingTag.Status.FAILED, last_error="boom"
    )
    attached = attached_recording(second, tag="P-2")
    response = act(admin_client, TAGS, "poll_now", [failed.pk, attached.pk])
    assert messages_of(response) == [
        "1 recording will be polled now.",
        "1 recording skipped: still recording, already attached, never started on the PBX, "
        "or recorded again under the same tag.",
    ]
    failed.refresh_from_db()
    attached.refresh_from_db()
    assert failed.status == RecordingTag.Status.WAITING and failed.next_poll_at is not None
    assert attached.status == RecordingTag.Status.ATTACHED


def test_legal_hold_set_and_clear(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    response = act(admin_client, TAGS, "set_legal_hold", [recording_tag.pk])
    assert messages_of(response) == ["1 recording is on legal hold."]
    recording_tag.refresh_from_db()
    assert recording_tag.legal_hold
    response = act(admin_client, TAGS, "clear_legal_hold", [recording_tag.pk])
    assert messages_of(response) == ["1 recording is no longer on legal hold."]
    recording_tag.refresh_from_db()
    assert not recording_tag.legal_hold


def test_purge_asks_for_confirmation_then_keeps_held_recordings(
    admin_client: Client, customer: Customer
) -> None:
    first, second = (Invoice.objects.create(number=n, customer=customer, amount="1") for n in ("P-1", "P-2"))
    purged = attached_recording(first, tag="P-1")
    held = attached_recording(second, tag="P-2")
    RecordingTag.objects.filter(pk=held.pk).update(legal_hold=True)
    url = reverse(TAGS)
    selection = {"action": "purge_audio", "_selected_action": [purged.pk, held.pk]}

    confirmation = admin_client.post(url, selection)
    assert confirmation.status_code == 200
    text = confirmation.content.decode()
    assert "Yes, purge the audio" in text and "On legal hold, will be kept" in text
    assert purged.audio.name in text
    assert all(leg.audio.name in text for leg in purged.legs.all())
    assert held.audio.name not in text
    purged.refresh_from_db()
    assert purged.audio and purged.audio.storage.exists(purged.audio.name)  # nothing deleted yet

    files = [purged.audio.name, *(leg.audio.name for leg in purged.legs.all())]
    done = admin_client.post(url, {**selection, "post": "yes"}, follow=True)
    assert messages_of(done) == [
        "Purged the audio of 1 recording; its metadata is kept.",
        "P-2 is on legal hold: not purged.",
    ]
    purged.refresh_from_db()
    held.refresh_from_db()
    assert not purged.audio and purged.purged_at is not None
    assert not any(purged.audio.storage.exists(name) for name in files)
    assert all(leg.fetch_status == RecordingLeg.FetchStatus.PURGED for leg in purged.legs.all())
    assert held.audio and held.purged_at is None and held.audio.storage.exists(held.audio.name)


def test_purge_of_only_held_recordings_offers_nothing_to_confirm(
    admin_client: Client, invoice: Invoice
) -> None:
    held = attached_recording(invoice)
    RecordingTag.objects.filter(pk=held.pk).update(legal_hold=True)
    page = admin_client.post(reverse(TAGS), {"action": "purge_audio", "_selected_action": [held.pk]})
    text = page.content.decode()
    assert "None of the selected recordings can be purged" in text
    assert "Yes, purge the audio" not in text


def test_purge_is_offered_only_with_the_delete_permission(staff: User, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    page = logged_in(staff).get(reverse(TAGS)).content.decode()
    assert 'value="purge_audio"' not in page
    assert 'value="poll_now"' in page
    act(logged_in(staff), TAGS, "purge_audio", [recording_tag.pk], post="yes")
    recording_tag.refresh_from_db()
    assert recording_tag.audio and recording_tag.purged_at is None


def test_recordings_and_legs_cannot_be_deleted_around_legal_hold(
    admin_client: Client, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(legal_hold=True)
    leg = recording_tag.legs.get(leg=1)
    delete_tag = reverse("admin:noojee_django_recordingtag_delete", args=[recording_tag.pk])
    assert admin_client.post(delete_tag, {"post": "yes"}).status_code == 403
    delete_leg = reverse("admin:noojee_django_recordingleg_delete", args=[leg.pk])
    assert admin_client.post(delete_leg, {"post": "yes"}).status_code == 403
    assert 'value="delete_selected"' not in admin_client.get(reverse(TAGS)).content.decode()
    assert RecordingLeg.objects.filter(pk=leg.pk).exists()
    assert RecordingTag.objects.filter(pk=recording_tag.pk).exists()


def test_fetch_again_resets_a_failed_leg_and_collects_its_failed_recording_again(
    admin_client: Client, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(status=RecordingTag.Status.FAILED)
    leg = recording_tag.legs.get(leg=1)
    RecordingLeg.objects.filter(pk=leg.pk).update(fetch_status="failed", fetch_attempts=5, last_error="x")
    response = act(admin_client, "admin:noojee_django_recordingleg_changelist", "fetch_again", [leg.pk])
    assert messages_of(response) == [
        "1 leg will be fetched again; the stored audio stays until the new audio is verified."
    ]
    leg.refresh_from_db()
    recording_tag.refresh_from_db()
    assert leg.fetch_status == RecordingLeg.FetchStatus.PENDING and leg.fetch_attempts == 0
    assert recording_tag.status == RecordingTag.Status.FETCHING


def test_fetch_again_of_a_stored_leg_keeps_its_audio_and_the_recording_attached(
    admin_client: Client, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice)
    leg = recording_tag.legs.get(leg=1)
    act(admin_client, "admin:noojee_django_recordingleg_changelist", "fetch_again", [leg.pk])
    leg.refresh_from_db()
    recording_tag.refresh_from_db()
    assert leg.fetch_status == RecordingLeg.FetchStatus.REFETCHING and leg.audio
    assert recording_tag.status == RecordingTag.Status.ATTACHED and recording_tag.audio


def test_fetch_again_is_refused_for_a_held_recording(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(legal_hold=True)
    leg = recording_tag.legs.get(leg=1)
    response = act(admin_client, "admin:noojee_django_recordingleg_changelist", "fetch_again", [leg.pk])
    assert messages_of(response) == [
        f"Leg 1 (#{leg.call_record_id}): INV-42 is on legal hold; its audio may not change."
    ]
    leg.refresh_from_db()
    assert leg.fetch_status == RecordingLeg.FetchStatus.FETCHED


def test_attempts_and_accesses_are_read_only(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    attempt = RecordingAttempt.objects.create(recording_tag=recording_tag, action="poll", outcome="ok")
    access = RecordingAccess.objects.create(recording_tag=recording_tag, action="play")
    for model, row in (("recordingattempt", attempt), ("recordingaccess", access)):
        assert admin_client.get(reverse(f"admin:noojee_django_{model}_add")).status_code == 403
        delete = reverse(f"admin:noojee_django_{model}_delete", args=[row.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
        change = reverse(f"admin:noojee_django_{model}_change", args=[row.pk])
        page = admin_client.get(change).content.decode()
        assert 'name="_save"' not in page
    assert RecordingAttempt.objects.filter(pk=attempt.pk).exists()
    assert RecordingAccess.objects.filter(pk=access.pk).exists()


# The inline on a CRM admin


def test_the_invoice_admin_shows_and_plays_its_voice_signatures(
    admin_client: Client, invoice: Invoice, customer: Customer
) -> None:
    recording_tag = attached_recording(invoice)
    elsewhere = attached_recording(
        Invoice.objects.create(number="X-1", customer=customer, amount="1"), tag="X-1"
    )
    response = admin_client.get(reverse("admin:crm_invoice_change", args=[invoice.pk]))
    page = response.content.decode()
    assert "Voice signatures" in page
    # One player for the signature: the panel's, beside its legs; the inline's rows list, not play.
    assert page.count(f'src="{reverse("noojee:recording-audio", args=[recording_tag.pk])}"') == 1
    assert 'class="noojee-timeline"' in page
    assert reverse("noojee:recording-audio", args=[elsewhere.pk]) not in page
    [inline] = response.context["inline_admin_formsets"]
    assert not inline.has_add_permission and not inline.has_change_permission


def test_the_inline_shows_to_whoever_may_hear_and_to_nobody_else(invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    player = reverse("noojee:recording-audio", args=[recording_tag.pk])
    url = reverse("admin:crm_invoice_change", args=[invoice.pk])
    listener = make_user("listener", "crm.view_invoice")  # no permission on recordings themselves
    assert player in logged_in(listener).get(url).content.decode()
    editor = make_user("editor", "crm.change_invoice")  # may edit the invoice, may not hear it
    response = logged_in(editor).get(url)
    assert response.status_code == 200
    assert player not in response.content.decode()


def test_an_invoice_with_recordings_still_saves_through_the_admin(
    admin_client: Client, invoice: Invoice
) -> None:
    attached_recording(invoice)
    url = reverse("admin:crm_invoice_change", args=[invoice.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data.update({"status": "signed", "amount": "250.00"})
    inline = admin_client.get(url).context["inline_admin_formsets"][0].formset
    for field in inline.management_form:
        data[f"{inline.prefix}-{field.name}"] = field.value()
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    invoice.refresh_from_db()
    assert invoice.status == "signed"
    assert RecordingTag.objects.get().object_id == str(invoice.pk)


def test_a_purged_signature_says_so_on_the_invoice_admin(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(audio="", purged_at=timezone.now())
    page = admin_client.get(reverse("admin:crm_invoice_change", args=[invoice.pk])).content.decode()
    assert "The audio was purged on" in page
    assert reverse("noojee:recording-audio", args=[recording_tag.pk]) not in page


# The Dial action on a CRM admin

CUSTOMERS = "admin:crm_customer_changelist"


def test_the_dial_action_calls_the_customer(
    pbx: Any, noojee_emulator_control: Any, superuser: User, customer: Customer
) -> None:
    AgentPhone.objects.create(user=superuser, extension="SIP/109")
    response = act(logged_in(superuser), CUSTOMERS, "noojee_dial", [customer.pk])
    assert response.status_code == 200
    assert messages_of(response) == ["Calling 0383208100 from SIP/109: pick up your phone."]
    call = CallSession.objects.get()
    assert call.content_object == customer and call.extension == "SIP/109" and call.number == "0383208100"
    assert call.status == CallSession.Status.DIALING
    assert noojee_emulator_control.stats()["requests"]["dial"] == 1


def test_the_dial_action_reports_a_bad_number_as_a_message(
    pbx: Any, noojee_emulator_control: Any, superuser: User, customer: Customer
) -> None:
    AgentPhone.objects.create(user=superuser, extension="SIP/109")
    Customer.objects.filter(pk=customer.pk).update(phone="0383&1")
    response = act(logged_in(superuser), CUSTOMERS, "noojee_dial", [customer.pk])
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith("Acme Pty Ltd: A phone number may contain only digits")
    assert not CallSession.objects.exists()
    assert noojee_emulator_control.stats()["requests"].get("dial", 0) == 0


def test_the_dial_action_reports_a_missing_phone_as_a_message(superuser: User, customer: Customer) -> None:
    response = act(logged_in(superuser), CUSTOMERS, "noojee_dial", [customer.pk])
    assert response.status_code == 200
    assert messages_of(response) == ["You have no phone extension: ask an administrator to add one."]
    assert not CallSession.objects.exists()


def test_the_dial_action_reports_a_refusal_as_a_message(
    settings: Any, superuser: User, customer: Customer
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "MAY_DIAL": lambda user, obj: obj is None}
    AgentPhone.objects.create(user=superuser, extension="SIP/109")
    response = act(logged_in(superuser), CUSTOMERS, "noojee_dial", [customer.pk])
    assert response.status_code == 200
    assert messages_of(response) == ["You may not place calls."]
    assert not CallSession.objects.exists()


def test_the_dial_action_reports_an_unreachable_pbx_as_a_message(
    settings: Any, superuser: User, customer: Customer
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "BASE_URL": "http://127.0.0.1:9", "TIMEOUT": 1}
    AgentPhone.objects.create(user=superuser, extension="SIP/109")
    response = act(logged_in(superuser), CUSTOMERS, "noojee_dial", [customer.pk])
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith("The PBX could not place the call")
    assert SECRET not in message
    assert CallSession.objects.get().status == CallSession.Status.FAILED


@pytest.mark.parametrize("exc", service_errors(), ids=lambda e: type(e).__name__)
def test_the_dial_action_reports_every_error_of_the_tree_as_a_message(
    settings: Any, pbx: Any, noojee_emulator_control: Any, superuser: User, customer: Customer, exc: Exception
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "MAY_DIAL": _raising(exc, for_a_record_only=True)}
    AgentPhone.objects.create(user=superuser, extension="SIP/109")
    response = act(logged_in(superuser), CUSTOMERS, "noojee_dial", [customer.pk])
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.endswith(" ".join(getattr(exc, "messages", None) or [str(exc)]))
    assert not CallSession.objects.exists()
    assert noojee_emulator_control.stats()["total"] == 0


def test_the_dial_action_calls_one_record_at_a_time(superuser: User, customer: Customer) -> None:
    other = Customer.objects.create(name="Other", phone="0399999999")
    AgentPhone.objects.create(user=superuser, extension="SIP/109")
    response = act(logged_in(superuser), CUSTOMERS, "noojee_dial", [customer.pk, other.pk])
    assert messages_of(response) == ["Select exactly one record to dial."]
    assert not CallSession.objects.exists()


def test_the_dial_action_is_offered_only_to_those_who_may_dial(agent: User, customer: Customer) -> None:
    clerk = make_user("clerk", "crm.view_customer", "crm.delete_customer")
    page = logged_in(clerk).get(reverse(CUSTOMERS)).content.decode()
    assert 'value="noojee_dial"' not in page
    assert 'value="delete_selected"' in page  # the admin's own actions are kept
    User.objects.filter(pk=agent.pk).update(is_staff=True)
    page = logged_in(agent).get(reverse(CUSTOMERS)).content.decode()
    assert 'value="noojee_dial"' in page


# Attach to another record


def attach(client: Client, recording_tag: RecordingTag, **data: Any) -> Any:
    return act(client, TAGS, "attach_to", [recording_tag.pk], **data)


def test_attach_asks_for_the_target_shows_what_will_move_then_moves_it(
    admin_client: Client, invoice: Invoice, customer: Customer
) -> None:
    other = Invoice.objects.create(number="INV-43", customer=customer, amount="10.00")
    recording_tag = attached_recording(invoice)
    invoices = ContentType.objects.get_for_model(Invoice)

    asked = attach(admin_client, recording_tag)
    assert asked.status_code == 200
    choices = {c for c, _ in asked.context["form"].fields["content_type"].choices if c}
    assert invoices.pk in {int(str(c)) for c in choices}
    assert ContentType.objects.get_for_model(User).pk not in {int(str(c)) for c in choices}
    assert b"Show what will move" in asked.content

    target = {"content_type": invoices.pk, "object_id": str(other.pk)}
    review = attach(admin_client, recording_tag, attach_step="review", **target)
    assert review.status_code == 200
    assert b"Yes, move them" in review.content
    assert f"INV-42 — Attached: from crm.invoice #{invoice.pk} to".encode() in review.content
    assert RecordingTag.objects.get(pk=recording_tag.pk).object_id == str(invoice.pk)

    done = attach(admin_client, recording_tag, attach_step="confirm", **target)
    assert done.status_code == 200
    assert messages_of(done) == [f"Moved 1 recording to Invoice INV-43 (crm.invoice #{other.pk})."]
    assert RecordingTag.objects.get(pk=recording_tag.pk).content_object == other


def test_attach_offers_only_the_attachable_kinds_of_record(
    settings: Any, admin_client: Client, invoice: Invoice, customer: Customer
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "ATTACHABLE_MODELS": ["crm.invoice"]}
    recording_tag = attached_recording(invoice)
    asked = attach(admin_client, recording_tag)
    choices = [str(c) for c, _ in asked.context["form"].fields["content_type"].choices if c]
    assert choices == [str(ContentType.objects.get_for_model(Invoice).pk)]

    for model, pk in [(Customer, customer.pk), (User, User.objects.get(username="root").pk)]:
        target = {"content_type": ContentType.objects.get_for_model(model).pk, "object_id": str(pk)}
        response = attach(admin_client, recording_tag, attach_step="confirm", **target)
        assert response.status_code == 200
        assert "content_type" in response.context["form"].errors
    assert RecordingTag.objects.get(pk=recording_tag.pk).content_object == invoice


def test_attach_to_a_missing_record_says_so_and_moves_nothing(admin_client: Client, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    target = {
        "content_type": ContentType.objects.get_for_model(Invoice).pk,
        "object_id": str(invoice.pk + 99),
    }
    for step in ("review", "confirm"):
        response = attach(admin_client, recording_tag, attach_step=step, **target)
        assert response.status_code == 200
        assert messages_of(response) == ["No such record."]
    assert RecordingTag.objects.get(pk=recording_tag.pk).content_object == invoice


def test_attach_by_an_operator_who_may_not_change_invoices_is_refused_in_a_message(
    staff: User, invoice: Invoice, customer: Customer
) -> None:
    other = Invoice.objects.create(number="INV-43", customer=customer, amount="10.00")
    recording_tag = attached_recording(invoice)
    target = {"content_type": ContentType.objects.get_for_model(Invoice).pk, "object_id": str(other.pk)}
    for step in ("review", "confirm"):
        response = attach(logged_in(staff), recording_tag, attach_step=step, **target)
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == reverse(TAGS)
        assert messages_of(response) == [
            "INV-42: You may not change the record this recording is attached to."
        ]
    assert RecordingTag.objects.get(pk=recording_tag.pk).content_object == invoice


def test_the_counts_on_a_recordings_page_agree_with_what_it_lists(
    admin_client: Client, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(attempts=1)  # one poll of the PBX
    RecordingAttempt.objects.bulk_create(
        RecordingAttempt(recording_tag=recording_tag, action="fetch", outcome="ok") for _ in range(5)
    )
    page = admin_client.get(reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk]))
    html = page.content.decode()
    assert "What was asked of the PBX (5)" in html
    assert re.search(r"<label>PBX polls:</label>\s*<div class=\"readonly\">1</div>", html), html
    assert "<label>Attempts:</label>" not in html
    listing = admin_client.get(reverse("admin:noojee_django_recordingtag_changelist")).content.decode()
    assert "PBX polls" in listing and ">Attempts<" not in listing


def test_the_attached_record_is_shown_by_its_name_with_a_link_to_its_page(
    admin_client: Client, customer: Customer, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice)
    call = CallSession.objects.create(extension="SIP/101", number="0383208100", content_object=customer)
    gone = Invoice.objects.create(number="GONE-1", customer=customer, amount="1")
    orphan = attached_recording(gone, tag="GONE-1")
    gone_pk = gone.pk
    gone.delete()

    for url in (
        reverse("admin:noojee_django_recordingtag_changelist"),
        reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk]),
    ):
        html = admin_client.get(url).content.decode()
        invoice_url = reverse("admin:crm_invoice_change", args=[invoice.pk])
        assert f'<a href="{invoice_url}">{invoice}</a>' in html, url
    html = admin_client.get(reverse("admin:noojee_django_callsession_changelist")).content.decode()
    assert f'<a href="{reverse("admin:crm_customer_change", args=[customer.pk])}">{customer}</a>' in html
    html = admin_client.get(
        reverse("admin:noojee_django_recordingtag_change", args=[orphan.pk])
    ).content.decode()
    assert f"crm.invoice #{gone_pk} (deleted)" in html
    assert call.pk


def test_the_record_kind_filter_offers_only_kinds_that_have_recordings(
    admin_client: Client, customer: Customer, invoice: Invoice
) -> None:
    attached_recording(invoice)
    attached_recording(customer, tag="C-1")
    response = admin_client.get(reverse("admin:noojee_django_recordingtag_changelist"))
    (kind_filter,) = [
        f for f in response.context["cl"].filter_specs if getattr(f, "field_path", "") == "content_type"
    ]
    offered = [choice["display"] for choice in kind_filter.choices(response.context["cl"])][1:]  # after "All"
    assert sorted(offered) == sorted(str(ContentType.objects.get_for_model(m)) for m in (Customer, Invoice))
