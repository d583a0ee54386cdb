"""Joining a call's legs into one WAV: the voice signature a CRM user plays.

Legs are read and written in blocks through the stdlib ``wave`` module, so memory stays flat however
long the call was. All legs of one call share Asterisk's format; a leg that does not is refused rather
than resampled.

A secure pause leaves a span of the call unrecorded between two legs: :class:`GapMark` says where, and
the ``fill`` marks it (``PAUSE_GAP_FILL``): ``"tone"`` a short beep, ``"silence"`` silence as long as
the pause, ``"none"`` nothing. A listener then hears that something was left out, and where.
"""

from __future__ import annotations

import hashlib
import math
import struct
import wave
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO

_FRAMES_PER_BLOCK = 64 * 1024

#: The beep that marks a pause: half a second of 1 kHz at a third of full scale.
TONE_SECONDS = 0.5
TONE_HZ = 1000
_TONE_LEVEL = 1 / 3
GAP_FILLS = ("tone", "silence", "none")


@dataclass(frozen=True)
class GapMark:
    """A paused span of ``seconds`` between leg ``after`` (an index into the legs) and the next one."""

    after: int
    seconds: float


def gap_frames(mark: GapMark, fill: str, framerate: int) -> int:
    """How many frames mark one gap."""
    if fill == "tone":
        return round(TONE_SECONDS * framerate)
    if fill == "silence":
        return max(0, round(mark.seconds * framerate))
    return 0


def _gap_pcm(frames: int, fill: str, params: wave._wave_params) -> Iterator[bytes]:
    """The marker's samples, in blocks: silence, or a sine beep, in the legs' own format."""
    width, channels, rate = params.sampwidth, params.nchannels, params.framerate
    silent = b"\x80" if width == 1 else b"\x00" * width
    done = 0
    while done < frames:
        count = min(_FRAMES_PER_BLOCK, frames - done)
        if fill != "tone":
            yield silent * (count * channels)
        else:
            peak = (2 ** (8 * width - 1) - 1) * _TONE_LEVEL
            samples = bytearray()
            for i in range(done, done + count):
                value = int(peak * math.sin(2 * math.pi * TONE_HZ * i / rate))
                if width == 1:
                    sample = struct.pack("<B", value + 128)
                elif width == 3:
                    sample = (value & 0xFFFFFF).to_bytes(3, "little")
                else:
                    sample = struct.pack({2: "<h", 4: "<i"}[width], value)
                samples += sample * channels
            yield bytes(samples)
        done += count


class StitchError(ValueError):
    """The legs cannot be joined (different formats, unreadable WAV)."""


@dataclass(frozen=True)
class StitchedAudio:
    bytes_written: int
    sha256: str
    sample_rate: int
    channels: int
    duration_seconds: float
    crc32: int


class _HashingWriter:
    """A write-only file wrapper that hashes (sha256 and CRC-32) and counts what passes through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self._digest = hashlib.sha256()
        self.crc32 = 0
        self._size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.crc32 = zlib.crc32(data, self.crc32)
        self._size += len(data)
        return self._target.write(data)

    def tell(self) -> int:
        return self._size

    def seek(self, *args: int) -> int:  # wave patches the header in place when it can seek
        raise OSError("not seekable")

    def flush(self) -> None:
        self._target.flush()


def stitch_wavs(
    legs: Iterable[IO[bytes]], out: IO[bytes], *, gaps: Sequence[GapMark] = (), fill: str = "none"
) -> StitchedAudio:
    """Append the PCM of every leg, in the given order, into one WAV written to ``out``; after the
    legs that ``gaps`` name, the gap's marker (``fill``: ``"tone"``, ``"silence"`` or ``"none"``).

    The total frame count is known only at the end, so the header is written last: the legs are read
    twice, once for their lengths and once for their samples.
    """
    if fill not in GAP_FILLS:
        raise ValueError(f"fill must be one of {', '.join(GAP_FILLS)}")
    sources = list(legs)
    after = {mark.after: mark for mark in gaps if 0 <= mark.after < len(sources) - 1}
    params = None
    total_frames = 0
    for source in sources:
        try:
            with wave.open(source, "rb") as reader:
                leg_params = reader.getparams()
        except (wave.Error, EOFError) as exc:
            raise StitchError(f"a leg is not a readable WAV: {exc}") from exc
        if params is None:
            params = leg_params
        elif leg_params[:3] != params[:3]:
            raise StitchError("legs differ in channels, sample width or sample rate")
        total_frames += leg_params.nframes
        source.seek(0)
    if params is None:
        raise StitchError("there are no legs to join")
    marks = {index: gap_frames(mark, fill, params.framerate) for index, mark in after.items()}
    total_frames += sum(marks.values())

    writer_target = _HashingWriter(out)
    writer = wave.open(writer_target, "wb")  # type: ignore[call-overload]
    writer.setparams(params._replace(nframes=total_frames))
    for index, source in enumerate(sources):
        with wave.open(source, "rb") as reader:
            while frames := reader.readframes(_FRAMES_PER_BLOCK):
                writer.writeframesraw(frames)
        for block in _gap_pcm(marks.get(index, 0), fill, params):
            writer.writeframesraw(block)
    writer.close()
    return StitchedAudio(
        bytes_written=writer_target.tell(),
        sha256=writer_target._digest.hexdigest(),
        sample_rate=params.framerate,
        channels=params.nchannels,
        duration_seconds=total_frames / params.framerate if params.framerate else 0.0,
        crc32=writer_target.crc32,
    )
