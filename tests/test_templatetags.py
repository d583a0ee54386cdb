"""``{% load noojee %}`` rendered in small templates with a RequestFactory request."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.template import RequestContext, Template
from django.test import RequestFactory
from django.urls import reverse

from example_project.crm.models import Customer, Invoice
from noojee_django.models import CallSession, RecordingTag
from tests.test_api import attached_recording

pytestmark = pytest.mark.django_db


def render(source: str, user: Any, path: str = "/customers/1/", **context: Any) -> str:
    request = RequestFactory().get(path)
    request.user = user
    return Template("{% load noojee %}" + source).render(RequestContext(request, context))


def csrf_value(html: str) -> str | None:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    return match.group(1) if match else None


def form_actions(html: str) -> list[str]:
    return re.findall(r'<form[^>]* action="([^"]*)"', html)


# ---------------------------------------------------------------------------------------------- dial


def test_dial_button_posts_the_number_and_the_record_with_a_csrf_token(
    agent: User, customer: Customer
) -> None:
    html = render("{% noojee_dial_button customer.phone customer %}", agent, customer=customer)

    assert form_actions(html) == [reverse("noojee:dial")]
    assert csrf_value(html)
    assert 'data-noojee="dial"' in html
    assert 'name="number" value="03 8320 8100"' in html
    assert 'name="content_type" value="crm.customer"' in html
    assert f'name="object_id" value="{customer.pk}"' in html
    assert 'name="next" value="/customers/1/"' in html
    assert "0383208100</button>" in html  # shown as every page shows it: FORMAT_NUMBER


@pytest.mark.parametrize("user_fixture", ["outsider", "staff"])
def test_users_who_may_not_dial_see_the_number_without_a_button(
    request: Any, user_fixture: str, customer: Customer
) -> None:
    html = render(
        "{% noojee_dial_button customer.phone customer %}",
        request.getfixturevalue(user_fixture),
        customer=customer,
    )
    assert "<form" not in html
    assert "03 8320 8100" in html


def test_anonymous_users_see_no_button(customer: Customer) -> None:
    html = render("{% noojee_dial_button customer.phone customer %}", AnonymousUser(), customer=customer)
    assert "<form" not in html


def test_a_number_that_cannot_be_dialled_gets_no_button(agent: User) -> None:
    html = render("{% noojee_dial_button '0383&1' %}", agent)
    assert "<form" not in html
    assert "0383&amp;1" in html


def test_the_dial_button_is_escaped(agent: User) -> None:
    html = render("{% noojee_dial_button number %}", agent, number='"><script>x</script>')
    assert "<script>x" not in html


def test_a_page_of_dial_buttons_looks_the_phone_up_once(
    agent: User, customer: Customer, django_assert_max_num_queries: Any
) -> None:
    customers = [Customer.objects.create(name=f"C{n}", phone=f"0383208{n:03d}") for n in range(20)]
    with django_assert_max_num_queries(3):
        html = render(
            "{% for c in customers %}{% noojee_dial_button c.phone %}{% endfor %}", agent, customers=customers
        )
    assert html.count("<form") == 20


# ---------------------------------------------------------------------------------------------- record


def test_record_button_offers_to_start_with_consent(agent: User, invoice: Invoice) -> None:
    html = render("{% noojee_record_button invoice invoice.number %}", agent, invoice=invoice)

    start = re.search(r'<form class="noojee-record-start"[^>]*>', html)
    stop = re.search(r'<form class="noojee-record-stop"[^>]*>', html)
    assert start and stop
    assert f'action="{reverse("noojee:start-recording")}"' in start.group(0)
    assert "hidden" not in start.group(0)
    assert "hidden" in stop.group(0)
    assert 'name="consent"' in html
    assert 'name="tag" value="INV-42"' in html
    assert 'name="content_type" value="crm.invoice"' in html
    assert csrf_value(html)


def test_record_button_shows_a_recording_in_progress_as_stop(agent: User, invoice: Invoice) -> None:
    recording_tag = RecordingTag.objects.create(tag="INV-42", content_object=invoice, started_by=agent)
    html = render("{% noojee_record_button invoice invoice.number %}", agent, invoice=invoice)

    start = re.search(r'<form class="noojee-record-start"[^>]*>', html)
    stop = re.search(r'<form class="noojee-record-stop"[^>]*>', html)
    assert start and stop
    assert "hidden" in start.group(0)
    assert "hidden" not in stop.group(0)
    assert f'action="{reverse("noojee:stop-recording", args=[recording_tag.pk])}"' in stop.group(0)
    assert "data-recording" in html
    assert "Recording INV-42 since" in html


def test_record_button_ignores_another_records_recording(
    agent: User, invoice: Invoice, customer: Customer
) -> None:
    other = Invoice.objects.create(number="INV-43", customer=customer, amount="1.00")
    RecordingTag.objects.create(tag="INV-43", content_object=other, started_by=agent)
    html = render("{% noojee_record_button invoice invoice.number %}", agent, invoice=invoice)
    assert "data-recording" not in html


@pytest.mark.parametrize("user_fixture", ["outsider", "staff"])
def test_record_button_renders_nothing_for_users_who_may_not_record(
    request: Any, user_fixture: str, invoice: Invoice
) -> None:
    html = render(
        "{% noojee_record_button invoice invoice.number %}",
        request.getfixturevalue(user_fixture),
        invoice=invoice,
    )
    assert html.strip() == ""


def test_record_button_renders_nothing_for_a_tag_that_cannot_be_recorded(
    agent: User, invoice: Invoice
) -> None:
    assert render("{% noojee_record_button invoice 'INV 42' %}", agent, invoice=invoice).strip() == ""


# ---------------------------------------------------------------------------------------------- recordings


def test_recordings_render_players_for_those_who_may_hear(agent: User, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    html = render("{% noojee_recordings invoice %}", agent, invoice=invoice)

    assert "INV-42" in html
    assert f'src="{reverse("noojee:recording-audio", args=[recording_tag.pk])}"' in html
    assert reverse("noojee:leg-audio", args=[recording_tag.legs.get().pk]) in html
    assert recording_tag.audio.name not in html


def test_recordings_render_nothing_at_all_for_those_who_may_not_hear(
    outsider: User, invoice: Invoice
) -> None:
    attached_recording(invoice)
    assert render("{% noojee_recordings invoice %}", outsider, invoice=invoice).strip() == ""
    assert render("{% noojee_recordings invoice %}", AnonymousUser(), invoice=invoice).strip() == ""


def test_recordings_waiting_for_audio_say_so_without_a_player(agent: User, invoice: Invoice) -> None:
    RecordingTag.objects.create(tag="INV-42", content_object=invoice, status=RecordingTag.Status.WAITING)
    html = render("{% noojee_recordings invoice %}", agent, invoice=invoice)
    assert "Waiting for the call to end" in html
    assert "<audio" not in html


# -------------------------------------------------------------------------------------- call status, assets


def test_call_status_shows_the_current_call_with_a_hang_up_button(agent: User) -> None:
    call = CallSession.objects.create(user=agent, extension="SIP/101", number="0383208100", status="ringing")
    html = render("{% noojee_call_status %}", agent)

    assert f'data-status-url="{reverse("noojee:call-status", args=[call.pk])}"' in html
    assert form_actions(html) == [reverse("noojee:hangup", args=[call.pk])]
    assert "Ringing: 0383208100" in html
    assert 'aria-live="polite"' in html
    assert csrf_value(html)


def test_call_status_shows_every_live_call_of_the_agent_each_with_its_hang_up(agent: User) -> None:
    first = CallSession.objects.create(
        user=agent, extension="SIP/101", number="0383208100", status="connected"
    )
    second = CallSession.objects.create(
        user=agent, extension="SIP/101", number="0412345678", status="ringing"
    )
    CallSession.objects.create(user=agent, extension="SIP/101", number="0399999999", status="hungup")

    html = render("{% noojee_call_status %}", agent)

    assert form_actions(html) == [reverse("noojee:hangup", args=[c.pk]) for c in (first, second)]
    assert "On the call: 0383208100" in html and "Ringing: 0412345678" in html
    assert "0399999999" not in html
    assert html.count("data-status-url=") == 2


def spaced(number: str) -> str:
    """A CRM's own FORMAT_NUMBER: groups of four from the right."""
    digits = number.replace(" ", "")
    return " ".join(digits[max(i - 4, 0) : i] for i in range(len(digits), 0, -4)[::-1])


