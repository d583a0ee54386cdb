"""Signed evidence bundles: who may export them, what they hold, that they verify, and that every
alteration is caught, by the app's verifier, by its command and by the documented commands alone."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import shutil
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.contrib.auth.models import Permission, User
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from example_project.crm.models import Customer, Invoice
from noojee_django import ledger, services
from noojee_django.checks import check_settings
from noojee_django.conf import noojee_settings
from noojee_django.models import (
    CallSession,
    RecordingAccess,
    RecordingLeg,
    RecordingTag,
    RecordingTransition,
    StoredAudio,
)
from noojee_django.services.evidence import BLOCK_SIZE, EvidenceAltered
from noojee_django.signing import generate_private_key
from tests.polling import wait_for
from tests.recordings import attached_recording
from tests.servers import require
from tests.support import evidence_tampering

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parent.parent / "docs" / "evidence.md"


# --------------------------------------------------------------------------------------------------
# Helpers


def _grant(user: User, *codenames: str) -> User:
    for codename in codenames:
        app_label, code = codename.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=code))
    return User.objects.get(pk=user.pk)  # no stale permission cache


def _raw_public(private_text: str) -> Ed25519PublicKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_text)).public_key()


def fingerprint_of(private_text: str) -> str:
    raw = _raw_public(private_text).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def pem_of(private_text: str) -> bytes:
    return _raw_public(private_text).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def evidence_url(recording_tag: RecordingTag | int) -> str:
    pk = recording_tag if isinstance(recording_tag, int) else recording_tag.pk
    return reverse("noojee:recording-evidence", args=[pk])


def api_url(recording_tag: RecordingTag | int) -> str:
    pk = recording_tag if isinstance(recording_tag, int) else recording_tag.pk
    return reverse("noojee:api-recording-evidence", args=[pk])


def download(user: User, recording_tag: RecordingTag) -> bytes:
    response = as_user(user).get(evidence_url(recording_tag))
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def entries(bundle: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def manifest_of(bundle: bytes) -> dict[str, Any]:
    return json.loads(entries(bundle)["manifest.json"])


def manifest_of_raw(bundle: bytes) -> dict[str, Any]:
    """The manifest of a bundle whose audio may not pass its CRC-32: read without reading the audio."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return json.loads(archive.read("manifest.json"))


def stored_bytes(field_file: Any) -> bytes:
    with field_file.open("rb") as handle:
        return handle.read()


