"""Dial-string injection through every door that leads to the PBX: refused in words, counted zero times.

A number, a tag, a unique id or a caller id ends up in an Asterisk dial string or channel command, so
``&``, ``,``, ``|``, ``/`` (more destinations, options, another technology), ``${...}`` (a variable),
a line break (the end of the request line) and digits that are digits only to Python must never get
there. The emulator counts what reaches it, so "never" is measured at the PBX, not inferred from the
answer. Each door is also shown to reach the PBX with a clean value, so a zero means "refused", not
"this door was never wired to the PBX".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from example_project.crm.models import Customer, Invoice
from noojee_django import services
from noojee_django.models import AgentPhone, CallSession, RecordingTag

pytestmark = pytest.mark.django_db

#: What a metacharacter does in a dial string, or how a "digit" fools ``str.isdigit``.
INJECTED_NUMBERS = [
    "0383&208100",  # a second destination
    "0383,208100",  # dial options / wait
    "0383|208100",  # the old option separator
    "0383/208100",  # technology/resource
    "SIP/102",  # somebody else's phone
    "Local/101@from-internal",
    "101&SIP/102",
    "0383208100,,w123",
    "0383\n208100",
    "0383208100\n",
    "0383\r208100",
    "\r\n0383208100",
    "0383\x00208100",
    "${EXTEN}",
    "0383${EXTEN}",
    "0383;208100",
    "0383208100 ; 1",
    "\u0660\u0663\u0668\u0663\u0662\u0660\u0668\u0661\u0660\u0660",  # Arabic-Indic digits
    "\uff10\uff13\uff18\uff13\uff12\uff10\uff18\uff11\uff10\uff10",  # full-width digits
    "²³",
    "1" * 21,
    "1" * 1000,
    "0383+208100",
    "+",
    "++61383208100",
    "0383\t208100",
    "0383%26208100",
    "0383%2C208100",
    "0383\u200b208100",
    "\u202e0383208100",
]
INJECTED_TAGS = [
    "INV&42",
    "INV,42",
    "INV|42",
    "INV\n42",
    "INV-42\r",
    "INV-42\x00",
    "${EXTEN}",
    "INV${X}",
    "INV;42",
    "INV\u0663",
    "\uff29\uff2e\uff36-42",
    "x" * 65,
    "INV 42",
    "INV\t42",
    "INV%2642",
    "INV'42",
    '"INV"',
    "-INV",
    "/INV",
    "INV\u200b42",
]
INJECTED_UNIQUE_IDS = [
    "1412750652.496&x",
    "1412750652.496,1",
    "1412750652.496|1",
    "1412750652.496\n",
    "1412750652.496\r",
    "1412750652.496\x00",
    "${UNIQUEID}",
    "1412750652.496;",
    "\u0661\u0664\u0661\u0662.\u0664\u0669\u0666",  # passed str.isdigit() and reached the PBX
    "\uff11.\uff12",
    "²",
    "1" * 65,
    "1412750652.496 ",
    "1412750652.496\t",
    "1412750652.496%26x",
    "1.2.3",
    "..",
    "SIP/101",
]
PBX_ACTIONS = ("dial", "answer", "start")


def pbx_actions(control: Any) -> dict[str, int]:
    requests = control.stats()["requests"]
    return {method: int(requests.get(method, 0)) for method in PBX_ACTIONS}


def widget(user: User) -> Client:
    client = Client(raise_request_exception=True, HTTP_ACCEPT="application/json")
    client.force_login(user)
    return client


def api(user: User) -> APIClient:
    client = APIClient(raise_request_exception=True)
    client.force_authenticate(user)
    return client


def refused_by_view(response: Any, field: str) -> str | None:
    """The widget's refusal of ``field``, in words; ``None`` when the view did not refuse (not a 400)."""
    if response.status_code != 400:
        return None
    body = response.json()
    assert body["field"] == field, body
    assert len(body["error"]) > 10
    return str(body["error"])


def refused_by_api(response: Any, field: str) -> str | None:
    if response.status_code != 400:
        return None
    [message] = response.json()[field]
    assert len(message) > 10
    return str(message)


