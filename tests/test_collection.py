"""Collection follows the call's end: what the PBX is asked, and when, with the listener and without it.

Against the emulator over loopback HTTP. Tasks are not run by a worker here: the services send them to
the test settings' in-memory broker as they would to Redis (the tests run in autocommit, so a task
goes out when its transaction commits), the tests read them off the queue, and run those sent with
no countdown, the way a worker would run them at once; delayed ones (backoff retries) stay listed, so
a test sees what would have waited.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from noojee_django import services
from noojee_django.listener import CallStateListener
from noojee_django.models import CallSession, RecordingLeg, RecordingTag
from noojee_django.pbx import get_client
from noojee_django.services import base

pytestmark = pytest.mark.django_db(transaction=True)

Sent = list[tuple[str, tuple[Any, ...], float]]


class Broker:
    """The tasks on the in-memory broker's queue, as ``(name, args, countdown)``."""

    def __init__(self) -> None:
        self.tasks: Sent = []
        #: ``(name, kwargs)`` of the same tasks, for those sent by keyword
        self.keywords: list[tuple[str, dict[str, Any]]] = []

    def drain(self) -> None:
        from celery import current_app

        with current_app.connection_for_read() as connection:
            queue = connection.SimpleQueue(current_app.conf.task_default_queue)
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                args, kwargs, _embed = message.decode()
                eta = message.headers.get("eta")
                countdown = (
                    max(0.0, round((dt.datetime.fromisoformat(eta) - timezone.now()).total_seconds()))
                    if eta
                    else 0.0
                )
                self.tasks.append((message.headers["task"], tuple(args), countdown))
                self.keywords.append((message.headers["task"], kwargs))
                message.ack()
            queue.close()

    def __iter__(self) -> Any:
        self.drain()
        return iter(list(self.tasks))

    def __bool__(self) -> bool:
        self.drain()
        return bool(self.tasks)

    def remove(self, task: tuple[str, tuple[Any, ...], float]) -> None:
        self.tasks.remove(task)


@pytest.fixture
def sent() -> Broker:
    """Every task the services send from now on (the queue starts empty)."""
    broker = Broker()
    broker.drain()
    broker.tasks.clear()
    return broker


def run_due(sent: Broker) -> int:
    """Run the tasks sent with no countdown, and those they send, until none is left; return how many."""
    ran = 0
    while True:
        due = [task for task in sent if task[2] <= 0.5]
        if not due:
            return ran
        for task in due:
            sent.remove(task)
            name, args, _ = task
            if name == base.POLL_TASK:
                services.poll_tag(*args, fetch_inline=True)
            elif name == base.FETCH_TASK:
                services.fetch_leg(*args)
            else:
                raise AssertionError(f"unexpected task {name}")
            ran += 1


def requests(control: Any) -> dict[str, int]:
    return dict(control.stats()["requests"])


def delta(before: dict[str, int], after: dict[str, int], method: str) -> int:
    return after.get(method, 0) - before.get(method, 0)