def run_command(*argv: str) -> int:
    """``manage.py <argv>`` as a shell runs it: the exit status it would give."""
    try:
        execute_from_command_line(["manage.py", *argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def signing_key(settings: Any) -> str:
    key = generate_private_key()
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": key}
    return key


@pytest.fixture
def exporter(agent: User) -> User:
    """The agent (who may hear the invoice's recordings), allowed to export evidence too."""
    return _grant(agent, "noojee_django.export_evidence")


@pytest.fixture
def recording(invoice: Invoice) -> RecordingTag:
    return attached_recording(invoice, legs=(1.0, 0.5))


@pytest.fixture
def bundle(signing_key: str, exporter: User, recording: RecordingTag) -> bytes:
    return download(exporter, recording)


def connected_call(agent: User, customer: Customer) -> CallSession:
    call = services.dial(agent, customer.phone, obj=customer)
    return wait_for(
        lambda: services.current_call_status(call).status == CallSession.Status.CONNECTED and call
    )


# --------------------------------------------------------------------------------------------------
# What a bundle holds


def test_a_bundle_of_a_recording_made_through_the_pbx_holds_its_audio_and_who_did_what_when(
    pbx: Any,
    signing_key: str,
    exporter: User,
    customer: Customer,
    invoice: Invoice,
) -> None:
    import time
    import zoneinfo

    call = connected_call(exporter, customer)
    recording_tag = services.start_recording(exporter, invoice, "INV-42", consent_given=True)
    time.sleep(1.1)
    services.stop_recording(exporter, recording_tag)
    services.hangup(exporter, call)
    wait_for(lambda: services.poll_tag(recording_tag.pk).legs_found or None)
    for leg in RecordingLeg.objects.filter(recording_tag=recording_tag, fetch_status="pending"):
        services.fetch_leg(leg.pk)
    recording_tag.refresh_from_db()
    assert recording_tag.status == RecordingTag.Status.ATTACHED
    services.set_legal_hold(_grant(exporter, "noojee_django.change_recordingtag"), [recording_tag], True)
    as_user(exporter).get(reverse("noojee:recording-audio", args=[recording_tag.pk]))  # one listen

    bundle = download(exporter, recording_tag)
    files = entries(bundle)
    manifest = json.loads(files["manifest.json"])
    legs = list(RecordingLeg.objects.filter(recording_tag=recording_tag).order_by("leg"))
    assert legs

    # the legs exactly as stored, the signature, the key, the manifest and its signature, in that order
    names = list(files)
    assert names[0] == "public_key.pem" and names[-2:] == ["manifest.json", "manifest.json.sig"]
    for leg in legs:
        assert files[f"legs/leg-{leg.leg}-{leg.call_record_id}.wav"] == stored_bytes(leg.audio)
    assert files["signature.wav"] == stored_bytes(recording_tag.audio)
    listed = {item["name"]: item for item in manifest["files"]}
    assert set(listed) == set(names) - {"manifest.json", "manifest.json.sig"}
    for name, item in listed.items():
        assert item["size"] == len(files[name])
        assert item["sha256"] == hashlib.sha256(files[name]).hexdigest()
    live = {row.name: row.sha256 for row in ledger.live(recording_tag)}
    assert {item["stored_as"]: item["sha256"] for item in listed.values() if "stored_as" in item} == live
    # the ZIP's CRC-32s are the ledger's, measured as the legs were downloaded and the signature joined
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        crcs = {
            item["stored_as"]: archive.getinfo(item["name"]).CRC
            for item in manifest["files"]
            if "stored_as" in item
        }
    assert crcs == {row.name: row.crc32 for row in ledger.live(recording_tag)}
    assert crcs == {name: zlib.crc32(ledger.storage().open(name, "rb").read()) for name in live}
    assert all(item["verified_at"] is None for item in listed.values() if "stored_as" in item)  # no scrub yet

    assert manifest["recording"]["tag"] == "INV-42"
    assert manifest["record"] == {"content_type": "crm.invoice", "id": str(invoice.pk), "str": str(invoice)}
    pbx_zone = zoneinfo.ZoneInfo(pbx.config.pbx_time_zone)
    assert manifest["pbx_time_zone"] == pbx.config.pbx_time_zone
    for leg, described in zip(legs, manifest["legs"], strict=True):
        assert described["call_record_id"] == leg.call_record_id
        assert described["unique_id"] == leg.unique_id == call.unique_id
        assert described["leg"] == leg.leg and described["tag"] == "INV-42"
        assert described["duration_seconds"] == leg.duration
        assert described["direction"] == leg.direction
        assert described["extension"] == "101"
        assert described["start"]["utc"] == leg.start.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat()
        assert described["start"]["pbx"] == leg.start.astimezone(pbx_zone).isoformat()
        assert described["end"] is not None
    assert manifest["started"]["by"]["username"] == "agent"
    stopped = manifest["stopped"]
    assert stopped["by"]["username"] == "agent" and stopped["reason"] == "stopped"
    stop = RecordingTransition.objects.get(recording_tag=recording_tag, leg=None, to_status="waiting")
    assert stop.actor_id == exporter.pk
    assert stopped["at"]["utc"] == stop.created_at.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat()
    assert stopped["at"]["pbx"] == stop.created_at.astimezone(pbx_zone).isoformat()
    assert manifest["consent"]["consent_given"] is True
    assert manifest["consent"]["confirmed_by"]["username"] == "agent"
    recording_tag.refresh_from_db()
    assert recording_tag.consent_confirmed_at is not None
    assert manifest["consent"]["confirmed_at"]["utc"] == (
        recording_tag.consent_confirmed_at.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat()
    )
    assert manifest["script"] is None  # started without a script
    call.refresh_from_db()
    assert manifest["call"]["number"] == call.number and manifest["call"]["unique_id"] == call.unique_id
    assert manifest["call"]["extension"] == "SIP/101" and manifest["call"]["caller_id"] == call.caller_id
    assert manifest["retention"]["legal_hold"] is True
    assert manifest["retention"]["keep_until"] == (
        recording_tag.keep_until.isoformat() if recording_tag.keep_until else None
    )
    assert [entry["to"] for entry in manifest["history"] if entry["leg"] is None] == [
        "waiting",
        "fetching",
        "attached",
    ]
    assert [entry["action"] for entry in manifest["access_log"]] == ["play", "evidence"]
    assert manifest["signing"]["public_key_sha256"] == fingerprint_of(signing_key)
    assert services.verify_evidence(io.BytesIO(bundle)).ok


def test_the_signature_verifies_with_cryptography_alone(signing_key: str, bundle: bytes) -> None:
    files = entries(bundle)
    public_key = serialization.load_pem_public_key(files["public_key.pem"])
    assert isinstance(public_key, Ed25519PublicKey)
    public_key.verify(files["manifest.json.sig"], files["manifest.json"])  # raises if it does not
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert hashlib.sha256(raw).hexdigest() == manifest_of(bundle)["signing"]["public_key_sha256"]
    assert hashlib.sha256(raw).hexdigest() == fingerprint_of(signing_key)
    assert files["public_key.pem"] == pem_of(signing_key)


def test_every_export_is_in_the_access_log_and_in_the_next_bundle(
    signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    first = manifest_of(download(exporter, recording))
    second = manifest_of(download(exporter, recording))
    exports = RecordingAccess.objects.filter(recording_tag=recording, action=RecordingAccess.Action.EVIDENCE)
    assert exports.count() == 2
    assert all(access.user_id == exporter.pk and access.ip_address == "127.0.0.1" for access in exports)
    assert [a["action"] for a in first["access_log"]] == ["evidence"]
    assert [a["action"] for a in second["access_log"]] == ["evidence", "evidence"]
    assert second["access_log"][0]["user"]["username"] == "agent"


def test_the_manifest_pins_the_recordings_log_chains_and_says_when_one_is_broken(
    signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    first = manifest_of(download(exporter, recording))
    chains = first["log_chains"]
    assert chains["verified"] is True and chains["breaks"] == []
    (access_head,) = [h for h in chains["heads"] if h["log"] == "access"]
    assert access_head["length"] == len(first["access_log"])
    assert access_head["head_hash"] == first["access_log"][-1]["row_hash"]

    # someone with the database edits the export the log holds: the next bundle says so, signed
    RecordingAccess.objects.filter(recording_tag=recording).update(ip_address="10.9.9.9")
    second = manifest_of(download(exporter, recording))
    assert second["log_chains"]["verified"] is False
    assert any("edited" in b for b in second["log_chains"]["breaks"])


def test_a_bundle_is_streamed_in_bounded_chunks_from_a_zip_that_never_seeks(
    signing_key: str, exporter: User, invoice: Invoice
) -> None:
    recording_tag = attached_recording(invoice, legs=(60.0, 30.0))  # 960 kB and 480 kB of WAV
    response = as_user(exporter).get(evidence_url(recording_tag))
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="evidence-INV-42-{recording_tag.pk}.zip"'
    chunks = list(response.streaming_content)
    assert len(chunks) > 10
    assert max(len(chunk) for chunk in chunks) <= BLOCK_SIZE + 1024
    bundle = b"".join(chunks)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        for info in archive.infolist():
            assert info.flag_bits & 0x08  # sizes after the data: written without seeking back
            assert info.compress_type == zipfile.ZIP_STORED
    assert services.verify_evidence(io.BytesIO(bundle)).ok


def test_the_api_answers_the_same_bundle(signing_key: str, exporter: User, recording: RecordingTag) -> None:
    response = as_user(exporter).get(api_url(recording), HTTP_ACCEPT="application/zip")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse) and response["Content-Type"] == "application/zip"
    bundle = b"".join(response.streaming_content)
    assert services.verify_evidence(io.BytesIO(bundle)).ok
    assert manifest_of(bundle)["recording"]["id"] == recording.pk


# --------------------------------------------------------------------------------------------------
# Who may export


@pytest.mark.parametrize("route", [evidence_url, api_url], ids=["view", "api"])
def test_without_the_permission_the_answer_is_403_whether_the_recording_exists_or_not(
    signing_key: str, agent: User, recording: RecordingTag, route: Any
) -> None:
    client = as_user(agent)  # may hear the invoice's recordings, may not export
    existing = client.get(route(recording))
    missing = client.get(route(recording.pk + 1000))
    assert existing.status_code == missing.status_code == 403
    assert existing.content == missing.content
    assert not RecordingAccess.objects.exists()


@pytest.mark.parametrize("route", [evidence_url, api_url], ids=["view", "api"])
def test_with_the_permission_but_not_the_right_to_hear_the_recording_is_404_like_a_missing_one(
    signing_key: str, outsider: User, recording: RecordingTag, route: Any
) -> None:
    client = as_user(_grant(outsider, "noojee_django.export_evidence"))
    existing = client.get(route(recording))
    missing = client.get(route(recording.pk + 1000))
    assert existing.status_code == missing.status_code == 404
    assert existing.content == missing.content
    assert not RecordingAccess.objects.exists()


@pytest.mark.parametrize("route", [evidence_url, api_url], ids=["view", "api"])
def test_with_the_permission_and_the_right_to_hear_the_bundle_is_served(
    signing_key: str, exporter: User, recording: RecordingTag, route: Any
) -> None:
    response = as_user(exporter).get(route(recording))
    assert response.status_code == 200
    assert services.verify_evidence(io.BytesIO(b"".join(response.streaming_content))).ok


def test_anonymous_users_are_sent_to_log_in_or_refused(signing_key: str, recording: RecordingTag) -> None:
    assert Client().get(evidence_url(recording)).status_code == 302
    assert Client().get(api_url(recording)).status_code in (401, 403)


def test_the_may_hear_hook_decides_for_the_bundle_too(
    settings: Any, signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "MAY_HEAR": lambda user, obj: False}
    assert as_user(exporter).get(evidence_url(recording)).status_code == 404


# --------------------------------------------------------------------------------------------------
# What cannot be exported


def test_a_recording_without_attached_audio_is_refused_in_words(
    signing_key: str, exporter: User, invoice: Invoice
) -> None:
    waiting = services.watch_tag(invoice, "INV-7")
    response = as_user(exporter).get(evidence_url(waiting))
    assert response.status_code == 409
    assert "INV-7 has no attached audio" in response.content.decode()
    assert not RecordingAccess.objects.exists()


def test_a_purged_recording_is_exported_as_what_remains_saying_what_was_purged_and_when(
    signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    held_before = {row.name: (row.sha256, row.size) for row in ledger.live(recording)}
    services.purge_audio(recording)
    bundle = download(exporter, recording)
    files = entries(bundle)
    assert sorted(files) == ["manifest.json", "manifest.json.sig", "public_key.pem"]
    manifest = manifest_of(bundle)
    recording.refresh_from_db()
    assert manifest["purged"]["at"]["utc"] == recording.purged_at.isoformat()
    purged = {row["name"]: (row["sha256"], row["size"]) for row in manifest["purged"]["objects"]}
    assert purged == held_before
    assert all(row["deleted_reason"] == "purged" for row in manifest["purged"]["objects"])
    assert manifest["signature"] is None and all(leg["file"] is None for leg in manifest["legs"])
    assert services.verify_evidence(io.BytesIO(bundle)).ok


def test_audio_the_ledger_does_not_hold_is_refused(
    signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    leg = recording.legs.order_by("leg").first()
    assert leg is not None
    StoredAudio.objects.filter(name=leg.audio.name).update(deleted_at=recording.attached_at)
    response = as_user(exporter).get(evidence_url(recording))
    assert response.status_code == 409
    assert f"Leg 1 (#{leg.call_record_id})" in response.content.decode()
    assert "ledger does not hold" in response.content.decode()


def test_audio_missing_from_storage_or_of_another_size_is_refused(
    signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    name = recording.audio.name
    storage = ledger.storage()
    original = stored_bytes(recording.audio)
    storage.delete(name)
    gone = as_user(exporter).get(evidence_url(recording))
    assert gone.status_code == 409 and "missing from storage" in gone.content.decode()
    storage.save(name, io.BytesIO(original + b"\0"))
    longer = as_user(exporter).get(evidence_url(recording))
    assert longer.status_code == 409 and f"the ledger recorded {len(original)}" in longer.content.decode()


def test_audio_altered_in_storage_is_sent_as_it_is_now_and_the_bundle_names_it_as_altered(
    signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    leg = recording.legs.order_by("leg").first()
    assert leg is not None
    name = f"legs/leg-1-{leg.call_record_id}.wav"
    original = stored_bytes(leg.audio)
    path = Path(ledger.storage().path(leg.audio.name))
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))  # same size, one byte changed
    bundle = download(exporter, recording)
    # the manifest signs what the ledger recorded when the leg was stored, not what storage holds now
    listed = {item["name"]: item for item in manifest_of_raw(bundle)["files"]}
    assert listed[name]["sha256"] == hashlib.sha256(original).hexdigest() == leg.audio_sha256
    report = services.verify_evidence(io.BytesIO(bundle))
    assert not report.ok
    assert [(finding.kind, finding.name) for finding in report.findings] == [("damaged", name)]


def test_the_zip_takes_each_crc32_from_the_ledger_and_computes_only_those_it_lacks(
    signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    legs = list(recording.legs.order_by("leg"))
    first = StoredAudio.objects.get(name=legs[0].audio.name)
    StoredAudio.objects.filter(pk=first.pk).update(crc32=first.crc32 ^ 1)  # the ledger's word is used
    older = StoredAudio.objects.get(name=legs[1].audio.name)
    StoredAudio.objects.filter(pk=older.pk).update(crc32=None)  # stored before the ledger had CRC-32s
    bundle = download(exporter, recording)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.getinfo(f"legs/leg-1-{legs[0].call_record_id}.wav").CRC == first.crc32 ^ 1
        assert archive.getinfo(f"legs/leg-2-{legs[1].call_record_id}.wav").CRC == older.crc32
        assert archive.testzip() == f"legs/leg-1-{legs[0].call_record_id}.wav"


def test_an_object_the_scrub_found_altered_or_missing_is_refused_before_any_byte_until_it_reads_right(
    signing_key: str, exporter: User, recording: RecordingTag
) -> None:
    leg = recording.legs.order_by("leg").first()
    assert leg is not None
    original = stored_bytes(leg.audio)
    path = Path(ledger.storage().path(leg.audio.name))
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    services.scrub_stored_audio()
    refused = as_user(exporter).get(evidence_url(recording))
    assert refused.status_code == 409
    text = refused.content.decode()
    assert f"The integrity scrub found legs/leg-1-{leg.call_record_id}.wav" in text
    assert "altered" in text and f"the ledger says {leg.audio_sha256}" in text
    path.unlink()
    services.scrub_stored_audio()
    gone = as_user(exporter).get(evidence_url(recording))
    assert gone.status_code == 409 and "missing from storage" in gone.content.decode()
    path.write_bytes(original)  # restored from a backup
    services.scrub_stored_audio()
    bundle = download(exporter, recording)
    assert services.verify_evidence(io.BytesIO(bundle)).ok
    verified = StoredAudio.objects.get(name=leg.audio.name).verified_at
    assert verified is not None
    listed = {item["name"]: item for item in manifest_of(bundle)["files"]}
    assert listed[f"legs/leg-1-{leg.call_record_id}.wav"]["verified_at"] == verified.isoformat()


def test_storage_giving_fewer_bytes_than_the_ledger_while_read_stops_the_bundle_before_any_manifest(
    signing_key: str, exporter: User, recording: RecordingTag, caplog: pytest.LogCaptureFixture
) -> None:
    leg = recording.legs.order_by("leg").first()
    assert leg is not None
    bundle = services.evidence_bundle(exporter, recording.pk)  # sizes checked against the ledger
    path = Path(ledger.storage().path(leg.audio.name))
    path.write_bytes(path.read_bytes()[:-2])  # then cut short, before it is read
    received = []
    with pytest.raises(EvidenceAltered, match=f"leg-1-{leg.call_record_id}.wav.*Nothing was signed"):
        for chunk in bundle.chunks():
            received.append(chunk)
    assert b"manifest.json" not in b"".join(received)
    assert "Nothing was signed" in caplog.text
    report = services.verify_evidence(io.BytesIO(b"".join(received)))
    assert not report.ok and report.findings[0].kind == "damaged"


def test_without_a_signing_key_nothing_is_exported(
    settings: Any, exporter: User, recording: RecordingTag, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOOJEE_EVIDENCE_SIGNING_KEY", raising=False)
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": ""}
    response = as_user(exporter).get(evidence_url(recording))
    assert response.status_code == 503
    assert "no evidence signing key is configured" in response.content.decode().lower()


# --------------------------------------------------------------------------------------------------
# Verifying


def test_an_intact_bundle_verifies_with_the_service_and_the_command(
    tmp_path: Path, bundle: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    report = services.verify_evidence(io.BytesIO(bundle))
    assert report.ok, report.lines()
    assert set(report.files_verified) == {name for name in entries(bundle) if name.endswith((".wav", ".pem"))}
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle)
    assert run_command("noojee_verify_evidence", str(path)) == 0
    assert "OK: 4 files match the manifest" in capsys.readouterr().out


@pytest.mark.parametrize("case", evidence_tampering.CASES, ids=lambda case: case.name)
def test_every_tampering_is_detected_and_named(
    tmp_path: Path, bundle: bytes, case: evidence_tampering.TamperCase, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = case.apply(bundle)
    assert tampered != bundle
    report = services.verify_evidence(io.BytesIO(tampered))
    assert not report.ok
    assert evidence_tampering.detected(case, report.findings), report.lines()

    path = tmp_path / "tampered.zip"
    path.write_bytes(tampered)
    assert run_command("noojee_verify_evidence", str(path)) == 1
    err = capsys.readouterr().err
    assert case.expect_kind.upper() in err
    if case.expect_name:
        assert case.expect_name in err


def test_a_tamper_case_the_verifier_would_miss_is_reported_as_missed(bundle: bytes) -> None:
    """The bench's count must be able to fail: an unaltered bundle, counted as a case, is missed."""
    unaltered = evidence_tampering.TamperCase("nothing", lambda data: data, "altered", "signature.wav")
    assert not evidence_tampering.detected(unaltered, services.verify_evidence(io.BytesIO(bundle)).findings)


def test_after_a_key_rotation_an_old_bundle_verifies_with_the_old_public_key_only(
    settings: Any, tmp_path: Path, signing_key: str, bundle: bytes
) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle)
    old_public = tmp_path / "old.pem"
    old_public.write_bytes(pem_of(signing_key))
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": generate_private_key()}  # rotated

    against_new = services.verify_evidence(path)
    assert [f.kind for f in against_new.findings] == ["key"]
    assert run_command("noojee_verify_evidence", str(path)) == 1
    assert services.verify_evidence(path, public_key=pem_of(signing_key)).ok
    assert run_command("noojee_verify_evidence", str(path), "--public-key", str(old_public)) == 0


def test_without_an_expected_key_a_bundle_is_not_taken_as_verified(
    settings: Any, bundle: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOOJEE_EVIDENCE_SIGNING_KEY", raising=False)
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": ""}
    report = services.verify_evidence(io.BytesIO(bundle))
    assert [(f.kind, f.name) for f in report.findings] == [("key", "the expected public key")]


# --------------------------------------------------------------------------------------------------
# The documented way, without the app


def _doc_block(language: str, heading: str) -> str:
    text = DOCS.read_text()
    section = text.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block after {heading!r} in docs/evidence.md"
    return match.group(1)


@pytest.fixture
def altered_in_storage(signing_key: str, exporter: User, recording: RecordingTag, bundle: bytes) -> bytes:
    """The bundle exported again after a byte of leg 1 was changed in storage (same size)."""
    leg = recording.legs.order_by("leg").first()
    assert leg is not None
    path = Path(ledger.storage().path(leg.audio.name))
    data = path.read_bytes()
    path.write_bytes(data[:100] + bytes([data[100] ^ 0x01]) + data[101:])
    return download(exporter, recording)


def test_the_documented_python_check_accepts_a_bundle_and_refuses_a_tampered_one(
    tmp_path: Path, signing_key: str, bundle: bytes, altered_in_storage: bytes
) -> None:
    script = tmp_path / "verify_bundle.py"
    script.write_text(_doc_block("python", "### With Python"))
    good, bad, stored = tmp_path / "good.zip", tmp_path / "bad.zip", tmp_path / "stored.zip"
    good.write_bytes(bundle)
    bad.write_bytes(evidence_tampering.audio_byte_flipped(bundle))
    stored.write_bytes(altered_in_storage)
    run = [sys.executable, str(script)]
    fingerprint = fingerprint_of(signing_key)
    ok = subprocess.run([*run, str(good), fingerprint], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    for tampered in (bad, stored):
        refused = subprocess.run(
            [*run, str(tampered), fingerprint], capture_output=True, text=True, timeout=60
        )
        assert refused.returncode != 0 and refused.stderr.startswith("legs/leg-1"), refused.stderr
        assert "Traceback" not in refused.stderr
    other = subprocess.run([*run, str(good), "0" * 64], capture_output=True, text=True, timeout=60)
    assert other.returncode != 0


def test_the_documented_shell_check_accepts_a_bundle_and_refuses_a_tampered_one(
    tmp_path: Path, signing_key: str, bundle: bytes, altered_in_storage: bytes
) -> None:
    if not all(shutil.which(tool) for tool in ("openssl", "jq", "unzip", "zipinfo", "sha256sum", "bash")):
        require("openssl, jq, unzip, zipinfo, sha256sum and bash are needed (Debian: openssl jq unzip)")
    script = "set -euo pipefail\n" + _doc_block("sh", "### With openssl and sha256sum")
    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder, data in ((good, bundle), (bad, evidence_tampering.audio_byte_flipped(bundle))):
        folder.mkdir()
        (folder / "evidence.zip").write_bytes(data)
    ok = subprocess.run(["bash", "-c", script], cwd=good, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert fingerprint_of(signing_key) in ok.stdout
    assert "Signature Verified Successfully" in ok.stdout
    refused = subprocess.run(["bash", "-c", script], cwd=bad, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "legs/leg-1" in refused.stdout + refused.stderr
    stored = tmp_path / "stored"
    stored.mkdir()
    (stored / "evidence.zip").write_bytes(altered_in_storage)
    refused = subprocess.run(["bash", "-c", script], cwd=stored, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert re.search(r"legs/leg-1-\d+\.wav +bad CRC", refused.stdout + refused.stderr)
    twice = tmp_path / "twice"
    twice.mkdir()
    (twice / "evidence.zip").write_bytes(evidence_tampering.duplicated_entry(bundle))
    duplicated = subprocess.run(["bash", "-c", script], cwd=twice, capture_output=True, text=True, timeout=60)
    assert duplicated.returncode != 0 and "legs/leg-1" in duplicated.stderr


# --------------------------------------------------------------------------------------------------
# The key


def test_the_key_command_prints_the_public_key_and_its_fingerprint(
    signing_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("noojee_evidence_key")
    out = capsys.readouterr().out
    assert pem_of(signing_key).decode() in out
    assert f"fingerprint (sha256 of the raw public key): {fingerprint_of(signing_key)}" in out
    assert signing_key not in out


def test_the_key_command_generates_a_key_for_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("noojee_evidence_key", "--generate")
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if line.startswith("NOOJEE_EVIDENCE_SIGNING_KEY=")]
    key = line.split("=", 1)[1]
    assert len(base64.b64decode(key, validate=True)) == 32
    assert "environment" in out
    assert pem_of(key).decode() in out and fingerprint_of(key) in out


def test_the_key_command_without_a_key_says_what_to_set(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOOJEE_EVIDENCE_SIGNING_KEY", raising=False)
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": ""}
    with pytest.raises(CommandError, match="NOOJEE_EVIDENCE_SIGNING_KEY"):
        call_command("noojee_evidence_key")


def test_the_key_comes_from_the_environment_when_the_setting_is_empty(
    settings: Any, monkeypatch: pytest.MonkeyPatch, exporter: User, recording: RecordingTag
) -> None:
    key = generate_private_key()
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": ""}
    monkeypatch.setenv("NOOJEE_EVIDENCE_SIGNING_KEY", key)
    assert manifest_of(download(exporter, recording))["signing"]["public_key_sha256"] == fingerprint_of(key)


def _secret_forms(key: str) -> list[str]:
    raw = base64.b64decode(key)
    return [key, key[:20], raw.hex(), base64.urlsafe_b64encode(raw).decode(), raw.decode("latin-1")]


def test_the_signing_key_never_appears_in_a_response_a_log_a_page_or_an_error(
    settings: Any,
    signing_key: str,
    exporter: User,
    recording: RecordingTag,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    invoice: Invoice,
) -> None:
    caplog.set_level(logging.DEBUG)
    superuser = _grant(exporter, "noojee_django.view_recordingtag")
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    client = as_user(superuser)
    seen: list[str] = []

    def body(response: Any) -> str:
        content = b"".join(response.streaming_content) if response.streaming else response.content
        seen.append("\n".join(f"{k}: {v}" for k, v in response.items()))
        return content.decode("latin-1")

    seen.append(body(client.get(evidence_url(recording))))
    seen.append(body(client.get(api_url(recording))))
    seen.append(body(client.get(reverse("noojee:api-recording-detail", args=[recording.pk]))))
    seen.append(body(client.get(reverse("admin:noojee_django_recordingtag_change", args=[recording.pk]))))
    seen.append(body(client.get(reverse("admin:noojee_django_recordingaccess_changelist"))))
    seen.append(body(client.get(evidence_url(services.watch_tag(invoice, "INV-8")))))  # a refusal
    call_command("noojee_evidence_key")
    seen.append(repr(noojee_settings.snapshot()))

    bad_key = signing_key[:-4] + "!!!!"  # most of the key, but unreadable: E010 and its message
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": bad_key}
    seen += [f"{m.msg} {m.hint}" for m in check_settings()]
    seen.append(body(client.get(evidence_url(recording))))
    with pytest.raises(CommandError) as refused:
        call_command("noojee_evidence_key")
    seen += [str(refused.value), repr(refused.value)]
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": b"\x00" * 32}  # not even text: E009
    seen += [f"{m.msg} {m.hint}" for m in check_settings()]

    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text]
    seen += [record.getMessage() for record in caplog.records]
    everything = "\n".join(seen)
    assert "Export evidence" in everything  # the pages were really seen
    for secret in _secret_forms(signing_key) + _secret_forms(bad_key)[:2]:
        assert secret not in everything


# --------------------------------------------------------------------------------------------------
# Checks


def check_ids(settings: Any, **noojee: Any) -> set[str]:
    settings.NOOJEE = {**settings.NOOJEE, **noojee}
    return {message.id for message in check_settings()}


def test_no_signing_key_is_w010_when_checking_a_deployment(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project may run without evidence export: only ``check --deploy`` warns."""
    from django.core import checks

    def deploy_ids() -> set[str]:
        return {m.id for m in checks.run_checks(include_deployment_checks=True) if m.id}

    monkeypatch.delenv("NOOJEE_EVIDENCE_SIGNING_KEY", raising=False)
    assert "noojee.W010" not in check_ids(settings, EVIDENCE_SIGNING_KEY="")
    assert "noojee.W010" in deploy_ids()
    monkeypatch.setenv("NOOJEE_EVIDENCE_SIGNING_KEY", generate_private_key())
    assert not {"noojee.W010", "noojee.E010"} & (check_ids(settings, EVIDENCE_SIGNING_KEY="") | deploy_ids())


@pytest.mark.parametrize(
    "value",
    [
        "not base64 at all!",
        base64.b64encode(b"\x01" * 31).decode(),
        base64.b64encode(b"\x01" * 64).decode(),
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    ],
    ids=["not-base64", "too-short", "too-long", "pem"],
)
def test_a_key_that_cannot_be_read_is_e010_and_the_message_does_not_show_it(
    settings: Any, value: str
) -> None:
    settings.NOOJEE = {**settings.NOOJEE, "EVIDENCE_SIGNING_KEY": value}
    errors = [m for m in check_settings() if m.id == "noojee.E010"]
    assert len(errors) == 1
    assert value.strip() not in errors[0].msg and "EVIDENCE_SIGNING_KEY" in errors[0].msg


def test_a_good_key_raises_neither_check(settings: Any, signing_key: str) -> None:
    assert not {"noojee.W010", "noojee.E010"} & {m.id for m in check_settings()}


# --------------------------------------------------------------------------------------------------
# Admin


def test_the_admin_page_links_to_the_bundle_for_who_may_export_it(
    staff: User, recording: RecordingTag
) -> None:
    page = reverse("admin:noojee_django_recordingtag_change", args=[recording.pk])
    without = as_user(staff).get(page)
    assert without.status_code == 200 and "Export evidence" not in without.content.decode()
    allowed = as_user(_grant(staff, "noojee_django.export_evidence")).get(page)
    assert allowed.status_code == 200
    assert f'href="{evidence_url(recording)}"' in allowed.content.decode()
    assert "Export evidence" in allowed.content.decode()
