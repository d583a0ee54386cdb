"""The admin kit on a CRM's own AdminSite (``tests/admin_kit_site.py``): the panel on change pages
(dial, record, the recordings) outside the admin's form, for those the hooks allow and nobody else;
the app's own pages on that site; ``register_admin`` and ``NOOJEE["REGISTER_ADMIN"]``."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core import checks
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from example_project.crm.models import Customer, Invoice
from noojee_django.admin import APP_ADMINS, NoojeeAdminMixin, RecordingTagInline, register_admin
from noojee_django.models import AgentPhone, CallSession, RecordingTag
from tests.admin_kit_site import DeskCustomerAdmin, DeskInvoiceAdmin, desk
from tests.recordings import attached_recording
from tests.test_admin import logged_in, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.admin_kit_site")]

ROOT = Path(__file__).resolve().parents[1]


class Page(HTMLParser):
    """The forms of a page, each with its inputs, its nesting depth and whether it is the admin's."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.open: list[dict[str, Any]] = []
        self.headings: list[str] = []
        self.panel_headings: list[str] = []
        self.audio: list[str] = []
        self.links: list[str] = []
        self._heading: list[str] | None = None
        self.inside_panel = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            form = {
                "attrs": attributes,
                "depth": len(self.open),
                "inputs": {},
                "in_panel": self.inside_panel > 0,
            }
            self.forms.append(form)
            self.open.append(form)
        elif tag == "input" and self.open and attributes.get("name"):
            self.open[-1]["inputs"][attributes["name"]] = attributes.get("value") or ""
        elif tag == "h2":
            self._heading = []
        elif tag == "audio":
            self.audio.append(attributes.get("src") or "")
        elif tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
        if tag == "div" and (attributes.get("id") == "noojee-panel" or self.inside_panel):
            self.inside_panel += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.open:
            self.open.pop()
        elif tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            if self.inside_panel:
                self.panel_headings.append(self.headings[-1])
            self._heading = None
        elif tag == "div" and self.inside_panel:
            self.inside_panel -= 1

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)

    def admin_form(self, model_name: str) -> dict[str, Any]:
        [form] = [f for f in self.forms if f["attrs"].get("id") == f"{model_name}_form"]
        return form

    def panel_forms(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.forms if f["attrs"].get("data-noojee") == kind]


def page_of(client: Client, url: str) -> tuple[str, Page]:
    response = client.get(url)
    assert response.status_code == 200, response
    html = response.content.decode()
    return html, Page(html)


def desk_agent(*extra: str) -> User:
    """Staff on the desk who may dial, record and view invoices and customers, with a phone."""
    user = make_user(
        "desk-agent",
        "noojee_django.can_dial",
        "noojee_django.can_record",
        "crm.view_invoice",
        "crm.view_customer",
        *extra,
    )
    AgentPhone.objects.create(user=user, extension="SIP/121", login_name="desk1")
    return user


def change_url(obj: Any) -> str:
    return reverse(f"desk:crm_{obj._meta.model_name}_change", args=[obj.pk])


def assert_no_nested_forms(page: Page) -> None:
    assert page.forms, "the page has no form at all"
    assert all(form["depth"] == 0 for form in page.forms), [f["attrs"] for f in page.forms if f["depth"]]


# The panel on a CRM change page


def test_the_change_page_has_a_dial_button_for_each_named_phone_field(customer: Customer) -> None:
    html, page = page_of(logged_in(desk_agent()), change_url(customer))
    numbers = [form["inputs"]["number"] for form in page.panel_forms("dial")]
    assert numbers == ["03 8320 8100", "03 9000 0000"]  # the field, then the admin's method
    assert all(form["in_panel"] for form in page.panel_forms("dial"))
    for form in page.panel_forms("dial"):
        assert form["attrs"]["action"] == reverse("noojee:dial")
        assert form["inputs"]["content_type"] == "crm.customer"
        assert form["inputs"]["object_id"] == str(customer.pk)
        assert form["inputs"]["csrfmiddlewaretoken"]
    assert "Switchboard" in html and "Phone" in html  # each button under its field's label
    assert page.panel_headings == ["Call and record", "Recordings"]  # "No recordings yet."
    assert page.panel_forms("record-start") == []  # the customer admin names no tag
    assert "Invoices" in page.headings  # the admin's own inline is still there
    assert "noojee_django/noojee.js" in html and "noojee_django/noojee.css" in html
    assert_no_nested_forms(page)


