"""Several PBXs: ``NOOJEE["PBXES"]`` names connections; every phone, call, recording and leg goes
through its own, against two emulators over loopback HTTP.

The two emulators number their calls and legs alike (each starts from the same counters), so a
``CallRecordId`` or a unique id of one is also one of the other's: the rows must keep them apart by
connection.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from example_project.crm.models import Customer, Invoice
from noojee_django import connections, services, tasks
from noojee_django.checks import check_settings
from noojee_django.exceptions import InvalidState, NoojeePermissionDenied
from noojee_django.listener import CallStateListener
from noojee_django.models import AgentPhone, CallSession, RecordingLeg, RecordingTag
from noojee_django.pbx import get_client
from tests.test_collection import Broker, call_status, run_due, until

ACME_KEY = "acme-global-key-0000"
URL = "https://a.example.com"
DEPLOYMENT_DOC = Path(__file__).resolve().parent.parent / "docs" / "deployment.md"


@pytest.fixture
def sent() -> Broker:
    broker = Broker()
    broker.drain()
    broker.tasks.clear()
    return broker


def _guide_blocks() -> list[str]:
    """The Python blocks of ``docs/deployment.md``'s section "Several PBXs", as a user copies them."""
    text = DEPLOYMENT_DOC.read_text()
    section = text[text.index("## Several PBXs") :]
    section = section[: section.index("\n## ", 1)]
    return [textwrap.dedent(block) for block in re.findall(r"```python\n(.*?)```", section, re.S)]


def _messages() -> str:
    return " ".join(m.msg + " " + (m.hint or "") for m in check_settings())


# --------------------------------------------------------------------------------------- settings


def test_the_single_pbx_settings_are_the_default_connection(settings: Any) -> None:
    settings.NOOJEE = {
        **settings.NOOJEE,
        "BASE_URL": "https://pbx.example.com",
        "PBX_TIME_ZONE": "Asia/Tokyo",
    }

    assert connections.names() == ["default"]
    default = connections.get()
    assert default.BASE_URL == "https://pbx.example.com"
    assert default.PBX_TIME_ZONE == "Asia/Tokyo"
    assert default.KEY_KIND == "global"


