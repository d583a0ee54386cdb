"""``manage.py seed_demo``: demo users, customers and invoices. Safe to run again: nothing is duplicated."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand

from example_project.crm.models import Customer, Invoice
from noojee_django import services
from noojee_django.models import AgentPhone, HandsetBrand, Script

DEMO_PASSWORD = "demo"  # noqa: S105  (local demo accounts only)

CUSTOMERS = [
    ("Acme Pty Ltd", "03 8320 8100", [("INV-1001", "1250.00"), ("INV-1002", "89.90")]),
    ("Blue Gum Cafe", "+61 2 9876 5432", [("INV-1003", "412.50")]),
    ("Coastal Freight", "(07) 3555-0199", [("INV-1004", "7300.00"), ("INV-1005", "15.00")]),
]

#: The words an agent reads on an invoice: {number} and {amount} are the invoice's own fields.
INVOICE_SCRIPT_NAME = "Invoice voice signature"
INVOICE_NOTICE = (
    "This call is recorded: the recording is kept as the record of your agreement to invoice {number}."
)
INVOICE_SCRIPT = "I confirm that I agree to pay invoice {number} for {amount}."


class Command(BaseCommand):
    help = "Create the demo users (agent, manager, intern), customers, invoices and the invoice script."

    def handle(self, *args: Any, **options: Any) -> None:
        agent = self._user("agent", "Alex", "Agent")
        self._grant(agent, "can_dial", "can_record", "view_invoice", "view_customer")
        AgentPhone.objects.update_or_create(
            user=agent,
            defaults={"extension": "SIP/101", "handset_brand": HandsetBrand.YEALINK, "login_name": "alex"},
        )
        manager = self._user("manager", "Morgan", "Manager", is_staff=True, is_superuser=True)
        AgentPhone.objects.update_or_create(
            user=manager, defaults={"extension": "SIP/102", "login_name": "morgan"}
        )
        intern = self._user("intern", "Ira", "Intern")
        self._grant(intern, "view_customer")  # sees customers, not invoices nor their recordings

        for name, phone, invoices in CUSTOMERS:
            customer, _ = Customer.objects.get_or_create(name=name, defaults={"phone": phone})
            for number, amount in invoices:
                Invoice.objects.get_or_create(
                    number=number, defaults={"customer": customer, "amount": amount}
                )
        script, _ = Script.objects.get_or_create(
            name=INVOICE_SCRIPT_NAME, content_type=ContentType.objects.get_for_model(Invoice)
        )
        if script.current_version is None:  # an edited demo script is the editor's: kept
            services.save_script_text(script, notice=INVOICE_NOTICE, body=INVOICE_SCRIPT, user=manager)
        self.stdout.write(
            f"Demo users (password {DEMO_PASSWORD!r}): agent (SIP/101), manager (admin), "
            "intern (no recordings)"
        )

    def _user(self, username: str, first: str, last: str, **flags: bool) -> User:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, **flags}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        return user

    def _grant(self, user: User, *codenames: str) -> None:
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
