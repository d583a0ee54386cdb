"""Private playback: permission, access log, and HTTP Range so players can seek."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from noojee_django.models import RecordingAccess, RecordingTag
from noojee_django.playback import UnsatisfiableRange, parse_range
from tests.recordings import attached_recording

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(invoice: Any) -> RecordingTag:
    return attached_recording(invoice)


def url(recording: RecordingTag) -> str:
    return reverse("noojee:recording-audio", args=[recording.pk])


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_the_agent_who_may_view_the_invoice_hears_the_whole_signature(
    agent: User, recording: RecordingTag
) -> None:
    response = as_user(agent).get(url(recording))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert "no-store" in response["Cache-Control"]
    content = body(response)
    assert content == recording.audio.open("rb").read()
    assert int(response["Content-Length"]) == len(content)
    access = RecordingAccess.objects.get()
    assert access.user == agent and access.action == "play" and access.leg is None


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-199", 100, 199),
        ("bytes=-50", None, None),
        ("bytes=1000-", 1000, None),
    ],
)
def test_range_requests_get_206_with_the_right_bytes(
    agent: User, recording: RecordingTag, header: str, first: int | None, last: int | None
) -> None:
    full = recording.audio.open("rb").read()
    size = len(full)
    response = as_user(agent).get(url(recording), HTTP_RANGE=header)
    assert response.status_code == 206
    start = size - 50 if first is None else first
    end = size - 1 if last is None else last
    assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert body(response) == full[start : end + 1]
    assert RecordingAccess.objects.get().byte_range == header


def test_an_unsatisfiable_range_is_416(agent: User, recording: RecordingTag) -> None:
    response = as_user(agent).get(url(recording), HTTP_RANGE="bytes=99999999-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{recording.audio.size}"


@pytest.mark.parametrize("header", ["bytes=abc", "pages=1-2", "bytes=-", "bytes 0-1"])
def test_a_malformed_range_is_ignored(agent: User, recording: RecordingTag, header: str) -> None:
    response = as_user(agent).get(url(recording), HTTP_RANGE=header)
    assert response.status_code == 200


def test_several_ranges_are_answered_with_the_first() -> None:
    assert parse_range("bytes=0-1, 5-6", 100) == (0, 1)
    assert parse_range("bytes=5-500", 100) == (5, 99)
    with pytest.raises(UnsatisfiableRange):
        parse_range("bytes=-0", 100)


def test_anonymous_users_are_sent_to_log_in(recording: RecordingTag) -> None:
    response = Client().get(url(recording))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert not RecordingAccess.objects.exists()


def test_a_user_who_may_not_view_the_invoice_is_refused(outsider: User, recording: RecordingTag) -> None:
    assert as_user(outsider).get(url(recording)).status_code == 403
    leg = recording.legs.first()
    assert leg is not None
    assert as_user(outsider).get(reverse("noojee:leg-audio", args=[leg.pk])).status_code == 403
    assert not RecordingAccess.objects.exists()


def test_each_leg_plays_on_its_own(agent: User, recording: RecordingTag) -> None:
    leg = recording.legs.get(leg=2)
    response = as_user(agent).get(reverse("noojee:leg-audio", args=[leg.pk]))
    assert body(response) == leg.audio.open("rb").read()
    assert RecordingAccess.objects.get().leg == leg


def test_download_is_an_attachment_and_logged_as_such(superuser: User, recording: RecordingTag) -> None:
    response = as_user(superuser).get(url(recording) + "?download=1")
    assert response["Content-Disposition"] == 'attachment; filename="INV-42.wav"'
    assert RecordingAccess.objects.get().action == "download"


def test_a_recording_without_audio_is_404(agent: User, recording: RecordingTag) -> None:
    recording.audio.delete()
    assert as_user(agent).get(url(recording)).status_code == 404


def test_audio_has_no_public_url(recording: RecordingTag) -> None:
    with pytest.raises(ValueError):
        recording.audio.url  # noqa: B018  (the storage has no base URL)


def test_head_answers_the_size_without_a_body(agent: User, recording: RecordingTag) -> None:
    response = as_user(agent).head(url(recording))
    assert response.status_code == 200
    assert int(response["Content-Length"]) == recording.audio.size


def test_post_is_not_allowed(agent: User, recording: RecordingTag) -> None:
    assert as_user(agent).post(url(recording)).status_code == 405
