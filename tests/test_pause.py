"""Secure pause: Pause and Resume on a live recording, against the emulator.

The PBX is told ``stop`` on pause and ``start`` (same tag, same call) on resume; the recording is
``paused`` in between, only through the lifecycle; every pause is a row; a pause resumes by itself
after ``PAUSE_MAX_SECONDS`` (a task, and the sweep when the task is lost), exactly once however the
resumes race. The emulator records nothing during a pause, and its legs' audio is a window on the
call's own time (``emulator.audio.call_second``): the tests read back which seconds of the call are in
storage and prove that none of the paused span is.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
import struct
import time
import wave
import zipfile
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from example_project.crm.models import Customer, Invoice
from noojee_django import lifecycle, services, tasks
from noojee_django.emulator.audio import call_second
from noojee_django.exceptions import PauseRefused, TransitionRefused
from noojee_django.models import CallSession, RecordingPause, RecordingTag, RecordingTransition
from noojee_django.signing import generate_private_key
from noojee_django.stitching import TONE_HZ, GapMark, stitch_wavs
from noojee_django.templatetags.noojee import RECORDING_CARD_TEMPLATE
from noojee_django.timeline import legs_timeline
from tests.polling import wait_for

pytestmark = pytest.mark.django_db

Tag = RecordingTag.Status


# ------------------------------------------------------------------------------------------ helpers


def connected_call(agent: User, customer: Customer) -> CallSession:
    call = services.dial(agent, customer.phone, obj=customer)
    return wait_for(
        lambda: services.current_call_status(call).status == CallSession.Status.CONNECTED and call
    )


def emulator_call(control: Any, unique_id: str) -> dict[str, Any]:
    return next(c for c in control.calls() if c["unique_id"] == unique_id)


def requests(control: Any, method: str) -> int:
    return int(control.stats()["requests"].get(method, 0))


def collect(recording_tag: RecordingTag) -> RecordingTag:
    for leg_id in services.poll_tag(recording_tag.pk).legs_to_fetch:
        services.fetch_leg(leg_id)
    recording_tag.refresh_from_db()
    return recording_tag


def pcm_of(field_file: Any) -> tuple[bytes, wave._wave_params]:
    with field_file.open("rb") as handle, wave.open(io.BytesIO(handle.read()), "rb") as reader:
        return reader.readframes(reader.getnframes()), reader.getparams()


def api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def widget(user: User) -> Client:
    client = Client(headers={"accept": "application/json"})
    client.force_login(user)
    return client


@pytest.fixture
def fast_pause(settings: Any, pbx: Any) -> Any:
    settings.NOOJEE = {**settings.NOOJEE, "PAUSE_MAX_SECONDS": 1, "UNLISTED_CALL_GRACE": 0}
    return pbx


@pytest.fixture
def recording(pbx: Any, agent: User, customer: Customer, invoice: Invoice) -> RecordingTag:
    connected_call(agent, customer)
    return services.start_recording(agent, invoice, "INV-42", consent_given=True)


# ------------------------------------------------------------------------------------------ lifecycle


def test_the_lifecycle_goes_to_paused_only_from_recording_and_back_or_on_to_waiting() -> None:
    table = lifecycle.RECORDING_TAG_TRANSITIONS
    assert lifecycle.allowed_sources(table, Tag.PAUSED) == [Tag.RECORDING]
    assert set(table[Tag.PAUSED]) == {Tag.RECORDING, Tag.WAITING}
    assert Tag.PAUSED in RecordingTag.LIVE_STATUSES  # one live recording per tag holds while paused


def test_a_paused_recording_cannot_jump_to_collection_states(invoice: Invoice) -> None:
    paused = RecordingTag.objects.create(tag="INV-42", content_object=invoice, status=Tag.PAUSED)
    with pytest.raises(TransitionRefused):
        lifecycle.transition(paused, Tag.FETCHING, reason="no")
    assert lifecycle.transition(paused, Tag.RECORDING, reason="resumed")
    assert RecordingTransition.objects.filter(recording_tag=paused, from_status="paused").count() == 1


def test_a_paused_tag_is_live_and_cannot_be_recorded_twice(recording: RecordingTag, agent: User) -> None:
    services.pause_recording(agent, recording)
    from noojee_django.exceptions import InvalidState

    with pytest.raises(InvalidState, match="being recorded already"):
        services.start_recording(agent, recording.content_object, "INV-42")


# ------------------------------------------------------------------------------------------ services


def test_pause_tells_the_pbx_stop_and_resume_start_with_the_same_tag_on_the_same_call(
    recording: RecordingTag, agent: User, noojee_emulator_control: Any
) -> None:
    control = noojee_emulator_control
    unique_id = recording.unique_id
    assert unique_id
    stops, starts = requests(control, "stop"), requests(control, "start")
    time.sleep(1.1)

    services.pause_recording(agent, recording, reason="card details")

    recording.refresh_from_db()
    assert recording.status == Tag.PAUSED
    assert requests(control, "stop") == stops + 1
    assert not emulator_call(control, unique_id)["recording"]
    pause = RecordingPause.objects.get(recording_tag=recording)
    assert (pause.paused_by, pause.reason, pause.ended_at) == (agent, "card details", None)
    assert pause.resume_due_at == pause.started_at + dt.timedelta(seconds=120)
    time.sleep(1.1)

    services.resume_recording(agent, recording)

    recording.refresh_from_db()
    pause.refresh_from_db()
    assert recording.status == Tag.RECORDING
    assert requests(control, "start") == starts + 1
    call = emulator_call(control, unique_id)
    assert call["recording"] and call["tag"] == "INV-42"
    legs = control.recordings(unique_id=unique_id)
    assert [(leg["leg"], leg["tag"], leg["unique_id"]) for leg in legs] == [
        (1, "INV-42", unique_id),
        (2, "INV-42", unique_id),
    ]
    assert pause.ended_how == RecordingPause.Ending.RESUMED and pause.resumed_by == agent
    assert not pause.resumed_automatically and pause.seconds and pause.seconds >= 1
    history = list(
        RecordingTransition.objects.filter(recording_tag=recording).values_list("from_status", "to_status")
    )
    assert history[-2:] == [("recording", "paused"), ("paused", "recording")]


def test_pausing_what_is_not_recording_and_resuming_what_is_not_paused_are_refused_in_words(
    recording: RecordingTag, agent: User, noojee_emulator_control: Any
) -> None:
    with pytest.raises(PauseRefused, match="is recording, not paused"):
        services.resume_recording(agent, recording)
    services.pause_recording(agent, recording)
    stops = requests(noojee_emulator_control, "stop")
    with pytest.raises(PauseRefused, match="is paused, not recording"):
        services.pause_recording(agent, recording)
    assert requests(noojee_emulator_control, "stop") == stops  # the PBX was told nothing more
    assert RecordingPause.objects.filter(recording_tag=recording).count() == 1


def test_a_reason_too_long_is_refused_and_nothing_is_paused(recording: RecordingTag, agent: User) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.pause_recording(agent, recording, reason="x" * 201)
    recording.refresh_from_db()
    assert recording.status == Tag.RECORDING and not RecordingPause.objects.exists()


def test_someone_else_may_not_pause_or_resume_an_agents_recording(
    recording: RecordingTag, other_agent: User, agent: User
) -> None:
    from noojee_django.exceptions import NoojeePermissionDenied

    with pytest.raises(NoojeePermissionDenied, match="pause"):
        services.pause_recording(other_agent, recording)
    services.pause_recording(agent, recording)
    with pytest.raises(NoojeePermissionDenied, match="resume"):
        services.resume_recording(other_agent, recording)


def test_a_pause_the_pbx_refuses_leaves_the_recording_recording_with_nothing_paused(
    recording: RecordingTag, agent: User, noojee_emulator_control: Any
) -> None:
    from noojee_django.exceptions import PbxError

    noojee_emulator_control.add_fault("negative_code", method="stop", code=-7, message="Busy")
    with pytest.raises(PbxError, match="still recording"):
        services.pause_recording(agent, recording)
    recording.refresh_from_db()
    assert recording.status == Tag.RECORDING and not RecordingPause.objects.exists()


def test_stop_while_paused_sends_nothing_more_and_the_recording_is_collected(
    recording: RecordingTag, agent: User, noojee_emulator_control: Any
) -> None:
    time.sleep(1.1)
    services.pause_recording(agent, recording)
    stops = requests(noojee_emulator_control, "stop")

    services.stop_recording(agent, recording)

    recording.refresh_from_db()
    assert recording.status == Tag.WAITING
    assert requests(noojee_emulator_control, "stop") == stops
    pause = RecordingPause.objects.get(recording_tag=recording)
    assert pause.ended_how == RecordingPause.Ending.ENDED and pause.ended_at is not None


def test_a_call_that_ends_while_paused_goes_on_to_collection_like_a_stopped_one(
    fast_pause: Any, agent: User, customer: Customer, invoice: Invoice, noojee_emulator_control: Any
) -> None:
    call = connected_call(agent, customer)
    recording = services.start_recording(agent, invoice, "INV-42")
    time.sleep(1.1)
    services.pause_recording(agent, recording)
    noojee_emulator_control.hangup(call.unique_id)  # the customer hangs up while paused

    services.sweep_live_calls()

    recording.refresh_from_db()
    assert recording.status == Tag.WAITING
    assert RecordingPause.objects.get(recording_tag=recording).ended_how == RecordingPause.Ending.ENDED
    wait_for(lambda: collect(recording).status == Tag.ATTACHED)
    assert recording.legs.count() == 1
    time.sleep(1.1)
    assert services.resume_overdue_pauses() == 0  # nothing left to resume


# ------------------------------------------------------------------------------------------ auto resume


def test_a_pause_schedules_its_resume_and_the_task_resumes_it_once_due(
    fast_pause: Any,
    recording: RecordingTag,
    agent: User,
    noojee_emulator_control: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sent: list[tuple[str, Any, Any]] = []

    def seen(
        sender: str | None = None, headers: dict[str, Any] | None = None, body: Any = None, **_: Any
    ) -> None:
        sent.append((str(sender), (headers or {}).get("eta"), body[0] if body else None))

    before_task_publish.connect(seen)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.pause_recording(agent, recording)
    finally:
        before_task_publish.disconnect(seen)
    pause = RecordingPause.objects.get(recording_tag=recording)
    resumes = [s for s in sent if s[0] == "noojee_django.resume_paused_recording"]
    assert len(resumes) == 1 and list(resumes[0][2]) == [pause.pk]
    eta = dt.datetime.fromisoformat(resumes[0][1])
    assert abs((eta - pause.resume_due_at).total_seconds()) < 1

    assert tasks.resume_paused_recording(pause.pk) is False  # delivered early: not due yet
    recording.refresh_from_db()
    assert recording.status == Tag.PAUSED
    time.sleep(1.1)
    starts = requests(noojee_emulator_control, "start")

    assert tasks.resume_paused_recording(pause.pk) is True
    assert tasks.resume_paused_recording(pause.pk) is False  # a redelivery changes nothing

    recording.refresh_from_db()
    pause.refresh_from_db()
    assert recording.status == Tag.RECORDING
    assert requests(noojee_emulator_control, "start") == starts + 1
    assert pause.resumed_automatically and pause.resumed_by is None
    assert emulator_call(noojee_emulator_control, recording.unique_id)["recording"]
    assert RecordingTransition.objects.filter(
        recording_tag=recording, from_status="paused", to_status="recording", actor=None
    ).exists()


def test_the_sweep_resumes_an_overdue_pause_whose_task_was_lost(
    fast_pause: Any, recording: RecordingTag, agent: User, noojee_emulator_control: Any
) -> None:
    services.pause_recording(agent, recording)  # its task never runs
    assert tasks.sweep_due_recording_tags() == 0
    recording.refresh_from_db()
    assert recording.status == Tag.PAUSED  # not due yet
    time.sleep(1.1)

    tasks.sweep_due_recording_tags()

    recording.refresh_from_db()
    assert recording.status == Tag.RECORDING
    assert RecordingPause.objects.get(recording_tag=recording).resumed_automatically
    assert emulator_call(noojee_emulator_control, recording.unique_id)["recording"]


def test_a_resume_the_pbx_refuses_stays_paused_and_the_sweep_tries_again(
    fast_pause: Any, recording: RecordingTag, agent: User, noojee_emulator_control: Any
) -> None:
    services.pause_recording(agent, recording)
    noojee_emulator_control.add_fault("http_502", method="start", count=1)
    time.sleep(1.1)

    assert services.resume_overdue_pauses() == 0

    recording.refresh_from_db()
    pause = RecordingPause.objects.get(recording_tag=recording)
    assert recording.status == Tag.PAUSED and pause.is_open and not pause.ended_how
    assert services.resume_overdue_pauses() == 1
    recording.refresh_from_db()
    assert recording.status == Tag.RECORDING


@pytest.mark.parametrize("first", ["manual", "automatic"])
def test_the_agents_resume_and_the_automatic_one_racing_tell_the_pbx_start_once(
    first: str, recording: RecordingTag, agent: User, noojee_emulator_control: Any
) -> None:
    """Both resumes read the recording while it was paused; whichever reaches the lifecycle's
    compare-and-set first resumes it, the other finds it recording again and sends nothing."""
    time.sleep(1.1)
    services.pause_recording(agent, recording)
    pause = RecordingPause.objects.get(recording_tag=recording)
    starts = requests(noojee_emulator_control, "start")
    seen_by_agent = RecordingTag.objects.get(pk=recording.pk)  # the agent's page, loaded while paused
    due = pause.resume_due_at + dt.timedelta(seconds=1)

    def manual() -> RecordingTag:
        return services.resume_recording(agent, seen_by_agent)

    def automatic() -> bool:
        return services.resume_paused(pause.pk, now=due)

    if first == "manual":
        assert manual().status == Tag.RECORDING
        assert automatic() is False
    else:
        assert automatic() is True
        assert manual().status == Tag.RECORDING  # no error: it is recording again, as asked

    assert requests(noojee_emulator_control, "start") == starts + 1
    pause.refresh_from_db()
    wanted = (
        RecordingPause.Ending.RESUMED if first == "manual" else RecordingPause.Ending.RESUMED_AUTOMATICALLY
    )
    assert pause.ended_how == wanted
    assert (
        RecordingTransition.objects.filter(
            recording_tag=recording, from_status="paused", to_status="recording"
        ).count()
        == 1
    )
    assert len(noojee_emulator_control.recordings(unique_id=recording.unique_id)) == 2
    assert services.resume_overdue_pauses(now=due) == 0  # and the sweep after them does nothing


# ------------------------------------------------------------------------------------------ views and API


def test_the_widget_pauses_and_resumes_and_says_so(recording: RecordingTag, agent: User) -> None:
    client = widget(agent)
    pause_url = reverse("noojee:pause-recording", args=[recording.pk])
    resume_url = reverse("noojee:resume-recording", args=[recording.pk])

    paused = client.post(pause_url, {"reason": "card details"})

    assert paused.status_code == 200, paused.content
    data = paused.json()
    assert data["status"] == "paused" and data["status_words"] == "Paused" and data["is_paused"]
    assert 110 <= data["resume_in"] <= 120 and data["resume_url"] == resume_url
    assert "resumes by itself in" in data["message"]
    assert RecordingPause.objects.get(recording_tag=recording).reason == "card details"

    again = client.post(pause_url)
    assert again.status_code == 400 and "is paused, not recording" in again.json()["error"]

    resumed = client.post(resume_url)
    assert resumed.status_code == 200 and resumed.json()["status"] == "recording"
    assert not resumed.json()["is_paused"] and resumed.json()["resume_in"] is None

    again = client.post(resume_url)
    assert again.status_code == 400 and "is recording, not paused" in again.json()["error"]


def test_the_record_button_shows_the_pause_its_countdown_and_the_word_paused(
    recording: RecordingTag, agent: User, invoice: Invoice
) -> None:
    from django.template import Context, Template

    services.pause_recording(agent, recording)
    page = Template("{% load noojee %}{% noojee_record_button invoice 'INV-42' %}").render(
        Context({"invoice": invoice, "user": agent})
    )
    assert 'data-noojee="record-resume"' in page and "Paused" in page
    assert 'role="timer"' in page and 'data-resume-in="1' in page
    assert "It resumes by itself in" in page


def test_the_api_pauses_and_resumes_and_refuses_in_words(recording: RecordingTag, agent: User) -> None:
    client = api(agent)
    pause_url = reverse("noojee:api-recording-pause", args=[recording.pk])
    resume_url = reverse("noojee:api-recording-resume", args=[recording.pk])

    response = client.post(pause_url, {"reason": "card"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "paused" and body["status_words"] == "Paused"
    assert body["resume_in"] is not None and body["pauses"][0]["reason"] == "card"
    assert body["pauses"][0]["paused_by"] == agent.pk and body["pauses"][0]["ended_at"] is None

    refused = client.post(pause_url, {}, format="json")
    assert refused.status_code == 400
    assert "is paused, not recording" in json.dumps(refused.json())

    too_long = client.post(resume_url.replace("resume", "pause"), {"reason": "x" * 300}, format="json")
    assert too_long.status_code == 400 and "reason" in too_long.json()

    resumed = client.post(resume_url, {}, format="json")
    assert resumed.status_code == 200 and resumed.json()["status"] == "recording"
    assert resumed.json()["pauses"][0]["ended_how"] == "resumed"
    refused = client.post(resume_url, {}, format="json")
    assert refused.status_code == 400 and "is recording, not paused" in json.dumps(refused.json())


def test_pausing_an_attached_recording_is_a_400_in_words(agent: User, invoice: Invoice) -> None:
    from tests.recordings import attached_recording

    attached = attached_recording(invoice)
    RecordingTag.objects.filter(pk=attached.pk).update(started_by=agent)
    response = api(agent).post(reverse("noojee:api-recording-pause", args=[attached.pk]), {}, format="json")
    assert response.status_code == 400 and "attached, not recording" in json.dumps(response.json())


# ------------------------------------------------------------------------------------------ stitching


def _wav(frames: bytes, rate: int = 8000) -> io.BytesIO:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)
    out.seek(0)
    return out


def _zero_crossings(pcm: bytes) -> int:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))


@pytest.mark.parametrize("fill", ["tone", "silence", "none"])
def test_the_signature_marks_each_gap_as_the_setting_says(fill: str) -> None:
    one, two = b"\x01\x00" * 8000, b"\x02\x00" * 4000
    out = io.BytesIO()

    joined = stitch_wavs([_wav(one), _wav(two)], out, gaps=[GapMark(after=0, seconds=3.0)], fill=fill)

    out.seek(0)
    with wave.open(out, "rb") as reader:
        pcm = reader.readframes(reader.getnframes())
    assert pcm.startswith(one) and pcm.endswith(two)
    marker = pcm[len(one) : len(pcm) - len(two)]
    if fill == "tone":
        assert len(marker) == 2 * 4000  # half a second
        assert abs(_zero_crossings(marker) - 2 * TONE_HZ * 0.5) <= 4  # a 1 kHz beep
        assert joined.duration_seconds == pytest.approx(2.0)
    elif fill == "silence":
        assert marker == b"\x00" * (2 * 8000 * 3)  # the pause's length
        assert joined.duration_seconds == pytest.approx(4.5)
    else:
        assert marker == b""


def test_an_unknown_gap_fill_is_refused() -> None:
    with pytest.raises(ValueError, match="fill"):
        stitch_wavs([_wav(b"\x00\x00")], io.BytesIO(), fill="beep")


# ------------------------------------------------------------------------------------------ end to end


def _call_seconds_in(pcm: bytes, unique_id: str, last: int) -> set[int]:
    """Which seconds of the call's own sound are anywhere in ``pcm``."""
    return {t for t in range(last + 1) if call_second(unique_id, t) in pcm}


