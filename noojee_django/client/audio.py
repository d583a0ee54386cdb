"""Streaming audio: incremental base64 decoding and WAV verification in constant memory.

A one-hour leg is 57.6 MB of WAV and about 77 MB of base64; a worker downloading several at once must
not hold them. Nothing here keeps more than one network chunk (plus up to three base64 characters
carried to the next chunk, plus the WAV header) at a time, except the JSON envelope, which exists only
for compatibility with servers that wrap the audio in JSON.

Speed matters as much: a per-byte Python loop would decode a one-hour leg in tens of seconds. Each chunk
is cleaned with one ``bytes.translate`` and decoded with one strict ``binascii.a2b_base64`` call, which
also rejects every character outside the base64 alphabet.
"""

from __future__ import annotations

import binascii
import hashlib
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO

from .errors import InvalidAudioError, NoojeeError, ProtocolError
from .parsing import as_int, load_json, preview
from .types import AudioInfo

AUDIO_ENCODINGS = ("auto", "base64", "raw", "json")
_WHITESPACE = b" \t\r\n\x0b\x0c"
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_PCM_FORMATS = (1, 0xFFFE)  # WAVE_FORMAT_PCM, WAVE_FORMAT_EXTENSIBLE


class Base64StreamDecoder:
    """Decodes base64 fed in arbitrary pieces: line breaks (``\\n``, ``\\r\\n``) and cuts anywhere.

    Two paths give the same bytes and refuse the same inputs:

    - the general one strips whitespace with ``bytes.translate`` and decodes the 4-aligned part with a
      strict ``a2b_base64``, carrying up to three characters to the next piece;
    - the fast one, for the regular shape servers send (lines of one length, a multiple of 4, ending
      in the same separator, or no line breaks at all), decodes whole lines with a non-strict
      ``a2b_base64``, which skips the separators itself (saving the ``translate`` pass), then proves
      the block was valid: an extended slice shows every separator where it belongs, and the decoded
      length shows nothing else was skipped (a skipped character always shortens the output).

    Any block that fails the proof is decoded again by the general path, which then raises the precise
    error or succeeds (a server that changes its line length), and the rest of the body stays there.
    """

    def __init__(self, *, sniff: int = 4096) -> None:
        self._sniff = sniff  # how far to look for the first line break before choosing a path
        self._carry = b""  # general path: < 4 stripped characters; fast path: < 1 raw line
        self._padded = False
        self._fast: bool | None = None  # None: not decided yet (the raw text waits in _carry)
        self._line = 0  # fast path: characters per line; 0 for a body without line breaks
        self._sep = b""
        self.consumed = 0
        self.fast_chars = 0  # how much took the fast path (for tests and benchmarks)

    def feed(self, chunk: bytes) -> bytes:
        if self._fast is None:
            self._carry += chunk
            if not self._decide(final=False):
                return b""
            data, self._carry = self._carry, b""
        else:
            data = self._carry + chunk if self._carry else chunk
            self._carry = b""
        if self._fast:
            return self._fast_feed(data)
        return self._strict_feed(data)

    def finish(self) -> bytes:
        """The last piece of output; raises if the body ends mid-group (truncated)."""
        if self._fast is None:
            self._decide(final=True)
        tail = b""
        if self._fast:
            self._fast = False
            data, self._carry = self._carry, b""
            tail = self._strict_feed(data)
        if self._carry:
            if self._carry.translate(None, _ALPHABET):
                raise InvalidAudioError(f"invalid base64 in the audio body at its end: {self._carry!r}")
            raise InvalidAudioError(
                f"the base64 audio body ends mid-group ({len(self._carry)} stray characters): truncated"
            )
        return tail

    def _decide(self, *, final: bool) -> bool:
        data = self._carry
        newline = data.find(b"\n", 0, self._sniff)
        if newline < 0 and len(data) < self._sniff and not final:
            return False
        if newline < 0:
            self._fast, self._line, self._sep = True, 0, b""
        else:
            crlf = newline > 0 and data[newline - 1] == 0x0D
            self._line = newline - 1 if crlf else newline
            self._sep = b"\r\n" if crlf else b"\n"
            self._fast = self._line > 0 and self._line % 4 == 0 and not data[: self._line].isspace()
        return True

    def _fast_feed(self, data: bytes) -> bytes:
        sep = len(self._sep)
        unit = self._line + sep if self._line else 4
        cut = len(data) // unit * unit
        self._carry = data[cut:]
        if not cut:
            return b""
        block = data if cut == len(data) else data[:cut]
        if not self._padded:
            decoded = self._proven(block, sep)
            if decoded is not None:
                return decoded
        self._fast = False  # irregular: the general path from here on
        raw, self._carry = block + self._carry, b""
        return self._strict_feed(raw)

    def _proven(self, block: bytes, sep: int) -> bytes | None:
        """``block`` decoded, if it is provably well-formed base64 of the expected shape; else None."""
        if sep:
            lines = len(block) // (self._line + sep)
            step = self._line + sep
            for offset, byte in enumerate(self._sep):
                marks = block[self._line + offset :: step]
                if len(marks) != lines or marks.count(byte) != lines:
                    return None
            text_chars = len(block) - lines * sep
            last = block[-sep - 2 : -sep]
        else:
            text_chars = len(block)
            last = block[-2:]
        pads = 2 if last == b"==" else 1 if last[-1:] == b"=" else 0
        try:
            decoded = binascii.a2b_base64(block)
        except binascii.Error:
            return None
        if len(decoded) != text_chars // 4 * 3 - pads:
            return None
        self.consumed += text_chars
        self.fast_chars += text_chars
        if pads:
            self._padded = True
        return decoded

    def _strict_feed(self, chunk: bytes) -> bytes:
        data = chunk.translate(None, _WHITESPACE)
        if self._carry:
            data = self._carry + data
        if not data:
            return b""
        if self._padded:
            raise InvalidAudioError("invalid base64 in the audio body: data continues after its padding")
        usable = len(data) & ~3
        self._carry = data[usable:]
        if not usable:
            return b""
        block = data if usable == len(data) else data[:usable]
        try:
            decoded = binascii.a2b_base64(block, strict_mode=True)
        except binascii.Error as exc:
            raise InvalidAudioError(
                f"invalid base64 in the audio body near character {self.consumed}: {exc}"
            ) from None
        self.consumed += usable
        if block[-1] == 0x3D:  # "=": whatever follows is an error
            self._padded = True
        return decoded


