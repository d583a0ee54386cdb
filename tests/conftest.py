"""Fixtures shared by the Django-side tests: users with and without phones and permissions, and the
``NOOJEE`` setting pointed at the emulator (the ``noojee_emulator`` fixture comes from the app's
pytest plugin)."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from example_project.crm.models import Customer, Invoice
from noojee_django.models import AgentPhone
from tests.servers import ServerUnavailable, mariadb_server, postgres_server, redis_server, require


@contextlib.contextmanager
def _required(server: contextlib.AbstractContextManager[str]) -> Iterator[str]:
    """A server's URL, or the test skipped (failed under ``CI=true``) when it cannot start."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(server)
        except ServerUnavailable as exc:
            require(str(exc))
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis on loopback, for the whole session."""
    with _required(redis_server()) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback, for the whole session: make a database per test."""
    with _required(postgres_server()) as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A throwaway MariaDB server on loopback, for the whole session: make a database per test."""
    with _required(mariadb_server()) as url:
        yield url


@pytest.fixture(scope="session")
def loopback_servers(redis_url: str, postgres_url: str) -> tuple[str, str]:
    """``(redis_url, postgres_url)``: throwaway Redis and PostgreSQL on loopback for end-to-end tests.

    Skipped when a binary is missing, except under ``CI=true``, where that fails the run.
    """
    return redis_url, postgres_url


#: The databases the database-heavy tests run on, each as other processes see it (``DATABASE_URL``).
DATABASE_ENGINES = ["sqlite", "postgresql", "mariadb"]


@pytest.fixture(params=DATABASE_ENGINES)
def engine_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ``DATABASE_URL`` of a new, empty database, on SQLite, PostgreSQL and MariaDB in turn."""
    from tests.drill_stack import fresh_database

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    server_url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mariadb_url")
    return fresh_database(server_url, f"t_{uuid.uuid4().hex[:16]}")


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
