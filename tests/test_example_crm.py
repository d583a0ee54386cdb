"""The example CRM around the app: its own login page, a favicon, the demo's emulated customer who
hangs up by themselves after the seconds every page shows, and the demo's two client companies, each
on a PBX of its own, each user seeing their own company's customers and told which PBX they are on."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from example_project.crm.models import Customer, Invoice
from noojee_django.emulator import ControlClient
from noojee_django.models import AgentPhone


def test_the_login_page_is_the_crms_own(client: Client) -> None:
    page = client.get(reverse("login"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<title>Log in · Example CRM</title>" in html and "Django site admin" not in html
    assert '<label for="id_username">' in html and 'id="id_username"' in html
    assert '<label for="id_password">' in html and 'id="id_password"' in html


def test_a_user_logs_in_through_it(client: Client, agent: User) -> None:
    agent.set_password("pw")
    agent.save()
    page = client.post(reverse("login"), {"username": agent.username, "password": "pw", "next": "/"})
    assert page.status_code == 302 and page["Location"] == "/"
    refused = client.post(reverse("login"), {"username": agent.username, "password": "wrong"})
    assert refused.status_code == 200 and "did not match" in refused.content.decode()


def test_every_page_has_a_favicon_and_favicon_ico_finds_it(client: Client, agent: User) -> None:
    from django.contrib.staticfiles import finders

    client.force_login(agent)
    html = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/crm/favicon.svg" type="image/svg+xml">' in html
    assert finders.find("crm/favicon.svg")
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"] == "/static/crm/favicon.svg"


def test_without_the_demo_pbx_no_page_offers_its_settings(client: Client, agent: User) -> None:
    client.force_login(agent)
    assert "Demo PBX" not in client.get("/").content.decode()
    assert client.post(reverse("crm:demo-pbx"), {"hangup_after": "5"}).status_code == 404


def test_the_demo_page_shows_and_sets_when_the_emulated_customer_hangs_up(
    pbx: Any, noojee_emulator_control: Any, settings: Any, agent: User, customer: Customer
) -> None:
    settings.DEMO_PBX, settings.DEMO_HANGUP_AFTER = True, 30
    client = Client()
    client.force_login(agent)
    page = client.get(customer.get_absolute_url()).content.decode()
    assert "Demo PBX:" in page and 'name="hangup_after" type="number" min="0" max="600" value="30"' in page

    answer = client.post(reverse("crm:demo-pbx"), {"hangup_after": "12", "next": customer.get_absolute_url()})
    assert answer.status_code == 302 and answer["Location"] == customer.get_absolute_url()
    assert noojee_emulator_control.config()["far_end_hangup_after"] == 12
    assert [str(m) for m in get_messages(answer.wsgi_request)] == [
        "The emulated customer now hangs up 12 s after answering."
    ]
    assert 'value="12"' in client.get("/").content.decode()

    client.post(reverse("crm:demo-pbx"), {"hangup_after": "0"})
    assert noojee_emulator_control.config()["far_end_hangup_after"] is None

    bad = client.post(reverse("crm:demo-pbx"), {"hangup_after": "-4", "next": "https://evil.example/"})
    assert bad["Location"] == "/"  # never off the site
    assert noojee_emulator_control.config()["far_end_hangup_after"] is None
    assert "Give the seconds as a whole number from 0 to 600." in [
        str(m) for m in get_messages(bad.wsgi_request)
    ]


# ------------------------------------------------------------- the demo's two client companies


@pytest.fixture
def two_companies(settings: Any, monkeypatch: pytest.MonkeyPatch, db: Any) -> None:
    """The example's settings as ``make demo`` makes them: a second PBX, "acme", its key in its own
    environment variable, the groups hook of the deployment guide; then the demo's seed."""
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", "acme-key")
    settings.DEMO_PBX, settings.CRM_CUSTOMERS_PER_PBX = True, True
    settings.NOOJEE = {
        **settings.NOOJEE,
        "PBXES": {"acme": {"BASE_URL": "http://127.0.0.1:9", "PBX_TIME_ZONE": "Australia/Perth"}},
        "USER_PBXES": "example_project.crm.pbxes.user_pbxes",
    }
    call_command("seed_demo", stdout=io.StringIO())