def fits_the_phone_column(value: str) -> bool:
    too_long = len(value) > Customer._meta.get_field("phone").max_length  # type: ignore[operator]
    return not too_long and not ("\x00" in value and connection.vendor == "postgresql")


Door = Callable[[str], str | None]


def doors(
    agent: User, superuser: User, customer: Customer, invoice: Invoice
) -> dict[str, tuple[Door, str, str]]:
    """Each door that leads to the PBX: ``(send(value) -> refusal, kind of value, a clean value)``."""
    on_invoice = {"content_type": "crm.invoice", "object_id": str(invoice.pk)}
    on_customer = {"content_type": "crm.customer", "object_id": str(customer.pk)}

    def admin_dial(number: str) -> str:
        Customer.objects.filter(pk=customer.pk).update(phone=number)
        client = Client(raise_request_exception=True)
        client.force_login(superuser)
        response = client.post(
            reverse("admin:crm_customer_changelist"),
            {"action": "noojee_dial", "_selected_action": [customer.pk]},
            follow=True,
        )
        assert response.status_code == 200
        [message] = list(get_messages(response.wsgi_request))
        if message.level_tag != "error":
            return None
        assert len(message.message) > 10
        return str(message.message)

    def caller_id(number: str) -> str | None:
        try:
            services.dial(agent, "0383208100", caller_id=number)
        except ValidationError as exc:
            return " ".join(exc.messages)
        return None

    return {
        "view dial number": (
            lambda n: refused_by_view(widget(agent).post(reverse("noojee:dial"), {"number": n}), "number"),
            "number",
            "0383208100",
        ),
        "view recorded dial tag": (
            lambda t: refused_by_view(
                widget(agent).post(
                    reverse("noojee:dial"), {"number": "0383208100", "record": "on", "tag": t, **on_customer}
                ),
                "tag",
            ),
            "tag",
            "INV-7",
        ),
        "view answer unique id": (
            lambda u: refused_by_view(
                widget(agent).post(reverse("noojee:answer"), {"unique_id": u}), "unique_id"
            ),
            "unique_id",
            "1412750652.496",
        ),
        "view start recording tag": (
            lambda t: refused_by_view(
                widget(agent).post(reverse("noojee:start-recording"), {"tag": t, **on_invoice}), "tag"
            ),
            "tag",
            "INV-7",
        ),
        "api create call number": (
            lambda n: refused_by_api(
                api(agent).post(reverse("noojee:api-call-list"), {"number": n}, format="json"), "number"
            ),
            "number",
            "0383208100",
        ),
        "api recorded call tag": (
            lambda t: refused_by_api(
                api(agent).post(
                    reverse("noojee:api-call-list"),
                    {"number": "0383208100", "record": True, "tag": t, **on_customer},
                    format="json",
                ),
                "tag",
            ),
            "tag",
            "INV-7",
        ),
        "api create recording tag": (
            lambda t: refused_by_api(
                api(agent).post(
                    reverse("noojee:api-recording-list"), {"tag": t, **on_invoice}, format="json"
                ),
                "tag",
            ),
            "tag",
            "INV-7",
        ),
        "admin dial action": (admin_dial, "number", "0383208100"),
        "services caller id": (caller_id, "number", "0383208100"),
    }


CORPUS = {"number": INJECTED_NUMBERS, "tag": INJECTED_TAGS, "unique_id": INJECTED_UNIQUE_IDS}
DOOR_NAMES = [
    "view dial number",
    "view recorded dial tag",
    "view answer unique id",
    "view start recording tag",
    "api create call number",
    "api recorded call tag",
    "api create recording tag",
    "admin dial action",
    "services caller id",
]


