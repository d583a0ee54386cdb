"""The example CRM around the app: its own login page, a favicon, and the demo's emulated customer who
hangs up by themselves after the seconds every page shows."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from example_project.crm.models import Customer


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