def test_the_dial_button_on_the_change_page_calls_the_customer(
    pbx: Any, noojee_emulator_control: Any, customer: Customer
) -> None:
    client = logged_in(desk_agent())
    _, page = page_of(client, change_url(customer))
    dial = page.panel_forms("dial")[0]
    response = client.post(dial["attrs"]["action"], dial["inputs"])
    assert response.status_code == 302 and response["Location"] == change_url(customer)
    call = CallSession.objects.get()
    assert call.content_object == customer and call.number == "0383208100" and call.extension == "SIP/121"
    assert noojee_emulator_control.stats()["requests"]["dial"] == 1


def test_the_change_page_records_under_the_tag_and_plays_the_recordings(invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    html, page = page_of(logged_in(desk_agent()), change_url(invoice))
    [start] = page.panel_forms("record-start")
    assert start["in_panel"] and start["inputs"]["tag"] == "INV-42"
    assert start["inputs"]["content_type"] == "crm.invoice" and start["inputs"]["object_id"] == str(
        invoice.pk
    )
    assert "Record voice signature INV-42" in html
    [dial] = page.panel_forms("dial")
    assert dial["inputs"]["number"] == "03 8320 8100"  # customer__phone, across the relation
    signature = reverse("noojee:recording-audio", args=[recording_tag.pk])
    legs = [reverse("noojee:leg-audio", args=[leg.pk]) for leg in recording_tag.legs.order_by("leg")]
    assert signature in page.audio and set(legs) <= set(page.audio)
    assert 'class="noojee-timeline"' in html  # the legs picture
    assert page.panel_headings == ["Call and record", "Recordings"]
    assert "Voice signatures" in page.headings  # the inline get_inlines gives
    assert 'id="desk-invoice-note"' in html  # the admin's own change_form_template
    assert_no_nested_forms(page)


def test_the_panel_is_outside_the_admin_form(invoice: Invoice) -> None:
    attached_recording(invoice)
    html, page = page_of(logged_in(desk_agent()), change_url(invoice))
    panel_forms = [f for f in page.forms if f["in_panel"]]
    assert {f["attrs"].get("data-noojee") for f in panel_forms} >= {"dial", "record-start", "record-stop"}
    assert page.admin_form("invoice")["depth"] == 0
    assert html.index('id="noojee-panel"') < html.index('id="invoice_form"')
    assert_no_nested_forms(page)


def test_the_add_page_has_no_panel(customer: Customer) -> None:
    client = logged_in(desk_agent("crm.add_invoice", "crm.add_customer"))
    for model in ("invoice", "customer"):
        html, page = page_of(client, reverse(f"desk:crm_{model}_add"))
        assert 'id="noojee-panel"' not in html
        assert page.panel_forms("dial") == [] and page.panel_forms("record-start") == []
        page.admin_form(model)


def test_a_popup_has_no_panel(customer: Customer) -> None:
    html, _ = page_of(logged_in(desk_agent()), change_url(customer) + "?_popup=1")
    assert 'id="noojee-panel"' not in html


def test_a_user_the_hooks_refuse_sees_no_panel_at_all(settings: Any, invoice: Invoice) -> None:
    attached_recording(invoice)
    settings.NOOJEE = {
        **settings.NOOJEE,
        "MAY_DIAL": lambda user, obj=None: False,
        "MAY_RECORD": lambda user, obj=None: False,
        "MAY_HEAR": lambda user, obj: False,
    }
    html, page = page_of(logged_in(desk_agent()), change_url(invoice))
    assert 'id="noojee-panel"' not in html
    assert "noojee_django/noojee.js" not in html
    assert page.panel_forms("dial") == [] and page.panel_forms("record-start") == []
    assert page.audio == []
    assert "Call and record" not in page.headings and "Recordings" not in page.headings
    assert "Voice signatures" not in page.headings  # the inline asks MAY_HEAR too
    page.admin_form("invoice")  # the page itself is there


def test_a_user_without_phone_or_permissions_hears_but_gets_no_controls(invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    clerk = make_user("clerk", "crm.view_invoice", "crm.change_invoice")  # no phone, no can_dial/record
    html, page = page_of(logged_in(clerk), change_url(invoice))
    assert page.panel_forms("dial") == [] and page.panel_forms("record-start") == []
    assert "data-noojee-call-status" not in html
    assert page.panel_headings == ["Recordings"]  # no heading over nothing
    assert reverse("noojee:recording-audio", args=[recording_tag.pk]) in page.audio
    assert_no_nested_forms(page)


def test_a_user_with_a_phone_who_may_not_hear_gets_controls_only(settings: Any, invoice: Invoice) -> None:
    attached_recording(invoice)
    settings.NOOJEE = {**settings.NOOJEE, "MAY_HEAR": lambda user, obj: False}
    _, page = page_of(logged_in(desk_agent()), change_url(invoice))
    assert page.panel_headings == ["Call and record"]
    assert page.audio == []
    assert len(page.panel_forms("record-start")) == 1


def test_the_panel_keeps_a_model_specific_change_form_override(settings: Any, customer: Customer) -> None:
    [django_templates] = [t for t in settings.TEMPLATES if t["BACKEND"].endswith("DjangoTemplates")]
    override = (
        '{% extends "admin/change_form.html" %}'
        '{% block object-tools %}<p id="customer-override">Call between 9 and 5.</p>'
        "{{ block.super }}{% endblock %}"
    )
    settings.TEMPLATES = [
        {
            **django_templates,
            "APP_DIRS": False,
            "OPTIONS": {
                **django_templates.get("OPTIONS", {}),
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {"admin/crm/customer/change_form.html": override},
                    ),
                    "django.template.loaders.filesystem.Loader",
                    "django.template.loaders.app_directories.Loader",
                ],
            },
        }
    ]
    html, page = page_of(logged_in(desk_agent()), change_url(customer))
    assert 'id="customer-override"' in html
    assert len(page.panel_forms("dial")) == 2
    assert_no_nested_forms(page)


