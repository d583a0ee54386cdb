"""Evidence bundles: a voice signature as proof of what a customer agreed to, in one signed ZIP.

A bundle holds the legs exactly as the PBX gave them and the signature joined from them (the objects
the audio ledger holds as live, byte for byte, uncompressed), ``public_key.pem``, then ``manifest.json``
(who agreed, to what record, when, the PBX's metadata of each leg, the recording's history and its
access log, and the sha256 and size of every other file) and last ``manifest.json.sig``, an Ed25519
signature of the manifest's exact bytes. ``docs/evidence.md`` describes the format and how anyone
checks a bundle without the app; :func:`~noojee_django.services.verification.verify_evidence` is the
app's own check.

The ZIP is written while it is sent (:class:`~noojee_django.zipstream.ZipStream`), one storage block
at a time, so memory does not grow with the audio's length. Each audio file's size, sha256 and CRC-32
in the bundle are the ones the audio ledger recorded when it was stored (the sha256 and CRC-32 of the
bytes as they were written, measured then): the manifest signs what was received, and the export
reads each byte once, to send it, and hashes nothing. A stored copy altered since is sent as it is
now, and every check of the bundle (``verify_evidence``, ``unzip -t``, ``sha256sum``) names that file;
the integrity scrub finds it first, and an object it has found altered or missing is refused before
the first byte. Whatever can be refused before the first byte is: who asks, a recording with no
attached audio, an object the ledger does not hold, a stored size that is not the ledger's, an object
the scrub flagged. Storage giving another number of bytes than the ledger's, while it is read, stops
the bundle before its manifest.

A purged recording is exported too, as what remains: no audio, and a manifest that says what was
purged, when, and the sha256 and size each purged object had.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import zlib
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from .. import connections, ledger, log_chain, signing
from ..conf import noojee_settings
from ..exceptions import (
    EvidenceAltered,
    EvidenceSigningUnavailable,
    EvidenceUnavailable,
    NoojeePermissionDenied,
    NotFound,
)
from ..models import (
    CallSession,
    RecordingAccess,
    RecordingLeg,
    RecordingPause,
    RecordingTag,
    RecordingTransition,
    StoredAudio,
)
from ..timeline import pause_marks
from ..zipstream import ZipStream
from .access import check_may_hear, record_access
from .fetching import in_call_order

logger = logging.getLogger("noojee_django")

FORMAT = "noojee-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PUBLIC_KEY = "public_key.pem"
PERMISSION = "noojee_django.export_evidence"
#: Bytes read from storage, and written to the ZIP, at a time: the most a chunk holds, about.
BLOCK_SIZE = 256 * 1024


def may_export_evidence(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.has_perm(PERMISSION))


def check_may_export_evidence(user: Any) -> None:
    """Asked before any recording is looked up: who may not export learns nothing about which exist."""
    if not may_export_evidence(user):
        raise NoojeePermissionDenied(
            _("You may not export evidence bundles: that needs the 'export evidence' permission.")
        )


@dataclass(frozen=True)
class _Part:
    """One audio file of the bundle: a live object of the ledger, and its name in the ZIP."""

    arcname: str
    stored: StoredAudio
    leg: RecordingLeg | None


@dataclass
class EvidenceBundle:
    """A bundle ready to be streamed: everything is checked and gathered; :meth:`chunks` writes it."""

    recording_tag: RecordingTag
    filename: str
    _parts: list[_Part]
    _manifest: dict[str, Any]
    _key: Any = field(repr=False)

    def chunks(self) -> Iterator[bytes]:
        """The ZIP, in chunks of at most about :data:`BLOCK_SIZE` bytes, manifest and signature last.

        Raises :class:`EvidenceAltered` (after logging it) when storage gives another number of bytes
        than the ledger recorded: the ZIP then ends before its manifest, and no reader takes it for
        a bundle.
        """
        archive = ZipStream()
        now = dt.datetime.now(dt.UTC)
        public_pem = signing.public_key_pem(self._key.public_key())
        files: list[dict[str, Any]] = [
            {"name": PUBLIC_KEY, "size": len(public_pem), "sha256": _sha256(public_pem)}
        ]
        yield archive.small(PUBLIC_KEY, public_pem, now)
        for part in self._parts:
            yield from _write_part(archive, part, files, self.recording_tag)
        manifest = {**self._manifest, "files": files}
        manifest_bytes = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        yield (
            archive.small(MANIFEST, manifest_bytes, now)
            + archive.small(SIGNATURE, self._key.sign(manifest_bytes), now)
            + archive.finish()
        )


def _write_part(
    archive: ZipStream, part: _Part, files: list[dict[str, Any]], recording_tag: RecordingTag
) -> Iterator[bytes]:
    """One audio file into the ZIP, block by block as read from storage, with the ledger's CRC-32
    (computed here only for an object stored before the ledger recorded them)."""
    stored = part.stored
    yield archive.begin(part.arcname, stored.created_at, size=stored.size)
    crc32 = stored.crc32
    computed = 0
    size = 0
    with ledger.storage().open(stored.name, "rb") as handle:
        while block := handle.read(BLOCK_SIZE):
            size += len(block)
            if crc32 is None:
                computed = zlib.crc32(block, computed)
            yield archive.data(bytes(block))  # bytes() of bytes is the same object, not a copy
    if size != stored.size:
        message = (
            f"The evidence bundle of {recording_tag.tag} (#{recording_tag.pk}) stopped: storage gave "
            f"{size} bytes of {part.arcname} (stored as {stored.name}), the ledger recorded {stored.size}. "
            "Nothing was signed."
        )
        logger.error(message)
        raise EvidenceAltered(message)
    yield archive.end(computed if crc32 is None else crc32)
    files.append(
        {
            "name": part.arcname,
            "size": stored.size,
            "sha256": stored.sha256,
            "kind": stored.kind,
            "stored_as": stored.name,
            "stored_at": stored.created_at.isoformat(),
            "verified_at": stored.verified_at.isoformat() if stored.verified_at else None,
        }
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------------
# Gathering


def evidence_bundle(user: Any, recording_tag_id: Any, *, ip_address: str | None = None) -> EvidenceBundle:
    """The evidence bundle of recording ``recording_tag_id``, for ``user``; the export is logged.

    Needs ``noojee_django.export_evidence`` (asked first) and the ``MAY_HEAR`` rule for the record the
    recording is on: a recording the user may not hear is :class:`NotFound`, like one that does not
    exist. :class:`EvidenceUnavailable` (409) for a recording with no attached audio (and not purged)
    or whose audio is not what the ledger holds; :class:`EvidenceSigningUnavailable` (503) without a
    readable signing key.
    """
    check_may_export_evidence(user)
    recording_tag = _hearable(user, recording_tag_id)
    try:
        key = signing.signing_key()
    except signing.SigningKeyError as exc:
        raise EvidenceSigningUnavailable(
            _("Evidence bundles cannot be signed here. %(why)s") % {"why": exc}
        ) from None
    parts = _parts(recording_tag)
    record_access(
        user, recording_tag, leg=None, action=RecordingAccess.Action.EVIDENCE, ip_address=ip_address
    )
    manifest = _manifest(recording_tag, parts, user, key.public_key())
    return EvidenceBundle(
        recording_tag=recording_tag,
        filename=f"evidence-{_safe(recording_tag.tag)}-{recording_tag.pk}.zip",
        _parts=parts,
        _manifest=manifest,
        _key=key,
    )


def _hearable(user: Any, recording_tag_id: Any) -> RecordingTag:
    text = str(recording_tag_id)
    recording_tag = None
    if text.isascii() and text.isdigit() and len(text) <= 18:
        recording_tag = RecordingTag.objects.select_related("content_type").filter(pk=int(text)).first()
    try:
        if recording_tag is None:
            raise NoojeePermissionDenied("no such recording")
        check_may_hear(user, recording_tag)
    except NoojeePermissionDenied:
        raise NotFound(_("No such recording.")) from None
    return recording_tag


def _safe(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", tag)[:60] or "recording"


def _parts(recording_tag: RecordingTag) -> list[_Part]:
    """The audio files of the bundle, each checked against the ledger and the storage's size."""
    purged = recording_tag.purged_at is not None
    if not purged and (recording_tag.status != RecordingTag.Status.ATTACHED or not recording_tag.audio):
        raise EvidenceUnavailable(
            _("%(tag)s has no attached audio (%(status)s): there is nothing to export as evidence yet.")
            % {"tag": recording_tag.tag, "status": recording_tag.get_status_display().lower()}
        )
    parts: list[_Part] = []
    for leg in RecordingLeg.objects.filter(recording_tag=recording_tag).order_by("leg", "call_record_id"):
        if not leg.audio:
            continue
        stored = StoredAudio.objects.filter(name=leg.audio.name, deleted_at__isnull=True).first()
        if stored is None:
            raise EvidenceUnavailable(
                _(
                    "Leg %(leg)s (#%(id)s) of %(tag)s points at audio the ledger does not hold as stored: "
                    "it is missing, and no bundle is made."
                )
                % {"leg": leg.leg, "id": leg.call_record_id, "tag": recording_tag.tag}
            )
        parts.append(_Part(f"legs/leg-{leg.leg}-{leg.call_record_id}.wav", stored, leg))
    if recording_tag.audio:
        signature = ledger.current_signature(recording_tag)
        if signature is None:
            raise EvidenceUnavailable(
                _(
                    "The signature of %(tag)s is not held by the ledger as stored: it is missing, "
                    "and no bundle is made."
                )
                % {"tag": recording_tag.tag}
            )
        parts.append(_Part("signature.wav", signature, None))
    backend = ledger.storage()
    for part in parts:
        what = _("%(file)s of %(tag)s (stored as %(name)s)") % {
            "file": part.arcname,
            "tag": recording_tag.tag,
            "name": part.stored.name,
        }
        stored = part.stored
        if stored.integrity in StoredAudio.DAMAGED:
            checked = stored.integrity_checked_at
            raise EvidenceUnavailable(
                _(
                    "The integrity scrub found %(what)s %(state)s on %(when)s (%(detail)s): no bundle is "
                    "made. Restore the object from a backup; the next scrub that reads it intact clears it."
                )
                % {
                    "what": what,
                    "state": stored.get_integrity_display().lower(),
                    "when": checked.isoformat(timespec="seconds") if checked else "?",
                    "detail": stored.integrity_detail or stored.integrity,
                }
            )
        try:
            size = backend.size(part.stored.name)
        except OSError:
            raise EvidenceUnavailable(
                _("%(what)s is missing from storage: no bundle is made.") % {"what": what}
            ) from None
        if size != part.stored.size:
            raise EvidenceUnavailable(
                _(
                    "Storage holds %(size)s bytes of %(what)s; the ledger recorded %(recorded)s: the audio "
                    "was altered or damaged, and no bundle is made."
                )
                % {"size": size, "what": what, "recorded": part.stored.size}
            )
    return parts


