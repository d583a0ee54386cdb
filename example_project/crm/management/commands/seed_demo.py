"""``manage.py seed_demo``: demo users, customers and invoices. Safe to run again: nothing is duplicated.

With the second client company's PBX configured (``NOOJEE["PBXES"]["acme"]``, as ``make demo`` does),
that company's customers and invoices too, an agent with a phone on it (``acme-agent``) and a manager
without a phone who is given it by the group ``pbx:acme`` (``acme-manager``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand

from example_project.crm.models import Customer, Invoice
from noojee_django import connections, services
from noojee_django.models import AgentPhone, HandsetBrand, Script

DEMO_PASSWORD = "demo"  # noqa: S105  (local demo accounts only)

CUSTOMERS = [
    ("Acme Pty Ltd", "03 8320 8100", [("INV-1001", "1250.00"), ("INV-1002", "89.90")]),
    ("Blue Gum Cafe", "+61 2 9876 5432", [("INV-1003", "412.50")]),
    ("Coastal Freight", "(07) 3555-0199", [("INV-1004", "7300.00"), ("INV-1005", "15.00")]),
]
#: The second client company's PBX, and its customers (seeded after the first company's).
ACME = "acme"
ACME_CUSTOMERS = [
    ("Karri Timber Co", "08 9325 1100", [("INV-2001", "640.00"), ("INV-2002", "2180.00")]),
    ("Wattle Bakery", "+61 8 9444 0123", [("INV-2003", "55.00")]),
]

#: The words an agent reads on an invoice: {number} and {amount} are the invoice's own fields.
INVOICE_SCRIPT_NAME = "Invoice voice signature"
INVOICE_NOTICE = (
    "This call is recorded: the recording is kept as the record of your agreement to invoice {number}."
)
INVOICE_SCRIPT = "I confirm that I agree to pay invoice {number} for {amount}."


class Command(BaseCommand):
    help = (
        "Create the demo users (agent, manager, intern; acme-agent and acme-manager with the acme PBX), "
        "customers, invoices and the invoice script."
    )

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
        self._customers(CUSTOMERS, connections.DEFAULT)

        second = ACME in connections.names()
        if second:
            acme_agent = self._user("acme-agent", "Sam", "Agent")
            self._grant(acme_agent, "can_dial", "can_record", "view_invoice", "view_customer")
            AgentPhone.objects.update_or_create(
                user=acme_agent,
                defaults={
                    "extension": "SIP/201",
                    "connection": ACME,
                    "handset_brand": HandsetBrand.YEALINK,
                    "login_name": "sam",
                },
            )
            # No phone: the group gives the acme PBX (example_project/crm/pbxes.py, the USER_PBXES hook).
            acme_manager = self._user("acme-manager", "Robin", "Manager")
            self._grant(acme_manager, "view_invoice", "view_customer")
            Group.objects.get_or_create(name=f"pbx:{ACME}")[0].user_set.add(acme_manager)
            # Once there are several PBXs, a user without a phone has none unless a group gives one.
            Group.objects.get_or_create(name=f"pbx:{connections.DEFAULT}")[0].user_set.add(intern)
            self._customers(ACME_CUSTOMERS, ACME)
        script, _ = Script.objects.get_or_create(
            name=INVOICE_SCRIPT_NAME, content_type=ContentType.objects.get_for_model(Invoice)
        )
        if script.current_version is None:  # an edited demo script is the editor's: kept
            services.save_script_text(script, notice=INVOICE_NOTICE, body=INVOICE_SCRIPT, user=manager)
        self.stdout.write(
            f"Demo users (password {DEMO_PASSWORD!r}): agent (SIP/101), manager (admin), "
            "intern (no recordings)"
            + (", acme-agent (SIP/201 on the acme PBX), acme-manager (acme, no phone)" if second else "")
        )

    def _customers(self, customers: list[tuple[str, str, list[tuple[str, str]]]], pbx: str) -> None:
        for name, phone, invoices in customers:
            customer, _ = Customer.objects.get_or_create(name=name, defaults={"phone": phone, "pbx": pbx})
            for number, amount in invoices:
                Invoice.objects.get_or_create(
                    number=number, defaults={"customer": customer, "amount": amount}
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
