"""The call-state listener against the emulator: one long poll for every agent, resumable, exact."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User

from example_project.crm.models import Invoice
from noojee_django import services, signals
from noojee_django.client import NoojeeClient, RetryPolicy
from noojee_django.listener import CallStateListener, monitored_extensions
from noojee_django.models import AgentPhone, CallSession, ListenerCursor, RecordingTag
from noojee_django.pbx import get_client

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