# --------------------------------------------------------------------------------------------------
# The manifest


def _log_chains(recording_tag: RecordingTag) -> dict[str, Any]:
    """The recording's hash-chained history and access log as verified now: each chain's length and
    head hash, pinned by the signature (a later rewrite of the database no longer matches them), and
    any break found, said rather than hidden."""
    report = log_chain.verify_log(recording_tag)
    return {
        "verified": report.ok,
        "heads": [
            {"log": h.log, "chain": h.chain, "length": h.length, "head_hash": h.head_hash}
            for h in report.heads
        ],
        "breaks": [str(b) for b in report.breaks],
    }


def _pbx_zone_name(connection: str) -> str:
    """The time zone of the recording's PBX; the default one's for a connection no longer defined (a
    bundle of an old recording is still exported)."""
    try:
        return connections.get(connection).PBX_TIME_ZONE
    except connections.UnknownConnection:
        return noojee_settings.PBX_TIME_ZONE


def _manifest(recording_tag: RecordingTag, parts: list[_Part], user: Any, public_key: Any) -> dict[str, Any]:
    """Everything but ``files`` (the hashes of the bytes written, added while streaming)."""
    pbx_zone_name = _pbx_zone_name(recording_tag.connection)
    pbx_zone = zoneinfo.ZoneInfo(pbx_zone_name)

    def when(value: dt.datetime | None) -> dict[str, str] | None:
        if value is None:
            return None
        return {"utc": value.astimezone(dt.UTC).isoformat(), "pbx": value.astimezone(pbx_zone).isoformat()}

    users: dict[int, Any] = {}

    def who(user_id: int | None) -> dict[str, Any] | None:
        if user_id is None:
            return None
        if user_id not in users:
            users[user_id] = get_user_model()._default_manager.filter(pk=user_id).first()
        person = users[user_id]
        if person is None:
            return {"id": user_id, "username": None}
        return {"id": user_id, "username": person.get_username(), "name": _full_name(person)}

    files_by_leg = {part.leg.pk: part.arcname for part in parts if part.leg is not None}
    signature_part = next((part for part in parts if part.leg is None), None)
    exten = recording_tag.extension.split("/", 1)[-1] if recording_tag.extension else ""
    legs = list(RecordingLeg.objects.filter(recording_tag=recording_tag).order_by("leg", "call_record_id"))
    legs_by_pk = {leg.pk: leg for leg in legs}
    history = list(
        RecordingTransition.objects.filter(recording_tag=recording_tag).order_by("created_at", "id")
    )
    stop = next(
        (
            t
            for t in history
            if t.leg_id is None
            and t.from_status in RecordingTag.ON_CALL_STATUSES
            and t.to_status == RecordingTag.Status.WAITING
        ),
        None,
    )
    pauses = list(RecordingPause.objects.filter(recording_tag=recording_tag).order_by("started_at", "id"))
    legs_in_order = in_call_order([leg for leg in legs if not leg.kept_aside])
    marks_by_pause = {pause.pk: index for index, pause in pause_marks(recording_tag, legs_in_order).items()}
    record = recording_tag.content_object
    content_type = recording_tag.content_type
    call = CallSession.objects.filter(recording_tag=recording_tag).order_by("created_at", "id").first() or (
        CallSession.objects.filter(connection=recording_tag.connection, unique_id=recording_tag.unique_id)
        .order_by("created_at", "id")
        .first()
        if recording_tag.unique_id
        else None
    )
    ledger_rows = StoredAudio.objects.filter(recording_tag=recording_tag).order_by("created_at", "id")
    now = dt.datetime.now(dt.UTC)
    return {
        "format": FORMAT,
        "generated": when(now),
        "exported_by": who(user.pk),
        "pbx_time_zone": pbx_zone_name,
        "pbx_connection": recording_tag.connection,
        "recording": {
            "id": recording_tag.pk,
            "tag": recording_tag.tag,
            "status": recording_tag.status,
            "status_reason": recording_tag.status_reason,
            "needs_review": recording_tag.needs_review,
            "start_accepted_by_pbx": recording_tag.start_accepted,
            "audio_duration_seconds": recording_tag.audio_duration,
            "attached": when(recording_tag.attached_at),
        },
        "record": {
            "content_type": f"{content_type.app_label}.{content_type.model}",
            "id": recording_tag.object_id,
            "str": str(record) if record is not None else None,
        },
        "consent": {
            "consent_given": recording_tag.consent_given,
            "confirmed_by": who(recording_tag.consent_confirmed_by_id),
            "confirmed_at": when(recording_tag.consent_confirmed_at),
        },
        "script": _script_of(recording_tag, who, when),
        "started": {"by": who(recording_tag.started_by_id), "at": when(recording_tag.started_at)},
        "stopped": (
            {
                "by": who(stop.actor_id),
                "at": when(stop.created_at),
                "reason": stop.reason,
                "to": stop.to_status,
            }
            if stop is not None
            else {"by": None, "at": when(recording_tag.stopped_at), "reason": None, "to": None}
        ),
        "call": (
            {
                "id": call.pk,
                "number": call.number,
                "caller_id": call.caller_id,
                "extension": call.extension,
                "unique_id": call.unique_id,
                "agent": who(call.user_id),
                "placed": when(call.created_at),
                "connected": when(call.connected_at),
                "ended": when(call.ended_at),
            }
            if call is not None
            else {
                "id": None,
                "number": None,
                "caller_id": None,
                "extension": recording_tag.extension,
                "unique_id": recording_tag.unique_id,
            }
        ),
        "legs": [
            {
                "call_record_id": leg.call_record_id,
                "unique_id": leg.unique_id,
                "leg": leg.leg,
                "start": when(leg.start),
                "end": when(leg.start + dt.timedelta(seconds=leg.duration)) if leg.start else None,
                "duration_seconds": leg.duration,
                "direction": leg.direction,
                "extension": exten if exten and exten in (leg.source, leg.destination) else None,
                "source": leg.source,
                "destination": leg.destination,
                "did": leg.did,
                "owner": leg.owner,
                "tag": leg.tag,
                "fetch_status": leg.fetch_status,
                "kept_aside": leg.kept_aside,
                "fetched": when(leg.fetched_at),
                "sample_rate": leg.sample_rate,
                "channels": leg.channels,
                "measured_duration_seconds": leg.measured_duration,
                "file": files_by_leg.get(leg.pk),
            }
            for leg in legs
        ],
        "pauses": [
            {
                "paused": {"by": who(pause.paused_by_id), "at": when(pause.started_at)},
                "resumed": (
                    {
                        "by": who(pause.resumed_by_id),
                        "at": when(pause.ended_at),
                        "automatically": pause.resumed_automatically,
                    }
                    if pause.ended_how
                    in (RecordingPause.Ending.RESUMED, RecordingPause.Ending.RESUMED_AUTOMATICALLY)
                    else None
                ),
                "ended": when(pause.ended_at),
                "ended_how": pause.ended_how or None,
                "seconds": pause.seconds,
                "resume_due": when(pause.resume_due_at),
                "reason": pause.reason,
                "after_leg": (
                    legs_in_order[marks_by_pause[pause.pk]].call_record_id
                    if pause.pk in marks_by_pause
                    else None
                ),
            }
            for pause in pauses
        ],
        "signature": (
            {
                "file": signature_part.arcname,
                "joined_from": signature_part.stored.sources,
                "pause_gap_fill": noojee_settings.PAUSE_GAP_FILL if marks_by_pause else None,
            }
            if signature_part is not None
            else None
        ),
        "retention": {
            "keep_until": recording_tag.keep_until.isoformat() if recording_tag.keep_until else None,
            "legal_hold": recording_tag.legal_hold,
            "purged": when(recording_tag.purged_at),
        },
        "purged": (
            {
                "at": when(recording_tag.purged_at),
                "objects": [_ledger_row(row, when) for row in ledger_rows if row.deleted_at is not None],
            }
            if recording_tag.purged_at is not None
            else None
        ),
        "ledger": [_ledger_row(row, when) for row in ledger_rows],
        "history": [
            {
                "at": when(t.created_at),
                "leg": legs_by_pk[t.leg_id].call_record_id if t.leg_id in legs_by_pk else None,
                "from": t.from_status,
                "to": t.to_status,
                "reason": t.reason,
                "by": who(t.actor_id),
                "chain_sequence": t.sequence,
                "row_hash": t.row_hash,
            }
            for t in history
        ],
        "access_log": [
            {
                "at": when(a.created_at),
                "user": who(a.user_id),
                "action": a.action,
                "leg": legs_by_pk[a.leg_id].call_record_id if a.leg_id in legs_by_pk else None,
                "byte_range": a.byte_range,
                "ip_address": a.ip_address,
                "chain_sequence": a.sequence,
                "row_hash": a.row_hash,
            }
            for a in RecordingAccess.objects.filter(recording_tag=recording_tag).order_by("created_at", "id")
        ],
        "log_chains": _log_chains(recording_tag),
        "signing": {
            "algorithm": "Ed25519",
            "public_key_file": PUBLIC_KEY,
            "public_key_sha256": signing.fingerprint(public_key),
            "signature_file": SIGNATURE,
            "signs": MANIFEST,
        },
    }


