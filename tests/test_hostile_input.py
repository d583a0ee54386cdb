"""Every view and API endpoint, fed hostile input by every kind of user: an answer in words, never a 500.

The Django test client re-raises any exception a view lets through (``raise_request_exception``), so
an escaping exception fails the property, and so does a 500 answer. A refusal must say why: the
widget's JSON ``error``, a message on the page a plain form goes back to, DRF's ``detail`` or field
errors. The emulator plays the PBX, so input that passes the rules goes on to a real (emulated) call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from example_project.crm.models import Customer, Invoice
from noojee_django.models import EXTENSION_RE, AgentPhone, CallSession, RecordingLeg, RecordingTag
from tests.hostile_values import input_text, json_values, nested
from tests.hypothesis_profiles import examples
from tests.recordings import attached_recording

pytestmark = pytest.mark.django_db

EXAMPLES = settings(
    max_examples=examples(250),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
USERS = ["agent", "outsider", "staff", "superuser", "anonymous"]


@dataclass
class World:
    """Users, their clients, and real rows to aim at, so hostile input meets real objects too."""

    views: dict[str, Client]
    api: dict[str, APIClient]
    customer: Customer
    invoice: Invoice
    recording: RecordingTag
    leg: RecordingLeg
    call: CallSession

    def real_ids(self) -> list[str]:
        return [
            str(pk)
            for pk in (self.customer.pk, self.invoice.pk, self.recording.pk, self.leg.pk, self.call.pk)
        ]


@pytest.fixture
def world(
    pbx: Any, agent: User, outsider: User, staff: User, superuser: User, customer: Customer, invoice: Invoice
) -> World:
    users = {"agent": agent, "outsider": outsider, "staff": staff, "superuser": superuser}
    views = {"anonymous": Client(raise_request_exception=True)}
    api = {"anonymous": APIClient(raise_request_exception=True)}
    for name, user in users.items():
        views[name] = Client(raise_request_exception=True)
        views[name].force_login(user)
        api[name] = APIClient(raise_request_exception=True)
        api[name].force_authenticate(user)
    recording = attached_recording(invoice)
    call = CallSession.objects.create(
        user=agent, extension="SIP/101", number="0383208100", status=CallSession.Status.CONNECTED
    )
    return World(views, api, customer, invoice, recording, recording.legs.order_by("leg")[0], call)


def object_fields(world: World) -> st.SearchStrategy[dict[str, str]]:
    """``content_type`` and ``object_id`` as hostile text, or naming the real records."""
    kinds = st.one_of(input_text, st.sampled_from(["crm.invoice", "crm.customer", "CRM.Invoice"]))
    ids = st.one_of(input_text, st.sampled_from(world.real_ids()))
    return st.fixed_dictionaries({}, optional={"content_type": kinds, "object_id": ids})


def assert_answered_in_words(response: Any, *, widget: bool) -> None:
    """A success, or a refusal that says why, in the form the caller reads."""
    status = response.status_code
    event(f"HTTP {status}")
    assert status != 500 and status < 600, response.content[:300]
    if response.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        if status >= 400:
            assert isinstance(body, dict)
            words = body.get("error") or body.get("detail") or next(iter(body.values()), None)
            assert words, body
        return
    if status == 302 and widget is False and "/login" not in response["Location"]:
        assert [m.message for m in get_messages(response.wsgi_request)], "a redirect back without a message"
    if status == 400:
        assert response.content, "a bare 400"


# ---------------------------------------------------------------------------------------------- buttons

FORM_VIEWS = {
    "noojee:dial": ["number", "record", "tag"],
    "noojee:answer": ["unique_id"],
    "noojee:start-recording": ["tag", "consent"],
}
#: Values that pass the rules, so that some examples get past the door to the services and the PBX.
GOOD: dict[str, list[Any]] = {
    "number": ["0383208100", "+61 3 8320 8100", "101"],
    "tag": ["INV-7", "PO:2024/17"],
    "unique_id": ["1412750652.496"],
    "consent": ["on"],
    "consent_given": [True],
    "record": ["on", True],
}


def field_value(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(input_text, st.lists(input_text, max_size=3), st.sampled_from(GOOD.get(name, [""])))


@EXAMPLES
@given(data=st.data(), view=st.sampled_from(sorted(FORM_VIEWS)), user=st.sampled_from(USERS))
@example(data=None, view="noojee:answer", user="agent")  # "١٤١٢.٤٩٦" passed isdigit() and reached the PBX
def test_buttons_answer_any_form_post_in_words(world: World, data: Any, view: str, user: str) -> None:
    if data is None:
        fields, widget, headers = {"unique_id": "١٤١٢٧٥٠٦٥٢.٤٩٦"}, True, {"HTTP_ACCEPT": "application/json"}
    else:
        fields = data.draw(
            st.fixed_dictionaries(
                {},
                optional={
                    **{name: field_value(name) for name in FORM_VIEWS[view]},
                    "next": st.one_of(
                        input_text, st.sampled_from(["//evil.example/", "/x\r\ny", "javascript:1"])
                    ),
                },
            )
        )
        fields.update(data.draw(object_fields(world)))
        widget = data.draw(st.booleans())
        headers = data.draw(
            st.fixed_dictionaries(
                {"HTTP_ACCEPT": st.just("application/json" if widget else "text/html")},
                optional={"HTTP_REFERER": input_text, "HTTP_X_REQUESTED_WITH": st.just("XMLHttpRequest")},
            )
        )
        widget = widget or "HTTP_X_REQUESTED_WITH" in headers
    response = world.views[user].post(reverse(view), fields, **headers)
    assert_answered_in_words(response, widget=widget)
    if data is None:
        assert response.status_code == 400 and response.json()["field"] == "unique_id"


PATH_VIEWS = [
    ("noojee:hangup", "post"),
    ("noojee:call-status", "get"),
    ("noojee:stop-recording", "post"),
    ("noojee:recording-audio", "get"),
    ("noojee:leg-audio", "get"),
]


@EXAMPLES
@given(
    data=st.data(),
    view=st.sampled_from(PATH_VIEWS),
    user=st.sampled_from(USERS),
    method=st.sampled_from(["get", "post", "head", "put", "delete"]),
)
def test_buttons_answer_any_object_id_in_the_path_in_words(
    world: World, data: st.DataObject, view: tuple[str, str], user: str, method: str
) -> None:
    name, usual = view
    pk = data.draw(
        st.one_of(
            st.sampled_from(world.real_ids()),
            st.integers(min_value=0, max_value=10**40).map(str),
            st.sampled_from(["0", "9" * 19, "9" * 200, "9" * 5000, "00001"]),
        )
    )
    url = reverse(name, args=[1]).replace("/1/", f"/{pk}/")
    response = getattr(world.views[user], data.draw(st.sampled_from([usual, method])))(
        url, **({"HTTP_ACCEPT": "application/json"} if data.draw(st.booleans()) else {})
    )
    assert_answered_in_words(response, widget=True)
    assert response.status_code in {200, 206, 302, 400, 403, 404, 405, 409, 416, 502}


# ---------------------------------------------------------------------------------------------- playback


def range_specs() -> st.SearchStrategy[str]:
    number = st.one_of(
        st.integers(min_value=0, max_value=20_000).map(str),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.sampled_from(["", "9" * 19, "9" * 5000, "٣", " 1", "1 ", "0x10", "1e3"]),
    )
    return st.builds(lambda first, last: f"{first}-{last}", number, number) | st.sampled_from(
        ["-", "", "--1", "1--2", "abc", "-0", "0-0"]
    )


range_headers = st.one_of(
    st.builds(
        lambda unit, specs, sep: f"{unit}={sep.join(specs)}",
        st.sampled_from(["bytes", "BYTES", " bytes ", "items", "bytes ", ""]),
        st.lists(range_specs(), min_size=1, max_size=4),
        st.sampled_from([",", ", ", ",,", " , "]),
    ),
    st.text(max_size=30),
    st.sampled_from(["bytes=0-0" * 500, "bytes=\x00-\x00", "bytes=1-2\r\n", "bytes=" + "0-1," * 2000]),
)


@settings(
    max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=range_headers,
    which=st.sampled_from(["recording", "leg"]),
    user=st.sampled_from(["agent", "superuser", "outsider"]),
    query=st.dictionaries(st.sampled_from(["download", "x", "range"]), input_text, max_size=2),
)
@example(
    header="bytes=\u0663-\u0665", which="recording", user="agent", query={}
)  # "\d" took Arabic-Indic digits
def test_any_range_header_gets_the_right_bytes_or_a_clear_answer(
    world: World, header: str, which: str, user: str, query: dict[str, str]
) -> None:
    target = world.recording if which == "recording" else world.leg
    url = reverse("noojee:recording-audio" if which == "recording" else "noojee:leg-audio", args=[target.pk])
    response = world.views[user].get(url, query, HTTP_RANGE=header)
    event(f"HTTP {response.status_code}")
    if user == "outsider":
        assert response.status_code == 403
        return
    with target.audio.open("rb") as handle:
        stored = handle.read()
    size = len(stored)
    if response.status_code == 416:
        assert response["Content-Range"] == f"bytes */{size}"
        return
    body = b"".join(response.streaming_content)
    if response.status_code == 200:
        assert body == stored
        return
    assert response.status_code == 206
    unit, _, span = response["Content-Range"].partition(" ")
    first, last = (int(n) for n in span.split("/")[0].split("-"))
    assert unit == "bytes" and span.endswith(f"/{size}")
    assert 0 <= first <= last < size
    assert body == stored[first : last + 1]
    assert header.strip().lower().startswith("bytes") and all(c.isascii() for c in header.split("=", 1)[1])


def test_a_range_header_with_control_characters_is_logged_without_them(world: World) -> None:
    world.views["agent"].get(
        reverse("noojee:recording-audio", args=[world.recording.pk]), HTTP_RANGE="bytes=0-1\x00\n"
    )
    assert world.recording.accesses.get().byte_range == "bytes=0-1"


# ---------------------------------------------------------------------------------------------- the API

API_FIELDS = {
    "calls": ["number", "content_type", "object_id", "record", "tag"],
    "recordings": ["content_type", "object_id", "tag", "consent_given"],
}


def api_bodies(world: World, endpoint: str) -> st.SearchStrategy[tuple[bytes, str]]:
    def value(name: str) -> st.SearchStrategy[Any]:
        real = {"content_type": ["crm.invoice", "crm.customer"], "object_id": world.real_ids()}
        return st.one_of(json_values, input_text, st.sampled_from(GOOD.get(name, []) + real.get(name, [""])))

    documents = st.one_of(
        st.fixed_dictionaries({}, optional={name: value(name) for name in API_FIELDS[endpoint]}),
        json_values,
    )
    as_json = documents.map(lambda document: (json.dumps(document).encode(), "application/json"))
    raw = st.sampled_from(
        [
            (b"[" * 100_000, "application/json"),  # RecursionError in json.load: DRF answered 500
            (json.dumps({"number": nested(50)}).encode(), "application/json"),
            (b'{"number": NaN}', "application/json"),
            (b'{"number": ' + b"1" * 5000 + b"}", "application/json"),
            (b"\xff\xfe\x00", "application/json"),
            (b"number=0383%26208100&tag=%00", "application/x-www-form-urlencoded"),
            (b"--x\r\n\r\n", "multipart/form-data; boundary=x"),
            (b"<xml/>", "application/xml"),
        ]
    )
    return st.one_of(as_json, raw)


@EXAMPLES
@given(data=st.data(), endpoint=st.sampled_from(sorted(API_FIELDS)), user=st.sampled_from(USERS))
def test_api_create_answers_any_body_in_words(
    world: World, data: st.DataObject, endpoint: str, user: str
) -> None:
    body, content_type = data.draw(api_bodies(world, endpoint))
    url = reverse(f"noojee:api-{endpoint[:-1]}-list")
    response = world.api[user].generic("POST", url, body, content_type=content_type)
    assert_answered_in_words(response, widget=True)
    assert response.status_code in {201, 400, 401, 403, 404, 409, 415, 502}


def test_json_nested_too_deeply_is_a_400_in_words(world: World) -> None:
    response = world.api["agent"].generic(
        "POST", reverse("noojee:api-call-list"), b"[" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


API_DETAIL_ACTIONS = [
    ("api-call-detail", "get"),
    ("api-call-hangup", "post"),
    ("api-recording-detail", "get"),
    ("api-recording-stop", "post"),
    ("api-recording-poll", "post"),
    ("api-leg-detail", "get"),
]


@EXAMPLES
@given(
    data=st.data(),
    action=st.sampled_from(API_DETAIL_ACTIONS),
    user=st.sampled_from(USERS),
    pk=st.one_of(
        input_text.filter(lambda text: text and "/" not in text and "?" not in text and "#" not in text),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
    ),
)
def test_api_detail_actions_answer_any_object_id_in_words(
    world: World, data: st.DataObject, action: tuple[str, str], user: str, pk: str
) -> None:
    name, method = action
    pk = data.draw(st.one_of(st.just(pk), st.sampled_from(world.real_ids())))
    url = reverse(f"noojee:{name}", args=[1]).replace("/1/", f"/{pk}/")
    response = getattr(world.api[user], method)(url)
    assert_answered_in_words(response, widget=True)
    assert response.status_code in {200, 400, 401, 403, 404, 405, 409, 502}


LIST_FILTERS = ["content_type", "object_id", "tag", "status", "recording_tag", "page", "page_size"]


@EXAMPLES
@given(
    query=st.dictionaries(
        st.sampled_from(LIST_FILTERS),
        st.one_of(input_text, st.sampled_from(["1", "2", "3", "crm.invoice", "attached", "INV-42"])),
        max_size=4,
    ),
    endpoint=st.sampled_from(["api-recording-list", "api-leg-list", "api-call-list"]),
    user=st.sampled_from(USERS),
)
@example(query={"recording_tag": "9" * 5000}, endpoint="api-leg-list", user="agent")  # int() raised
@example(query={"recording_tag": "\u0663"}, endpoint="api-leg-list", user="agent")
def test_api_list_filters_answer_any_query_in_words(
    world: World, query: dict[str, str], endpoint: str, user: str
) -> None:
    response = world.api[user].get(reverse(f"noojee:{endpoint}"), query)
    assert_answered_in_words(response, widget=True)
    assert response.status_code in {200, 400, 401, 403, 404}
    if response.status_code == 200:
        assert isinstance(response.json()["results"], list)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("tag", "INV\x00"),
        ("object_id", "\x00"),
        ("content_type", "crm.invoice\x00"),
        ("status", "attached\x00"),
    ],
)
def test_recording_filters_are_checked_before_they_reach_a_query(world: World, name: str, value: str) -> None:
    """PostgreSQL refuses a NUL in a query with an error: the filter is refused first, in words."""
    response = world.api["agent"].get(reverse("noojee:api-recording-list"), {name: value})
    assert response.status_code == 400
    assert response.json()[name][0]


# ---------------------------------------------------------------------------------------------- extensions

EXTENSIONS = st.one_of(
    input_text,
    st.from_regex(
        r"(SIP|PJSIP|IAX2|sip|Local|DAHDI)/[0-9٣]{0,12}[\n\r\t ,&|/-]?[0-9A-Za-z@]{0,6}", fullmatch=True
    ),
    st.sampled_from(
        [
            "SIP/101\n",
            "SIP/101\r\n",
            "SIP/101 ",
            " SIP/101",
            "SIP/\u0661\u0660\u0661",
            "SIP/101&SIP/102",
            "SIP/10",
        ]
    ),
)


@settings(
    max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(extension=EXTENSIONS)
@example(extension="SIP/101\n")  # "$" matched before a trailing newline: it passed model validation
def test_an_agent_phone_keeps_only_a_clean_technology_and_extension(agent: User, extension: str) -> None:
    phone = AgentPhone(user=User.objects.create(username=f"u{User.objects.count()}"), extension=extension)
    try:
        phone.full_clean()
    except Exception as exc:
        assert type(exc).__name__ == "ValidationError"
        assert "extension" in exc.message_dict  # type: ignore[attr-defined]
        return
    assert EXTENSION_RE.fullmatch(extension)
    assert extension.isascii() and extension.isprintable() and extension == extension.strip()


@settings(
    max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(extension=EXTENSIONS, custom=st.one_of(st.just(""), input_text, st.just("Call-Info:\r\nX: y")))
def test_the_agent_phone_admin_form_refuses_hostile_extensions_in_words(
    superuser: User, outsider: User, extension: str, custom: str
) -> None:
    client = Client(raise_request_exception=True)
    client.force_login(superuser)
    response = client.post(
        reverse("admin:noojee_django_agentphone_add"),
        {
            "user": str(outsider.pk),
            "extension": extension,
            "handset_brand": "custom",
            "auto_answer_custom": custom,
            "is_active": "on",
        },
    )
    assert response.status_code in {200, 302}
    saved = AgentPhone.objects.filter(user=outsider).first()
    if response.status_code == 200:
        assert saved is None
        assert response.context["adminform"].form.errors
        return
    assert saved is not None
    assert EXTENSION_RE.fullmatch(saved.extension) and saved.extension.isascii()
    assert "\n" not in saved.auto_answer_custom and "\r" not in saved.auto_answer_custom
    saved.delete()