@pytest.mark.parametrize("door", DOOR_NAMES)
def test_injection_attempts_are_refused_in_words_and_reach_the_pbx_zero_times(
    pbx: Any,
    noojee_emulator_control: Any,
    agent: User,
    superuser: User,
    customer: Customer,
    invoice: Invoice,
    door: str,
) -> None:
    AgentPhone.objects.create(user=superuser, extension="SIP/109")
    send, kind, clean = doors(agent, superuser, customer, invoice)[door]
    for value in CORPUS[kind]:
        if door == "admin dial action" and not fits_the_phone_column(value):
            continue  # the CRM cannot store it, so it cannot be dialled from its records
        assert send(value), f"{door} accepted {value!r}"
    assert pbx_actions(noojee_emulator_control) == dict.fromkeys(PBX_ACTIONS, 0)
    assert not CallSession.objects.exists() and not RecordingTag.objects.exists()

    # The same door with a clean value does reach the PBX (which may still say no): the zero above
    # is a refusal at the door, not a door that leads nowhere.
    if door == "view answer unique id":
        clean = noojee_emulator_control.inbound_call(exten="101")  # only a call ringing here is answered
    assert send(clean) is None
    assert sum(pbx_actions(noojee_emulator_control).values()) == 1


def test_a_form_encoded_ampersand_is_refused_once_decoded(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    """``number=0383%26208100`` arrives as ``0383&208100``: the rule sees the decoded value."""
    response = widget(agent).generic(
        "POST",
        reverse("noojee:dial"),
        b"number=0383%26208100&tag=INV%0A42",
        content_type="application/x-www-form-urlencoded",
    )
    refused_by_view(response, "number")
    assert pbx_actions(noojee_emulator_control)["dial"] == 0


@pytest.mark.parametrize(
    "extension",
    [
        "SIP/101\n",
        "SIP/101\r\n",
        "SIP/101&SIP/102",
        "SIP/101,",
        "SIP/101|x",
        "Local/101@from-internal",
        "SIP/\u0661\u0660\u0661",
    ],
)
def test_an_agent_phone_with_an_injected_extension_does_not_validate(agent: User, extension: str) -> None:
    phone = AgentPhone(user=User.objects.create(username="newcomer"), extension=extension)
    with pytest.raises(ValidationError) as refused:
        phone.full_clean()
    assert "extension" in refused.value.message_dict


@pytest.mark.parametrize("field", ["auto_answer_custom", "login_name"])
@pytest.mark.parametrize("value", ["Alert-Info: a,b", "x&SIP/102", "a|b", "a^b", "${EXTEN}", "a\nb", "a\x00"])
def test_an_agent_phone_with_injected_auto_answer_or_login_name_does_not_validate(
    agent: User, field: str, value: str
) -> None:
    phone = AgentPhone.objects.get(user=agent)
    phone.handset_brand = "custom"
    phone.auto_answer_custom = "Alert-Info: Ring Answer"
    setattr(phone, field, value)
    with pytest.raises(ValidationError) as refused:
        phone.full_clean()
    assert field in refused.value.message_dict


@pytest.mark.parametrize(
    ("field", "value"), [("auto_answer_custom", "Alert-Info: a,b&SIP/102"), ("login_name", "agent1\n${X}")]
)
def test_a_phone_row_written_around_the_form_cannot_send_its_text_to_the_pbx(
    pbx: Any,
    noojee_emulator_control: Any,
    agent: User,
    customer: Customer,
    invoice: Invoice,
    field: str,
    value: str,
) -> None:
    AgentPhone.objects.filter(user=agent).update(handset_brand="custom", auto_answer_custom="Alert-Info: x")
    AgentPhone.objects.filter(user=agent).update(**{field: value})
    client = Client()
    client.force_login(agent)
    dial = client.post(reverse("noojee:dial"), {"number": customer.phone}, HTTP_ACCEPT="application/json")
    record = client.post(
        reverse("noojee:start-recording"),
        {"content_type": "crm.invoice", "object_id": invoice.pk, "tag": "INV-42"},
        HTTP_ACCEPT="application/json",
    )
    answer = client.post(
        reverse("noojee:answer"), {"unique_id": "1412750652.496"}, HTTP_ACCEPT="application/json"
    )

    for response in (dial, record, answer):
        assert response.status_code == 409, response.content
        assert "ask an administrator" in response.json()["error"]
    assert noojee_emulator_control.stats()["total"] == 0
    assert not CallSession.objects.exists() and not RecordingTag.objects.exists()
