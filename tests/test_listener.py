"""The call-state listener against the emulator: one long poll for every agent, resumable, exact."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from example_project.crm.models import Invoice
from noojee_django import services, signals
from noojee_django.client import NoojeeClient, RetryPolicy
from noojee_django.client.types import CallEvent
from noojee_django.listener import CallStateListener, monitored_extensions
from noojee_django.models import AgentPhone, CallSession, ListenerCursor, RecordingTag
from noojee_django.pbx import get_client
from tests.scripted_pbx import Scripted, scripted_pbx

pytestmark = pytest.mark.django_db


def run_until(listener: CallStateListener, predicate: Any, timeout: float = 8.0) -> int:
    """Poll until ``predicate()``; returns how many polls it took."""
    deadline = time.monotonic() + timeout
    polls = 0
    while time.monotonic() < deadline:
        listener.poll_once()
        polls += 1
        if predicate():
            return polls
    raise AssertionError("the listener never saw it")


def test_monitored_extensions_are_every_active_agent_phone(agent: User, other_agent: User) -> None:
    AgentPhone.objects.create(user=User.objects.create(username="x"), extension="PJSIP/300", is_active=False)
    assert monitored_extensions() == ["101", "102"]


def test_one_subscribe_follows_every_agent(
    pbx: Any, noojee_emulator_control: Any, agent: User, other_agent: User
) -> None:
    listener = CallStateListener(get_client(), poll_timeout=2)
    first = services.dial(agent, "0383208100")
    second = services.dial(other_agent, "0399998888")
    polls = run_until(
        listener,
        lambda: (
            {c.status for c in CallSession.objects.filter(pk__in=[first.pk, second.pk])}
            == {CallSession.Status.CONNECTED}
        ),
    )
    first.refresh_from_db()
    assert first.unique_id and first.connected_at is not None
    # one request per poll covered both agents
    assert noojee_emulator_control.stats()["requests"]["subscribe"] == polls


def test_a_restarted_listener_resumes_without_repeating_events(pbx: Any, agent: User) -> None:
    changes: list[str] = []

    def record(sender: Any, call: CallSession, previous_status: str, **kwargs: Any) -> None:
        changes.append(call.status)

    signals.call_status_changed.connect(record)
    try:
        call = services.dial(agent, "0383208100")
        listener = CallStateListener(get_client(), poll_timeout=1)
        run_until(
            listener, lambda: CallSession.objects.get(pk=call.pk).status == CallSession.Status.CONNECTED
        )
        seq = ListenerCursor.objects.get().last_sequence_number
        assert seq > 0
        services.hangup(agent, CallSession.objects.get(pk=call.pk))
        # a new listener (the old one was killed) starts from the stored cursor, not from 0
        restarted = CallStateListener(get_client(), poll_timeout=1)
        restarted.poll_once()
        assert ListenerCursor.objects.get().last_sequence_number >= seq
    finally:
        signals.call_status_changed.disconnect(record)
    assert changes.count(CallSession.Status.CONNECTED) == 1
    assert changes.count(CallSession.Status.HUNG_UP) == 1


def test_a_pbx_whose_counter_went_back_gets_a_new_snapshot(pbx: Any, agent: User) -> None:
    ListenerCursor.objects.create(name="default", last_sequence_number=10**9)
    call = services.dial(agent, "0383208100")
    listener = CallStateListener(get_client(), poll_timeout=1)
    run_until(listener, lambda: CallSession.objects.get(pk=call.pk).status == CallSession.Status.CONNECTED)
    assert ListenerCursor.objects.get().last_sequence_number < 10**9


def test_a_recorded_call_that_hangs_up_starts_waiting_for_its_audio(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Invoice
) -> None:
    call = services.dial(agent, "0383208100", obj=invoice, record=True, tag="INV-42")
    assert call.recording_tag is not None
    listener = CallStateListener(get_client(), poll_timeout=1)
    run_until(listener, lambda: CallSession.objects.get(pk=call.pk).status == CallSession.Status.CONNECTED)
    noojee_emulator_control.hangup(CallSession.objects.get(pk=call.pk).unique_id)
    run_until(listener, lambda: CallSession.objects.get(pk=call.pk).status == CallSession.Status.HUNG_UP)
    recording_tag = RecordingTag.objects.get(pk=call.recording_tag.pk)
    assert recording_tag.status == RecordingTag.Status.WAITING
    assert recording_tag.next_poll_at is not None


def test_an_unreachable_pbx_backs_off_instead_of_crashing(db: Any, agent: User) -> None:
    client = NoojeeClient("http://127.0.0.1:9", api_key="k", retry=RetryPolicy(max_attempts=1))
    listener = CallStateListener(client, poll_timeout=1, backoff_cap=0.05)
    listener.run(max_polls=3)
    assert listener.failures == 3
    assert not ListenerCursor.objects.exclude(last_sequence_number=0).exists()


def test_a_database_error_is_logged_and_retried_instead_of_ending_the_listener(
    pbx: Any, agent: User, caplog: pytest.LogCaptureFixture
) -> None:
    from django.db import OperationalError

    failures = iter([OperationalError("database is locked"), OperationalError("database is locked")])

    def extensions() -> list[str]:
        error = next(failures, None)
        if error is not None:
            raise error  # what monitored_extensions() meets when another process holds the SQLite file
        return monitored_extensions()

    listener = CallStateListener(get_client(), poll_timeout=0, backoff_cap=0.05, extensions=extensions)
    listener.run(max_polls=3)

    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(logged) == 2 and all(
        m.startswith("The database failed (database is locked); retrying in ") for m in logged
    ), logged
    assert listener.failures == 0  # the third poll went through
    assert ListenerCursor.objects.exists()


def test_an_unreadable_event_does_not_hold_the_listener_on_its_seq(
    agent: User, caplog: pytest.LogCaptureFixture
) -> None:
    call = CallSession.objects.create(
        user=agent, extension="SIP/101", number="0383208100", unique_id="1412750652.496"
    )
    ListenerCursor.objects.create(last_sequence_number=40)
    connected = {"CallData": {"uniqueCallId": "1412750652.496", "status": "Connected"}, "Code": 0}
    reply = {"Data": {"101": [{"CallData": ["garbage"]}, connected]}, "seq": 41, "Code": 0}
    with scripted_pbx() as fake:
        fake.script("subscribe", Scripted(body=json.dumps(reply).encode()))
        listener = CallStateListener(NoojeeClient(fake.url, api_key="k"), poll_timeout=1)

        assert listener.poll_once() == 1

    assert ListenerCursor.objects.get().last_sequence_number == 41
    assert CallSession.objects.get(pk=call.pk).status == CallSession.Status.CONNECTED
    assert "1 event(s) could not be read" in caplog.text


def primed_listener(control: Any) -> CallStateListener:
    """A listener that has taken its first snapshot: its cursor stands at the PBX's current seq."""
    control.inbound_call("0398765432", exten="999")  # an event, so the PBX's seq is not 0
    listener = CallStateListener(get_client(), poll_timeout=1)
    listener.poll_once()
    assert ListenerCursor.objects.get().last_sequence_number > 0
    return listener


