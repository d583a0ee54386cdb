"""Fixtures shared by the Django-side tests: users with and without phones and permissions, and the
``NOOJEE`` setting pointed at the emulator (the ``noojee_emulator`` fixture comes from the app's
pytest plugin).

Conventions for every test file, because ``make test`` runs the suite in parallel (pytest-xdist,
``-n <cores + 1> --dist loadgroup``) and ``make test-fast`` runs it without the ``slow`` tests:

- **Servers are per worker.** ``redis_url``, ``postgres_url``, ``mariadb_url``, ``s3_endpoint`` and the
  emulator are session fixtures, so each xdist worker starts its own on a free port. Never use a fixed
  port or a fixed path outside ``tmp_path``; a database name, Redis database number or bucket only has
  to be unique within one session (each worker has its own servers), and pytest-django gives each
  worker its own test database (``test_..._gw0``).
- **Long or timing-sensitive tests are ``@pytest.mark.slow``** (drills, subprocess stacks, anything
  over a few seconds): ``make test-fast`` leaves them out, and under xdist they are scheduled first so
  the longest ones do not start last. A module whose tests take more than about 15 s goes into
  :data:`LONGEST_FIRST` below, at its place by length.
- **A module-scoped fixture that is expensive** (a stack of processes, a wheel build) keeps its tests
  on one worker: ``pytestmark = pytest.mark.xdist_group("<module name>")``; otherwise each worker that
  gets one of its tests builds it again. The same goes for tests that read what an earlier test of
  the module left (the browser tests, one such group).
- **Hypothesis example counts scale with the profile** (``tests/hypothesis_profiles.py``): write
  ``@settings(max_examples=examples(200))``, never a literal count, so ``dev`` stays fast and ``ci``
  (``CI=true``) runs the full count.
- **A test that runs pytest in a subprocess** passes it ``--output=<a folder in its tmp_path>``:
  pytest-playwright empties its output folder at the start of every session, and the suite's is
  ``test-artifacts/playwright``, where the failed browser tests' screenshots and traces go.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

import tests.hypothesis_profiles  # noqa: F401  (loads the Hypothesis profile before any test module)
from example_project.crm.models import Customer, Invoice
from noojee_django.models import AgentPhone
from tests.servers import ServerUnavailable, mariadb_server, postgres_server, redis_server, require

#: The modules of the longest ``slow`` tests, longest first (seconds on two idle cores): under xdist they
#: start first, so the run is not waiting on one of them at its end. A new slow test of more than
#: about 15 s goes here; the other slow tests follow these, and the quick tests come last.
LONGEST_FIRST = (
    "tests/test_suite_on_servers.py",  # 2 x 50 s: five test files again, on PostgreSQL and on MariaDB
    "tests/test_browser_walkthrough.py",  # 80 s: three users walk through, axe-core on every step
    "tests/test_reliability_drill.py",  # 40 s
    "tests/test_demo.py",  # 16 s the scripted demo, 25 s the two companies' (one worker, one stack)
    "tests/test_browser.py",  # 30 s (on the same worker as the walkthrough: the "browser" group)
    "tests/test_listener_drill.py",  # 16 s
    "tests/test_load_smoke.py",  # 12 s
    "tests/test_secrets.py",  # 15 s
    "tests/test_pipeline_e2e.py",  # 6 x 4-9 s
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the longest tests first, and each ``xdist_group`` in its test ids.

    The order is :data:`LONGEST_FIRST`, then the other ``slow`` tests, then the rest, each in collection
    order: workers pick up the longest tests while the others work through the quick ones, instead of
    one long test starting last (``make test`` passes ``--no-loadscope-reorder`` to keep this order).
    The group suffix (``nodeid@group``) is how ``--dist loadgroup`` keeps a group on one worker;
    pytest-xdist 3.8 writes it to an attribute that pytest 9.2 no longer reads the id from, so it is
    written here when it is missing.
    """
    if not hasattr(config, "workerinput"):
        return

    def rank(item: pytest.Item) -> tuple[int, int]:
        module = item.nodeid.split("::", 1)[0]
        if module in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(module)
        return (1, 0) if item.get_closest_marker("slow") else (2, 0)

    items.sort(key=rank)
    if not config.getvalue("loadgroup"):
        return
    for item in items:
        groups = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        if groups and "@" not in item.nodeid.rpartition("]")[2]:
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")  # type: ignore[attr-defined]


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