class WavVerifier:
    """Checks, as bytes pass, that they form one complete PCM WAV file, and measures it.

    The header is checked as soon as it has arrived, so a body that is not a WAV at all fails before
    anything is written; the sha256, CRC-32 and byte count run over everything; :meth:`finish` compares the
    data chunk's declared size with what arrived, which is how a cut-short download is caught.
    """

    _MAX_HEADER = 64 * 1024

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._crc32 = 0
        self._total = 0
        self._head = bytearray()
        self._parsed = False
        self.riff_size = 0
        self.sample_rate = 0
        self.channels = 0
        self.bits_per_sample = 0
        self.data_offset = 0
        self.data_size = 0

    @property
    def bytes_seen(self) -> int:
        return self._total

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._digest.update(data)
        self._crc32 = zlib.crc32(data, self._crc32)
        self._total += len(data)
        if not self._parsed:
            self._head += data
            self._try_parse()

    def _try_parse(self) -> None:
        head = self._head
        if len(head) >= 4 and head[:4] != b"RIFF":
            raise InvalidAudioError("the audio is not a RIFF/WAVE file (bad header)")
        if len(head) < 12:
            return
        if head[8:12] != b"WAVE":
            raise InvalidAudioError("the audio is not a RIFF/WAVE file (bad header)")
        self.riff_size = struct.unpack_from("<I", head, 4)[0]
        offset = 12
        have_fmt = False
        while len(head) >= offset + 8:
            chunk_id = bytes(head[offset : offset + 4])
            (size,) = struct.unpack_from("<I", head, offset + 4)
            body = offset + 8
            if chunk_id == b"data":
                if not have_fmt:
                    raise InvalidAudioError("the WAV has no fmt chunk before its data")
                self.data_offset, self.data_size = body, size
                self._parsed = True
                self._head = bytearray()
                return
            if len(head) < body + size:
                break
            if chunk_id == b"fmt ":
                self._read_fmt(head, body, size)
                have_fmt = True
            offset = body + size + (size & 1)
        if len(head) > self._MAX_HEADER:
            raise InvalidAudioError("no WAV data chunk in the first 64 KiB")

    def _read_fmt(self, head: bytearray, body: int, size: int) -> None:
        if size < 16:
            raise InvalidAudioError("the WAV fmt chunk is too short")
        audio_format, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", head, body)
        if audio_format not in _PCM_FORMATS:
            raise InvalidAudioError(f"the WAV is not PCM (format {audio_format:#x})")
        if not channels or not rate or bits not in (8, 16, 24, 32):
            raise InvalidAudioError("the WAV fmt chunk has impossible values")
        if align != channels * bits // 8 or byte_rate != rate * align:
            raise InvalidAudioError("the WAV fmt chunk contradicts itself (block align / byte rate)")
        self.channels, self.sample_rate, self.bits_per_sample = channels, rate, bits

    def finish(self) -> AudioInfo:
        if not self._parsed:
            raise InvalidAudioError(
                f"the audio ended before its WAV header was complete ({self._total} bytes)"
            )
        received = self._total - self.data_offset
        if received < self.data_size:
            raise InvalidAudioError(
                f"the WAV is truncated: its data chunk declares {self.data_size} bytes, {received} arrived"
            )
        if received > self.data_size and self.riff_size + 8 != self._total:
            raise InvalidAudioError(
                f"the WAV size does not match: RIFF declares {self.riff_size + 8} bytes, "
                f"{self._total} arrived"
            )
        frame = self.channels * self.bits_per_sample // 8
        return AudioInfo(
            bytes_written=self._total,
            sha256=self._digest.hexdigest(),
            sample_rate=self.sample_rate,
            channels=self.channels,
            bits_per_sample=self.bits_per_sample,
            duration_seconds=self.data_size / (self.sample_rate * frame) if frame else 0.0,
            crc32=self._crc32,
        )


