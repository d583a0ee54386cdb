"""Private playback: permission, access log, and HTTP Range so players can seek."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from noojee_django import playback, services
from noojee_django.models import RecordingAccess, RecordingLeg, RecordingTag
from noojee_django.playback import UnsatisfiableRange, parse_range
from tests.recordings import attached_recording

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(invoice: Any) -> RecordingTag:
    return attached_recording(invoice)


def url(recording: RecordingTag) -> str:
    return reverse("noojee:recording-audio", args=[recording.pk])


def leg_url(leg: RecordingLeg) -> str:
    return reverse("noojee:leg-audio", args=[leg.pk])


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def stored(recording: RecordingTag | RecordingLeg) -> bytes:
    with recording.audio.open("rb") as handle:
        return handle.read()


# Permissions


def test_the_agent_who_may_view_the_invoice_hears_the_whole_signature(
    agent: User, recording: RecordingTag
) -> None:
    response = as_user(agent).get(url(recording))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Range" not in response and "Content-Disposition" not in response
    content = body(response)
    assert content == stored(recording)
    assert int(response["Content-Length"]) == len(content)
    access = RecordingAccess.objects.get()
    assert (access.user, access.action, access.leg, access.byte_range) == (agent, "play", None, "")
    assert access.ip_address == "127.0.0.1"


def test_a_superuser_hears_any_recording(superuser: User, recording: RecordingTag) -> None:
    response = as_user(superuser).get(url(recording))
    assert response.status_code == 200
    assert body(response) == stored(recording)


def test_anonymous_users_are_sent_to_log_in(recording: RecordingTag) -> None:
    response = Client().get(url(recording))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    assert not RecordingAccess.objects.exists()


def test_anonymous_users_cannot_tell_which_recordings_exist(recording: RecordingTag) -> None:
    missing = reverse("noojee:recording-audio", args=[recording.pk + 1000])
    assert Client().get(missing).status_code == 302


def test_a_user_who_may_not_view_the_invoice_is_refused(outsider: User, recording: RecordingTag) -> None:
    assert as_user(outsider).get(url(recording)).status_code == 403
    leg = recording.legs.get(leg=1)
    assert as_user(outsider).get(leg_url(leg)).status_code == 403
    assert not RecordingAccess.objects.exists()


def test_the_refusal_comes_before_saying_whether_there_is_audio(
    outsider: User, recording: RecordingTag
) -> None:
    services.purge_audio(recording)
    assert as_user(outsider).get(url(recording)).status_code == 403


def test_the_may_hear_hook_decides(settings: Any, agent: User, recording: RecordingTag) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "MAY_HEAR": lambda user, obj: False}
    assert as_user(agent).get(url(recording)).status_code == 403


# Missing audio


def test_a_recording_without_audio_is_404(agent: User, recording: RecordingTag) -> None:
    RecordingTag.objects.filter(pk=recording.pk).update(audio="", status=RecordingTag.Status.FETCHING)
    assert as_user(agent).get(url(recording)).status_code == 404


def test_a_leg_never_fetched_is_404(agent: User, recording: RecordingTag) -> None:
    leg = RecordingLeg.objects.create(
        recording_tag=recording, call_record_id=999_999, leg=3, unique_id="1.1", duration=2
    )
    assert as_user(agent).get(leg_url(leg)).status_code == 404


def test_purged_audio_is_404_for_the_signature_and_its_legs(agent: User, recording: RecordingTag) -> None:
    services.purge_audio(recording)
    client = as_user(agent)
    assert client.get(url(recording)).status_code == 404
    for leg in recording.legs.all():
        assert client.get(leg_url(leg)).status_code == 404
    assert not RecordingAccess.objects.exists()


def test_audio_gone_from_storage_is_404(agent: User, recording: RecordingTag) -> None:
    recording.audio.storage.delete(recording.audio.name)
    assert as_user(agent).get(url(recording)).status_code == 404


def test_an_unknown_recording_is_404(agent: User) -> None:
    assert as_user(agent).get(reverse("noojee:recording-audio", args=[123456])).status_code == 404
    assert as_user(agent).get(reverse("noojee:leg-audio", args=[123456])).status_code == 404


def test_audio_has_no_public_url(recording: RecordingTag) -> None:
    with pytest.raises(ValueError, match="no public URL"):
        recording.audio.url  # noqa: B018  (the storage has no base URL)


# Range


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # the first bytes
        ("bytes=100-199", 100, 199),  # the middle
        ("bytes=-50", -50, None),  # a suffix
        ("bytes=1000-", 1000, None),  # open-ended
        ("bytes=5-99999999", 5, None),  # past the end: clipped
        ("bytes=0-0", 0, 0),
    ],
)
def test_range_requests_get_206_with_the_right_bytes(
    agent: User, recording: RecordingTag, header: str, first: int, last: int | None
) -> None:
    full = stored(recording)
    size = len(full)
    response = as_user(agent).get(url(recording), HTTP_RANGE=header)
    assert response.status_code == 206
    start = size + first if first < 0 else first
    end = size - 1 if last is None else last
    assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert response["Content-Length"] == str(end - start + 1)
    assert body(response) == full[start : end + 1]
    assert RecordingAccess.objects.get().byte_range == header


def test_every_answer_names_its_version_with_a_strong_etag(agent: User, recording: RecordingTag) -> None:
    recording.audio_sha256 = "ab" * 32
    recording.save(update_fields=["audio_sha256"])
    client = as_user(agent)

    assert client.get(url(recording))["ETag"] == '"' + "ab" * 20 + '"'
    assert client.get(url(recording), HTTP_RANGE="bytes=0-9")["ETag"] == '"' + "ab" * 20 + '"'
    leg = recording.legs.first()
    assert client.get(leg_url(leg))["ETag"] not in ("", client.get(url(recording))["ETag"])


def test_a_range_for_the_version_the_player_has_is_honoured(agent: User, recording: RecordingTag) -> None:
    client = as_user(agent)
    etag = client.head(url(recording))["ETag"]

    response = client.get(url(recording), HTTP_RANGE="bytes=10-19", HTTP_IF_RANGE=etag)

    assert response.status_code == 206
    assert body(response) == stored(recording)[10:20]


@pytest.mark.parametrize("if_range", ['"another-version"', "Tue, 01 Dec 2026 10:00:00 GMT"])
def test_a_range_for_another_version_gets_the_whole_current_file(
    agent: User, recording: RecordingTag, if_range: str
) -> None:
    response = as_user(agent).get(url(recording), HTTP_RANGE="bytes=10-19", HTTP_IF_RANGE=if_range)

    assert response.status_code == 200
    assert "Content-Range" not in response
    assert body(response) == stored(recording)


def test_a_suffix_longer_than_the_file_is_the_whole_file(agent: User, recording: RecordingTag) -> None:
    full = stored(recording)
    response = as_user(agent).get(url(recording), HTTP_RANGE=f"bytes=-{len(full) * 2}")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 0-{len(full) - 1}/{len(full)}"
    assert body(response) == full


@pytest.mark.parametrize("header", ["bytes=99999999-", "bytes=-0", "bytes=99999999-99999999999"])
def test_an_unsatisfiable_range_is_416_and_not_logged_as_a_listen(
    agent: User, recording: RecordingTag, header: str
) -> None:
    response = as_user(agent).get(url(recording), HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{recording.audio.size}"
    assert response["Accept-Ranges"] == "bytes"
    assert not RecordingAccess.objects.exists()  # no byte was heard


def test_an_unsatisfiable_range_of_a_leg_is_not_logged_either(agent: User, recording: RecordingTag) -> None:
    leg = recording.legs.get(leg=1)
    response = as_user(agent).get(leg_url(leg), HTTP_RANGE="bytes=99999999-")
    assert response.status_code == 416
    assert not RecordingAccess.objects.exists()
    assert as_user(agent).get(leg_url(leg), HTTP_RANGE="bytes=0-9").status_code == 206
    assert RecordingAccess.objects.get().byte_range == "bytes=0-9"


@pytest.mark.parametrize("header", ["bytes=abc", "pages=1-2", "bytes=-", "bytes 0-1", "bytes=5-2", "bytes="])
def test_a_malformed_range_is_ignored_and_the_whole_file_served(
    agent: User, recording: RecordingTag, header: str
) -> None:
    response = as_user(agent).get(url(recording), HTTP_RANGE=header)
    assert response.status_code == 200
    assert "Content-Range" not in response
    assert body(response) == stored(recording)


def test_several_ranges_are_answered_with_the_first_satisfiable_one(
    agent: User, recording: RecordingTag
) -> None:
    full = stored(recording)
    response = as_user(agent).get(url(recording), HTTP_RANGE="bytes=10-19, 40-49")
    assert response.status_code == 206
    assert body(response) == full[10:20]
    assert parse_range("bytes=99999-, 3-4", 100) == (3, 4)
    with pytest.raises(UnsatisfiableRange):
        parse_range("bytes=200-, 300-", 100)


def test_a_range_of_an_empty_file_is_unsatisfiable() -> None:
    with pytest.raises(UnsatisfiableRange):
        parse_range("bytes=0-", 0)
    assert parse_range("bytes=0-", 1) == (0, 0)


def test_a_leg_plays_on_its_own_with_ranges(agent: User, recording: RecordingTag) -> None:
    leg = recording.legs.get(leg=2)
    full = stored(leg)
    client = as_user(agent)
    assert body(client.get(leg_url(leg))) == full
    response = client.get(leg_url(leg), HTTP_RANGE="bytes=-10")
    assert response.status_code == 206 and body(response) == full[-10:]
    assert [a.leg for a in RecordingAccess.objects.all()] == [leg, leg]


def test_a_long_recording_is_streamed_in_blocks(agent: User, invoice: Any) -> None:
    recording = attached_recording(invoice, tag="LONG-1", legs=(10.0,))  # ~160 kB of WAV per file
    response = as_user(agent).get(url(recording))
    assert response.streaming
    blocks = list(response.streaming_content)
    assert len(blocks) > 1
    assert max(len(block) for block in blocks) <= playback.BLOCK_SIZE
    assert b"".join(blocks) == stored(recording)


def test_an_unread_response_closes_its_file(
    agent: User, recording: RecordingTag, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = recording.audio.storage
    opened: list[Any] = []
    original_open = storage.open

    def open_and_remember(name: str, mode: str = "rb") -> Any:
        opened.append(original_open(name, mode))
        return opened[-1]

    monkeypatch.setattr(storage, "open", open_and_remember)
    response = as_user(agent).get(url(recording))
    assert response.status_code == 200
    assert len(opened) == 1 and not opened[0].closed
    response.close()  # what a WSGI server does when the client goes away before reading
    assert opened[0].closed


# Download, HEAD, methods


def test_download_is_an_attachment_and_logged_as_such(agent: User, recording: RecordingTag) -> None:
    response = as_user(agent).get(url(recording) + "?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="INV-42.wav"'
    assert RecordingAccess.objects.get().action == RecordingAccess.Action.DOWNLOAD


def test_a_leg_download_is_named_after_its_tag_and_leg(agent: User, recording: RecordingTag) -> None:
    leg = recording.legs.get(leg=2)
    response = as_user(agent).get(leg_url(leg) + "?download=1", HTTP_RANGE="bytes=0-9")
    assert response.status_code == 206
    assert response["Content-Disposition"] == 'attachment; filename="INV-42-leg2.wav"'
    access = RecordingAccess.objects.get()
    assert (access.action, access.leg, access.byte_range) == ("download", leg, "bytes=0-9")


def test_a_tag_with_odd_characters_gives_a_safe_file_name(agent: User, invoice: Any) -> None:
    recording = attached_recording(invoice, tag='A/B"; x')
    response = as_user(agent).get(url(recording) + "?download=1")
    assert response["Content-Disposition"] == 'attachment; filename="A_B___x.wav"'


def test_head_answers_the_size_without_a_body(agent: User, recording: RecordingTag) -> None:
    response = as_user(agent).head(url(recording))
    assert response.status_code == 200
    assert int(response["Content-Length"]) == recording.audio.size
    assert body(response) == b""


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_only_get_and_head_are_allowed(agent: User, recording: RecordingTag, method: str) -> None:
    assert getattr(as_user(agent), method)(url(recording)).status_code == 405
    assert not RecordingAccess.objects.exists()


# ------------------------------------------------------------------------------------ the listener's address


def test_behind_a_proxy_the_access_log_keeps_the_address_the_proxy_appended(
    agent: User, recording: RecordingTag, settings: Any
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "CLIENT_ADDRESS": "noojee_django.playback.last_forwarded_for"}
    # the first entry is the client's to invent; the last is what the proxy saw
    response = as_user(agent).get(url(recording), HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.7")
    assert response.status_code == 200
    body(response)
    assert RecordingAccess.objects.get().ip_address == "203.0.113.7"


def test_without_the_header_the_proxy_setting_keeps_the_connection_address(
    agent: User, recording: RecordingTag, settings: Any
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "CLIENT_ADDRESS": "noojee_django.playback.last_forwarded_for"}
    body(as_user(agent).get(url(recording)))
    assert RecordingAccess.objects.get().ip_address == "127.0.0.1"


@pytest.mark.parametrize("address", ["not-an-address", "1.2.3.4\n", "::1%eth0'--", "999.1.1.1"])
def test_an_address_that_is_not_an_ip_is_left_out_and_the_listen_still_logged(
    agent: User, recording: RecordingTag, settings: Any, address: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "CLIENT_ADDRESS": lambda request: address}
    response = as_user(agent).get(url(recording))
    assert response.status_code == 200
    assert body(response) == stored(recording)
    expected = "1.2.3.4" if address.strip() == "1.2.3.4" else None
    assert RecordingAccess.objects.get().ip_address == expected
    if expected is None:
        assert "not an IP address" in caplog.text
