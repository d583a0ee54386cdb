"""Audio stays private and is kept as long as policy says: no URL leads to it, and the retention
purge (the service, the hourly task, the admin action) deletes expired audio but never audio on
legal hold.

Who may listen, and that every listen (whole, Range, HEAD, download, one leg) is logged with its user,
range and address, is pinned cell by cell in ``test_permission_matrix.py``; Range and the player's
headers in ``test_playback.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import example_project.settings as example_settings
from example_project.crm.models import Customer, Invoice
from noojee_django import services, tasks
from noojee_django.beat import beat_schedule
from noojee_django.checks import check_settings
from noojee_django.exceptions import InvalidState
from noojee_django.models import RecordingAccess, RecordingLeg, RecordingTag
from noojee_django.storage import PrivateFileSystemStorage
from tests.recordings import attached_recording

pytestmark = pytest.mark.django_db

TAGS = "admin:noojee_django_recordingtag_changelist"


def files_of(recording_tag: RecordingTag) -> list[str]:
    return [recording_tag.audio.name, *(leg.audio.name for leg in recording_tag.legs.all())]


def on_disk(names: list[str]) -> list[bool]:
    storage = storages["noojee_recordings"]
    return [storage.exists(name) for name in names]


def expiring(invoice: Invoice, tag: str, keep_until: dt.date | None, *, hold: bool = False) -> RecordingTag:
    recording_tag = attached_recording(invoice, tag=tag)
    RecordingTag.objects.filter(pk=recording_tag.pk).update(keep_until=keep_until, legal_hold=hold)
    recording_tag.refresh_from_db()
    return recording_tag


@pytest.fixture
def invoices(customer: Customer) -> list[Invoice]:
    return [Invoice.objects.create(number=f"R-{n}", customer=customer, amount="1") for n in range(4)]


# --------------------------------------------------------------------------------------------------
# No URL leads to the audio


def test_no_stored_file_has_a_url_not_even_with_a_base_url(invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    for field_file in [recording_tag.audio, *(leg.audio for leg in recording_tag.legs.all())]:
        with pytest.raises(ValueError, match="no public URL"):
            field_file.url  # noqa: B018
    configured = PrivateFileSystemStorage(location="/tmp/x", base_url="/media/")
    with pytest.raises(ValueError, match="no public URL"):
        configured.url(recording_tag.audio.name)


@pytest.mark.parametrize(
    ("location", "media_root", "static_root"),
    [
        (
            django_settings.STORAGES["noojee_recordings"]["OPTIONS"]["location"],
            django_settings.MEDIA_ROOT,
            django_settings.STATIC_ROOT,
        ),
        (
            example_settings.STORAGES["noojee_recordings"]["OPTIONS"]["location"],
            example_settings.MEDIA_ROOT,
            example_settings.STATIC_ROOT,
        ),
    ],
    ids=["test settings", "example project"],
)
def test_the_recordings_folder_is_outside_every_folder_web_servers_serve(
    location: str, media_root: Any, static_root: Any
) -> None:
    folder = Path(location).resolve()
    for served in (media_root, static_root):
        assert not folder.is_relative_to(Path(served).resolve())


def test_a_recordings_folder_inside_media_root_is_w006(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "noojee_recordings": {
            "BACKEND": "noojee_django.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "recordings")},
        },
    }
    warned = [m for m in check_settings() if m.id == "noojee.W006"]
    assert len(warned) == 1 and "MEDIA_ROOT" in warned[0].msg
    settings.STORAGES = {
        **settings.STORAGES,
        "noojee_recordings": {
            "BACKEND": "noojee_django.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path.parent / f"{tmp_path.name}-recordings")},
        },
    }
    assert "noojee.W006" not in {m.id for m in check_settings()}


def test_no_url_of_the_project_serves_a_stored_file(superuser: User, invoice: Invoice) -> None:
    recording_tag = attached_recording(invoice)
    client = Client()
    client.force_login(superuser)
    for name in files_of(recording_tag):
        for prefix in ("/", "/media/", "/static/", django_settings.MEDIA_URL or "/", "/noojee/"):
            assert client.get(prefix.rstrip("/") + "/" + name).status_code == 404, prefix + name
    assert not RecordingAccess.objects.exists()


# --------------------------------------------------------------------------------------------------
# Retention


def test_attached_audio_is_kept_for_the_retention_days(
    pbx: Any, noojee_emulator_control: Any, settings: Any, invoice: Invoice
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "RETENTION_DAYS": 30}
    noojee_emulator_control.add_recording("INV-42", [1])
    recording_tag = services.watch_tag(invoice, "INV-42")
    result = services.poll_tag(recording_tag.pk, fetch_inline=True)
    assert result.outcome == "ok"
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    assert recording_tag.keep_until == (recording_tag.attached_at + dt.timedelta(days=30)).date()


def test_the_hourly_purge_is_in_the_shipped_beat_schedule() -> None:
    from example_project.celery import app

    schedule = beat_schedule()
    assert "noojee_django.purge_expired_recordings" in {entry["task"] for entry in schedule.values()}
    assert "noojee_django.purge_expired_recordings" in app.tasks


def test_the_hourly_purge_deletes_expired_audio_and_nothing_else(invoices: list[Invoice]) -> None:
    today = timezone.localdate()
    expired = expiring(invoices[0], "OLD", today - dt.timedelta(days=1))
    held = expiring(invoices[1], "HELD", today - dt.timedelta(days=400), hold=True)
    current = expiring(invoices[2], "NEW", today)
    forever = expiring(invoices[3], "KEEP", None)
    RecordingAccess.objects.create(recording_tag=expired, action="play")
    expired_files = files_of(expired)

    assert tasks.purge_expired_recordings.apply().get() == 1

    assert on_disk(expired_files) == [False, False, False]
    expired.refresh_from_db()
    assert not expired.audio and expired.purged_at is not None
    assert {leg.fetch_status for leg in expired.legs.all()} == {RecordingLeg.FetchStatus.PURGED}
    assert expired.accesses.count() == 1 and expired.legs.count() == 2  # the trail and the metadata stay
    for kept in (held, current, forever):
        assert all(on_disk(files_of(kept))), kept.tag
        kept.refresh_from_db()
        assert kept.purged_at is None
    assert tasks.purge_expired_recordings.apply().get() == 0  # nothing left to do


def test_audio_on_legal_hold_is_never_purged_by_the_service(invoice: Invoice) -> None:
    held = expiring(invoice, "HELD", timezone.localdate() - dt.timedelta(days=1), hold=True)
    with pytest.raises(InvalidState, match="legal hold"):
        services.purge_audio(held)
    assert all(on_disk(files_of(held)))
    assert services.purge_expired_audio(today=timezone.localdate() + dt.timedelta(days=3650)) == 0
    assert all(on_disk(files_of(held)))


def test_a_hold_set_after_the_recording_was_read_still_stops_its_purge(
    superuser: User, invoice: Invoice
) -> None:
    """The hourly purge and the admin's confirmed purge hold a copy read a moment before: the hold an
    operator sets meanwhile must win over that copy."""
    read_before = expiring(invoice, "RACE", timezone.localdate() - dt.timedelta(days=1))
    services.set_legal_hold(superuser, [read_before], True)
    assert not read_before.legal_hold  # the copy does not know

    with pytest.raises(InvalidState, match="legal hold"):
        services.purge_audio(read_before)

    assert all(on_disk(files_of(read_before)))
    read_before.refresh_from_db()
    assert read_before.purged_at is None and read_before.audio


def test_a_purge_that_fails_half_way_is_finished_by_the_next(invoice: Invoice) -> None:
    recording_tag = expiring(invoice, "STUCK", timezone.localdate() - dt.timedelta(days=1))
    storage = storages["noojee_recordings"]
    stuck = Path(storage.path(recording_tag.audio.name))
    stuck.unlink()
    stuck.mkdir()
    (stuck / "something").write_bytes(b"x")  # the signature's path cannot be removed now

    assert services.purge_expired_audio() == 0  # logged; the other expired recordings go on
    recording_tag.refresh_from_db()
    assert recording_tag.purged_at is None  # still due
    assert {leg.fetch_status for leg in recording_tag.legs.all()} == {RecordingLeg.FetchStatus.PURGED}

    (stuck / "something").unlink()
    assert services.purge_expired_audio() == 1
    recording_tag.refresh_from_db()
    assert recording_tag.purged_at is not None and not stuck.exists()


def test_the_admin_purge_keeps_audio_put_on_hold_after_it_was_selected(
    superuser: User, invoices: list[Invoice]
) -> None:
    free = attached_recording(invoices[0], tag="FREE")
    held_late = attached_recording(invoices[1], tag="LATE")
    client = Client()
    client.force_login(superuser)
    free_files, held_files = files_of(free), files_of(held_late)
    selection = {"action": "purge_audio", "_selected_action": [free.pk, held_late.pk]}
    page = client.post(reverse(TAGS), selection).content.decode()
    assert held_late.audio.name in page  # offered for purging ...
    RecordingTag.objects.filter(pk=held_late.pk).update(legal_hold=True)  # ... then put on hold

    client.post(reverse(TAGS), {**selection, "post": "yes"})

    assert on_disk(free_files) == [False, False, False]
    assert all(on_disk(held_files))