def until(predicate: Callable[[], Any], step: Callable[[], Any], timeout: float = 8.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step()
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("not reached in time")


def pbx_call(control: Any, exten: str) -> dict[str, Any]:
    return until(lambda: next((c for c in control.calls() if c["exten"] == exten), None), lambda: None)


def call_status(call: CallSession) -> str:
    call.refresh_from_db()
    return call.status


# ------------------------------------------------------------------------------ with the listener


def test_with_the_listener_a_stopped_recording_is_fetched_when_the_call_ends_and_not_before(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Any, customer: Any, sent: Broker
) -> None:
    control = noojee_emulator_control
    listener = CallStateListener(get_client(), poll_timeout=1)
    services.mark_listener_alive()
    call = services.dial(agent, customer.phone, obj=customer)
    until(lambda: call_status(call) == CallSession.Status.CONNECTED, listener.poll_once)
    recording_tag = services.start_recording(agent, invoice, invoice.number, consent_given=True)
    time.sleep(1.1)  # a leg of a second
    before_stop = requests(control)

    services.stop_recording(agent, RecordingTag.objects.get(pk=recording_tag.pk))
    run_due(sent)

    mid_call = requests(control)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.FETCHING  # legs known, the call goes on
    assert delta(before_stop, mid_call, "retrieveMetaData") == 1
    assert delta(before_stop, mid_call, "retrieveRecording") == 0  # no "in progress" refusals
    assert not sent  # nothing waits on the clock: the call's end will fetch

    control.hangup(call.unique_id)
    until(lambda: call_status(call) == CallSession.Status.HUNG_UP, listener.poll_once)
    assert [(name, countdown) for name, _, countdown in sent] == [(base.FETCH_TASK, 0)]
    run_due(sent)

    recording_tag.refresh_from_db()
    legs = RecordingLeg.objects.filter(recording_tag=recording_tag).count()
    after = requests(control)
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert legs == 1
    assert delta(mid_call, after, "retrieveMetaData") == 0
    assert delta(mid_call, after, "retrieveRecording") == legs
    assert delta(before_stop, after, "retrieveMetaData") + delta(before_stop, after, "retrieveRecording") == (
        1 + legs
    )


# ------------------------------------------------------------------------------ without the listener


def test_without_the_listener_the_live_call_sweep_ends_a_call_the_pbx_no_longer_lists(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Any, customer: Any, sent: Broker
) -> None:
    control = noojee_emulator_control
    call = services.dial(agent, customer.phone, obj=customer)
    until(lambda: call_status(call) == CallSession.Status.CONNECTED, services.sweep_live_calls)
    recording_tag = services.start_recording(agent, invoice, invoice.number, consent_given=True)
    control.hangup(pbx_call(control, "101")["unique_id"])

    assert services.sweep_live_calls() == 1

    call.refresh_from_db()
    recording_tag.refresh_from_db()
    assert call.status == CallSession.Status.HUNG_UP and call.ended_at is not None
    # nobody pressed "stop": the call's end did
    assert recording_tag.status == RecordingTag.Status.WAITING and recording_tag.stopped_at is not None
    run_due(sent)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED


def test_without_the_listener_a_dial_rejected_before_connecting_fails_after_the_grace(
    pbx: Any, settings: Any, noojee_emulator_control: Any, agent: User, customer: Any
) -> None:
    control = noojee_emulator_control
    control.config(answer_delay=60)  # the handset rings; the far end is never reached
    settings.NOOJEE = {**settings.NOOJEE, "UNLISTED_CALL_GRACE": 15}
    call = services.dial(agent, customer.phone, obj=customer)
    services.sweep_live_calls()
    control.hangup(pbx_call(control, "101")["unique_id"])  # rejected

    assert services.sweep_live_calls() == 0  # within the grace: a dial may take a moment to show
    assert call_status(call) == CallSession.Status.DIALING

    later = timezone.now() + dt.timedelta(seconds=16)
    assert services.sweep_live_calls(now=later) == 1
    call.refresh_from_db()
    assert call.status == CallSession.Status.FAILED and not call.is_active
    assert call.error
    # The widget's status polling stops: an ended call is answered from the row, without the PBX.
    before = requests(control)
    assert services.current_call_status(call).status == CallSession.Status.FAILED
    assert services.sweep_live_calls(now=later) == 0
    assert requests(control) == before


def test_without_the_listener_a_stopped_recording_waits_for_the_sweep_to_see_the_call_end(
    pbx: Any, noojee_emulator_control: Any, agent: User, invoice: Any, customer: Any, sent: Broker
) -> None:
    """While the live-call sweep keeps the calls current, the audio is not asked for before the call's
    end: the PBX would refuse it as "in progress" again and again (one refusal per backoff step)."""
    control = noojee_emulator_control
    call = services.dial(agent, customer.phone, obj=customer)
    until(lambda: call_status(call) == CallSession.Status.CONNECTED, services.sweep_live_calls)
    recording_tag = services.start_recording(agent, invoice, invoice.number, consent_given=True)
    time.sleep(1.1)
    before_stop = requests(control)

    services.stop_recording(agent, RecordingTag.objects.get(pk=recording_tag.pk))
    run_due(sent)
    services.sweep_live_calls()  # the call goes on

    mid_call = requests(control)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.FETCHING
    assert delta(before_stop, mid_call, "retrieveRecording") == 0
    assert not sent

    control.hangup(call.unique_id)
    assert services.sweep_live_calls() == 1
    run_due(sent)

    recording_tag.refresh_from_db()
    legs = RecordingLeg.objects.filter(recording_tag=recording_tag).count()
    after = requests(control)
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert delta(before_stop, after, "retrieveMetaData") == 1
    assert delta(before_stop, after, "retrieveRecording") == legs == 1


# ------------------------------------------------------------------------------ "not ready" backoff


def test_not_ready_answers_grow_the_fetch_backoff_up_to_the_cap(
    pbx: Any,
    settings: Any,
    noojee_emulator_control: Any,
    invoice: Any,
    sent: Broker,
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "POLL_BACKOFF_BASE": 1, "POLL_BACKOFF_CAP": 16}
    recorded = noojee_emulator_control.add_recording(tag=invoice.number, legs=[2], in_progress=True)
    services.watch_tag(invoice, invoice.number)
    run_due(sent)  # the poll finds the leg; its download is refused: the call goes on
    leg = RecordingLeg.objects.get(call_record_id=recorded["legs"][0]["call_record_id"])

    waits = []
    for _ in range(5):
        result = services.fetch_leg(leg.pk)
        assert result.outcome == "not_ready"
        waits.append(result.retry_in)

    # base 1 s doubled per refusal up to the cap, each wait between half its ceiling and the ceiling
    # (the poll's own fetch was the first refusal: ceiling 1 s)
    ceilings = [2, 4, 8, 16, 16]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True)), waits
    countdowns = [countdown for _, _, countdown in sent]  # each retry sent with its wait (whole s)
    assert len(countdowns) == 6 and all(
        abs(c - w) <= 1 for c, w in zip(countdowns[1:], waits, strict=True)
    ), (countdowns, waits)
    leg.refresh_from_db()
    assert leg.fetch_status == RecordingLeg.FetchStatus.PENDING
    assert leg.fetch_attempts == 0  # "not ready" spends no download attempt
    assert leg.not_ready_count == 6