def logged_in(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def test_the_seed_gives_the_second_company_its_customers_an_agent_and_a_manager(two_companies: None) -> None:
    phone = AgentPhone.objects.get(user__username="acme-agent")
    assert (phone.connection, phone.extension) == ("acme", "SIP/201")
    assert AgentPhone.objects.get(user__username="agent").connection == "default"
    manager = User.objects.get(username="acme-manager")
    assert not AgentPhone.objects.filter(user=manager).exists()
    assert [g.name for g in manager.groups.all()] == ["pbx:acme"]
    assert [g.name for g in User.objects.get(username="intern").groups.all()] == ["pbx:default"]
    assert set(Customer.objects.filter(pbx="acme").values_list("name", flat=True)) == {
        "Karri Timber Co",
        "Wattle Bakery",
    }
    assert Customer.objects.filter(pbx="default").count() == 3
    counts = (User.objects.count(), Customer.objects.count(), Invoice.objects.count(), Group.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert (
        User.objects.count(),
        Customer.objects.count(),
        Invoice.objects.count(),
        Group.objects.count(),
    ) == (counts)


def test_with_one_pbx_the_seed_has_no_second_company(db: Any) -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert not User.objects.filter(username__startswith="acme-").exists()
    assert set(Customer.objects.values_list("pbx", flat=True)) == {"default"}
    assert "acme" not in out.getvalue()


def test_each_user_sees_their_own_companys_customers_and_is_told_their_pbx(two_companies: None) -> None:
    theirs = Invoice.objects.get(number="INV-2001")
    ours = Invoice.objects.get(number="INV-1001")
    for username, pbx, sees, not_seen in (
        ("agent", "default", ours, theirs),
        ("intern", "default", ours, theirs),
        ("acme-agent", "acme", theirs, ours),
        ("acme-manager", "acme", theirs, ours),
    ):
        client = logged_in(username)
        page = client.get("/").content.decode()
        assert f"<span data-demo-pbx>{pbx}</span>" in page, username
        assert sees.customer.name in page and not_seen.customer.name not in page, username
        assert "<th>PBX</th>" not in page
        assert client.get(sees.customer.get_absolute_url()).status_code == 200
        assert client.get(not_seen.customer.get_absolute_url()).status_code == 404, username
        assert client.get(not_seen.get_absolute_url()).status_code == 404, username
    assert "(your phone: SIP/201)" in logged_in("acme-agent").get("/").content.decode()

    page = logged_in("manager").get("/").content.decode()  # the admin: both companies, and which is which
    assert "<span data-demo-pbx>every one (default, acme)</span>" in page
    assert "<th>PBX</th>" in page and ours.customer.name in page and theirs.customer.name in page


def test_the_login_page_lists_both_companies_demo_users(client: Client, two_companies: None) -> None:
    page = client.get(reverse("login")).content.decode()
    for username in ("agent", "intern", "acme-agent", "acme-manager", "manager"):
        assert f"<code>{username}</code>" in page


def test_the_demo_page_sets_the_hangup_on_both_emulated_pbxs(
    settings: Any, monkeypatch: pytest.MonkeyPatch, noojee_emulator_factory: Any, agent: User
) -> None:
    default, acme = noojee_emulator_factory(), noojee_emulator_factory(api_key="acme-key")
    monkeypatch.setenv("NOOJEE_ACME_API_KEY", "acme-key")
    settings.DEMO_PBX = True
    settings.NOOJEE = {**settings.NOOJEE, "BASE_URL": default.url, "PBXES": {"acme": {"BASE_URL": acme.url}}}
    client = Client()
    client.force_login(agent)
    client.post(reverse("crm:demo-pbx"), {"hangup_after": "9"})
    assert [ControlClient(e.url).config()["far_end_hangup_after"] for e in (default, acme)] == [9, 9]


def test_without_customers_per_pbx_every_user_sees_every_customer(settings: Any, two_companies: None) -> None:
    settings.CRM_CUSTOMERS_PER_PBX = False  # one CRM record may then have calls on both PBXs
    page = logged_in("acme-agent").get("/").content.decode()
    assert "Acme Pty Ltd" in page and "Karri Timber Co" in page
    assert (
        logged_in("acme-agent").get(Invoice.objects.get(number="INV-1001").get_absolute_url()).status_code
        == 200
    )
    assert "you see only this client company's calls and recordings." in page