def test_a_named_connection_reads_its_key_from_its_own_variable_and_inherits_only_the_rest(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", "acme-secret-key")
    monkeypatch.setenv("EAST_KEY", "east-secret-key")
    settings.NOOJEE = {
        **settings.NOOJEE,
        "BASE_URL": "https://pbx.example.com",
        "TIMEOUT": 4.0,
        "PBXES": {
            "acme": {"BASE_URL": "https://acme.example.com", "PBX_TIME_ZONE": "Australia/Perth"},
            "east": {"BASE_URL": "https://east.example.com", "API_KEY_ENV": "EAST_KEY", "TIMEOUT": 2.5},
        },
    }

    assert connections.names() == ["default", "acme", "east"]
    acme, east = connections.get("acme"), connections.get("east")
    assert (acme.BASE_URL, acme.API_KEY, acme.TIMEOUT, acme.PBX_TIME_ZONE) == (
        "https://acme.example.com",
        "acme-secret-key",
        4.0,
        "Australia/Perth",
    )
    assert (east.API_KEY, east.TIMEOUT) == ("east-secret-key", 2.5)
    assert "secret" not in repr(acme) + repr(east)
    assert get_client("acme").base_url == "https://acme.example.com"
    assert get_client("acme") is not get_client("east")
    with pytest.raises(connections.UnknownConnection, match="'nowhere'"):
        connections.get("nowhere")


def test_a_named_connection_never_takes_the_default_ones_address_or_key(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOOJEE_ACME_API_KEY", raising=False)
    settings.NOOJEE = {**settings.NOOJEE, "BASE_URL": "https://pbx.example.com", "PBXES": {"acme": {}}}

    acme = connections.get("acme")
    assert acme.BASE_URL == "" and acme.API_KEY == ""
    messages = _messages()
    assert "NOOJEE['PBXES']['acme']['BASE_URL'] is not set." in messages
    assert "No API key is configured for the PBX connection 'acme'." in messages
    assert "NOOJEE_ACME_API_KEY" in messages
    with pytest.raises(ImproperlyConfigured, match="'acme'"):
        get_client("acme")


@pytest.mark.parametrize(
    ("pbxes", "check_id", "words"),
    [
        (
            {"acme": {"BASE_URL": "https://a.example.com", "API_KEY": "s3cret-value"}},
            "noojee.E020",
            "API_KEY_ENV",
        ),
        ({"acme": {"BASE_URL": "https://a.example.com", "BASE_ULR": "x"}}, "noojee.E020", "BASE_ULR"),
        (
            {"acme corp": {"BASE_URL": "https://a.example.com"}},
            "noojee.E020",
            "letters, digits or underscores",
        ),
        ({"acme": "https://a.example.com"}, "noojee.E020", "must be a dict"),
        ({"acme": {"API_KEY_ENV": "not a name"}}, "noojee.E020", "environment variable"),
        ({"acme": {"TIMEOUT": 0}}, "noojee.E008", "NOOJEE['PBXES']['acme']['TIMEOUT'] must be a number"),
        ({"acme": {"AUTH": "magic"}}, "noojee.E005", "NOOJEE['PBXES']['acme']['AUTH'] = 'magic'"),
        ("acme", "noojee.E009", "NOOJEE['PBXES'] must be a dict"),
    ],
)
def test_a_wrong_connection_is_named_by_its_check_and_never_echoes_a_key(
    settings: Any, pbxes: Any, check_id: str, words: str
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "PBXES": pbxes}

    found = check_settings()
    assert check_id in [m.id for m in found]
    text = " ".join(m.msg for m in found)
    assert words in text
    assert "s3cret-value" not in text
    with pytest.raises(ImproperlyConfigured):
        connections.get()


def test_a_user_key_connection_is_stated_by_the_checks_and_refused_by_the_listener(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", "k")
    settings.NOOJEE = {
        **settings.NOOJEE,
        "BASE_URL": "https://pbx.example.com",
        "PBXES": {"acme": {"BASE_URL": "https://acme.example.com", "KEY_KIND": "user"}},
    }

    found = {m.id: m.msg for m in check_settings()}
    assert "NOOJEE['PBXES']['acme']['KEY_KIND'] = 'user'" in found["noojee.W021"]
    assert not any(check_id.startswith("noojee.E") for check_id in found)
    with pytest.raises(CommandError, match="user API key"):
        call_command("noojee_listen", "--pbx", "acme", "--max-polls", "1")
    with pytest.raises(CommandError, match="'nowhere'"):
        call_command("noojee_listen", "--pbx", "nowhere", "--max-polls", "1")


def test_the_deployment_guides_pbxes_block_passes_the_checks_once_its_variables_are_set(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace: dict[str, Any] = {}
    exec(_guide_blocks()[0], namespace)  # the settings as the guide writes them
    written = namespace["NOOJEE"]
    settings.NOOJEE = {**settings.NOOJEE, **written}
    named = [name for name in written["PBXES"] if name != "default"]
    assert named

    missing = {m.id for m in check_settings()}
    assert "noojee.E002" in missing  # the variables are not set yet
    for name in named:
        monkeypatch.setenv(connections.get(name).key_source.split()[1], "a-key")
    assert [m.id for m in check_settings() if m.id.startswith("noojee.E")] == []


# ------------------------------------------------------------------------------------ two PBXs


@pytest.fixture
def acme(
    settings: Any, pbx: Any, noojee_emulator_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Two new emulators, numbering alike from the same start: the connections ``"default"`` and
    ``"acme"``; returns acme's (``settings.NOOJEE["BASE_URL"]`` is the default one's)."""
    default = noojee_emulator_factory()
    emulator = noojee_emulator_factory(api_key=ACME_KEY, pbx_time_zone="Australia/Perth")
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", ACME_KEY)
    settings.NOOJEE = {
        **settings.NOOJEE,
        "BASE_URL": default.url,
        "PBXES": {"acme": {"BASE_URL": emulator.url, "PBX_TIME_ZONE": "Australia/Perth"}},
    }
    emulator.default = default
    return emulator


@pytest.fixture
def acme_agent(agent: User) -> User:
    """An agent of the other PBX, on the same extension number as ``agent`` on the default one."""
    user = User.objects.create_user("acme-agent", password="pw")
    AgentPhone.objects.create(user=user, connection="acme", extension="SIP/101", login_name="agent1")
    user.user_permissions.set(agent.user_permissions.all())
    return User.objects.get(pk=user.pk)


@pytest.fixture
def listeners(acme: Any) -> Iterator[Callable[[], None]]:
    """One poll of each connection's listener, as two ``noojee_listen --pbx`` processes would."""
    default = CallStateListener(get_client(), poll_timeout=0)
    other = CallStateListener(get_client("acme"), poll_timeout=0, connection="acme")
    services.mark_listener_alive()
    services.mark_listener_alive("acme")

    def poll() -> None:
        default.poll_once()
        other.poll_once()

    yield poll


def _requests(emulator: Any) -> int:
    from noojee_django.emulator.control import ControlClient

    return sum(ControlClient(emulator.url).stats()["requests"].values())


@pytest.mark.django_db(transaction=True)
def test_two_pbxs_record_the_same_tag_at_once_and_each_recording_gets_its_own_pbxs_audio(
    pbx: Any, acme: Any, agent: User, acme_agent: User, listeners: Callable[[], None], sent: Broker
) -> None:
    from noojee_django.emulator.control import ControlClient

    controls = {"default": ControlClient(acme.default.url), "acme": ControlClient(acme.url)}
    customer = Customer.objects.create(name="Both", phone="03 8320 8100")
    invoices = {
        "default": Invoice.objects.create(number="INV-7", customer=customer, amount="1.00"),
        "acme": Invoice.objects.create(number="INV-7/acme", customer=customer, amount="2.00"),
    }
    agents = {"default": agent, "acme": acme_agent}
    calls = {name: services.dial(agents[name], customer.phone, obj=customer) for name in agents}
    until(lambda: all(call_status(c) == CallSession.Status.CONNECTED for c in calls.values()), listeners)
    assert {name: c.connection for name, c in calls.items()} == {"default": "default", "acme": "acme"}

    # One tag on both PBXs at once: each PBX finds its legs by tag, so each may have it live.
    recordings = {
        name: services.start_recording(agents[name], invoices[name], "INV-7", consent_given=True)
        for name in agents
    }
    # Calls of different lengths: the two PBXs' audio differs, so whose audio came to which is seen.
    for name, call in calls.items():
        time.sleep(1.1)
        controls[name].hangup(CallSession.objects.get(pk=call.pk).unique_id)
    until(lambda: all(call_status(c) == CallSession.Status.HUNG_UP for c in calls.values()), listeners)
    run_due(sent)

    for name, recording in recordings.items():
        recording.refresh_from_db()
        assert (recording.status, recording.connection) == (RecordingTag.Status.ATTACHED, name)
    legs = {name: list(RecordingLeg.objects.filter(recording_tag=r)) for name, r in recordings.items()}
    # The same CallRecordId on both PBXs, two legs here.
    assert [leg.call_record_id for leg in legs["default"]] == [leg.call_record_id for leg in legs["acme"]]
    for name, own in legs.items():
        for leg in own:
            assert leg.connection == name
            served = controls[name].audio(leg.call_record_id)
            assert leg.audio_sha256 == hashlib.sha256(served).hexdigest()
    assert legs["default"][0].audio_sha256 != legs["acme"][0].audio_sha256


@pytest.mark.django_db(transaction=True)
def test_pbx_for_naming_another_pbx_than_the_phones_refuses_the_dial_and_sends_nothing(
    settings: Any, pbx: Any, acme: Any, agent: User, customer: Customer
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "PBX_FOR": lambda user, obj: "acme"}
    before = (_requests(acme.default), _requests(acme))

    with pytest.raises(NoojeePermissionDenied, match="another PBX"):
        services.dial(agent, customer.phone, obj=customer)
    invoice = Invoice.objects.create(number="INV-9", customer=customer, amount="1.00")
    with pytest.raises(NoojeePermissionDenied, match="another PBX"):
        services.start_recording(agent, invoice, "INV-9", consent_given=True)

    assert (_requests(acme.default), _requests(acme)) == before
    assert not CallSession.objects.exists() and not RecordingTag.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_with_one_pbx_down_the_other_ones_recording_is_attached(
    pbx: Any, acme: Any, agent: User, acme_agent: User, listeners: Callable[[], None], sent: Broker
) -> None:
    from noojee_django.emulator.control import ControlClient

    customer = Customer.objects.create(name="Both", phone="03 8320 8100")
    invoice = Invoice.objects.create(number="INV-8", customer=customer, amount="1.00")
    call = services.dial(agent, customer.phone, obj=customer)
    until(lambda: call_status(call) == CallSession.Status.CONNECTED, listeners)
    recording = services.start_recording(agent, invoice, "INV-8", consent_given=True)
    acme.stop()  # the other PBX is gone from here on

    time.sleep(1.1)
    ControlClient(acme.default.url).hangup(CallSession.objects.get(pk=call.pk).unique_id)
    default_listener = CallStateListener(get_client(), poll_timeout=0)
    until(lambda: call_status(call) == CallSession.Status.HUNG_UP, default_listener.poll_once)
    run_due(sent)

    recording.refresh_from_db()
    assert recording.status == RecordingTag.Status.ATTACHED
    # Each connection's sweep is a task of its own: the unreachable PBX holds up only its own.
    sent.tasks.clear()
    sent.keywords.clear()
    assert tasks.sweep_live_calls() == 0
    assert sorted(kwargs_connection(sent)) == ["acme", "default"]


def kwargs_connection(sent: Broker) -> list[str]:
    """The connections of the live-call sweeps sent since ``sent`` was last cleared."""
    sent.drain()
    return [
        kwargs["connection"] for name, kwargs in sent.keywords if name == "noojee_django.sweep_live_calls"
    ]


@pytest.mark.django_db
def test_a_phone_on_a_connection_nobody_defined_does_not_validate(settings: Any, agent: User) -> None:
    from django.core.exceptions import ValidationError

    phone = AgentPhone(user=User.objects.create_user("x"), connection="nowhere", extension="SIP/150")
    with pytest.raises(ValidationError) as raised:
        phone.full_clean()
    assert "There is no PBX connection named 'nowhere': use one of default." in str(raised.value)
    settings.NOOJEE = {**settings.NOOJEE, "PBXES": {"nowhere": {"BASE_URL": "https://n.example.com"}}}
    phone.full_clean()


def test_work_left_on_a_connection_removed_from_pbxes_is_w022_at_check_database(
    settings: Any, agent: User, invoice: Invoice
) -> None:
    from django.core.checks import run_checks

    def w022() -> list[str]:
        return [m.msg for m in run_checks(databases=["default"]) if m.id == "noojee.W022"]

    settings.NOOJEE = {**settings.NOOJEE, "PBXES": {"old": {"BASE_URL": "https://old.example.com"}}}
    phone = AgentPhone.objects.create(user=User.objects.create_user("o"), connection="old", extension="SIP/7")
    CallSession.objects.create(user=phone.user, connection="old", number="0400000000", status="connected")
    done = RecordingTag.objects.create(
        tag="OLD-1", content_object=invoice, status="attached", connection="old"
    )
    live = RecordingTag.objects.create(
        tag="OLD-2", content_object=invoice, status="waiting", connection="old"
    )
    for number, (recording_tag, fetch_status) in enumerate([(done, "fetched"), (live, "pending")], 1):
        RecordingLeg.objects.create(
            recording_tag=recording_tag,
            tag=recording_tag.tag,
            call_record_id=number,
            leg=1,
            duration=1,
            connection="old",
            fetch_status=fetch_status,
        )
    assert w022() == []  # defined: nothing to say
    settings.NOOJEE = {**settings.NOOJEE, "PBXES": {}}
    (message,) = w022()
    assert message == (
        "Database 'default' has work on PBX connection 'old', which NOOJEE['PBXES'] does not define: "
        "1 active phones, 1 calls not ended, 1 recordings not final, 1 legs not stored. Its tasks fail "
        "until it is defined again."
    )
    # work done is left alone: an attached recording, a stored leg, a phone no longer used, a call ended
    phone.is_active = False
    phone.save()
    CallSession.objects.filter(connection="old").update(status=CallSession.Status.HUNG_UP)
    RecordingLeg.objects.filter(connection="old").update(fetch_status="fetched")
    RecordingTag.objects.filter(pk=live.pk).update(status="absent")
    assert w022() == []
    assert "noojee.W022" not in {m.id for m in run_checks()}  # without --database it reads nothing


# ------------------------------------------------------------------------------------ isolation


@pytest.fixture
def two_companies(settings: Any, acme: Any, agent: User, acme_agent: User, staff: User) -> dict[str, Any]:
    """The default PBX's agent and operator, the acme PBX's agent and operator (``USER_PBXES`` binds
    operators without a phone by their groups, as the deployment guide writes it), and one attached
    voice signature on each PBX."""
    from django.contrib.auth.models import Group

    from tests.recordings import attached_recording

    acme_staff = User.objects.create_user("acme-staff", password="pw", is_staff=True)
    acme_staff.user_permissions.set(staff.user_permissions.all())
    acme_staff.groups.add(Group.objects.get_or_create(name="pbx:acme")[0])
    staff.groups.add(Group.objects.get_or_create(name="pbx:default")[0])

    guide: dict[str, Any] = {}
    exec(_guide_blocks()[1], guide)
    settings.NOOJEE = {**settings.NOOJEE, "USER_PBXES": guide["user_pbxes"]}
    customer = Customer.objects.create(name="Both", phone="03 8320 8100")
    invoice = Invoice.objects.create(number="INV-1", customer=customer, amount="1.00")
    ours = attached_recording(invoice, tag="INV-1")
    theirs = attached_recording(invoice, tag="INV-1/acme")
    RecordingTag.objects.filter(pk=theirs.pk).update(connection="acme", started_by=acme_agent)
    RecordingLeg.objects.filter(recording_tag=theirs).update(connection="acme")
    RecordingTag.objects.filter(pk=ours.pk).update(started_by=agent)
    return {
        "users": {"agent": agent, "staff": User.objects.get(pk=staff.pk), "acme_agent": acme_agent,
                  "acme_staff": User.objects.get(pk=acme_staff.pk)},
        "recordings": {"default": ours, "acme": RecordingTag.objects.get(pk=theirs.pk)},
        "invoice": invoice,
    }  # fmt: skip


def _client(user: User) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["agent", "staff", "acme_agent", "acme_staff"])
def test_each_company_hears_lists_and_administers_only_its_own_pbxs_recordings(
    two_companies: dict[str, Any], who: str
) -> None:
    from django.urls import reverse

    user = two_companies["users"][who]
    mine = "acme" if who.startswith("acme") else "default"
    other = "default" if mine == "acme" else "acme"
    own, foreign = two_companies["recordings"][mine], two_companies["recordings"][other]
    client = _client(user)

    def audio(recording: RecordingTag) -> int:
        response = client.get(reverse("noojee:recording-audio", args=[recording.pk]))
        return int(response.status_code)

    assert audio(own) == 200
    assert audio(foreign) == 403
    listed = {r["id"] for r in client.get("/noojee/api/recordings/").json()["results"]}
    assert own.pk in listed and foreign.pk not in listed
    assert client.get(f"/noojee/api/recordings/{foreign.pk}/").status_code in (403, 404)
    legs = {leg["recording_tag"] for leg in client.get("/noojee/api/legs/").json()["results"]}
    assert foreign.pk not in legs
    page = client.get(reverse("crm:invoice-detail", args=[two_companies["invoice"].pk])).content.decode()
    assert f"/recordings/{own.pk}/audio/" in page and f"/recordings/{foreign.pk}/audio/" not in page
    if who.endswith("staff"):
        changelist = client.get(reverse("admin:noojee_django_recordingtag_changelist"))
        shown = {row.pk for row in changelist.context["cl"].result_list}
        assert own.pk in shown and foreign.pk not in shown
        assert client.get(
            reverse("admin:noojee_django_recordingtag_change", args=[foreign.pk])
        ).status_code in (
            302,
            404,
        )
        legs_page = client.get(reverse("admin:noojee_django_recordingleg_changelist"))
        assert {leg.recording_tag_id for leg in legs_page.context["cl"].result_list} == {own.pk}
        with pytest.raises(NoojeePermissionDenied):
            services.require_own_recording(user, foreign)
    with pytest.raises(NoojeePermissionDenied):
        services.check_may_hear(user, foreign)


@pytest.mark.django_db(transaction=True)
def test_a_superuser_sees_both_and_a_user_of_no_pbx_sees_neither(two_companies: dict[str, Any]) -> None:
    root = User.objects.create_superuser("root", password="pw")
    nobody = User.objects.create_user("nobody", password="pw")
    nobody.user_permissions.set(two_companies["users"]["staff"].user_permissions.all())
    both = {r.pk for r in two_companies["recordings"].values()}

    listed = {r["id"] for r in _client(root).get("/noojee/api/recordings/").json()["results"]}
    assert both <= listed
    assert connections.of_user(nobody) == frozenset()
    assert {r["id"] for r in _client(nobody).get("/noojee/api/recordings/").json()["results"]} == set()


# ------------------------------------------------------------------------------------- user keys


@pytest.fixture
def user_key_pbx(
    settings: Any, pbx: Any, noojee_emulator_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The connection ``acme`` on an emulator, with the user key of ``agent1`` (campaign ``campaign-a``)."""
    from noojee_django.emulator.pytest_plugin import TEST_USER_KEY

    emulator = noojee_emulator_factory()
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", TEST_USER_KEY)
    settings.NOOJEE = {
        **settings.NOOJEE,
        "PBXES": {"acme": {"BASE_URL": emulator.url, "KEY_KIND": "user"}},
    }
    return emulator


def _sent(emulator: Any) -> dict[str, int]:
    from noojee_django.emulator.control import ControlClient

    return dict(ControlClient(emulator.url).stats()["requests"])


@pytest.mark.django_db(transaction=True)
def test_on_a_user_key_pbx_a_call_is_placed_and_not_followed_and_a_stopped_recording_is_attached(
    user_key_pbx: Any, acme_agent: User, sent: Broker
) -> None:
    from noojee_django.emulator.control import ControlClient
    from noojee_django.states import call_words

    control = ControlClient(user_key_pbx.url)
    customer = Customer.objects.create(name="Acme customer", phone="03 8320 8100")
    invoice = Invoice.objects.create(number="INV-U1", customer=customer, amount="1.00")

    call = services.dial(acme_agent, customer.phone, obj=customer)
    assert call.status == CallSession.Status.PLACED and not call.is_active
    assert "does not tell the CRM when it is answered or ends" in call_words(call)
    assert services.dial(acme_agent, customer.phone, obj=customer).pk == call.pk  # a double click
    assert services.current_call_status(call).status == CallSession.Status.PLACED
    assert services.sweep_live_calls(connection="acme") == 0
    with pytest.raises(InvalidState, match="answer on the handset"):
        services.answer(acme_agent, "1234.5")
    assert "subscribe" not in _sent(user_key_pbx)

    pbx_call = until(lambda: next(iter(control.calls()), None), lambda: None)
    until(lambda: control.calls()[0]["status"] == "Connected", lambda: None)
    recording = services.start_recording(acme_agent, invoice, "INV-U1", consent_given=True)
    time.sleep(1.1)
    services.stop_recording(acme_agent, RecordingTag.objects.get(pk=recording.pk))
    control.hangup(pbx_call["unique_id"])
    until(lambda: not control.calls() or control.calls()[0]["status"] == "Hungup", lambda: None)
    run_due(sent)
    until(
        lambda: RecordingTag.objects.get(pk=recording.pk).status == RecordingTag.Status.ATTACHED,
        lambda: (services.sweep_due_tags(now=timezone_now_plus(3600)), run_due(sent)),
        timeout=20,
    )
    assert "subscribe" not in _sent(user_key_pbx)


@pytest.mark.django_db(transaction=True)
def test_on_a_user_key_pbx_a_recording_nobody_stops_ends_after_unfollowed_recording_max(
    settings: Any, user_key_pbx: Any, acme_agent: User, sent: Broker
) -> None:
    customer = Customer.objects.create(name="Acme customer", phone="03 8320 8100")
    invoice = Invoice.objects.create(number="INV-U2", customer=customer, amount="1.00")
    services.dial(acme_agent, customer.phone, obj=customer)
    from noojee_django.emulator.control import ControlClient

    control = ControlClient(user_key_pbx.url)
    until(lambda: control.calls() and control.calls()[0]["status"] == "Connected", lambda: None)
    recording = services.start_recording(acme_agent, invoice, "INV-U2", consent_given=True)
    limit = settings.NOOJEE.get("UNFOLLOWED_RECORDING_MAX", 7200)

    services.sweep_due_tags(now=timezone_now_plus(limit - 120))
    assert RecordingTag.objects.get(pk=recording.pk).status == RecordingTag.Status.RECORDING
    services.sweep_due_tags(now=timezone_now_plus(limit + 120))
    recording.refresh_from_db()
    assert recording.status == RecordingTag.Status.WAITING
    assert "UNFOLLOWED_RECORDING_MAX" in recording.status_reason


def timezone_now_plus(seconds: float) -> Any:
    import datetime as dt

    from django.utils import timezone

    return timezone.now() + dt.timedelta(seconds=seconds)