@pytest.mark.parametrize("fill", ["tone", "silence"])
def test_record_pause_resume_stop_hang_up_attaches_a_signature_without_the_paused_span(
    fill: str,
    pbx: Any,
    settings: Any,
    agent: User,
    customer: Customer,
    invoice: Invoice,
    noojee_emulator_control: Any,
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "PAUSE_GAP_FILL": fill}
    control = noojee_emulator_control
    call = connected_call(agent, customer)
    unique_id = call.unique_id
    call_start = int(unique_id.split(".")[0])  # the emulator's unique id: <epoch of the call's start>.<n>
    recording = services.start_recording(agent, invoice, "INV-42", consent_given=True)
    time.sleep(2.2)
    services.pause_recording(agent, recording, reason="card details")
    time.sleep(5.2)
    services.resume_recording(agent, recording)
    time.sleep(2.2)
    services.stop_recording(agent, recording)
    control.hangup(unique_id)
    services.collect_after_call(CallSession.objects.get(pk=call.pk))
    wait_for(lambda: collect(recording).status == Tag.ATTACHED)

    pause = RecordingPause.objects.get(recording_tag=recording)
    assert pause.seconds is not None
    legs = list(recording.legs.order_by("leg"))
    assert [leg.leg for leg in legs] == [1, 2]
    last = int(time.time()) - call_start + 2
    # The paused span in the call's seconds, a second's margin each side for the clocks' rounding.
    paused = set(
        range(
            math.ceil(pause.started_at.timestamp() - call_start) + 1,
            math.floor(pause.ended_at.timestamp() - call_start) - 1,  # type: ignore[union-attr]
        )
    )
    assert len(paused) >= 2
    stored = [pcm_of(leg.audio)[0] for leg in legs]
    present = [_call_seconds_in(pcm, unique_id, last) for pcm in stored]
    assert all(present), "each leg holds seconds of the call"
    assert not (present[0] | present[1]) & paused, "no stored leg holds a second of the paused span"
    assert max(present[0]) < min(paused) and min(present[1]) > max(paused)
    # Every second of each leg is a second of the call: nothing else hides in it.
    for pcm, seconds in zip(stored, present, strict=True):
        assert len(pcm) // 16000 == len(seconds)

    signature, params = pcm_of(recording.audio)
    assert not _call_seconds_in(signature, unique_id, last) & paused
    assert signature.startswith(stored[0]) and signature.endswith(stored[1])
    marker = signature[len(stored[0]) : len(signature) - len(stored[1])]
    if fill == "tone":
        assert len(marker) == params.framerate  # half a second of 16-bit audio
        assert _zero_crossings(marker) > 900
    else:
        assert marker == b"\x00" * len(marker)
        assert abs(len(marker) / (2 * params.framerate) - pause.seconds) < 0.01

    timeline = legs_timeline(recording)
    assert [bar.leg.leg for bar in timeline.pauses] == [2] and timeline.pauses[0].pause == pause
    card = render_to_string(RECORDING_CARD_TEMPLATE, {"recording_tag": recording})
    assert "noojee-timeline-pause" in card and "before this leg: not recorded" in card


