"""Recordings in S3: django-storages' ``S3Storage``, configured as ``docs/deployment.md`` says, against
moto's S3 API server on loopback.

The pipeline's audio lands in the bucket exactly as the ledger records it, plays with Range and HEAD,
goes when purged (and stays under legal hold), and never gets a URL that works without the app.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.core.files.storage import Storage
from django.test import Client
from django.urls import reverse
from storages.backends.s3 import S3Storage

from example_project.crm.models import Invoice
from noojee_django import ledger, services
from noojee_django.checks import check_settings
from noojee_django.exceptions import InvalidState
from noojee_django.models import RecordingLeg, RecordingTag, StoredAudio
from tests.recordings import attached_recording
from tests.s3 import (
    TEST_ONLY_OPTIONS,
    Bucket,
    documented_storage,
    new_bucket,
    recordings_in_s3,
    set_credentials,
)
from tests.servers import ServerUnavailable, require, s3_server

pytestmark = pytest.mark.django_db


class UrlCountingS3Storage(S3Storage):  # type: ignore[misc]
    """The documented storage, counting who asks it for a URL."""

    url_calls: list[str] = []

    def url(self, name: str, *args: Any, **kwargs: Any) -> str:
        self.url_calls.append(name)
        return str(super().url(name, *args, **kwargs))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    try:
        with s3_server() as endpoint:
            yield endpoint
    except ServerUnavailable as exc:
        require(str(exc))


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: Any) -> Bucket:
    set_credentials(monkeypatch)
    return new_bucket(s3_endpoint)


@pytest.fixture
def s3_recordings(settings: Any, bucket: Bucket) -> Iterator[Storage]:
    """The recordings storage (and the audio fields) in ``bucket``, as the docs configure it."""
    with recordings_in_s3(settings, bucket) as storage:
        yield storage


def collect(recording_tag: RecordingTag) -> RecordingTag:
    for leg_id in services.poll_tag(recording_tag.pk).legs_to_fetch:
        services.fetch_leg(leg_id)
    recording_tag.refresh_from_db()
    return recording_tag


def live_names(recording_tag: RecordingTag) -> set[str]:
    return set(ledger.live(recording_tag).values_list("name", flat=True))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# --------------------------------------------------------------------------------------------------
# The configuration the tests use is the documented one


def test_the_tests_use_the_storage_the_deployment_guide_documents(s3_recordings: Storage) -> None:
    documented = documented_storage()
    assert documented["BACKEND"] == "storages.backends.s3.S3Storage"
    assert isinstance(s3_recordings, S3Storage)
    assert RecordingTag._meta.get_field("audio").storage is s3_recordings  # type: ignore[union-attr]
    assert RecordingLeg._meta.get_field("audio").storage is s3_recordings  # type: ignore[union-attr]
    assert ledger.storage() is s3_recordings
    for option, value in documented["OPTIONS"].items():
        if option not in TEST_ONLY_OPTIONS:
            assert getattr(s3_recordings, option) == value, option
    assert s3_recordings.access_key == "noojee-test"  # from the environment, not from settings


# --------------------------------------------------------------------------------------------------
# (a) The pipeline's audio in the bucket


def test_a_collected_recording_leaves_each_leg_and_the_signature_in_the_bucket(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1, 2])
    recording_tag = collect(services.watch_tag(invoice, "INV-42"))
    assert recording_tag.status == RecordingTag.Status.ATTACHED

    legs = list(recording_tag.legs.order_by("leg"))
    assert [leg.fetch_status for leg in legs] == [RecordingLeg.FetchStatus.FETCHED] * 2
    for leg in legs:
        from_pbx = noojee_emulator_control.audio(leg.call_record_id)
        in_bucket = bucket.read(leg.audio.name)
        row = StoredAudio.objects.get(name=leg.audio.name, deleted_at__isnull=True)
        assert sha256(in_bucket) == sha256(from_pbx) == leg.audio_sha256 == row.sha256
        assert len(in_bucket) == row.size == leg.audio_size
    signature = bucket.read(recording_tag.audio.name)
    row = StoredAudio.objects.get(name=recording_tag.audio.name, deleted_at__isnull=True)
    assert row.kind == StoredAudio.Kind.SIGNATURE
    assert sha256(signature) == recording_tag.audio_sha256 == row.sha256
    assert len(signature) == row.size

    names = {recording_tag.audio.name, *(leg.audio.name for leg in legs)}
    assert live_names(recording_tag) == names == bucket.keys()
    for key in names:
        head = bucket.client.head_object(Bucket=bucket.name, Key=key)
        assert head.get("ServerSideEncryption") == "AES256"


def test_a_refetched_leg_replaces_its_object_and_the_ledger_still_matches_the_bucket(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1])
    recording_tag = collect(services.watch_tag(invoice, "INV-42"))
    leg = recording_tag.legs.get()
    old_name = leg.audio.name

    assert not services.refetch_legs([leg]).refused
    services.fetch_leg(leg.pk)
    leg.refresh_from_db()
    recording_tag.refresh_from_db()

    assert leg.fetch_status == RecordingLeg.FetchStatus.FETCHED
    assert leg.audio.name != old_name  # a new object: nothing written over in place
    assert old_name not in bucket.keys()
    assert live_names(recording_tag) == bucket.keys()
    assert sha256(bucket.read(leg.audio.name)) == leg.audio_sha256


# --------------------------------------------------------------------------------------------------
# (b) Playback from the bucket


def test_playback_serves_the_whole_signature_from_the_bucket(
    agent: User, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    recording_tag = attached_recording(invoice)
    response = as_user(agent).get(reverse("noojee:recording-audio", args=[recording_tag.pk]))
    assert response.status_code == 200
    assert body(response) == bucket.read(recording_tag.audio.name)


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-4099", 100, 4099),
        ("bytes=-500", None, None),
        ("bytes=7000-", 7000, None),
    ],
)
def test_a_range_is_answered_206_with_exactly_those_bytes_of_the_object(
    agent: User,
    invoice: Invoice,
    bucket: Bucket,
    s3_recordings: Storage,
    header: str,
    first: int | None,
    last: int | None,
) -> None:
    recording_tag = attached_recording(invoice)
    whole = bucket.read(recording_tag.audio.name)
    size = len(whole)
    if first is None:  # a suffix
        first, last = size - 500, size - 1
    last = size - 1 if last is None else last

    response = as_user(agent).get(
        reverse("noojee:recording-audio", args=[recording_tag.pk]), HTTP_RANGE=header
    )
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{size}"
    content = body(response)
    assert content == whole[first : last + 1]
    assert int(response["Content-Length"]) == len(content)


def test_a_range_of_one_leg_comes_from_that_legs_object(
    agent: User, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    leg = attached_recording(invoice).legs.get(leg=2)
    whole = bucket.read(leg.audio.name)
    response = as_user(agent).get(reverse("noojee:leg-audio", args=[leg.pk]), HTTP_RANGE="bytes=44-143")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 44-143/{len(whole)}"
    assert body(response) == whole[44:144]


def test_a_range_past_the_end_of_the_object_is_416(
    agent: User, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    recording_tag = attached_recording(invoice)
    size = len(bucket.read(recording_tag.audio.name))
    response = as_user(agent).get(
        reverse("noojee:recording-audio", args=[recording_tag.pk]), HTTP_RANGE=f"bytes={size}-"
    )
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


def test_head_gives_the_objects_size_and_no_body(
    agent: User, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    recording_tag = attached_recording(invoice)
    size = len(bucket.read(recording_tag.audio.name))
    response = as_user(agent).head(reverse("noojee:recording-audio", args=[recording_tag.pk]))
    assert response.status_code == 200
    assert int(response["Content-Length"]) == size
    assert body(response) == b""


def test_an_object_gone_from_the_bucket_is_404(
    agent: User, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    recording_tag = attached_recording(invoice)
    bucket.client.delete_object(Bucket=bucket.name, Key=recording_tag.audio.name)
    response = as_user(agent).get(reverse("noojee:recording-audio", args=[recording_tag.pk]))
    assert response.status_code == 404


# --------------------------------------------------------------------------------------------------
# (c) Purge and legal hold


def test_purge_deletes_every_object_from_the_bucket_and_marks_the_ledger(
    invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    recording_tag = attached_recording(invoice)
    kept = attached_recording(invoice, tag="INV-43")
    assert bucket.keys() == live_names(recording_tag) | live_names(kept)
    assert len(live_names(recording_tag)) == 3

    assert services.purge_audio(recording_tag) is True

    assert bucket.keys() == live_names(kept)
    rows = StoredAudio.objects.filter(recording_tag=recording_tag)
    assert rows.count() == 3
    assert all(row.deleted_at is not None and row.deleted_reason == "purged" for row in rows)
    assert set(recording_tag.legs.values_list("fetch_status", flat=True)) == {RecordingLeg.FetchStatus.PURGED}


def test_legal_hold_keeps_every_object_in_the_bucket(
    superuser: User, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    recording_tag = attached_recording(invoice)
    services.set_legal_hold(superuser, [recording_tag], True)
    before = bucket.keys()

    with pytest.raises(InvalidState):
        services.purge_audio(recording_tag)
    with pytest.raises(InvalidState):
        ledger.delete(ledger.live(recording_tag).first(), "asked directly")  # type: ignore[arg-type]

    assert bucket.keys() == before == live_names(recording_tag)
    assert not StoredAudio.objects.filter(deleted_at__isnull=False).exists()


# --------------------------------------------------------------------------------------------------
# (d) No URL leads to the audio


def test_every_object_is_private_to_the_buckets_owner(
    pbx: Any, noojee_emulator_control: Any, invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    noojee_emulator_control.add_recording(tag="INV-42", legs=[1, 2])
    collect(services.watch_tag(invoice, "INV-42"))
    keys = bucket.keys()
    assert len(keys) == 3
    for key in keys:
        grants = bucket.client.get_object_acl(Bucket=bucket.name, Key=key)["Grants"]
        assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
        assert all(grant["Grantee"]["Type"] == "CanonicalUser" for grant in grants)
        assert not any("URI" in grant["Grantee"] for grant in grants)  # AllUsers, AuthenticatedUsers


def test_an_anonymous_get_of_an_objects_url_is_refused_by_the_bucket(
    invoice: Invoice, bucket: Bucket, s3_recordings: Storage
) -> None:
    recording_tag = attached_recording(invoice)
    names = [recording_tag.audio.name, *(leg.audio.name for leg in recording_tag.legs.all())]
    for name in names:
        assert requests.get(bucket.object_url(name), timeout=10).status_code == 403
        unsigned = s3_recordings.url(name)  # what url() gives with querystring_auth=False: no signature
        assert "Signature" not in unsigned
        assert requests.get(unsigned, timeout=10).status_code == 403
    # The same anonymous GET reads an object that is public: the 403s above are the ACL's doing.
    bucket.client.put_object(Bucket=bucket.name, Key="public.wav", Body=b"RIFF", ACL="public-read")
    assert requests.get(bucket.object_url("public.wav"), timeout=10).status_code == 200


def test_no_page_or_api_answer_carries_a_url_into_the_bucket_even_with_signed_urls_on(
    settings: Any,
    pbx: Any,
    noojee_emulator_control: Any,
    superuser: User,
    invoice: Invoice,
    bucket: Bucket,
) -> None:
    UrlCountingS3Storage.url_calls = []
    with recordings_in_s3(
        settings, bucket, BACKEND=f"{__name__}.UrlCountingS3Storage", querystring_auth=True
    ) as storage:
        assert "Signature=" in storage.url("probe.wav")  # such a URL would work for anyone
        UrlCountingS3Storage.url_calls.clear()

        noojee_emulator_control.add_recording(tag="INV-42", legs=[1, 2])
        recording_tag = collect(services.watch_tag(invoice, "INV-42"))
        leg = recording_tag.legs.first()
        assert leg is not None
        client = as_user(superuser)
        pages = [
            reverse("crm:invoice-detail", args=[invoice.pk]),
            reverse("admin:noojee_django_recordingtag_changelist"),
            reverse("admin:noojee_django_recordingtag_change", args=[recording_tag.pk]),
            reverse("admin:noojee_django_recordingleg_changelist"),
            reverse("admin:noojee_django_recordingleg_change", args=[leg.pk]),
            reverse("admin:noojee_django_storedaudio_changelist"),
            reverse("noojee:api-recording-list"),
            reverse("noojee:api-recording-detail", args=[recording_tag.pk]),
        ]
        bucket_host = bucket.endpoint_url.split("//", 1)[1]
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200, page
            text = response.content.decode() + str(dict(response.headers))
            for leak in (bucket_host, bucket.name, "X-Amz-", "Signature=", "AWSAccessKeyId"):
                assert leak not in text, (page, leak)
        played = client.get(
            reverse("noojee:recording-audio", args=[recording_tag.pk]), HTTP_RANGE="bytes=0-9"
        )
        assert played.status_code == 206 and body(played) == bucket.read(recording_tag.audio.name)[:10]
        assert "Location" not in played  # streamed, not redirected to the bucket

        assert UrlCountingS3Storage.url_calls == []


# --------------------------------------------------------------------------------------------------
# The system check: noojee.W009


def w009(settings: Any, bucket_name: str = "crm-recordings", **options: Any) -> list[str]:
    config = documented_storage()
    settings.STORAGES = {
        **settings.STORAGES,
        "noojee_recordings": {
            **config,
            "OPTIONS": {**config["OPTIONS"], "bucket_name": bucket_name, **options},
        },
    }
    messages = check_settings()
    assert "noojee.W005" not in {m.id for m in messages}  # W009 says it for a bucket, precisely
    return [m.msg for m in messages if m.id == "noojee.W009"]


def test_the_documented_s3_storage_passes_the_checks(settings: Any, monkeypatch: Any) -> None:
    set_credentials(monkeypatch)
    assert w009(settings) == []
    assert w009(settings, default_acl=None) == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"querystring_auth": True}, "querystring_auth"),
        ({"custom_domain": "audio.example.com"}, "custom_domain"),
        ({"default_acl": "public-read"}, "default_acl = 'public-read'"),
        ({"default_acl": "authenticated-read"}, "default_acl = 'authenticated-read'"),
        ({"object_parameters": {"ACL": "public-read"}}, "object_parameters['ACL']"),
    ],
    ids=["presigned", "custom domain", "public acl", "any aws account", "public object parameter"],
)
def test_an_s3_storage_whose_urls_would_work_without_the_app_is_w009(
    settings: Any, monkeypatch: Any, options: dict[str, Any], named: str
) -> None:
    set_credentials(monkeypatch)
    warned = w009(settings, **options)
    assert len(warned) == 1 and named in warned[0]


def test_django_storages_default_of_signed_urls_is_w009(settings: Any, monkeypatch: Any) -> None:
    set_credentials(monkeypatch)
    settings.STORAGES = {
        **settings.STORAGES,
        "noojee_recordings": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": "crm-recordings"},
        },
    }
    assert [m.id for m in check_settings() if m.id in ("noojee.W005", "noojee.W009")] == ["noojee.W009"]


def test_allow_audio_urls_says_the_project_means_it(settings: Any, monkeypatch: Any) -> None:
    set_credentials(monkeypatch)
    settings.NOOJEE = {**settings.NOOJEE, "ALLOW_AUDIO_URLS": True}
    assert w009(settings, querystring_auth=True, default_acl="public-read") == []
    settings.NOOJEE = {**settings.NOOJEE, "STORAGE_ALIAS": "default"}
    assert "noojee.W005" not in {m.id for m in check_settings()}
