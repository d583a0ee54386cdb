"""Streaming audio: incremental base64 decoding and WAV verification with flat memory.

A one-hour leg is 57.6 MB of WAV and about 77 MB of base64. Nothing here holds more than one network
chunk (plus three bytes of base64 carried to the next chunk) at a time.
"""

from __future__ import annotations

import binascii
import hashlib
import struct

from .errors import InvalidAudioError
from .types import AudioInfo

_WHITESPACE = b" \t\r\n\x0b\x0c"


class Base64StreamDecoder:
    """Decode base64 fed in arbitrary chunks (line breaks and chunk boundaries anywhere)."""

    def __init__(self) -> None:
        self._carry = b""
        self._padded = False

    def feed(self, chunk: bytes) -> bytes:
        data = self._carry + chunk.translate(None, _WHITESPACE)
        if not data:
            return b""
        if self._padded:
            raise InvalidAudioError("base64 data continues after its padding")
        usable = len(data) - len(data) % 4
        self._carry = data[usable:]
        if not usable:
            return b""
        block = data[:usable]
        try:
            decoded = binascii.a2b_base64(block, strict_mode=True)
        except binascii.Error as exc:
            raise InvalidAudioError(f"invalid base64 in the audio body: {exc}") from None
        if block.endswith(b"="):
            self._padded = True
        return decoded

    def finish(self) -> bytes:
        if self._carry:
            raise InvalidAudioError(
                f"the base64 audio body ends mid-group ({len(self._carry)} stray characters): truncated"
            )
        return b""


class WavVerifier:
    """Checks, as bytes pass, that they form one complete PCM WAV file, and measures it.

    The header is parsed as soon as it has arrived; the sha256 and the byte count run over everything.
    :meth:`finish` compares the data chunk's declared size with what was received.
    """

    _MAX_HEADER = 64 * 1024

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._total = 0
        self._head = bytearray()
        self._parsed = False
        self.riff_size = 0
        self.sample_rate = 0
        self.channels = 0
        self.bits_per_sample = 0
        self.data_offset = 0
        self.data_size = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._digest.update(data)
        self._total += len(data)
        if not self._parsed:
            self._head += data
            self._try_parse()

    def _try_parse(self) -> None:
        head = bytes(self._head)
        if len(head) >= 12:
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise InvalidAudioError("the audio is not a RIFF/WAVE file (bad header)")
            self.riff_size = struct.unpack_from("<I", head, 4)[0]
        offset = 12
        have_fmt = False
        while len(head) >= offset + 8:
            chunk_id = head[offset : offset + 4]
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
                if size < 16:
                    raise InvalidAudioError("the WAV fmt chunk is too short")
                audio_format, channels, rate, _byte_rate, _align, bits = struct.unpack_from(
                    "<HHIIHH", head, body
                )
                if audio_format not in (1, 0xFFFE):
                    raise InvalidAudioError(f"the WAV is not PCM (format {audio_format})")
                if not channels or not rate or bits not in (8, 16, 24, 32):
                    raise InvalidAudioError("the WAV fmt chunk has impossible values")
                self.channels, self.sample_rate, self.bits_per_sample = channels, rate, bits
                have_fmt = True
            offset = body + size + (size & 1)
        if len(head) > self._MAX_HEADER:
            raise InvalidAudioError("no WAV data chunk in the first 64 KiB")

    def finish(self) -> AudioInfo:
        if not self._parsed:
            raise InvalidAudioError("the audio ended before its WAV header was complete")
        received = self._total - self.data_offset
        if received < self.data_size:
            raise InvalidAudioError(
                f"the WAV is truncated: its data chunk declares {self.data_size} bytes, {received} arrived"
            )
        if self.riff_size + 8 != self._total and received != self.data_size:
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
        )