def sniff_encoding(first: bytes) -> str:
    """What a body starting with ``first`` (leading whitespace removed) is: raw, json or base64."""
    if first.startswith(b"RIFF"):
        return "raw"
    if first.startswith(b"{"):
        return "json"
    return "base64"


def write_audio(
    chunks: Iterable[bytes],
    out: BinaryIO,
    *,
    encoding: str = "auto",
    json_field: str = "Audio",
    json_error: Callable[[Mapping[str, Any]], NoojeeError] | None = None,
) -> AudioInfo:
    """Decode a leg's body as it arrives, verify it, and write the WAV bytes into ``out``.

    A body that starts with ``{`` is read as a JSON envelope whatever ``encoding`` says: a server that
    sends base64 or raw audio still answers its refusals in JSON, and neither a WAV nor base64 text can
    start with a brace. ``json_error`` turns a refusal (negative ``Code``) into the error to raise.
    Blocks are verified before they are written, so a body that is not a WAV leaves ``out`` untouched.
    """
    if encoding not in AUDIO_ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(AUDIO_ENCODINGS)}")
    verifier = WavVerifier()
    iterator = iter(chunks)
    first = b""
    for chunk in iterator:
        first += chunk
        first = first.lstrip(_WHITESPACE)
        if len(first) >= 4:
            break
    detected = sniff_encoding(first)
    mode = detected if encoding == "auto" or detected == "json" else encoding

    def emit(data: bytes) -> None:
        if data:
            verifier.feed(data)
            out.write(data)

    if mode == "raw":
        emit(first)
        for chunk in iterator:
            emit(chunk)
    elif mode == "json":
        emit(_audio_from_json(first + b"".join(iterator), json_field, json_error))
    else:
        decoder = Base64StreamDecoder()
        emit(decoder.feed(first))
        for chunk in iterator:
            emit(decoder.feed(chunk))
        emit(decoder.finish())
    return verifier.finish()


def _audio_from_json(
    body: bytes, json_field: str, json_error: Callable[[Mapping[str, Any]], NoojeeError] | None
) -> bytes:
    try:
        parsed = load_json(body)
    except ProtocolError:
        raise InvalidAudioError(f"the JSON audio body does not parse ({len(body)} bytes)") from None
    if not isinstance(parsed, Mapping):
        raise InvalidAudioError("the JSON audio body is not an object")
    try:
        code = as_int(parsed.get("Code", 0), "Code")
    except ProtocolError:
        code = 0  # an unreadable Code is no refusal: the audio (or its absence) decides
    if code < 0:
        if json_error is not None:
            raise json_error(parsed)
        message = parsed.get("Message")
        said = message[:200] if isinstance(message, str) else preview(message)
        raise InvalidAudioError(f"the PBX refused the audio: {said}")
    for key in dict.fromkeys((json_field, "Audio", "audio", "Recording", "Data", "data")):
        value = parsed.get(key)
        if isinstance(value, str):
            decoder = Base64StreamDecoder()
            decoded = b"".join(decoder.feed(piece.encode("ascii", "replace")) for piece in _pieces(value))
            return decoded + decoder.finish()
    raise InvalidAudioError(f"the JSON audio body carries no {json_field!r} field")


def _pieces(text: str, size: int = 1 << 20) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]
