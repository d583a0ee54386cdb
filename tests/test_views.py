"""The buttons' endpoints (noojee_django.views) through the Django test client, against the emulator."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from example_project.crm.models import Customer, Invoice
from noojee_django.models import CallSession, RecordingTag
from noojee_django.validation import normalize_number
from tests.hypothesis_profiles import examples
from tests.polling import wait_for

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


def dials(control: Any) -> int:
    return int(control.stats()["requests"].get("dial", 0))


def pbx_requests(control: Any) -> int:
    return int(control.stats()["total"])


def logged_in(user: User, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def dial_json(client: Client, number: str, obj: Any = None, **extra: Any) -> Any:
    data = {"number": number, **extra}
    if obj is not None:
        data.update(content_type=f"{obj._meta.app_label}.{obj._meta.model_name}", object_id=str(obj.pk))
    return client.post(reverse("noojee:dial"), data, **JSON)


def connected_call_via_views(client: Client, customer: Customer) -> dict[str, Any]:
    """Dial through the view, then follow call_status (as the widget does) until the call is connected."""
    response = dial_json(client, customer.phone, customer)
    assert response.status_code == 200, response.content
    status_url = response.json()["status_url"]

    def connected() -> dict[str, Any] | None:
        data = client.get(status_url, **JSON).json()
        return data if data["status"] == CallSession.Status.CONNECTED else None

    return wait_for(connected)


# ---------------------------------------------------------------------------------------------- access


ACTIONS = [
    ("noojee:dial", [], {"number": "0383208100"}),
    ("noojee:answer", [], {"unique_id": "1412750652.496"}),
    ("noojee:start-recording", [], {"content_type": "crm.invoice", "object_id": "1", "tag": "INV-42"}),
]


@pytest.mark.parametrize(("name", "args", "data"), ACTIONS)
def test_anonymous_widget_requests_get_403_json_and_reach_no_pbx(
    pbx: Any, noojee_emulator_control: Any, name: str, args: list[Any], data: dict[str, str]
) -> None:
    response = Client().post(reverse(name, args=args), data, **XHR)
    assert response.status_code == 403
    assert response.json()["error"]
    assert pbx_requests(noojee_emulator_control) == 0


def test_anonymous_form_posts_are_sent_to_log_in_and_back(pbx: Any) -> None:
    response = Client().post(
        reverse("noojee:dial"), {"number": "101"}, HTTP_REFERER="http://testserver/customers/1/"
    )
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("login")
    assert parse_qs(location.query)["next"] == ["http://testserver/customers/1/"]


def test_anonymous_call_status_is_403_json(pbx: Any, agent: User) -> None:
    call = CallSession.objects.create(user=agent, extension="SIP/101", number="101")
    response = Client().get(reverse("noojee:call-status", args=[call.pk]))
    assert response.status_code == 403
    assert response.json()["error"]


@pytest.mark.parametrize(
    "url",
    [
        reverse("noojee:dial"),
        reverse("noojee:answer"),
        reverse("noojee:start-recording"),
        "/noojee/calls/1/hangup/",
    ],
)
def test_actions_are_post_only(agent: User, url: str) -> None:
    assert logged_in(agent).get(url).status_code == 405


def test_call_status_is_get_only(agent: User) -> None:
    call = CallSession.objects.create(user=agent, extension="SIP/101", number="101")
    assert logged_in(agent).post(reverse("noojee:call-status", args=[call.pk])).status_code == 405


def test_csrf_token_is_required_and_the_pages_token_is_accepted(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer
) -> None:
    client = logged_in(agent, enforce_csrf_checks=True)
    refused = client.post(reverse("noojee:dial"), {"number": customer.phone}, **JSON)
    assert refused.status_code == 403
    assert dials(noojee_emulator_control) == 0

    page = client.get(customer.get_absolute_url())
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert token, "the customer page has a dial button with a CSRF token"
    accepted = client.post(
        reverse("noojee:dial"),
        {"number": customer.phone, "csrfmiddlewaretoken": token.group(1).decode()},
        **JSON,
    )
    assert accepted.status_code == 200, accepted.content
    assert dials(noojee_emulator_control) == 1


# ---------------------------------------------------------------------------------------------- dial


def test_agent_dial_creates_a_call_for_the_customer_and_dials_once(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer
) -> None:
    response = dial_json(logged_in(agent), "03 8320 8100", customer)

    assert response.status_code == 200, response.content
    data = response.json()
    call = CallSession.objects.get()
    assert data["id"] == call.pk
    assert data["number"] == "0383208100"
    assert data["status"] == CallSession.Status.DIALING
    assert data["status_url"] == reverse("noojee:call-status", args=[call.pk])
    assert data["hangup_url"] == reverse("noojee:hangup", args=[call.pk])
    assert data["message"]
    assert call.user == agent
    assert call.content_object == customer
    assert dials(noojee_emulator_control) == 1


def test_dial_without_javascript_redirects_back_with_a_message(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer
) -> None:
    page = customer.get_absolute_url()
    response = logged_in(agent).post(
        reverse("noojee:dial"), {"number": customer.phone}, HTTP_REFERER=f"http://testserver{page}"
    )
    assert response.status_code == 302
    assert response["Location"] == f"http://testserver{page}"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Calling 0383208100: pick up your phone."
    ]
    assert dials(noojee_emulator_control) == 1


def test_an_error_without_javascript_redirects_back_with_the_error_as_a_message(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    response = logged_in(agent).post(reverse("noojee:dial"), {"number": "0383&1", "next": "/customers/1/"})
    assert response.status_code == 302
    assert response["Location"] == "/customers/1/"
    messages = list(get_messages(response.wsgi_request))
    assert len(messages) == 1 and messages[0].level_tag == "error"
    assert "digits" in str(messages[0])
    assert dials(noojee_emulator_control) == 0


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_redirect_back_never_leaves_the_site(pbx: Any, agent: User, target: str) -> None:
    response = logged_in(agent).post(reverse("noojee:dial"), {"number": "0383&1", "next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:customer-list")


HOSTILE_NUMBERS = [
    "0383&208100",
    "0383,208100",
    "0383|208100",
    "0383/208100",
    "SIP/102",
    "0383\n208100",
    "0383208100\r\n",
    "${EXTEN}",
    "101${EXTEN}",
    "1" * 1000,
    "",
]


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_hostile_numbers_get_400_in_words_and_nothing_reaches_the_pbx(
    pbx: Any, noojee_emulator_control: Any, agent: User, number: str
) -> None:
    response = logged_in(agent).post(reverse("noojee:dial"), {"number": number}, **JSON)

    assert response.status_code == 400
    assert response.json()["field"] == "number"
    assert len(response.json()["error"]) > 10
    assert dials(noojee_emulator_control) == 0
    assert not CallSession.objects.exists()


@pytest.mark.parametrize(
    ("content_type", "object_id", "status", "field"),
    [
        ("crm.nothing", "1", 400, "content_type"),
        ("nothing", "1", 400, "content_type"),
        ("99999", "1", 400, "content_type"),
        ("sessions.session", "1", 404, None),
        ("noojee_django.callsession", "1", 404, None),
        ("crm.customer", "abc", 400, "object_id"),
        ("crm.customer", "1.5", 400, "object_id"),
        ("crm.customer", "", 400, "object_id"),
        ("crm.customer", "999999", 404, None),
    ],
)
def test_unknown_records_are_refused_without_dialling(
    pbx: Any,
    noojee_emulator_control: Any,
    agent: User,
    customer: Customer,
    content_type: str,
    object_id: str,
    status: int,
    field: str | None,
) -> None:
    response = logged_in(agent).post(
        reverse("noojee:dial"),
        {"number": "101", "content_type": content_type, "object_id": object_id},
        **JSON,
    )
    assert response.status_code == status
    assert response.json()["error"]
    assert response.json()["field"] == field
    assert dials(noojee_emulator_control) == 0


@pytest.mark.parametrize("tag", ["INV 42", "INV\n42", "INV-42\r\n", "x" * 65, "${X}", ""])
def test_hostile_tags_on_a_recorded_dial_get_400_and_nothing_reaches_the_pbx(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer, tag: str
) -> None:
    response = dial_json(logged_in(agent), customer.phone, customer, record="on", tag=tag)
    assert response.status_code == 400
    assert response.json()["field"] == "tag"
    assert pbx_requests(noojee_emulator_control) == 0
    assert not RecordingTag.objects.exists()


def test_outsider_may_not_dial(pbx: Any, noojee_emulator_control: Any, outsider: User) -> None:
    response = logged_in(outsider).post(reverse("noojee:dial"), {"number": "101"}, **JSON)
    assert response.status_code == 403
    assert response.json()["error"] == "You may not place calls."
    assert dials(noojee_emulator_control) == 0


def test_a_user_allowed_to_dial_without_a_phone_gets_409(
    pbx: Any, noojee_emulator_control: Any, outsider: User
) -> None:
    outsider.user_permissions.add(Permission.objects.get(codename="can_dial"))
    response = logged_in(User.objects.get(pk=outsider.pk)).post(
        reverse("noojee:dial"), {"number": "101"}, **JSON
    )
    assert response.status_code == 409
    assert "extension" in response.json()["error"]
    assert dials(noojee_emulator_control) == 0


def test_a_pbx_failure_is_502_in_words_and_the_diagnostic_stays_for_the_admin(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    noojee_emulator_control.add_fault("negative_code", method="dial", code=-7, message="Trunk busy")
    response = logged_in(agent).post(reverse("noojee:dial"), {"number": "101"}, **JSON)
    assert response.status_code == 502
    assert response.json()["error"] == (
        "The PBX could not place the call: it refused. Try again; if it keeps failing, tell an administrator."
    )
    assert "Trunk busy" in CallSession.objects.get().error


def test_recording_without_a_call_tells_the_agent_what_to_do(pbx: Any, agent: User, invoice: Any) -> None:
    response = logged_in(agent).post(
        reverse("noojee:start-recording"),
        {"content_type": "crm.invoice", "object_id": invoice.pk, "tag": "INV-42"},
        **JSON,
    )
    assert response.status_code == 502
    assert response.json()["error"] == (
        "The PBX could not start recording: there is no call on your phone to record. "
        "Call the customer first."
    )
    assert "method=start" not in response.content.decode()


@given(
    number=st.one_of(st.text(max_size=30), st.from_regex(r"\+?[0-9 ()\-.]{1,25}", fullmatch=True)),
    tag=st.one_of(st.just(""), st.text(max_size=70)),
)
@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_random_numbers_and_tags_never_cause_a_500(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer, number: str, tag: str
) -> None:
    """The test client re-raises any exception a view lets through, so a 500 fails this test."""
    client = logged_in(agent)
    before = dials(noojee_emulator_control)
    response = dial_json(client, number, customer, **({"record": "on", "tag": tag} if tag else {}))

    assert response.status_code in {200, 400, 409, 502}, response.content
    if response.status_code == 400:
        assert response.json()["error"]
        assert dials(noojee_emulator_control) == before
    try:
        normalize_number(number)
    except Exception:
        assert response.status_code == 400
        assert dials(noojee_emulator_control) == before
    CallSession.objects.all().delete()
    RecordingTag.objects.all().delete()


# ------------------------------------------------------------------------------------------ status, hang up


def test_call_status_follows_the_call_to_connected(pbx: Any, agent: User, customer: Customer) -> None:
    data = connected_call_via_views(logged_in(agent), customer)
    assert set(data) >= {"id", "status", "status_display", "pbx_status", "number", "connected_at", "ended_at"}
    assert data["status_display"] == "Connected"
    assert data["pbx_status"] == "Connected"
    assert data["connected_at"] is not None
    assert data["ended_at"] is None


def test_another_agent_cannot_see_or_hang_up_my_call(
    pbx: Any, noojee_emulator_control: Any, agent: User, other_agent: User, customer: Customer
) -> None:
    call_id = dial_json(logged_in(agent), customer.phone).json()["id"]
    other = logged_in(other_agent)

    status = other.get(reverse("noojee:call-status", args=[call_id]))
    hangup = other.post(reverse("noojee:hangup", args=[call_id]), **JSON)

    assert status.status_code == 404
    assert hangup.status_code == 404
    assert hangup.json()["error"] == "No such call."
    assert CallSession.objects.get(pk=call_id).is_active


def test_agent_hangs_up_own_call(pbx: Any, agent: User, customer: Customer) -> None:
    client = logged_in(agent)
    call = connected_call_via_views(client, customer)

    response = client.post(call["hangup_url"], **JSON)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == CallSession.Status.HUNG_UP
    assert response.json()["is_active"] is False
    assert CallSession.objects.get(pk=call["id"]).ended_at is not None


def test_superuser_may_hang_up_an_agents_call(
    pbx: Any, agent: User, superuser: User, customer: Customer
) -> None:
    call = connected_call_via_views(logged_in(agent), customer)
    response = logged_in(superuser).post(call["hangup_url"], **JSON)
    assert response.status_code == 200, response.content
    assert CallSession.objects.get(pk=call["id"]).status == CallSession.Status.HUNG_UP


def test_unknown_calls_are_404_in_words(pbx: Any, agent: User) -> None:
    client = logged_in(agent)
    assert client.post(reverse("noojee:hangup", args=[999]), **JSON).json() == {
        "error": "No such call.",
        "field": None,
    }
    assert client.get(reverse("noojee:call-status", args=[999])).status_code == 404
    assert client.post("/noojee/calls/abc/hangup/", **JSON).status_code == 404


# ---------------------------------------------------------------------------------------------- answer


@pytest.mark.parametrize("unique_id", ["", "abc", "1412750652.496&x", "1" * 65, "1412750652.496\n"])
def test_answer_refuses_malformed_unique_ids(
    pbx: Any, noojee_emulator_control: Any, agent: User, unique_id: str
) -> None:
    response = logged_in(agent).post(reverse("noojee:answer"), {"unique_id": unique_id}, **JSON)
    assert response.status_code == 400
    assert response.json()["field"] == "unique_id"
    assert pbx_requests(noojee_emulator_control) == 0


def test_agent_answers_an_inbound_call_ringing_on_their_phone(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    unique_id = noojee_emulator_control.inbound_call(caller_id="0398765432", exten="101")

    response = logged_in(agent).post(reverse("noojee:answer"), {"unique_id": unique_id}, **JSON)

    assert response.status_code == 200, response.content
    assert response.json()["unique_id"] == unique_id
    call = next(c for c in noojee_emulator_control.calls() if c["unique_id"] == unique_id)
    assert call["status"] == "Connected"


def test_answering_a_call_that_is_no_longer_ringing_is_502_in_words(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    unique_id = noojee_emulator_control.inbound_call(caller_id="0398765432", exten="101")
    noojee_emulator_control.answer(unique_id, "101")
    response = logged_in(agent).post(reverse("noojee:answer"), {"unique_id": unique_id}, **JSON)
    assert response.status_code == 502
    assert response.json()["error"].startswith("The PBX could not answer the call")


def test_a_call_ringing_on_another_phone_cannot_be_answered(
    pbx: Any, noojee_emulator_control: Any, agent: User, other_agent: User
) -> None:
    unique_id = noojee_emulator_control.inbound_call(caller_id="0398765432", exten="101")
    response = logged_in(other_agent).post(reverse("noojee:answer"), {"unique_id": unique_id}, **JSON)
    assert response.status_code == 403
    assert response.json()["error"] == "This call is not ringing on your phone."
    assert noojee_emulator_control.stats()["requests"].get("answer", 0) == 0
    call = next(c for c in noojee_emulator_control.calls() if c["unique_id"] == unique_id)
    assert (call["status"], call["exten"]) == ("Ringing", "101")


def test_an_unknown_call_cannot_be_answered(pbx: Any, noojee_emulator_control: Any, agent: User) -> None:
    response = logged_in(agent).post(reverse("noojee:answer"), {"unique_id": "1412750652.496"}, **JSON)
    assert response.status_code == 403
    assert noojee_emulator_control.stats()["requests"].get("answer", 0) == 0


def test_answer_needs_the_dial_permission_then_a_phone(pbx: Any, outsider: User) -> None:
    response = logged_in(outsider).post(reverse("noojee:answer"), {"unique_id": "1412750652.496"}, **JSON)
    assert response.status_code == 403
    outsider.user_permissions.add(Permission.objects.get(codename="can_dial"))
    response = logged_in(outsider).post(reverse("noojee:answer"), {"unique_id": "1412750652.496"}, **JSON)
    assert response.status_code == 409
    assert "phone extension" in response.json()["error"]


# ---------------------------------------------------------------------------------------------- recording


def start_data(invoice: Invoice, tag: str = "INV-42", **extra: str) -> dict[str, str]:
    return {"content_type": "crm.invoice", "object_id": str(invoice.pk), "tag": tag, **extra}


def test_agent_records_a_voice_signature_through_the_views(
    pbx: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    client = logged_in(agent)
    connected_call_via_views(client, customer)

    started = client.post(reverse("noojee:start-recording"), start_data(invoice, consent="on"), **JSON)
    assert started.status_code == 200, started.content
    data = started.json()
    recording_tag = RecordingTag.objects.get(pk=data["id"])
    assert recording_tag.status == RecordingTag.Status.RECORDING
    assert recording_tag.content_object == invoice
    assert recording_tag.consent_given is True
    assert data["stop_url"] == reverse("noojee:stop-recording", args=[recording_tag.pk])

    stopped = client.post(data["stop_url"], **JSON)
    assert stopped.status_code == 200, stopped.content
    assert stopped.json()["status"] == RecordingTag.Status.WAITING
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.WAITING


def test_recording_without_a_call_is_502_with_the_pbx_reason(pbx: Any, agent: User, invoice: Invoice) -> None:
    response = logged_in(agent).post(reverse("noojee:start-recording"), start_data(invoice), **JSON)
    assert response.status_code == 502
    assert response.json()["error"].startswith("The PBX could not start recording")


def test_outsider_may_not_record(
    pbx: Any, noojee_emulator_control: Any, outsider: User, invoice: Invoice
) -> None:
    response = logged_in(outsider).post(reverse("noojee:start-recording"), start_data(invoice), **JSON)
    assert response.status_code == 403
    assert pbx_requests(noojee_emulator_control) == 0
    assert not RecordingTag.objects.exists()


@pytest.mark.parametrize("tag", ["INV 42", "INV\n42", "x" * 65, "INV&42", "${EXTEN}", ""])
def test_hostile_recording_tags_get_400_and_nothing_reaches_the_pbx(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice, tag: str
) -> None:
    response = logged_in(agent).post(reverse("noojee:start-recording"), start_data(invoice, tag), **JSON)
    assert response.status_code == 400
    assert response.json()["field"] == "tag"
    assert response.json()["error"]
    assert pbx_requests(noojee_emulator_control) == 0
    assert not RecordingTag.objects.exists()


def test_recording_an_unknown_record_is_refused(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice
) -> None:
    client = logged_in(agent)
    unknown_kind = client.post(
        reverse("noojee:start-recording"), {**start_data(invoice), "content_type": "auth.nothing"}, **JSON
    )
    missing = client.post(
        reverse("noojee:start-recording"), {**start_data(invoice), "object_id": str(invoice.pk + 99)}, **JSON
    )
    assert unknown_kind.status_code == 400
    assert missing.status_code == 404
    assert pbx_requests(noojee_emulator_control) == 0


def test_only_the_agent_who_started_a_recording_may_stop_it(
    pbx: Any, agent: User, other_agent: User, invoice: Invoice
) -> None:
    recording_tag = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, extension="SIP/101", started_by=agent
    )
    response = logged_in(other_agent).post(reverse("noojee:stop-recording", args=[recording_tag.pk]), **JSON)
    assert response.status_code == 404
    assert response.json()["error"] == "No such recording."
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.RECORDING


def test_stopping_an_unknown_recording_is_404(pbx: Any, agent: User) -> None:
    response = logged_in(agent).post(reverse("noojee:stop-recording", args=[12345]), **JSON)
    assert response.status_code == 404
    assert response.json()["error"] == "No such recording."


# ---------------------------------------------------------------------------------------------- errors


def test_a_dial_past_the_rate_limit_is_429_in_words(
    settings: Any, pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "DIAL_RATE_LIMIT": 2}
    client = logged_in(agent)
    answers = [dial_json(client, number) for number in ("0383208101", "0383208102", "0383208103")]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json() == {
        "error": "You have placed 2 calls in the last minute, the most allowed: "
        "wait a minute, then dial again.",
        "field": None,
    }
    assert dials(noojee_emulator_control) == 2
    assert CallSession.objects.count() == 2  # the refused click left no row


def test_the_rate_limit_counts_the_last_minute_across_the_clocks_minute_edge(
    settings: Any, pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "DIAL_RATE_LIMIT": 1}
    client = logged_in(agent)
    assert dial_json(client, "0383208101").status_code == 200
    time.sleep(60.2 - time.time() % 60)  # just past the clock's next minute
    refused = dial_json(client, "0383208102")
    assert refused.status_code == 429, "a dial a second ago still counts in the last minute"
    assert dials(noojee_emulator_control) == 1


def _raising(exc: Exception, *, for_a_record_only: bool = False) -> Any:
    """A ``MAY_DIAL`` hook that raises ``exc`` (asked about a record, when ``for_a_record_only``)."""

    def hook(user: Any, obj: Any = None) -> bool:
        if for_a_record_only and obj is None:
            return True
        raise exc

    return hook


def service_errors() -> list[Exception]:
    """An error of every kind the exception tree has, as a hook or a service may raise it."""
    from django.core.exceptions import ObjectDoesNotExist, ValidationError

    from noojee_django import exceptions

    return [
        ValidationError("That will not do."),
        exceptions.NoojeePermissionDenied("Not you."),
        exceptions.NotFound("No such thing."),
        exceptions.NoAgentPhone("No phone here."),
        exceptions.InvalidState("Not now."),
        exceptions.TransitionRefused("Not from there."),
        exceptions.RateLimited("Slow down."),
        ObjectDoesNotExist("Nothing matches."),
    ]


@pytest.mark.parametrize("exc", service_errors(), ids=lambda e: type(e).__name__)
def test_every_error_of_the_tree_is_answered_with_its_own_status_in_words(
    settings: Any, pbx: Any, noojee_emulator_control: Any, agent: User, exc: Exception
) -> None:
    from noojee_django.exceptions import http_status_for

    settings.NOOJEE = {**settings.NOOJEE, "MAY_DIAL": _raising(exc)}
    response = dial_json(logged_in(agent), "0383208100")

    assert response.status_code == http_status_for(exc)
    assert response.json()["error"] == " ".join(getattr(exc, "messages", None) or [str(exc)])
    assert pbx_requests(noojee_emulator_control) == 0


# ---------------------------------------------------------------------------------------------- ids


def _dial_for(client: Client, content_type: str, object_id: object) -> Any:
    return client.post(
        reverse("noojee:dial"),
        {"number": "0383208100", "content_type": content_type, "object_id": str(object_id)},
        **JSON,
    )


def _record_for(client: Client, content_type: str, object_id: object) -> Any:
    return client.post(
        reverse("noojee:start-recording"),
        {"content_type": content_type, "object_id": str(object_id), "tag": "INV-42", "consent": "on"},
        **JSON,
    )


def _answer_of(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json()


@pytest.mark.parametrize("send", [_dial_for, _record_for], ids=["dial", "record"])
@pytest.mark.parametrize("role", ["outsider", "agent"])
def test_an_existing_and_a_missing_user_id_get_the_same_answer(
    pbx: Any, noojee_emulator_control: Any, request: Any, role: str, send: Any
) -> None:
    user = request.getfixturevalue(role)
    client = logged_in(user)
    existing = send(client, "auth.user", user.pk)
    missing = send(client, "auth.user", user.pk + 1000)

    assert _answer_of(existing) == _answer_of(missing)
    assert existing.status_code == (403 if role == "outsider" else 404)
    assert pbx_requests(noojee_emulator_control) == 0
    assert not CallSession.objects.exists() and not RecordingTag.objects.exists()


@pytest.mark.parametrize("send", [_dial_for, _record_for], ids=["dial", "record"])
@pytest.mark.parametrize(
    "content_type", ["auth.user", "sessions.session", "noojee_django.callsession", "admin.logentry"]
)
def test_records_of_models_outside_the_allow_list_are_answered_as_missing(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice, send: Any, content_type: str
) -> None:
    client = logged_in(agent)
    refused = send(client, content_type, 1)
    missing = send(client, "crm.invoice", invoice.pk + 1000)

    assert refused.status_code == missing.status_code == 404
    assert refused.json()["error"] == "No such record."
    assert missing.json()["error"] == "No such record."
    assert pbx_requests(noojee_emulator_control) == 0


def test_a_crm_model_left_out_of_attachable_models_is_answered_as_missing(
    settings: Any, pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "ATTACHABLE_MODELS": ["crm.invoice"]}
    client = logged_in(agent)
    assert _answer_of(_dial_for(client, "crm.customer", customer.pk)) == _answer_of(
        _dial_for(client, "crm.customer", customer.pk + 1000)
    )
    assert _dial_for(client, "crm.customer", customer.pk).status_code == 404
    assert dials(noojee_emulator_control) == 0


def test_an_invoice_the_agent_may_not_view_is_answered_as_a_missing_one(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice
) -> None:
    agent.user_permissions.remove(Permission.objects.get(codename="view_invoice"))
    client = logged_in(User.objects.get(pk=agent.pk))
    assert _answer_of(_record_for(client, "crm.invoice", invoice.pk)) == _answer_of(
        _record_for(client, "crm.invoice", invoice.pk + 1000)
    )
    assert _record_for(client, "crm.invoice", invoice.pk).status_code == 404
    assert pbx_requests(noojee_emulator_control) == 0


def test_another_agents_call_and_recording_are_answered_as_missing_ones(
    pbx: Any, noojee_emulator_control: Any, agent: User, other_agent: User, invoice: Invoice
) -> None:
    call = CallSession.objects.create(user=agent, extension="SIP/101", number="0383208100")
    recording_tag = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, extension="SIP/101", started_by=agent
    )
    client = logged_in(other_agent)
    for name, pk in [("noojee:hangup", call.pk), ("noojee:stop-recording", recording_tag.pk)]:
        existing = client.post(reverse(name, args=[pk]), **JSON)
        missing = client.post(reverse(name, args=[pk + 1000]), **JSON)
        assert _answer_of(existing) == _answer_of(missing)
        assert existing.status_code == 404
    existing = client.get(reverse("noojee:call-status", args=[call.pk]))
    missing = client.get(reverse("noojee:call-status", args=[call.pk + 1000]))
    assert _answer_of(existing) == _answer_of(missing)
    assert pbx_requests(noojee_emulator_control) == 0
    assert CallSession.objects.get(pk=call.pk).is_active
    assert RecordingTag.objects.get(pk=recording_tag.pk).status == RecordingTag.Status.RECORDING