def test_the_emulators_live_legs_are_windows_on_the_calls_time(
    pbx: Any, noojee_emulator_control: Any
) -> None:
    control = noojee_emulator_control
    unique_id = control.inbound_call(caller_id="0398765432", exten="101")
    control.answer(unique_id, "101")
    time.sleep(1.1)
    emulator = pbx.pbx
    emulator.start_recording(unique_id, tag="T-1")
    time.sleep(2.1)
    emulator.stop_recording(unique_id)
    legs = control.recordings(unique_id=unique_id)
    pcm = control.audio(legs[0]["call_record_id"])[44:]
    found = {t for t in range(10) if call_second(unique_id, t) in pcm}
    assert len(found) == len(pcm) // 16000 and min(found) >= 1  # nothing from before the start


# ------------------------------------------------------------------------------------------ evidence


def test_the_evidence_manifest_lists_who_paused_and_resumed_each_gap_and_when(
    fast_pause: Any,
    settings: Any,
    agent: User,
    customer: Customer,
    invoice: Invoice,
    noojee_emulator_control: Any,
) -> None:
    from django.contrib.auth.models import Permission

    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": generate_private_key()}
    agent.user_permissions.add(Permission.objects.get(codename="export_evidence"))
    agent = User.objects.get(pk=agent.pk)
    call = connected_call(agent, customer)
    recording = services.start_recording(agent, invoice, "INV-42")
    time.sleep(1.1)
    services.pause_recording(agent, recording, reason="card details")
    time.sleep(2.2)
    services.resume_recording(agent, recording)
    time.sleep(1.1)
    services.pause_recording(agent, recording)
    time.sleep(1.1)
    services.resume_overdue_pauses()  # the second resumes by itself
    time.sleep(1.1)
    noojee_emulator_control.hangup(call.unique_id)
    services.collect_after_call(CallSession.objects.get(pk=call.pk))
    wait_for(lambda: collect(recording).status == Tag.ATTACHED)

    client = Client()
    client.force_login(agent)
    response = client.get(reverse("noojee:recording-evidence", args=[recording.pk]))
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        manifest = json.loads(archive.read("manifest.json"))

    pauses = manifest["pauses"]
    assert len(pauses) == 2
    first, second = pauses
    assert first["paused"]["by"]["username"] == "agent" and first["reason"] == "card details"
    assert first["resumed"]["by"]["username"] == "agent" and first["resumed"]["automatically"] is False
    assert second["resumed"]["by"] is None and second["resumed"]["automatically"] is True
    assert set(first["paused"]["at"]) == {"utc", "pbx"} and first["seconds"] >= 2
    legs = [leg["call_record_id"] for leg in manifest["legs"]]
    assert [p["after_leg"] for p in pauses] == legs[:2]
    assert manifest["signature"]["pause_gap_fill"] == "tone"
    assert timezone.now() > dt.datetime.fromisoformat(second["ended"]["utc"])