def test_format_number_shows_a_number_one_way_on_the_button_the_call_bar_and_the_answers(
    settings: Any, agent: User, customer: Customer
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "FORMAT_NUMBER": "tests.test_templatetags.spaced"}
    CallSession.objects.create(user=agent, extension="SIP/101", number="0383208100", status="ringing")

    button = render("{% noojee_dial_button customer.phone customer %}", agent, customer=customer)
    bar = render("{% noojee_call_status %}", agent)

    assert "03 8320 8100</button>" in button and "Ringing: 03 8320 8100" in bar
    assert 'name="number" value="03 8320 8100"' in button  # what is posted is the record's own


def test_a_number_that_cannot_be_dialled_says_why_where_the_button_would_be(
    agent: User, outsider: User, customer: Customer
) -> None:
    customer.phone = "1300 FLOWERS"
    html = render("{% noojee_dial_button customer.phone customer %}", agent, customer=customer)
    assert "<form" not in html and "1300 FLOWERS" in html
    assert "Cannot be called from here. A phone number may contain only digits" in html
    # who could not call it anyway reads the number only
    plain = render("{% noojee_dial_button customer.phone customer %}", outsider, customer=customer)
    assert plain.strip() == '<span class="noojee-number">1300 FLOWERS</span>'


def test_call_status_is_an_empty_hidden_area_without_a_call(agent: User, other_agent: User) -> None:
    CallSession.objects.create(user=other_agent, extension="SIP/102", number="101", status="ringing")
    CallSession.objects.create(user=agent, extension="SIP/101", number="101", status="hungup")
    html = render("{% noojee_call_status %}", agent)
    assert "data-noojee-call-status" in html
    assert "data-status-url" not in html and "data-noojee-call=" not in html
    assert re.search(r"data-noojee-call-status[^>]* hidden", html)


