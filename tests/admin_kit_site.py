"""A CRM's own ``AdminSite``, the way a CRM with several sites has one: the app's pages registered
with ``register_admin`` and CRM admins using the kit, with inlines and templates of their own.

Used by ``tests/test_admin_kit.py`` as its URLconf (``@pytest.mark.urls("tests.admin_kit_site")``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template import engines
from django.urls import include, path

from example_project.crm.models import Customer, Invoice
from noojee_django.admin import NoojeeAdminMixin, RecordingTagInline, register_admin


class DeskSite(admin.AdminSite):
    site_header = "Sales desk"


desk = DeskSite(name="desk")


class InvoiceInline(admin.TabularInline):
    model = Invoice
    fields = ["number", "amount", "status"]
    extra = 0


@admin.register(Customer, site=desk)
class DeskCustomerAdmin(NoojeeAdminMixin, admin.ModelAdmin):
    """Two numbers, one a field and one the admin's own method; an inline of its own."""

    noojee_phone_fields = ["phone", "switchboard"]
    inlines = [InvoiceInline]

    @admin.display(description="switchboard")
    def switchboard(self, obj: Customer) -> str:
        return "03 9000 0000"


@admin.register(Invoice, site=desk)
class DeskInvoiceAdmin(NoojeeAdminMixin, admin.ModelAdmin):
    """Its own change form template, and inlines chosen per page by ``get_inlines``."""

    change_form_template = engines["django"].from_string(
        '{% extends "admin/change_form.html" %}'
        '{% block form_top %}<p id="desk-invoice-note">Check the amount with the customer.</p>{% endblock %}'
    )
    noojee_phone_fields = ["customer__phone"]
    noojee_record_tag = "number"
    noojee_show_recordings = True

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        return [RecordingTagInline] if obj is not None else []


register_admin(desk)

urlpatterns = [
    path("desk/", desk.urls),
    path("admin/", admin.site.urls),
    path("noojee/", include("noojee_django.urls")),
    path("", include("example_project.crm.urls")),
]
