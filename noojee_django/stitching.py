"""Joining a call's legs into one WAV: the voice signature a CRM user plays.

Legs are read and written in blocks through the stdlib ``wave`` module, so memory stays flat however
long the call was. All legs of one call share Asterisk's format; a leg that does not is refused rather
than resampled.
"""

from __future__ import annotations

import hashlib
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

_FRAMES_PER_BLOCK = 64 * 1024


class StitchError(ValueError):
    """The legs cannot be joined (different formats, unreadable WAV)."""


@dataclass(frozen=True)
class StitchedAudio:
    bytes_written: int
    sha256: str
    sample_rate: int
    channels: int
    duration_seconds: float


class _HashingWriter:
    """A write-only file wrapper that hashes and counts what passes through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self._digest = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self._size += len(data)
        return self._target.write(data)

    def tell(self) -> int:
        return self._size

    def seek(self, *args: int) -> int:  # wave patches the header in place when it can seek
        raise OSError("not seekable")

    def flush(self) -> None:
        self._target.flush()


def stitch_wavs(legs: Iterable[IO[bytes]], out: IO[bytes]) -> StitchedAudio:
    """Append the PCM of every leg, in the given order, into one WAV written to ``out``.

    The total frame count is known only at the end, so the header is written last: the legs are read
    twice, once for their lengths and once for their samples.
    """
    sources = list(legs)
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

    writer_target = _HashingWriter(out)
    writer = wave.open(writer_target, "wb")  # type: ignore[call-overload]
    writer.setparams(params._replace(nframes=total_frames))
    for source in sources:
        with wave.open(source, "rb") as reader:
            while frames := reader.readframes(_FRAMES_PER_BLOCK):
                writer.writeframesraw(frames)
    writer.close()
    return StitchedAudio(
        bytes_written=writer_target.tell(),
        sha256=writer_target._digest.hexdigest(),
        sample_rate=params.framerate,
        channels=params.nchannels,
        duration_seconds=total_frames / params.framerate if params.framerate else 0.0,
    )