def test_the_change_page_queries_do_not_grow_with_the_recordings(invoice: Invoice) -> None:
    client = logged_in(desk_agent())
    url = change_url(invoice)

    def queries_with(count: int) -> int:
        RecordingTag.objects.all().delete()
        for number in range(count):
            attached_recording(invoice, tag=f"INV-42-{number}")
        client.get(url)  # sessions and content types warmed up
        with CaptureQueriesContext(connection) as captured:
            _, page = page_of(client, url)
        assert len([src for src in page.audio if "/recordings/" in src]) >= count
        return len(captured)

    assert queries_with(5) == queries_with(1)


# The app's own pages on the custom site


def test_the_apps_pages_work_on_a_custom_site_and_link_within_it(invoice: Invoice, superuser: User) -> None:
    recording_tag = attached_recording(invoice)
    call = CallSession.objects.create(
        user=superuser, extension="SIP/1", number="0383208100", content_object=invoice
    )
    AgentPhone.objects.create(user=superuser, extension="SIP/1")
    client = logged_in(superuser)
    recordings = reverse("desk:noojee_django_recordingtag_changelist")
    assert recordings.startswith("/desk/")
    _, page = page_of(client, recordings)
    assert reverse("desk:noojee_django_recordingtag_change", args=[recording_tag.pk]) in page.links
    assert reverse("desk:crm_invoice_change", args=[invoice.pk]) in page.links  # "attached to"
    _, page = page_of(client, reverse("desk:noojee_django_recordingtag_change", args=[recording_tag.pk]))
    assert reverse("desk:crm_invoice_change", args=[invoice.pk]) in page.links
    assert reverse("desk:noojee_django_recordingtag_changelist") in page.links  # breadcrumbs
    _, page = page_of(client, reverse("desk:noojee_django_callsession_changelist"))
    assert reverse("desk:noojee_django_callsession_change", args=[call.pk]) in page.links
    assert reverse("desk:crm_invoice_change", args=[invoice.pk]) in page.links  # "called from"
    _, page = page_of(client, reverse("desk:noojee_django_agentphone_changelist"))
    assert any(link.startswith("/desk/noojee_django/agentphone/") for link in page.links)
    for model in (
        "recordingleg",
        "storedaudio",
        "recordingtransition",
        "recordingattempt",
        "recordingaccess",
    ):
        _, page = page_of(client, reverse(f"desk:noojee_django_{model}_changelist"))
        for seen in (recordings, reverse("desk:noojee_django_callsession_changelist")):
            assert seen in page.links  # the site's own sidebar
    _, page = page_of(client, reverse("desk:index"))
    assert not [link for link in page.links if link.startswith("/admin/")]


