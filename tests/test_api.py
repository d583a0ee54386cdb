"""The REST API (noojee_django.api) through DRF's APIClient, against the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from example_project.crm.models import Customer, Invoice
from noojee_django.exceptions import http_status_for
from noojee_django.models import CallSession, RecordingLeg, RecordingTag
from tests.test_views import _raising, dials, pbx_requests, service_errors, wait_for

pytestmark = pytest.mark.django_db

CALLS = reverse("noojee:api-call-list")
RECORDINGS = reverse("noojee:api-recording-list")
LEGS = reverse("noojee:api-leg-list")


def api(user: User | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def call_url(call_id: int, action: str | None = None) -> str:
    if action:
        return reverse(f"noojee:api-call-{action}", args=[call_id])
    return reverse("noojee:api-call-detail", args=[call_id])


def recording_url(tag_id: int, action: str | None = None) -> str:
    if action:
        return reverse(f"noojee:api-recording-{action}", args=[tag_id])
    return reverse("noojee:api-recording-detail", args=[tag_id])


def attached_recording(obj: Any, tag: str = "INV-42", *, with_leg: bool = True) -> RecordingTag:
    """An attached voice signature with one fetched leg, as the pipeline leaves it."""
    recording_tag = RecordingTag.objects.create(
        tag=tag, content_object=obj, status=RecordingTag.Status.ATTACHED, audio_duration=2.0
    )
    recording_tag.audio.save(f"{tag}-signature.wav", ContentFile(b"RIFF-not-really-a-wav"), save=True)
    if with_leg:
        leg = RecordingLeg.objects.create(
            recording_tag=recording_tag,
            call_record_id=1000 + recording_tag.pk,
            leg=1,
            unique_id="1412750652.496",
            duration=2,
            fetch_status=RecordingLeg.FetchStatus.FETCHED,
        )
        leg.audio.save(f"{tag}-leg1.wav", ContentFile(b"RIFF-leg"), save=True)
    return recording_tag


def ids(response: Any) -> set[int]:
    return {item["id"] for item in response.json()["results"]}


def connected_call(client: APIClient, customer: Customer) -> dict[str, Any]:
    created = client.post(
        CALLS, {"number": customer.phone, "content_type": "crm.customer", "object_id": customer.pk}
    )
    assert created.status_code == 201, created.content
    url = call_url(created.json()["id"])
    return wait_for(
        lambda: (data := client.get(url).json())["status"] == CallSession.Status.CONNECTED and data
    )


# ---------------------------------------------------------------------------------------------- access


@pytest.mark.parametrize("url", [CALLS, RECORDINGS, LEGS])
def test_anonymous_clients_are_refused(url: str) -> None:
    assert api().get(url).status_code == 403


def test_anonymous_clients_cannot_dial(pbx: Any, noojee_emulator_control: Any) -> None:
    assert api().post(CALLS, {"number": "101"}).status_code == 403
    assert dials(noojee_emulator_control) == 0


def test_token_authentication_works(agent: User) -> None:
    token = Token.objects.create(user=agent)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(CALLS).status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    assert client.get(CALLS).status_code in {401, 403}


def test_session_authentication_enforces_csrf(pbx: Any, noojee_emulator_control: Any, agent: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="agent", password="pw")
    assert client.get(CALLS).status_code == 200
    response = client.post(CALLS, {"number": "101"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert dials(noojee_emulator_control) == 0


# ---------------------------------------------------------------------------------------------- calls


def test_agent_dials_through_the_api(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer
) -> None:
    response = api(agent).post(
        CALLS,
        {"number": "03 8320 8100", "content_type": "crm.customer", "object_id": customer.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    call = CallSession.objects.get()
    assert data["id"] == call.pk
    assert data["number"] == "0383208100"
    assert data["content_type"] == "crm.customer"
    assert data["object_id"] == str(customer.pk)
    assert call.content_object == customer
    assert dials(noojee_emulator_control) == 1


@pytest.mark.parametrize(
    "number", ["0383&208100", "0383,1", "0383|1", "SIP/102", "1\n2", "${EXTEN}", "1" * 1000]
)
def test_hostile_numbers_are_400_and_reach_no_pbx(
    pbx: Any, noojee_emulator_control: Any, agent: User, number: str
) -> None:
    response = api(agent).post(CALLS, {"number": number}, format="json")
    assert response.status_code == 400
    assert response.json()["number"][0]
    assert dials(noojee_emulator_control) == 0


@pytest.mark.parametrize(
    ("content_type", "object_id", "status"),
    [
        ("crm.nothing", "1", 400),
        ("sessions.session", "1", 404),
        ("crm.customer", "abc", 400),
        ("crm.customer", "999", 404),
    ],
)
def test_unknown_records_are_refused(
    pbx: Any, noojee_emulator_control: Any, agent: User, content_type: str, object_id: str, status: int
) -> None:
    response = api(agent).post(
        CALLS, {"number": "101", "content_type": content_type, "object_id": object_id}, format="json"
    )
    assert response.status_code == status
    assert dials(noojee_emulator_control) == 0


def test_list_shows_only_my_calls(agent: User, other_agent: User) -> None:
    mine = CallSession.objects.create(user=agent, extension="SIP/101", number="101")
    CallSession.objects.create(user=other_agent, extension="SIP/102", number="102")
    assert ids(api(agent).get(CALLS)) == {mine.pk}


def test_another_agents_call_is_hidden_and_cannot_be_hung_up(
    pbx: Any, agent: User, other_agent: User, customer: Customer
) -> None:
    call_id = api(agent).post(CALLS, {"number": customer.phone}).json()["id"]
    other = api(other_agent)
    assert other.get(call_url(call_id)).status_code == 404
    response = other.post(call_url(call_id, "hangup"))
    assert response.status_code == 404
    assert response.json()["detail"] == "No such call."
    assert CallSession.objects.get(pk=call_id).is_active


def test_retrieve_gives_the_fresh_status_and_hangup_ends_the_call(
    pbx: Any, agent: User, customer: Customer
) -> None:
    client = api(agent)
    call = connected_call(client, customer)
    assert call["connected_at"] is not None

    response = client.post(call_url(call["id"], "hangup"))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == CallSession.Status.HUNG_UP


def test_superuser_sees_and_hangs_up_any_call(
    pbx: Any, agent: User, superuser: User, customer: Customer
) -> None:
    call_id = api(agent).post(CALLS, {"number": customer.phone}).json()["id"]
    root = api(superuser)
    assert root.get(call_url(call_id)).status_code == 200
    assert root.post(call_url(call_id, "hangup")).status_code == 200
    assert CallSession.objects.get(pk=call_id).status == CallSession.Status.HUNG_UP


def test_outsider_may_not_dial_and_without_a_phone_gets_409(
    pbx: Any, noojee_emulator_control: Any, outsider: User
) -> None:
    assert api(outsider).post(CALLS, {"number": "101"}).status_code == 403
    outsider.user_permissions.add(Permission.objects.get(codename="can_dial"))
    response = api(User.objects.get(pk=outsider.pk)).post(CALLS, {"number": "101"})
    assert response.status_code == 409
    assert "extension" in response.json()["detail"]
    assert dials(noojee_emulator_control) == 0


def test_a_pbx_failure_is_502(pbx: Any, noojee_emulator_control: Any, agent: User) -> None:
    noojee_emulator_control.add_fault("http_502", method="dial", count=1)
    response = api(agent).post(CALLS, {"number": "101"})
    assert response.status_code == 502
    assert response.json()["detail"].startswith("The PBX could not place the call")


def test_unknown_or_malformed_call_ids_are_404(agent: User) -> None:
    assert api(agent).get(call_url(999)).status_code == 404
    assert api(agent).get(f"{CALLS}abc/").status_code == 404
    assert api(agent).post(f"{CALLS}abc/hangup/").status_code == 404


# ---------------------------------------------------------------------------------------------- recordings


def test_agent_lists_recordings_of_records_they_may_view(
    agent: User, invoice: Invoice, customer: Customer
) -> None:
    on_invoice = attached_recording(invoice)
    on_customer = attached_recording(customer, "CUST-1")
    assert ids(api(agent).get(RECORDINGS)) == {on_invoice.pk, on_customer.pk}


def test_recordings_are_filtered_per_kind_of_record(db: Any, invoice: Invoice, customer: Customer) -> None:
    viewer = User.objects.create_user("viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer"))
    viewer = User.objects.get(pk=viewer.pk)
    attached_recording(invoice)
    on_customer = attached_recording(customer, "CUST-1")

    assert ids(api(viewer).get(RECORDINGS)) == {on_customer.pk}
    assert ids(api(viewer).get(RECORDINGS, {"content_type": "crm.invoice"})) == set()


def test_outsider_sees_no_recordings_or_legs(outsider: User, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    client = api(outsider)
    assert client.get(RECORDINGS).json()["results"] == []
    assert client.get(recording_url(recording_tag.pk)).status_code == 404
    assert client.get(LEGS).json()["results"] == []
    assert client.get(reverse("noojee:api-leg-detail", args=[recording_tag.legs.get().pk])).status_code == 404


def test_listing_recordings_costs_one_query_per_kind_of_record(
    agent: User, customer: Customer, django_assert_max_num_queries: Any
) -> None:
    for n in range(15):
        invoice = Invoice.objects.create(number=f"INV-{n}", customer=customer, amount="1.00")
        attached_recording(invoice, f"INV-{n}")
    attached_recording(customer, "CUST-1")
    client = api(agent)
    with django_assert_max_num_queries(12):
        response = client.get(RECORDINGS)
    assert response.json()["count"] == 16


def test_recordings_and_legs_point_to_the_playback_views_never_to_storage(
    agent: User, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice)
    leg = recording_tag.legs.get()
    client = api(agent)

    detail = client.get(recording_url(recording_tag.pk))
    legs = client.get(LEGS, {"recording_tag": recording_tag.pk})

    assert detail.status_code == 200
    data = detail.json()
    assert data["audio_url"] == "http://testserver" + reverse(
        "noojee:recording-audio", args=[recording_tag.pk]
    )
    assert data["legs"][0]["audio_url"] == "http://testserver" + reverse("noojee:leg-audio", args=[leg.pk])
    assert legs.json()["results"][0]["audio_url"] == data["legs"][0]["audio_url"]
    for body in (detail.content, legs.content):
        assert recording_tag.audio.name.encode() not in body
        assert leg.audio.name.encode() not in body
        assert b"api_key" not in body.lower() and b"API_KEY" not in body


def test_agent_records_through_the_api(pbx: Any, agent: User, customer: Customer, invoice: Invoice) -> None:
    client = api(agent)
    connected_call(client, customer)

    started = client.post(
        RECORDINGS,
        {"content_type": "crm.invoice", "object_id": invoice.pk, "tag": "INV-42", "consent_given": True},
        format="json",
    )
    assert started.status_code == 201, started.content
    assert started.json()["status"] == RecordingTag.Status.RECORDING
    assert started.json()["consent_given"] is True

    stopped = client.post(recording_url(started.json()["id"], "stop"))
    assert stopped.status_code == 200, stopped.content
    assert stopped.json()["status"] == RecordingTag.Status.WAITING


@pytest.mark.parametrize("tag", ["INV 42", "INV\n42", "x" * 65, "INV&42", ""])
def test_hostile_tags_are_400_and_reach_no_pbx(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice, tag: str
) -> None:
    response = api(agent).post(
        RECORDINGS, {"content_type": "crm.invoice", "object_id": invoice.pk, "tag": tag}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["tag"][0]
    assert pbx_requests(noojee_emulator_control) == 0
    assert not RecordingTag.objects.exists()


def test_outsider_may_not_record(
    pbx: Any, noojee_emulator_control: Any, outsider: User, invoice: Invoice
) -> None:
    response = api(outsider).post(
        RECORDINGS, {"content_type": "crm.invoice", "object_id": invoice.pk, "tag": "INV-42"}, format="json"
    )
    assert response.status_code == 403
    assert pbx_requests(noojee_emulator_control) == 0


def test_another_agent_cannot_stop_my_recording(
    pbx: Any, agent: User, other_agent: User, invoice: Invoice
) -> None:
    recording_tag = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, extension="SIP/101", started_by=agent
    )
    assert api(other_agent).post(recording_url(recording_tag.pk, "stop")).status_code == 404
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.RECORDING


def test_poll_needs_the_change_permission(agent: User, staff: User, invoice: Invoice) -> None:
    recording_tag = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, status=RecordingTag.Status.ABSENT, started_by=agent
    )
    assert api(agent).post(recording_url(recording_tag.pk, "poll")).status_code == 403

    response = api(staff).post(recording_url(recording_tag.pk, "poll"))
    assert response.status_code == 200, response.content
    assert response.json()["poll_scheduled"] is True
    assert response.json()["status"] == RecordingTag.Status.WAITING


# ---------------------------------------------------------------------------------------------- schema


def test_the_openapi_schema_describes_the_endpoints(agent: User) -> None:
    response = api(agent).get(reverse("noojee:api-schema"))
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert "/noojee/api/calls/" in paths
    assert "post" in paths["/noojee/api/calls/"]
    assert "/noojee/api/calls/{id}/hangup/" in paths
    assert "/noojee/api/recordings/{id}/stop/" in paths
    assert "/noojee/api/recordings/{id}/poll/" in paths
    assert "/noojee/api/legs/{id}/" in paths
    assert not any(path.startswith("/admin") for path in paths)


def test_the_schema_is_valid_openapi_with_every_operation_described_in_markdown(agent: User) -> None:
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    schema = api(agent).get(reverse("noojee:api-schema")).json()
    validate_schema(schema)  # raises on anything OpenAPI 3 does not allow
    assert not GENERATOR_STATS, "drf-spectacular warned while generating the schema"
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) >= 9
    for path, method, operation in operations:
        description = operation.get("description", "")
        assert description, (path, method)
        assert "``" not in description and ":class:" not in description, (path, method, description)
    dial = schema["paths"]["/noojee/api/calls/"]["post"]
    assert "201" in dial["responses"] and "requestBody" in dial
    stop = schema["paths"]["/noojee/api/recordings/{id}/stop/"]["post"]
    assert "requestBody" not in stop
    listing = schema["paths"]["/noojee/api/recordings/"]["get"]
    assert {"content_type", "object_id", "tag", "status", "page"} <= {
        p["name"] for p in listing["parameters"]
    }


def test_the_schema_comes_as_yaml_too(agent: User) -> None:
    response = api(agent).get(reverse("noojee:api-schema"), {"format": "yaml"})
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


def test_the_interactive_api_docs_are_for_logged_in_users_and_need_no_cdn(agent: User) -> None:
    from django.contrib.staticfiles import finders
    from django.test import Client

    url = reverse("noojee:api-docs")
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    client = Client()
    client.force_login(agent)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("noojee:api-schema") in html and "<script>" not in html  # no inline script
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/static/") for source in sources), sources
    for source in sources:
        assert finders.find(source.removeprefix("/static/")), source


def test_the_browsable_api_renders_the_markdown_descriptions(agent: User) -> None:
    client = api(agent)
    page = client.get(reverse("noojee:api-recording-list"), HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<code>create</code>" in html and "``" not in html


def test_the_schema_and_the_index_are_for_logged_in_users_unless_a_setting_opens_the_schema(
    settings: Any,
) -> None:
    assert api().get(reverse("noojee:api-schema")).status_code == 403
    assert api().get(reverse("noojee:api-root")).status_code == 403
    settings.NOOJEE = {**settings.NOOJEE, "API_SCHEMA_PUBLIC": True}
    assert api().get(reverse("noojee:api-schema")).status_code == 200
    assert api().get(reverse("noojee:api-root")).status_code == 403


def test_the_api_authenticates_with_the_projects_classes(tmp_path: Path) -> None:
    """A project that offers only HTTP Basic gets Basic: the app forces neither sessions nor tokens.

    DRF reads ``DEFAULT_AUTHENTICATION_CLASSES`` when the views are imported, so this runs in a fresh
    process with such a project's settings.
    """
    (tmp_path / "basic_only_settings.py").write_text(
        "from tests.settings import *  # noqa\n"
        "REST_FRAMEWORK = {'DEFAULT_AUTHENTICATION_CLASSES': "
        "['rest_framework.authentication.BasicAuthentication']}\n"
    )
    script = (
        "import base64, django; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from django.contrib.auth.models import User; from django.test import Client\n"
        "from rest_framework.authtoken.models import Token\n"
        "user = User.objects.create_user('agent', password='pw'); token = Token.objects.create(user=user)\n"
        "basic = 'Basic ' + base64.b64encode(b'agent:pw').decode()\n"
        "print(Client().get('/noojee/api/calls/', HTTP_AUTHORIZATION=basic).status_code,\n"
        "      Client().get('/noojee/api/calls/', HTTP_AUTHORIZATION='Token ' + token.key).status_code)\n"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}",
            "DJANGO_SETTINGS_MODULE": "basic_only_settings",
            "NOOJEE_EXAMPLE_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "401"]  # Basic asks for credentials: a token is none


# ---------------------------------------------------------------------------------------------- errors


def test_a_dial_past_the_rate_limit_is_429_in_words(
    settings: Any, pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "DIAL_RATE_LIMIT": 2}
    client = api(agent)
    answers = [client.post(CALLS, {"number": n}) for n in ("0383208101", "0383208102", "0383208103")]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json() == {
        "detail": "You have placed 2 calls in the last minute, the most allowed: "
        "wait a minute, then dial again."
    }
    assert dials(noojee_emulator_control) == 2


@pytest.mark.parametrize("exc", service_errors(), ids=lambda e: type(e).__name__)
def test_every_error_of_the_tree_is_answered_with_its_own_status_in_words(
    settings: Any, pbx: Any, noojee_emulator_control: Any, agent: User, exc: Exception
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "MAY_DIAL": _raising(exc)}
    response = api(agent).post(CALLS, {"number": "0383208100"})

    assert response.status_code == http_status_for(exc)
    words = " ".join(getattr(exc, "messages", None) or [str(exc)])
    assert words in str(response.json())
    assert pbx_requests(noojee_emulator_control) == 0


# ---------------------------------------------------------------------------------------------- ids


def _answer_of(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json()


@pytest.mark.parametrize("url", [CALLS, RECORDINGS], ids=["dial", "record"])
@pytest.mark.parametrize("role", ["outsider", "agent"])
def test_an_existing_and_a_missing_user_id_get_the_same_answer(
    pbx: Any, noojee_emulator_control: Any, request: Any, role: str, url: str
) -> None:
    user = request.getfixturevalue(role)
    client = api(user)

    def send(object_id: int) -> Any:
        data = {"number": "0383208100", "tag": "INV-42", "content_type": "auth.user", "object_id": object_id}
        return client.post(url, data, format="json")

    existing, missing = send(user.pk), send(user.pk + 1000)

    assert _answer_of(existing) == _answer_of(missing)
    assert existing.status_code == (403 if role == "outsider" else 404)
    assert pbx_requests(noojee_emulator_control) == 0
    assert not CallSession.objects.exists() and not RecordingTag.objects.exists()


def test_an_invoice_the_agent_may_not_view_is_answered_as_a_missing_one(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice
) -> None:
    agent.user_permissions.remove(Permission.objects.get(codename="view_invoice"))
    client = api(User.objects.get(pk=agent.pk))

    def send(object_id: int) -> Any:
        data = {"content_type": "crm.invoice", "object_id": object_id, "tag": "INV-42"}
        return client.post(RECORDINGS, data, format="json")

    assert _answer_of(send(invoice.pk)) == _answer_of(send(invoice.pk + 1000))
    assert send(invoice.pk).status_code == 404
    assert pbx_requests(noojee_emulator_control) == 0


def test_another_agents_call_and_recording_are_answered_as_missing_ones(
    pbx: Any, noojee_emulator_control: Any, agent: User, other_agent: User, invoice: Invoice
) -> None:
    call = CallSession.objects.create(user=agent, extension="SIP/101", number="0383208100")
    recording_tag = RecordingTag.objects.create(
        tag="INV-42", content_object=invoice, extension="SIP/101", started_by=agent
    )
    client = api(other_agent)
    for existing_url, missing_url in [
        (call_url(call.pk), call_url(call.pk + 1000)),
        (call_url(call.pk, "hangup"), call_url(call.pk + 1000, "hangup")),
        (recording_url(recording_tag.pk, "stop"), recording_url(recording_tag.pk + 1000, "stop")),
    ]:
        send = client.get if existing_url == call_url(call.pk) else client.post
        existing, missing = send(existing_url), send(missing_url)
        assert _answer_of(existing) == _answer_of(missing), existing_url
        assert existing.status_code == 404
    assert pbx_requests(noojee_emulator_control) == 0
    assert CallSession.objects.get(pk=call.pk).is_active
    assert RecordingTag.objects.get(pk=recording_tag.pk).status == RecordingTag.Status.RECORDING


# ---------------------------------------------------------------------------------------------- answers


def test_poll_by_an_operator_who_may_not_view_the_invoice_shows_no_legs_or_audio(
    staff: User, invoice: Invoice
) -> None:
    staff.user_permissions.remove(Permission.objects.get(codename="view_invoice"))
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(status=RecordingTag.Status.FAILED)

    response = api(User.objects.get(pk=staff.pk)).post(recording_url(recording_tag.pk, "poll"))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": recording_tag.pk,
        "tag": "INV-42",
        "status": RecordingTag.Status.WAITING,
        "status_display": "Waiting for audio",
        "poll_scheduled": True,
    }


def test_poll_by_an_operator_who_may_view_the_invoice_shows_legs_and_audio(
    staff: User, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(status=RecordingTag.Status.FAILED)

    response = api(staff).post(recording_url(recording_tag.pk, "poll"))

    assert response.status_code == 200, response.content
    assert [leg["id"] for leg in response.json()["legs"]] == [recording_tag.legs.get().pk]
    assert response.json()["audio_url"].endswith(reverse("noojee:recording-audio", args=[recording_tag.pk]))


def test_stop_by_an_agent_who_may_not_view_the_invoice_any_more_shows_no_legs_or_audio(
    pbx: Any, agent: User, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(started_by=agent)
    agent.user_permissions.remove(Permission.objects.get(codename="view_invoice"))

    response = api(User.objects.get(pk=agent.pk)).post(recording_url(recording_tag.pk, "stop"))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": recording_tag.pk,
        "tag": "INV-42",
        "status": RecordingTag.Status.ATTACHED,
        "status_display": "Attached",
    }
