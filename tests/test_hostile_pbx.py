"""The app pointed at a PBX that answers nonsense: every use case ends in words, rows stay storable.

A parser that returns a typed result is only half the story: the result goes into database columns
(an id into a bigint, a leg number into a positive integer, a unique id into 64 characters) and the
PBX's words into error columns. Here the views and services run against :mod:`tests.scripted_pbx` and
whatever it says, a view answers with a status and a message, a poll or a fetch returns its outcome,
and what was stored fits its column.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from example_project.crm.models import Invoice
from noojee_django import services
from noojee_django.models import CallSession, RecordingAttempt, RecordingLeg, RecordingTag
from tests.client.test_audio import make_wav
from tests.client.test_parser_properties import CALL_DATA, DIAL, ENTRY, ROW
from tests.hostile_values import json_values, mangled
from tests.hypothesis_profiles import examples
from tests.scripted_pbx import Scripted, ScriptedPbx, scripted_pbx

pytestmark = pytest.mark.django_db

INT64 = range(-(2**63), 2**63)
#: Reads are retried with the app's own backoff (up to three attempts): these properties cost more.
MUTATIONS = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
READS = settings(
    max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedPbx]:
    with scripted_pbx() as pbx:
        yield pbx


@pytest.fixture
def hostile_pbx(settings: Any, server: ScriptedPbx) -> ScriptedPbx:
    settings.NOOJEE = {**settings.NOOJEE, "BASE_URL": server.url, "API_KEY": "scripted", "POLL_DELAY": 0}
    server.replies.clear()
    return server


def fresh() -> None:
    """Examples share the test's transaction: each starts from no calls, no recordings, and a dial
    rate limit not yet spent."""
    CallSession.objects.all().delete()
    RecordingTag.objects.all().delete()
    cache.clear()


def widget(user: User) -> Client:
    client = Client(raise_request_exception=True, HTTP_ACCEPT="application/json")
    client.force_login(user)
    return client


def as_reply(body: Any, status: int = 200) -> Scripted:
    return Scripted(status, body if isinstance(body, bytes) else json.dumps(body).encode())


def replies(shaped: st.SearchStrategy[Any]) -> st.SearchStrategy[Scripted]:
    return st.one_of(
        st.builds(as_reply, shaped),
        st.builds(as_reply, json_values),
        st.builds(
            as_reply, st.one_of(shaped, st.binary(max_size=80)), st.sampled_from([400, 404, 409, 500, 502])
        ),
        st.builds(Scripted, raw=st.sampled_from([b"", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"])),
    )


def assert_storable(call: CallSession) -> None:
    assert call.pbx_session_id is None or call.pbx_session_id in INT64
    assert len(call.unique_id) <= 64 and "\x00" not in call.unique_id
    assert len(call.pbx_status) <= 64 and "\x00" not in call.pbx_status + call.error


# ---------------------------------------------------------------------------------------------- calls


@MUTATIONS
@given(reply=replies(mangled(DIAL)))
@example(reply=as_reply({"SessionID": 1e300, "Code": 0}))  # OverflowError at the bigint column: a 500
@example(reply=as_reply({"SessionID": 2**63, "Code": 0}))
@example(reply=as_reply(b"Trunk \x00 busy", status=500))  # a NUL in the error column PostgreSQL refuses
def test_a_dial_answered_with_nonsense_is_a_502_or_a_call(
    hostile_pbx: ScriptedPbx, agent: User, reply: Scripted
) -> None:
    fresh()
    hostile_pbx.script("dial", reply)
    response = widget(agent).post(reverse("noojee:dial"), {"number": "0383208100"})
    assert response.status_code in {200, 502}, response.content
    if response.status_code == 502:
        assert response.json()["error"].startswith("The PBX could not place the call")
    call = CallSession.objects.order_by("-pk").first()
    assert call is not None
    assert_storable(call)
    assert call.status == (
        CallSession.Status.DIALING if response.status_code == 200 else CallSession.Status.FAILED
    )


@MUTATIONS
@given(
    reply=replies(mangled({"Code": 0, "Message": "Channel Hungup"})),
    action=st.sampled_from(["hangup", "stop"]),
)
def test_hang_up_and_stop_answered_with_nonsense_end_in_words(
    hostile_pbx: ScriptedPbx, agent: User, invoice: Invoice, reply: Scripted, action: str
) -> None:
    fresh()
    hostile_pbx.script(action, reply)
    call = CallSession.objects.create(
        user=agent, extension="SIP/101", number="0383208100", status=CallSession.Status.CONNECTED
    )
    recording_tag = RecordingTag.objects.create(tag="INV-42", content_object=invoice, started_by=agent)
    url = (
        reverse("noojee:hangup", args=[call.pk])
        if action == "hangup"
        else reverse("noojee:stop-recording", args=[recording_tag.pk])
    )
    response = widget(agent).post(url)
    assert response.status_code in {200, 502}, response.content
    if response.status_code == 502:
        assert response.json()["error"]
    recording_tag.refresh_from_db()
    assert "\x00" not in recording_tag.last_error


@READS
@given(
    reply=replies(
        st.one_of(
            mangled({"Data": {"101": [ENTRY]}, "seq": 29, "Code": 0}),
            mangled(CALL_DATA).map(lambda data: {"Data": {"101": [{**ENTRY, "CallData": data}]}, "seq": 3}),
        )
    )
)
@example(
    reply=as_reply(
        {"Data": {"101": [{**ENTRY, "CallData": {**CALL_DATA, "uniqueCallId": "9" * 100}}]}, "seq": 3}
    )
)
def test_a_status_snapshot_of_nonsense_leaves_the_call_storable(
    hostile_pbx: ScriptedPbx, agent: User, reply: Scripted
) -> None:
    fresh()
    hostile_pbx.script("subscribe", reply)
    call = CallSession.objects.create(
        user=agent, extension="SIP/101", number="0383208100", status=CallSession.Status.DIALING
    )
    response = widget(agent).get(reverse("noojee:call-status", args=[call.pk]))
    assert response.status_code == 200, response.content
    call.refresh_from_db()
    assert_storable(call)


# ---------------------------------------------------------------------------------------------- recordings


def waiting_tag(invoice: Invoice) -> RecordingTag:
    return RecordingTag.objects.create(
        tag="1234",
        content_object=invoice,
        status=RecordingTag.Status.WAITING,
        started_at=timezone.now() - dt.timedelta(days=20_000),  # any leg start belongs to it
        stopped_at=timezone.now(),
    )


@READS
@given(reply=replies(st.lists(mangled(ROW), min_size=1, max_size=3)))
@example(reply=as_reply([{**ROW, "Leg": -1}]))  # a CHECK failure taken for a race: then DoesNotExist
@example(reply=as_reply([{**ROW, "CallRecordId": 10**30}]))  # OverflowError at the bigint column
@example(reply=as_reply([{**ROW, "UniqueId": "9" * 100}]))  # longer than RecordingTag.unique_id
def test_a_poll_answered_with_nonsense_returns_its_outcome_and_stores_only_what_fits(
    hostile_pbx: ScriptedPbx, invoice: Invoice, reply: Scripted
) -> None:
    fresh()
    hostile_pbx.script("retrieveMetaData", reply)
    hostile_pbx.script("retrieveRecording", Scripted(404, b'{"Code": -1, "Message": "no"}'))
    recording_tag = waiting_tag(invoice)
    result = services.poll_tag(recording_tag.pk)
    assert result.outcome in {o.value for o in RecordingAttempt.Outcome}
    recording_tag.refresh_from_db()
    assert len(recording_tag.unique_id) <= 64 and "\x00" not in recording_tag.last_error
    for leg in RecordingLeg.objects.all():
        assert leg.call_record_id in INT64 and 0 <= leg.leg < 2**31 and 0 <= leg.duration < 2**31
    assert "\x00" not in "".join(RecordingAttempt.objects.values_list("message", flat=True))


WAV = make_wav(b"\x01\x00" * 800)


@READS
@given(
    reply=replies(
        st.one_of(
            st.just(base64.encodebytes(WAV)),
            st.binary(max_size=60).map(lambda tail: base64.b64encode(WAV[:60]) + tail),
            mangled({"Code": 0, "Audio": base64.b64encode(WAV).decode()}),
        )
    )
)
@example(reply=as_reply(b'{"Code": "-\\u00b2"}'))  # int("-²") escaped the fetch
def test_a_fetch_answered_with_nonsense_returns_its_outcome_and_stores_only_a_verified_wav(
    hostile_pbx: ScriptedPbx, invoice: Invoice, reply: Scripted
) -> None:
    fresh()
    hostile_pbx.script("retrieveRecording", reply)
    recording_tag = waiting_tag(invoice)
    leg = RecordingLeg.objects.create(
        recording_tag=recording_tag, call_record_id=198348, leg=1, unique_id="1392271611.238", duration=1
    )
    result = services.fetch_leg(leg.pk)
    leg.refresh_from_db()
    if leg.fetch_status == RecordingLeg.FetchStatus.FETCHED:
        with leg.audio.open("rb") as handle:
            assert handle.read() == WAV
    else:
        assert result.outcome in {o.value for o in RecordingAttempt.Outcome}
        assert not leg.audio and "\x00" not in leg.last_error


# ---------------------------------------------------------------------------------------------- the emulator


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (-7, "Trunk\x00busy"),  # a NUL the error columns of PostgreSQL refuse
        (-1, "m" * 100_000),
        (-(2**63), "the lowest Code a bigint holds"),
        (-(2**70), "a Code no column holds"),
        (-5, "\u202eevil\r\nX-Injected: 1"),
    ],
)
@pytest.mark.parametrize("door", ["dial", "start"])
def test_a_refusal_in_odd_words_fails_in_words_that_can_be_stored(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice, code: int, message: str, door: str
) -> None:
    noojee_emulator_control.add_fault("negative_code", method=door, code=code, message=message)
    if door == "dial":
        response = widget(agent).post(reverse("noojee:dial"), {"number": "0383208100"})
    else:
        response = widget(agent).post(
            reverse("noojee:start-recording"),
            {"content_type": "crm.invoice", "object_id": str(invoice.pk), "tag": "INV-42"},
        )
    assert response.status_code == 502
    assert response.json()["error"].startswith("The PBX could not")
    stored = CallSession.objects.get().error if door == "dial" else RecordingTag.objects.get().last_error
    assert stored and "\x00" not in stored and len(stored) < 2000
    assert noojee_emulator_control.stats()["requests"][door] == 1