def test_the_attach_confirmation_stays_on_the_custom_site(invoice: Invoice, superuser: User) -> None:
    recording_tag = attached_recording(invoice)
    changelist = reverse("desk:noojee_django_recordingtag_changelist")
    response = logged_in(superuser).post(
        changelist, {"action": "attach_to", "_selected_action": [recording_tag.pk]}
    )
    assert response.status_code == 200
    page = Page(response.content.decode())
    assert changelist in page.links and reverse("desk:index") in page.links
    assert not [link for link in page.links if link.startswith("/admin/")]


def test_register_admin_twice_is_harmless() -> None:
    before = {model: type(model_admin) for model, model_admin in desk._registry.items()}
    register_admin(desk)
    register_admin(desk)
    assert {model: type(model_admin) for model, model_admin in desk._registry.items()} == before
    assert all(desk.is_registered(model) for model in APP_ADMINS)


def test_register_admin_keeps_a_page_the_site_already_has() -> None:
    site = admin.AdminSite(name="fresh")

    class OwnRecordingTagAdmin(admin.ModelAdmin):
        pass

    site.register(RecordingTag, OwnRecordingTagAdmin)
    register_admin(site)
    assert type(site._registry[RecordingTag]) is OwnRecordingTagAdmin
    assert sorted(m._meta.model_name for m in site._registry) == sorted(
        m._meta.model_name for m in APP_ADMINS
    )


def test_the_inline_heading_reads_voice_signatures() -> None:
    assert RecordingTagInline.verbose_name_plural == "Voice signatures"
    assert RecordingTagInline.verbose_name == "voice signature"


REGISTRATION_PROBE = """
import json, sys, django
from django.conf import settings
import tests.settings as base
names = {name: getattr(base, name) for name in dir(base) if name.isupper()}
NOOJEE = dict(names.pop("NOOJEE"))
register = json.loads(sys.argv[1])
if register is not None:
    NOOJEE["REGISTER_ADMIN"] = register
settings.configure(**names, NOOJEE=NOOJEE)
django.setup()
from django.contrib import admin
from noojee_django.admin import APP_ADMINS, register_admin
from example_project.crm.models import Invoice
site = admin.AdminSite(name="fresh")
register_admin(site)
print(json.dumps({
    "default_site": sorted(m._meta.model_name for m in APP_ADMINS if admin.site.is_registered(m)),
    "crm_on_default_site": admin.site.is_registered(Invoice),
    "fresh_site": sorted(m._meta.model_name for m in APP_ADMINS if site.is_registered(m)),
}))
"""


@pytest.mark.parametrize("register", [None, True, False], ids=["unset", "true", "false"])
def test_register_admin_setting_decides_the_default_site_only(register: bool | None) -> None:
    """Registration happens when the admins are discovered, at start: a fresh process tells."""
    result = subprocess.run(
        [sys.executable, "-c", REGISTRATION_PROBE, json.dumps(register)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    everything = sorted(m._meta.model_name for m in APP_ADMINS)
    assert seen["default_site"] == ([] if register is False else everything)
    assert seen["fresh_site"] == everything
    assert seen["crm_on_default_site"] is True  # the project's own registrations are not the app's


# Misconfiguration


def test_a_misnamed_phone_field_or_tag_is_reported_by_the_checks() -> None:
    class MisnamedAdmin(NoojeeAdminMixin, admin.ModelAdmin):
        noojee_phone_fields = ["phone", "mobile"]
        noojee_record_tag = "reference"

    site = admin.AdminSite(name="misnamed")
    errors = [e for e in MisnamedAdmin(Customer, site).check() if e.id == "noojee.E101"]
    assert [e.level for e in errors] == [checks.ERROR, checks.ERROR]
    assert "'mobile'" in errors[0].msg and "'reference'" in errors[1].msg
    assert not [e for e in DeskCustomerAdmin(Customer, site).check() if e.id == "noojee.E101"]
    assert not [e for e in DeskInvoiceAdmin(Invoice, site).check() if e.id == "noojee.E101"]
