"""Scripts and consent: versioned scripts, the exact text a recording started with, REQUIRE_CONSENT.

The template language, the versions' immutability, the service's refusals (a text that changed since
the page rendered it, a start without consent) through the service, the views and the API, with the
emulator showing nothing was started; a recording with a script collected end to end into a bundle.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.template import RequestContext, Template
from django.test import Client, RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from example_project.crm.models import Customer, Invoice
from noojee_django import script_template, services
from noojee_django.exceptions import ConsentRequired, ScriptChanged
from noojee_django.models import CallSession, RecordingLeg, RecordingTag, Script, ScriptVersion
from noojee_django.signing import generate_private_key
from tests.polling import wait_for

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
NOTICE = "This call is recorded as the record of your agreement to invoice {number}."
BODY = "I confirm that I agree to pay invoice {number} for {amount}."
CHANGED = "The script has changed since the page was loaded: reload the page and read the new version."


@pytest.fixture
def script(db: Any) -> Script:
    script = Script.objects.create(
        name="Invoice signature", content_type=ContentType.objects.get_for_model(Invoice)
    )
    services.save_script_text(script, notice=NOTICE, body=BODY)
    return script


@pytest.fixture
def require_consent(settings: Any, pbx: Any) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "REQUIRE_CONSENT": True}


def starts(control: Any) -> int:
    return int(control.stats()["requests"].get("start", 0))


def connected_call(agent: User, customer: Customer) -> CallSession:
    call = services.dial(agent, customer.phone, obj=customer)
    return wait_for(
        lambda: services.current_call_status(call).status == CallSession.Status.CONNECTED and call
    )


def expected_text(invoice: Invoice) -> str:
    return (
        f"This call is recorded as the record of your agreement to invoice {invoice.number}.\n\n"
        f"I confirm that I agree to pay invoice {invoice.number} for {invoice.amount}."
    )


# --------------------------------------------------------------------------------------------------
# The template language


def test_placeholders_are_filled_with_str_of_the_records_own_fields(invoice: Invoice) -> None:
    invoice.amount = Decimal("1250.00")
    text = script_template.render(
        "Invoice {number} for {amount} ({status}), {customer}: {{literal}}", invoice
    )
    assert text == "Invoice INV-42 for 1250.00 (draft), Acme Pty Ltd: {literal}"


def test_an_empty_value_renders_as_nothing(invoice: Invoice) -> None:
    class Blank:
        _meta = Invoice._meta
        number = None

    assert script_template.render("[{number}]", Blank()) == "[]"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{customer.name}", "is not a placeholder"),
        ("{amount:.2f}", "is not a placeholder"),
        ("{get_absolute_url()}", "is not a placeholder"),
        ("{__class__}", "is not a field of invoice"),
        ("{customer_id}", "is not a field of invoice"),
        ("pay {amount", "A brace with no partner"),
        ("pay amount}", "A brace with no partner"),
        ("{}", "is not a placeholder"),
    ],
)
def test_anything_but_a_field_name_in_braces_is_refused(template: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        script_template.validate_template(template, Invoice)


def test_a_users_password_is_never_a_field_a_script_may_show() -> None:
    assert "password" not in script_template.field_names(User)
    with pytest.raises(ValidationError, match="is not a field of user"):
        script_template.validate_template("{password}", User)


def test_a_version_naming_a_missing_field_is_refused_when_saved_naming_the_field(script: Script) -> None:
    with pytest.raises(ValidationError) as refused:
        services.save_script_text(script, notice=NOTICE, body="Pay {total} now.")
    assert "{total} is not a field of invoice" in str(refused.value)
    with pytest.raises(ValidationError, match=r"\{due_date\} is not a field"):
        ScriptVersion.objects.create(script=script, number=9, notice="{due_date}", body="ok")
    assert list(script.versions.values_list("number", flat=True)) == [1]


# --------------------------------------------------------------------------------------------------
# Versions


def test_every_change_of_the_text_is_a_new_version_and_the_same_text_is_none(script: Script) -> None:
    assert services.save_script_text(script, notice=NOTICE, body=BODY) is None
    assert services.save_script_text(script, notice=NOTICE.replace("\n", "\r\n") + "  ", body=BODY) is None
    second = services.save_script_text(script, notice=NOTICE, body=BODY + " Thank you.")
    assert second is not None and second.number == 2
    assert script.current_version == second
    assert [v.body for v in script.versions.order_by("number")] == [BODY, BODY + " Thank you."]


def test_a_version_is_never_changed_nor_deleted(script: Script) -> None:
    version = script.current_version
    assert version is not None
    version.body = "Something else."
    with pytest.raises(TypeError, match="never changed"):
        version.save()
    with pytest.raises(TypeError, match="kept"):
        version.delete()
    with pytest.raises(TypeError):
        ScriptVersion.objects.filter(pk=version.pk).update(body="Something else.")
    with pytest.raises(TypeError):
        ScriptVersion.objects.filter(pk=version.pk).delete()
    assert ScriptVersion.objects.get(pk=version.pk).body == BODY


def test_deleting_a_versions_author_keeps_the_version(script: Script) -> None:
    author = User.objects.create_user("editor")
    version = services.save_script_text(script, notice=NOTICE, body="New words for {number}.", user=author)
    assert version is not None
    author.delete()
    kept = ScriptVersion.objects.get(pk=version.pk)
    assert kept.created_by is None and kept.body == "New words for {number}."


def test_one_active_script_per_kind_of_record(script: Script) -> None:
    second = Script(name="Another", content_type=script.content_type, active=True)
    with pytest.raises(ValidationError, match="is the active script for these records already"):
        second.full_clean()
    second.active = False
    second.full_clean()


# --------------------------------------------------------------------------------------------------
# Starting with a script: the text stored is the text shown


def test_a_recording_keeps_the_version_the_exact_text_and_its_sha256(
    pbx: Any, agent: User, customer: Customer, invoice: Invoice, script: Script
) -> None:
    shown = services.script_for(invoice)
    assert shown is not None and shown.text == expected_text(invoice)
    connected_call(agent, customer)
    recording_tag = services.start_recording(
        agent,
        invoice,
        "INV-42",
        consent_given=True,
        script_version=shown.version.pk,
        script_sha256=shown.sha256,
    )
    recording_tag.refresh_from_db()
    assert recording_tag.script_version == script.current_version
    assert recording_tag.script_text == expected_text(invoice)
    assert recording_tag.script_sha256 == hashlib.sha256(expected_text(invoice).encode()).hexdigest()
    assert recording_tag.consent_confirmed_by == agent
    assert recording_tag.consent_confirmed_at is not None


@pytest.mark.parametrize("change", ["hash", "new version", "record edited", "inactive", "other kind"])
def test_a_start_whose_text_is_not_what_the_version_renders_now_is_refused_and_sends_nothing(
    pbx: Any,
    noojee_emulator_control: Any,
    agent: User,
    customer: Customer,
    invoice: Invoice,
    script: Script,
    change: str,
) -> None:
    shown = services.script_for(invoice)
    assert shown is not None
    version_id, sha256 = shown.version.pk, shown.sha256
    connected_call(agent, customer)
    if change == "hash":
        sha256 = hashlib.sha256(b"other words").hexdigest()
    elif change == "new version":
        services.save_script_text(script, notice=NOTICE, body=BODY + " Thank you.")
    elif change == "record edited":
        Invoice.objects.filter(pk=invoice.pk).update(amount="9999.00")
        invoice.refresh_from_db()
    elif change == "inactive":
        Script.objects.filter(pk=script.pk).update(active=False)
    elif change == "other kind":
        other = Script.objects.create(
            name="Customers", content_type=ContentType.objects.get_for_model(Customer)
        )
        version = services.save_script_text(other, notice="Recorded.", body="Hello {name}.")
        assert version is not None
        version_id = version.pk
    before = starts(noojee_emulator_control)
    with pytest.raises(ScriptChanged) as refused:
        services.start_recording(agent, invoice, "INV-42", script_version=version_id, script_sha256=sha256)
    assert str(refused.value) == CHANGED
    assert starts(noojee_emulator_control) == before
    assert not RecordingTag.objects.exists()


def test_a_version_without_its_hash_is_bad_input(
    pbx: Any, agent: User, invoice: Invoice, script: Script
) -> None:
    assert script.current_version is not None
    with pytest.raises(ValidationError, match="sha256"):
        services.start_recording(agent, invoice, "INV-42", script_version=script.current_version.pk)


# --------------------------------------------------------------------------------------------------
# REQUIRE_CONSENT


def test_with_require_consent_the_service_refuses_a_start_without_consent_and_sends_nothing(
    require_consent: None, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    connected_call(agent, customer)
    before = starts(noojee_emulator_control)
    with pytest.raises(ConsentRequired, match="Read the recording notice to the customer"):
        services.start_recording(agent, invoice, "INV-42")
    assert starts(noojee_emulator_control) == before
    assert not RecordingTag.objects.exists()
    recording_tag = services.start_recording(agent, invoice, "INV-42", consent_given=True)
    assert starts(noojee_emulator_control) == before + 1
    assert recording_tag.consent_given and recording_tag.consent_confirmed_by == agent


def test_without_require_consent_a_start_without_consent_records_no_confirmation(
    pbx: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    connected_call(agent, customer)
    recording_tag = services.start_recording(agent, invoice, "INV-42")
    assert not recording_tag.consent_given
    assert recording_tag.consent_confirmed_by is None and recording_tag.consent_confirmed_at is None


def test_with_require_consent_a_call_cannot_be_dialled_recording(
    require_consent: None, noojee_emulator_control: Any, agent: User, invoice: Invoice, customer: Customer
) -> None:
    before = dict(noojee_emulator_control.stats()["requests"])
    with pytest.raises(ConsentRequired, match="place the call, read the recording notice, then record"):
        services.dial(agent, customer.phone, obj=invoice, record=True, tag="INV-42")
    assert dict(noojee_emulator_control.stats()["requests"]) == before
    assert not CallSession.objects.exists() and not RecordingTag.objects.exists()


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_view_answers_400_in_words_without_consent_and_the_pbx_saw_no_start(
    require_consent: None, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice
) -> None:
    connected_call(agent, customer)
    before = starts(noojee_emulator_control)
    data = {"content_type": "crm.invoice", "object_id": invoice.pk, "tag": "INV-42"}
    response = logged_in(agent).post(reverse("noojee:start-recording"), data, **JSON)
    assert response.status_code == 400
    assert "Read the recording notice to the customer" in response.json()["error"]
    # a plain form post: back to the page, with the message
    plain = logged_in(agent).post(reverse("noojee:start-recording"), {**data, "next": "/crm/"})
    assert plain.status_code == 302
    assert starts(noojee_emulator_control) == before
    assert not RecordingTag.objects.exists()


def test_the_view_refuses_a_changed_script_in_words(
    pbx: Any, noojee_emulator_control: Any, agent: User, customer: Customer, invoice: Invoice, script: Script
) -> None:
    connected_call(agent, customer)
    shown = services.script_for(invoice)
    assert shown is not None
    before = starts(noojee_emulator_control)
    data = {
        "content_type": "crm.invoice",
        "object_id": invoice.pk,
        "tag": "INV-42",
        "consent": "on",
        "script_version": shown.version.pk,
        "script_sha256": "0" * 64,
    }
    response = logged_in(agent).post(reverse("noojee:start-recording"), data, **JSON)
    assert response.status_code == 400 and response.json()["error"] == CHANGED
    assert starts(noojee_emulator_control) == before
    response = logged_in(agent).post(
        reverse("noojee:start-recording"), {**data, "script_sha256": shown.sha256}, **JSON
    )
    assert response.status_code == 200, response.content
    assert RecordingTag.objects.get().script_sha256 == shown.sha256


def api_client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_answers_400_without_consent_and_with_a_changed_script(
    require_consent: None,
    noojee_emulator_control: Any,
    agent: User,
    customer: Customer,
    invoice: Invoice,
    script: Script,
) -> None:
    connected_call(agent, customer)
    shown = services.script_for(invoice)
    assert shown is not None
    url = reverse("noojee:api-recording-list")
    data = {"content_type": "crm.invoice", "object_id": invoice.pk, "tag": "INV-42"}
    before = starts(noojee_emulator_control)
    no_consent = api_client(agent).post(url, data, format="json")
    assert no_consent.status_code == 400
    assert "Read the recording notice to the customer" in no_consent.json()["detail"]
    changed = api_client(agent).post(
        url,
        {**data, "consent_given": True, "script_version": shown.version.pk, "script_sha256": "f" * 64},
        format="json",
    )
    assert changed.status_code == 400 and changed.json()["detail"] == CHANGED
    assert starts(noojee_emulator_control) == before
    started = api_client(agent).post(
        url,
        {**data, "consent_given": True, "script_version": shown.version.pk, "script_sha256": shown.sha256},
        format="json",
    )
    assert started.status_code == 201, started.content
    body = started.json()
    assert body["script_version"] == shown.version.pk and body["script_sha256"] == shown.sha256
    assert body["script_text"] == shown.text and body["consent_confirmed_by"] == agent.pk
    assert starts(noojee_emulator_control) == before + 1


def test_the_api_gives_the_script_to_show_as_the_widget_shows_it(
    agent: User, outsider: User, invoice: Invoice, customer: Customer, script: Script
) -> None:
    url = reverse("noojee:api-recording-script")
    shown = services.script_for(invoice)
    assert shown is not None
    answer = api_client(agent).get(url, {"content_type": "crm.invoice", "object_id": invoice.pk})
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "script": "Invoice signature",
        "script_version": shown.version.pk,
        "version": 1,
        "notice": f"This call is recorded as the record of your agreement to invoice {invoice.number}.",
        "body": f"I confirm that I agree to pay invoice {invoice.number} for {invoice.amount}.",
        "text": expected_text(invoice),
        "script_sha256": shown.sha256,
    }
    none = api_client(agent).get(url, {"content_type": "crm.customer", "object_id": customer.pk})
    assert none.status_code == 200 and set(none.json().values()) == {None}
    missing = api_client(agent).get(url, {"content_type": "crm.invoice", "object_id": invoice.pk + 1000})
    assert missing.status_code == 404
    assert api_client(agent).get(url, {"content_type": "crm.invoice"}).status_code == 400
    assert (
        api_client(outsider).get(url, {"content_type": "crm.invoice", "object_id": invoice.pk}).status_code
        == 403
    )


def test_the_api_schema_documents_the_script_and_consent_of_a_start(agent: User) -> None:
    schema = api_client(agent).get(reverse("noojee:api-schema"), {"format": "json"}).json()
    fields = schema["components"]["schemas"]["StartRecording"]["properties"]
    assert {"consent_given", "script_version", "script_sha256"} <= set(fields)
    assert "REQUIRE_CONSENT" in fields["consent_given"]["description"]
    assert "sha256" in fields["script_sha256"]["description"]
    create = schema["paths"]["/noojee/api/recordings/"]["post"]["description"]
    assert "script_version" in create and "REQUIRE_CONSENT" in create
    script = schema["paths"]["/noojee/api/recordings/script/"]["get"]
    assert {p["name"] for p in script["parameters"]} >= {"content_type", "object_id"}
    shown = script["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"script_version", "script_sha256", "notice", "body"} <= set(
        schema["components"]["schemas"][shown]["properties"]
    )


# --------------------------------------------------------------------------------------------------
# The record widget


def render_widget(user: User, invoice: Invoice, tag: str = "INV-42") -> str:
    request = RequestFactory().get("/crm/invoices/1/")
    request.user = user
    template = Template("{% load noojee %}{% noojee_record_button invoice tag %}")
    return template.render(RequestContext(request, {"invoice": invoice, "tag": tag}))


def test_the_widget_shows_the_notice_first_and_the_script_to_read_while_recording(
    agent: User, invoice: Invoice, script: Script
) -> None:
    shown = services.script_for(invoice)
    assert shown is not None
    html = render_widget(agent, invoice)
    assert "Read this to the customer first:" in html
    assert f"agreement to invoice {invoice.number}." in html
    assert f"I confirm that I agree to pay invoice {invoice.number} for {invoice.amount}." in html
    assert f'name="script_version" value="{shown.version.pk}"' in html
    assert f'name="script_sha256" value="{shown.sha256}"' in html
    assert 'id="noojee-record-1-consent"' in html and '<label for="noojee-record-1-consent">' in html
    assert 'aria-describedby="noojee-record-1-notice"' in html
    assert 'data-noojee="record-script" hidden' in html  # the script shows with the Stop button


def test_the_widget_escapes_what_a_record_holds(agent: User, customer: Customer, script: Script) -> None:
    invoice = Invoice.objects.create(number="<b>INV-7</b>", customer=customer, amount="1.00")
    html = render_widget(agent, invoice, tag="INV-7")
    assert "&lt;b&gt;INV-7&lt;/b&gt;" in html and "<b>INV-7</b>" not in html


def test_while_recording_the_widget_shows_the_text_the_recording_started_with(
    agent: User, invoice: Invoice, script: Script
) -> None:
    RecordingTag.objects.create(
        tag=invoice.number, content_object=invoice, started_by=agent, script_text="The words shown then."
    )
    html = render_widget(agent, invoice)
    assert "The words shown then." in html
    assert 'data-noojee="record-script">' in html  # not hidden


# --------------------------------------------------------------------------------------------------
# The admin: a new version on every change, old ones read-only


@pytest.fixture
def admin_client(superuser: User) -> Client:
    return logged_in(superuser)


def script_form(content_type: ContentType, **values: Any) -> dict[str, Any]:
    return {
        "name": "Invoice signature",
        "content_type": content_type.pk,
        "active": "on",
        "notice": NOTICE,
        "body": BODY,
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "0",
        **values,
    }


def test_the_admin_saves_a_new_version_on_every_change_of_the_text(
    admin_client: Client, superuser: User
) -> None:
    invoices = ContentType.objects.get_for_model(Invoice)
    added = admin_client.post(reverse("admin:noojee_django_script_add"), script_form(invoices))
    assert added.status_code == 302, added.content[:2000]
    script = Script.objects.get()
    assert list(script.versions.values_list("number", "created_by")) == [(1, superuser.pk)]
    change = reverse("admin:noojee_django_script_change", args=[script.pk])
    form = script_form(invoices, **{"versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1"})
    form.pop("content_type")  # read-only once the script has versions
    assert admin_client.post(change, {**form, "name": "Renamed"}).status_code == 302
    assert script.versions.count() == 1  # the name is not the text
    assert admin_client.post(change, {**form, "body": BODY + " Thank you."}).status_code == 302
    assert list(script.versions.order_by("number").values_list("body", flat=True)) == [
        BODY,
        BODY + " Thank you.",
    ]
    page = admin_client.get(change).content.decode()
    assert "Versions (read-only" in page and BODY + " Thank you." in page
    assert 'name="versions-0-body"' not in page  # listed, not editable


def test_the_admin_names_a_field_the_record_does_not_have(admin_client: Client) -> None:
    invoices = ContentType.objects.get_for_model(Invoice)
    response = admin_client.post(
        reverse("admin:noojee_django_script_add"), script_form(invoices, body="Pay {total}.")
    )
    assert response.status_code == 200
    assert "{total} is not a field of invoice" in response.content.decode()
    assert not Script.objects.exists()


def test_the_admin_never_edits_nor_deletes_a_version_or_a_script(
    admin_client: Client, script: Script
) -> None:
    version = script.current_version
    assert version is not None
    change = reverse("admin:noojee_django_scriptversion_change", args=[version.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and 'name="body"' not in page.content.decode()
    assert admin_client.post(change, {"body": "Other words."}).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:noojee_django_scriptversion_delete", args=[version.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        admin_client.post(
            reverse("admin:noojee_django_script_delete", args=[script.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert ScriptVersion.objects.get(pk=version.pk).body == BODY


def test_the_recording_admin_page_shows_consent_and_script(
    admin_client: Client, agent: User, invoice: Invoice, script: Script
) -> None:
    recording_tag = RecordingTag.objects.create(
        tag="INV-42",
        content_object=invoice,
        started_by=agent,
        consent_given=True,
        consent_confirmed_by=agent,
        script_version=script.current_version,
        script_text=expected_text(invoice),
        script_sha256="ab" * 32,
    )
    page = admin_client.get(reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk]))
    text = page.content.decode()
    assert "Consent and script" in text and "ab" * 32 in text and "I confirm that I agree" in text


# --------------------------------------------------------------------------------------------------
# End to end: a recording with a script, attached, in its evidence bundle


def test_a_recording_with_a_script_ends_attached_with_its_script_hash_in_the_evidence_manifest(
    pbx: Any, settings: Any, agent: User, customer: Customer, invoice: Invoice, script: Script
) -> None:
    settings.NOOJEE = {
        **settings.NOOJEE,
        "EVIDENCE_SIGNING_KEY": generate_private_key(),
        "REQUIRE_CONSENT": True,
    }
    agent.user_permissions.add(Permission.objects.get(codename="export_evidence"))
    agent = User.objects.get(pk=agent.pk)
    shown = services.script_for(invoice)
    assert shown is not None
    call = connected_call(agent, customer)
    client = logged_in(agent)
    started = client.post(
        reverse("noojee:start-recording"),
        {
            "content_type": "crm.invoice",
            "object_id": invoice.pk,
            "tag": "INV-42",
            "consent": "on",
            "script_version": shown.version.pk,
            "script_sha256": shown.sha256,
        },
        **JSON,
    )
    assert started.status_code == 200, started.content
    recording_tag = RecordingTag.objects.get(pk=started.json()["id"])
    time.sleep(1.1)
    services.stop_recording(agent, recording_tag)
    services.hangup(agent, call)
    wait_for(lambda: services.poll_tag(recording_tag.pk).legs_found or None)
    for leg in RecordingLeg.objects.filter(recording_tag=recording_tag, fetch_status="pending"):
        services.fetch_leg(leg.pk)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert recording_tag.script_sha256 == shown.sha256

    response = client.get(reverse("noojee:recording-evidence", args=[recording_tag.pk]))
    bundle = b"".join(response.streaming_content)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(bundle)).read("manifest.json"))
    assert manifest["script"]["version_id"] == shown.version.pk and manifest["script"]["version"] == 1
    assert manifest["script"]["name"] == "Invoice signature"
    assert manifest["script"]["text"] == expected_text(invoice)
    assert manifest["script"]["text_sha256"] == shown.sha256
    assert manifest["script"]["body_template"] == BODY
    assert manifest["consent"]["consent_given"] is True
    assert manifest["consent"]["confirmed_by"]["username"] == "agent"
    assert manifest["consent"]["confirmed_at"]["utc"] == recording_tag.consent_confirmed_at.isoformat()
    assert services.verify_evidence(io.BytesIO(bundle)).ok

    # a text edited in the database after the start is named, even in a bundle signed since
    RecordingTag.objects.filter(pk=recording_tag.pk).update(script_text="I agree to pay nothing.")
    altered = b"".join(
        client.get(reverse("noojee:recording-evidence", args=[recording_tag.pk])).streaming_content
    )
    report = services.verify_evidence(io.BytesIO(altered))
    assert [f.name for f in report.findings] == ["manifest.json: script.text"]