def connected_unique_id(control: Any, exten: str, known: set[str]) -> str:
    """The unique id of the new click-to-dial call on ``exten`` once the PBX says it is connected."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for call in control.calls():
            if call["exten"] == exten and call["kind"] == "click_to_dial" and call["unique_id"] not in known:
                if call["phase"] == "connected":
                    return str(call["unique_id"])
        time.sleep(0.02)
    raise AssertionError("the call never connected")


def test_calls_placed_while_the_listener_was_down_each_get_their_own_events(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    control = noojee_emulator_control
    listener = primed_listener(control)
    # The listener is down: a first call connects and ends, a second one connects.
    first = services.dial(agent, "0383208100")
    first_id = connected_unique_id(control, "101", set())
    control.hangup(first_id)
    second = services.dial(agent, "0399998888")
    second_id = connected_unique_id(control, "101", {first_id})

    run_until(
        listener,
        lambda: (
            CallSession.objects.get(pk=first.pk).status == CallSession.Status.HUNG_UP
            and CallSession.objects.get(pk=second.pk).status == CallSession.Status.CONNECTED
        ),
        timeout=4,
    )
    assert CallSession.objects.get(pk=first.pk).unique_id == first_id
    assert CallSession.objects.get(pk=second.pk).unique_id == second_id


def test_a_call_a_crashed_dial_left_starting_does_not_take_the_next_calls_events(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    listener = primed_listener(noojee_emulator_control)
    # A process died between saving a call and asking the PBX for it: the row waits for events forever.
    stale = CallSession.objects.create(
        user=agent,
        extension="SIP/101",
        number="0311112222",
        created_at=timezone.now() - dt.timedelta(hours=1),
    )
    call = services.dial(agent, "0383208100")
    run_until(listener, lambda: CallSession.objects.get(pk=call.pk).status == CallSession.Status.CONNECTED)
    stale.refresh_from_db()
    assert stale.status == CallSession.Status.QUEUED and stale.unique_id == ""


def test_a_batch_cut_short_is_applied_exactly_once_by_the_next_poll(
    pbx: Any, noojee_emulator_control: Any, agent: User
) -> None:
    listener = primed_listener(noojee_emulator_control)
    call = services.dial(agent, "0383208100")
    connected_unique_id(noojee_emulator_control, "101", set())  # "Dialing Out" and "Connected" wait

    def die_midway(sender: Any, call: CallSession, previous_status: str, **kwargs: Any) -> None:
        raise RuntimeError("the listener died after applying part of the batch")

    signals.call_status_changed.connect(die_midway)
    try:
        with pytest.raises(RuntimeError):
            listener.poll_once()
    finally:
        signals.call_status_changed.disconnect(die_midway)
    assert CallSession.objects.get(pk=call.pk).status == CallSession.Status.DIALING  # none of it kept

    changes: list[str] = []

    def record(sender: Any, call: CallSession, previous_status: str, **kwargs: Any) -> None:
        changes.append(call.status)

    signals.call_status_changed.connect(record)
    try:
        listener.poll_once()
    finally:
        signals.call_status_changed.disconnect(record)
    assert changes == [CallSession.Status.CONNECTED]  # not "dialing" again, then "connected" twice


@pytest.mark.parametrize("shown", ["0383208100", "+61383208100", "61 3 8320 8100", "383208100"])
def test_the_first_event_finds_its_call_by_the_dialled_number_in_any_spelling(
    agent: User, shown: str
) -> None:
    other = CallSession.objects.create(user=agent, extension="SIP/101", number="0399998888")
    mine = CallSession.objects.create(user=agent, extension="SIP/101", number="0383208100")
    event = CallEvent(
        extension="101",
        call_id=7,
        code=0,
        unique_call_id="1412750652.496",
        status="Dialing Out",
        is_click_to_dial_call=True,
        outbound_destination=shown,
    )
    assert services.apply_call_event(event) == mine
    assert CallSession.objects.get(pk=mine.pk).unique_id == "1412750652.496"
    assert CallSession.objects.get(pk=other.pk).unique_id == ""


def test_a_first_event_for_a_number_nobody_here_dialled_is_not_ours(agent: User) -> None:
    CallSession.objects.create(user=agent, extension="SIP/101", number="0399998888")
    event = CallEvent(
        extension="101",
        call_id=7,
        code=0,
        unique_call_id="1412750652.497",
        status="Dialing Out",
        is_click_to_dial_call=True,
        outbound_destination="0383208100",
    )
    assert services.apply_call_event(event) is None
