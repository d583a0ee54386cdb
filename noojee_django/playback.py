"""Private playback and evidence export: the only ways to a recording's bytes.

Login required, the ``MAY_HEAR`` hook asked about the CRM object the recording is attached to, every
request written to the access log, and HTTP Range honoured (206 with ``Content-Range``) so a player can
seek without downloading the whole file. Files are streamed from storage in blocks, never read whole.

Range rules (RFC 9110 §14): one range is served; of several, the first satisfiable one (a player asks
for one at a time, and multipart answers help nobody here). A header that does not parse, or a range
whose end is before its start, is ignored and the whole file served, as the RFC allows. A range that
starts past the end of the file is answered 416 with ``Content-Range: bytes */size``, and is not
logged as a listen: it served no audio.

Each answer carries a strong ``ETag`` (the audio's sha256), and a Range with an ``If-Range`` that does
not match it is answered with the whole file: a signature joined again after a leg was fetched again
lives behind the same URL, and a player resuming must not splice bytes of two versions.

The evidence bundle (:func:`evidence_bundle`, ``services.evidence_bundle``) is a signed ZIP of the
recording, streamed as it is written; who may not export, or may not hear, learns nothing of which
recordings exist.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from collections.abc import Iterator
from typing import IO

from django.contrib.auth.decorators import login_required
from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import services
from .conf import noojee_settings
from .exceptions import NoojeePermissionDenied, http_status_for, message_for
from .models import RecordingAccess, RecordingLeg, RecordingTag

logger = logging.getLogger("noojee_django")

_RANGE_SPEC = re.compile(r"^([0-9]*)-([0-9]*)$")  # ASCII digits only: a "\d" would take "٣" too
#: Longer numbers than this are beyond any file: compared as such rather than converted.
_MAX_DIGITS = 18
BLOCK_SIZE = 64 * 1024


class UnsatisfiableRange(ValueError):
    """The Range header asks only for bytes the file does not have: answer 416."""


def _one_range(spec: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` for one range-spec; ``None`` when unsatisfiable; ``ValueError`` when invalid."""
    match = _RANGE_SPEC.match(spec.strip())
    if not match or not any(match.groups()):
        raise ValueError(spec)
    first_text, last_text = match.groups()
    if not first_text:  # a suffix: the last N bytes
        if len(last_text) > _MAX_DIGITS:
            return (0, size - 1) if size else None
        length = int(last_text)
        return (max(0, size - length), size - 1) if length and size else None
    if len(first_text) > _MAX_DIGITS:
        return None
    first = int(first_text)
    if last_text and len(last_text) <= _MAX_DIGITS and int(last_text) < first:
        raise ValueError(spec)
    if first >= size:
        return None
    last = int(last_text) if last_text and len(last_text) <= _MAX_DIGITS else size - 1
    return first, min(last, size - 1)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The byte range to serve, ``(first, last)`` inclusive; ``None`` to ignore the header and serve all.

    Raises :class:`UnsatisfiableRange` when no range in the header can be satisfied.
    """
    unit, _equals, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    ranges = []
    for spec in specs.split(","):
        if not spec.strip():
            continue  # RFC 9110 allows empty list elements
        try:
            ranges.append(_one_range(spec, size))
        except ValueError:
            return None
    satisfiable = [r for r in ranges if r is not None]
    if not ranges:
        return None
    if not satisfiable:
        raise UnsatisfiableRange(header)
    return satisfiable[0]


class _FileBlocks:
    """The bytes ``[start, start + length)`` of an open file, in blocks; closing it closes the file.

    The response closes it when the client has gone, even if it never read a block.
    """

    def __init__(self, handle: IO[bytes], start: int, length: int) -> None:
        self.handle = handle
        self.start = start
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        try:
            self.handle.seek(self.start)
            left = self.length
            while left > 0:
                data = self.handle.read(min(BLOCK_SIZE, left))
                if not data:
                    break
                left -= len(data)
                yield data
        finally:
            self.close()

    def close(self) -> None:
        self.handle.close()


def remote_addr(request: HttpRequest) -> str | None:
    """The default ``CLIENT_ADDRESS``: the address of whoever opened the connection (``REMOTE_ADDR``).

    Behind a reverse proxy that is the proxy's address: see :func:`last_forwarded_for`.
    """
    return request.META.get("REMOTE_ADDR") or None


def last_forwarded_for(request: HttpRequest) -> str | None:
    """For ``CLIENT_ADDRESS`` behind one reverse proxy: the last ``X-Forwarded-For`` entry.

    That is the entry the proxy itself appended (the address it took the connection from); the
    entries before it are whatever the client sent and prove nothing. Use it only when every request
    reaches Django through that proxy: without one, the last entry is the client's to choose as well.
    """
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    last = header.rsplit(",", 1)[-1].strip()
    return last or remote_addr(request)


def client_ip(request: HttpRequest) -> str | None:
    """The listener's address for the access log, from the ``CLIENT_ADDRESS`` hook; a value that is
    not an IP address is logged and left out rather than refusing the listen or failing the log."""
    hook = noojee_settings.hook("CLIENT_ADDRESS")
    value = hook(request) if hook is not None else None
    if not value:
        return None
    try:
        address = ipaddress.ip_address(str(value).strip())
        if getattr(address, "scope_id", None):  # "fe80::1%<anything>": a zone means nothing off-host
            raise ValueError(value)
        return str(address)
    except ValueError:
        logger.warning(
            "CLIENT_ADDRESS gave %r, which is not an IP address: the listen is logged without one",
            str(value)[:100],  # a header's value: bounded, and %r keeps its line breaks out of the log
        )
        return None


def _etag(audio: FieldFile, sha256: str, size: int) -> str:
    """A strong validator: the stored sha256, or for audio stored without one, its name and size."""
    if not sha256:
        sha256 = hashlib.sha256(f"{audio.name}\0{size}".encode()).hexdigest()
    return f'"{sha256[:40]}"'


def _filename(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", tag)[:60] or "recording"


def _serve(
    request: HttpRequest, recording_tag: RecordingTag, leg: RecordingLeg | None, audio: FieldFile
) -> HttpResponseBase:
    try:
        services.check_may_hear(request.user, recording_tag)
    except NoojeePermissionDenied as exc:
        return HttpResponseForbidden(str(exc))
    if not audio.name:
        raise Http404(_("This recording has no audio (not fetched yet, or purged)."))
    storage = audio.storage
    try:
        size = storage.size(audio.name)
        handle = storage.open(audio.name, "rb")
    except OSError:
        raise Http404(_("This recording's audio is missing from storage.")) from None

    header = request.headers.get("Range", "")
    download = request.GET.get("download") == "1"
    etag = _etag(audio, (leg or recording_tag).audio_sha256, size)
    # If-Range with a date, or a tag of another version: the whole file (strong comparison).
    if_range = request.headers.get("If-Range")
    honour_range = bool(header) and (if_range is None or if_range.strip() == etag)
    try:
        wanted = parse_range(header, size) if honour_range else None
    except UnsatisfiableRange:
        handle.close()
        response: HttpResponseBase = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        first, last = wanted if wanted else (0, size - 1)
        length = max(0, last - first + 1)
        if request.method == "HEAD":
            handle.close()
            body: Iterator[bytes] | _FileBlocks = iter(())
        else:
            body = _FileBlocks(handle, first, length)
        response = StreamingHttpResponse(body, status=206 if wanted else 200, content_type="audio/wav")
        response["Content-Length"] = str(length)
        if wanted:
            response["Content-Range"] = f"bytes {first}-{last}/{size}"
    try:
        if response.status_code != 416:  # a 416 serves no byte of the audio: not a listen
            services.record_access(
                request.user,
                recording_tag,
                leg=leg,
                action=RecordingAccess.Action.DOWNLOAD if download else RecordingAccess.Action.PLAY,
                byte_range=header,
                ip_address=client_ip(request),
            )
    except Exception:
        response.close()  # no listen without its log line; and no file left open
        raise
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    if download:
        leg_part = f"-leg{leg.leg}" if leg else ""
        response["Content-Disposition"] = (
            f'attachment; filename="{_filename(recording_tag.tag)}{leg_part}.wav"'
        )
    return response


@require_http_methods(["GET", "HEAD"])
@login_required
def recording_audio(request: HttpRequest, recording_tag_id: int) -> HttpResponseBase:
    """The voice signature: every leg of the recording joined in order."""
    recording_tag = get_object_or_404(
        RecordingTag.objects.select_related("content_type"), pk=recording_tag_id
    )
    return _serve(request, recording_tag, None, recording_tag.audio)


@require_http_methods(["GET", "HEAD"])
@login_required
def leg_audio(request: HttpRequest, leg_id: int) -> HttpResponseBase:
    """One leg of a recording, as fetched from the PBX."""
    leg = get_object_or_404(
        RecordingLeg.objects.select_related("recording_tag__content_type"),
        pk=leg_id,
        recording_tag__isnull=False,
    )
    assert leg.recording_tag is not None
    return _serve(request, leg.recording_tag, leg, leg.audio)


def evidence_response(bundle: services.EvidenceBundle) -> StreamingHttpResponse:
    """The bundle as a download, streamed as it is written (its length is known only at the end)."""
    response = StreamingHttpResponse(bundle.chunks(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{bundle.filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_http_methods(["GET"])
@login_required
def evidence_bundle(request: HttpRequest, recording_tag_id: int) -> HttpResponseBase:
    """The recording's signed evidence bundle: ``noojee_django.export_evidence`` and ``MAY_HEAR``."""
    try:
        bundle = services.evidence_bundle(request.user, recording_tag_id, ip_address=client_ip(request))
    except Exception as exc:
        status = http_status_for(exc)
        if status is None:
            raise
        return HttpResponse(message_for(exc), status=status, content_type="text/plain; charset=utf-8")
    return evidence_response(bundle)
