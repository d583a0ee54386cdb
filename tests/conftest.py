"""Fixtures shared by the Django-side tests: users with and without phones and permissions, and the
``NOOJEE`` setting pointed at the emulator (the ``noojee_emulator`` fixture comes from the app's
pytest plugin)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from example_project.crm.models import Customer, Invoice
from noojee_django.models import AgentPhone
from tests.servers import ServerUnavailable, postgres_server, redis_server, require


@pytest.fixture(scope="session")
def loopback_servers() -> Iterator[tuple[str, str]]:
    """``(redis_url, postgres_url)``: throwaway Redis and PostgreSQL on loopback for end-to-end tests.

    Skipped when a binary is missing, except under ``CI=true``, where that fails the run.
    """
    with contextlib.ExitStack() as stack:
        try:
            redis_url = stack.enter_context(redis_server())
            database_url = stack.enter_context(postgres_server())
        except ServerUnavailable as exc:
            require(str(exc))
        yield redis_url, database_url


def _grant(user: User, *codenames: str) -> None:
    for codename in codenames:
        app_label, code = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))


@pytest.fixture(autouse=True)
def _empty_recordings_storage() -> None:
    """Each test starts with no audio on disk, so it can count the files it wrote."""
    from django.core.files.storage import storages

    root = Path(storages["noojee_recordings"].location)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """The listener's heartbeat and the reconcile lock live in the cache: no test inherits them."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def pbx(settings: Any, noojee_emulator: Any) -> Any:
    """Point the app at the emulator; returns the running emulator."""
    settings.NOOJEE = {
        **settings.NOOJEE,
        "BASE_URL": noojee_emulator.url,
        "API_KEY": noojee_emulator.config.api_key,
        "PBX_TIME_ZONE": noojee_emulator.config.pbx_time_zone,
        "POLL_DELAY": 0,
    }
    return noojee_emulator


@pytest.fixture
def agent(db: Any) -> User:
    """An agent with a phone, allowed to dial, record, and view invoices and customers."""
    user = User.objects.create_user("agent", password="pw")
    AgentPhone.objects.create(user=user, extension="SIP/101", login_name="agent1", handset_brand="yealink")
    _grant(
        user,
        "noojee_django.can_dial",
        "noojee_django.can_record",
        "crm.view_invoice",
        "crm.view_customer",
    )
    return User.objects.get(pk=user.pk)  # fresh instance: no stale permission cache


@pytest.fixture
def other_agent(db: Any) -> User:
    """An agent on another extension, with the same permissions."""
    user = User.objects.create_user("agent2", password="pw")
    AgentPhone.objects.create(user=user, extension="SIP/102", login_name="agent2")
    _grant(
        user, "noojee_django.can_dial", "noojee_django.can_record", "crm.view_invoice", "crm.view_customer"
    )
    return User.objects.get(pk=user.pk)


@pytest.fixture
def outsider(db: Any) -> User:
    """A logged-in user with no phone and no view permission on invoices."""
    return User.objects.create_user("outsider", password="pw")


@pytest.fixture
def staff(db: Any) -> User:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    _grant(
        user,
        *(
            f"noojee_django.{action}_{model}"
            for action in ("view", "change")
            for model in (
                "callsession",
                "recordingtag",
                "recordingleg",
                "recordingattempt",
                "recordingaccess",
            )
        ),
        "crm.view_invoice",
    )
    return User.objects.get(pk=user.pk)


@pytest.fixture
def superuser(db: Any) -> User:
    return User.objects.create_superuser("root", password="pw")


@pytest.fixture
def customer(db: Any) -> Customer:
    return Customer.objects.create(name="Acme Pty Ltd", phone="03 8320 8100")


@pytest.fixture
def invoice(customer: Customer) -> Invoice:
    return Invoice.objects.create(number="INV-42", customer=customer, amount="199.00")