def test_call_status_renders_nothing_without_a_phone(outsider: User) -> None:
    assert render("{% noojee_call_status %}", outsider).strip() == ""


def test_assets_include_the_script_and_the_stylesheet(agent: User) -> None:
    html = render("{% noojee_assets %}", agent)
    assert '<link rel="stylesheet" href="/static/noojee_django/noojee.css">' in html
    assert '<script src="/static/noojee_django/noojee.js" defer></script>' in html
    # the catalog of the widget's words comes first: deferred scripts run in order
    catalog = f'<script src="{reverse("noojee:jsi18n")}" defer></script>'
    assert catalog in html
    assert html.index(catalog) < html.index("noojee.js")


def test_the_example_invoice_page_renders_every_tag(client: Any, agent: User, invoice: Invoice) -> None:
    attached_recording(invoice)
    client.force_login(agent)
    response = client.get(invoice.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("noojee:dial") in html
    assert reverse("noojee:start-recording") in html
    assert "<audio" in html
    assert "noojee.js" in html


def test_the_example_invoice_page_shows_no_heading_without_its_content(
    client: Any, staff: User, outsider: User, invoice: Invoice
) -> None:
    """Staff may view invoices (and so hear them) but have no phone; an outsider may do neither (the
    invoice page itself only needs a login)."""
    attached_recording(invoice)
    client.force_login(staff)
    html = client.get(invoice.get_absolute_url()).content.decode()
    assert "<h2>Recordings</h2>" in html and "<audio" in html
    assert "Voice signature</h2>" not in html and "Call the customer, then record" not in html

    client.force_login(outsider)
    html = client.get(invoice.get_absolute_url()).content.decode()
    assert "<h2>" not in html


def test_noojee_permissions_asks_the_rules_the_buttons_ask(
    agent: User, outsider: User, invoice: Invoice
) -> None:
    template = (
        "{% noojee_permissions invoice as may %}"
        + "{{ may.dial }} {{ may.record }} {{ may.hear }} {{ may.has_phone }}"
    )
    assert render(template, agent, invoice=invoice) == "True True True True"
    assert render(template, outsider, invoice=invoice) == "False False False False"
