"""Private playback: the only way to a recording's bytes.

Login required, the ``MAY_HEAR`` hook asked about the CRM object the recording is attached to, every
request written to the access log, and HTTP Range honoured (206 with ``Content-Range``) so a player can
seek without downloading the whole file. Files are streamed from storage in blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

from django.contrib.auth.views import redirect_to_login
from django.core.files import File
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_http_methods

from . import services
from .exceptions import NoojeePermissionDenied
from .models import RecordingAccess, RecordingLeg, RecordingTag

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_BLOCK = 64 * 1024


class UnsatisfiableRange(ValueError):
    """The Range header asks for bytes the file does not have: answer 416."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` for a satisfiable single range; ``None`` to ignore the header (serve it all).

    Raises :class:`UnsatisfiableRange` when the range cannot be satisfied.

    Several ranges (``bytes=0-1,5-6``) are answered with the first one. A header that does not parse
    is ignored, as RFC 9110 allows.
    """
    if not header:
        return None
    spec = header.split(",", 1)[0].strip()
    match = _RANGE.match(spec)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first_text, last_text = match.groups()
    if len(first_text) > 18 or len(last_text) > 18:
        raise UnsatisfiableRange(header)
    if not first_text:  # suffix: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise UnsatisfiableRange(header)
        return max(0, size - length), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if first >= size or last < first:
        raise UnsatisfiableRange(header)
    return first, min(last, size - 1)


def _blocks(handle: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        left = length
        while left > 0:
            data = handle.read(min(_BLOCK, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        handle.close()


def _serve(
    request: HttpRequest, recording_tag: RecordingTag, leg: RecordingLeg | None, audio: File[Any]
) -> HttpResponseBase:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    try:
        services.check_may_hear(request.user, recording_tag)
    except NoojeePermissionDenied as exc:
        return HttpResponseForbidden(str(exc))
    if not audio:
        raise Http404("This recording has no audio (not fetched yet, or purged).")
    try:
        handle = audio.open("rb")
        size = audio.size
    except (FileNotFoundError, OSError):
        raise Http404("This recording's audio is missing from storage.") from None

    header = request.headers.get("Range", "")
    try:
        wanted: tuple[int, int] | None = parse_range(header, size)
        satisfiable = True
    except UnsatisfiableRange:
        wanted, satisfiable = None, False
    download = request.GET.get("download") == "1"
    services.record_access(
        request.user,
        recording_tag,
        leg=leg,
        action=RecordingAccess.Action.DOWNLOAD if download else RecordingAccess.Action.PLAY,
        byte_range=header,
        ip_address=request.META.get("REMOTE_ADDR"),
    )
    response: HttpResponseBase
    if not satisfiable:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        first, last = wanted if wanted else (0, size - 1)
        length = max(0, last - first + 1)
        body = _blocks(handle, first, length) if request.method != "HEAD" else iter(())
        if request.method == "HEAD":
            handle.close()
        response = StreamingHttpResponse(body, status=206 if wanted else 200, content_type="audio/wav")
        response["Content-Length"] = str(length)
        if wanted:
            response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    if download:
        leg_part = f"-leg{leg.leg}" if leg else ""
        response["Content-Disposition"] = (
            f'attachment; filename="{_filename(recording_tag.tag)}{leg_part}.wav"'
        )
    return response


def _filename(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", tag)[:60] or "recording"


@require_http_methods(["GET", "HEAD"])
def recording_audio(request: HttpRequest, recording_tag_id: int) -> HttpResponseBase:
    """The voice signature: every leg of the recording joined in order."""
    recording_tag = get_object_or_404(
        RecordingTag.objects.select_related("content_type"), pk=recording_tag_id
    )
    return _serve(request, recording_tag, None, recording_tag.audio)


@require_http_methods(["GET", "HEAD"])
def leg_audio(request: HttpRequest, leg_id: int) -> HttpResponseBase:
    leg = get_object_or_404(RecordingLeg.objects.select_related("recording_tag__content_type"), pk=leg_id)
    return _serve(request, leg.recording_tag, leg, leg.audio)