def test_a_pbx_clock_minutes_off_still_marks_the_pause_between_the_right_legs(
    pbx: Any, agent: User, customer: Customer, invoice: Invoice, noojee_emulator_control: Any
) -> None:
    control = noojee_emulator_control
    control.config(clock_offset_ms=-4 * 60 * 1000)  # the PBX's clock runs four minutes behind
    call = connected_call(agent, customer)
    recording = services.start_recording(agent, invoice, "INV-42")
    time.sleep(1.1)
    control.transfer(call.unique_id, "102")  # a leg boundary that is not a pause
    time.sleep(1.1)
    services.pause_recording(agent, recording)
    time.sleep(2.2)
    services.resume_recording(agent, recording)
    time.sleep(1.1)
    control.hangup(call.unique_id)
    services.collect_after_call(CallSession.objects.get(pk=call.pk))
    wait_for(lambda: collect(recording).status == Tag.ATTACHED)

    legs = list(recording.legs.order_by("leg"))
    assert [leg.leg for leg in legs] == [1, 2, 3]
    assert [bar.leg.leg for bar in legs_timeline(recording).pauses] == [3]
    signature, params = pcm_of(recording.audio)
    stored = [pcm_of(leg.audio)[0] for leg in legs]
    assert signature == stored[0] + stored[1] + signature[len(stored[0]) + len(stored[1]) :]
    assert len(signature) == sum(map(len, stored)) + params.framerate  # one half-second tone


def test_the_admin_shows_who_paused_and_resumed(
    recording: RecordingTag, agent: User, superuser: User
) -> None:
    services.pause_recording(agent, recording, reason="card details")
    client = Client()
    client.force_login(superuser)
    url = reverse("admin:noojee_django_recordingtag_change", args=[recording.pk])
    page = client.get(url).content.decode()
    assert "Paused at" in page and "by agent" in page and "card details" in page
    assert "still paused, resumes by itself at" in page
    services.resume_recording(agent, recording)
    page = client.get(url).content.decode()
    assert "resumed at" in page and "not recorded" in page