def _ledger_row(row: StoredAudio, when: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "kind": row.kind,
        "size": row.size,
        "sha256": row.sha256,
        "sources": row.sources,
        "stored": when(row.created_at),
        "deleted": when(row.deleted_at),
        "deleted_reason": row.deleted_reason,
    }


def _full_name(person: Any) -> str:
    full = getattr(person, "get_full_name", None)
    return str(full()) if callable(full) else ""


def _script_of(recording_tag: RecordingTag, who: Any, when: Any) -> dict[str, Any] | None:
    """The script the agent was shown when the recording started: its version, the exact text and
    that text's sha256 as stored then (a verifier recomputes it from ``text``)."""
    version = recording_tag.script_version
    if version is None:
        return None
    return {
        "script_id": version.script_id,
        "name": version.script.name,
        "version_id": version.pk,
        "version": version.number,
        "version_created": when(version.created_at),
        "version_created_by": who(version.created_by_id),
        "notice_template": version.notice,
        "body_template": version.body,
        "text": recording_tag.script_text,
        "text_sha256": recording_tag.script_sha256,
    }


__all__ = [
    "FORMAT",
    "MANIFEST",
    "PERMISSION",
    "PUBLIC_KEY",
    "SIGNATURE",
    "EvidenceAltered",
    "EvidenceBundle",
    "check_may_export_evidence",
    "evidence_bundle",
    "may_export_evidence",
]
