"""A recording followed live after Stop: the widget's status endpoint, the cards it swaps in, and what
the agent is told when recording a tag again while the first recording is being collected."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import User
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse

from example_project.crm.models import Customer, Invoice
from noojee_django import services
from noojee_django.models import RecordingTag
from tests.polling import wait_for
from tests.test_views import JSON, connected_call_via_views, logged_in, start_data


def recorded_and_stopped(client: Client, customer: Customer, invoice: Invoice) -> dict[str, Any]:
    call = connected_call_via_views(client, customer)
    started = client.post(reverse("noojee:start-recording"), start_data(invoice, consent="on"), **JSON)
    assert started.status_code == 200, started.content
    stopped = client.post(started.json()["stop_url"], **JSON)
    assert stopped.status_code == 200, stopped.content
    return {**stopped.json(), "call": call}


def collect(recording_id: int) -> None:
    """What the worker does once the call has ended: poll the tag, fetch its legs."""
    for leg_id in services.poll_tag(recording_id).legs_to_fetch:
        services.fetch_leg(leg_id)


def test_recording_a_tag_again_while_the_first_is_collected_says_so(
    pbx: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    client = logged_in(agent)
    recorded_and_stopped(client, customer, invoice)

    again = client.post(reverse("noojee:start-recording"), start_data(invoice, consent="on"), **JSON)

    assert again.status_code == 409
    error = again.json()["error"]
    assert "stop that recording first" not in error
    assert "INV-42" in error and "being collected" in error and "when the call ends" in error


def test_a_stopped_recording_is_followed_until_final_and_its_card_becomes_the_player(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    client = logged_in(agent)
    stopped = recorded_and_stopped(client, customer, invoice)
    status_url = stopped["status_url"]
    assert status_url == reverse("noojee:recording-status", args=[stopped["id"]])

    waiting = client.get(status_url, **JSON).json()
    assert waiting["status"] == RecordingTag.Status.WAITING and waiting["is_final"] is False
    assert waiting["status_words"] == "Waiting for the call to end"
    assert "Waiting for the call to end" in waiting["card"] and "<audio" not in waiting["card"]
    assert f'data-status-url="{status_url}"' in waiting["card"]  # the card is followed while not final

    (pbx_call,) = noojee_emulator_control.calls()
    noojee_emulator_control.hangup(pbx_call["unique_id"])  # the customer hangs up

    def attached_now() -> bool:
        collect(stopped["id"])
        return RecordingTag.objects.get(pk=stopped["id"]).status == RecordingTag.Status.ATTACHED

    wait_for(attached_now, 15, interval=0.5)

    attached = client.get(status_url, **JSON).json()
    assert attached["status"] == RecordingTag.Status.ATTACHED and attached["is_final"] is True
    assert "noojee-signature-player" in attached["card"] and "data-status-url" not in attached["card"]
    assert reverse("noojee:recording-audio", args=[stopped["id"]]) in attached["card"]


def test_only_the_recorder_and_who_may_hear_follow_a_recording(
    pbx: Any, agent: User, other_agent: User, outsider: User, customer: Customer, invoice: Invoice
) -> None:
    stopped = recorded_and_stopped(logged_in(agent), customer, invoice)
    url = stopped["status_url"]

    for stranger in (other_agent, outsider):  # other_agent may view invoices: hears, but did not record
        answer = logged_in(stranger).get(url, **JSON)
        if stranger is other_agent:
            assert answer.status_code == 200 and answer.json()["card"]
        else:
            assert answer.status_code == 404 and answer.json()["error"] == "No such recording."
    missing = logged_in(outsider).get(reverse("noojee:recording-status", args=[stopped["id"] + 1000]), **JSON)
    assert missing.status_code == 404 and missing.json()["error"] == "No such recording."
    assert Client().get(url).status_code == 403
    assert logged_in(agent).post(url).status_code == 405


def test_the_recorder_who_may_not_hear_follows_the_words_without_the_card(
    pbx: Any, settings: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    stopped = recorded_and_stopped(logged_in(agent), customer, invoice)
    settings.NOOJEE = {**settings.NOOJEE, "MAY_HEAR": "tests.test_live_recordings.nobody_hears"}

    answer = logged_in(agent).get(stopped["status_url"], **JSON).json()

    assert answer["status_words"] == "Waiting for the call to end" and answer["card"] is None


def nobody_hears(user: Any, obj: Any) -> bool:
    return False


def render(template: str, user: User, **context: Any) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load noojee %}" + template).render(Context({"request": request, **context}))


def test_the_page_marks_what_the_widget_follows(
    pbx: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    stopped = recorded_and_stopped(logged_in(agent), customer, invoice)

    section = render("{% noojee_recordings invoice %}", agent, invoice=invoice)
    widget = render("{% noojee_record_button invoice invoice.number %}", agent, invoice=invoice)

    assert re.search(rf'data-noojee-recordings[^>]*data-object-id="{invoice.pk}"', section)
    assert f'data-status-url="{stopped["status_url"]}"' in section  # the waiting card
    assert f'data-status-url="{stopped["status_url"]}"' in widget  # the widget's own last recording
    assert "Waiting for the call to end" in widget
