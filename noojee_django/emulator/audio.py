"""Deterministic leg audio, generated and encoded block by block.

A one-hour leg is 57.6 MB of WAV and about 77 MB of base64: nothing here ever holds a whole leg. Each
leg gets one second of PCM computed once from its ``(unique_id, leg)`` and cached; second ``k`` of the
leg is that block rotated by a step that depends on ``k``, so every second differs while costing only a
memory copy. The same ``(unique_id, leg, seconds)`` always gives the same bytes.

A leg recorded live on a call (``Segment.offset`` set) is instead a window on the call's own sound:
one block per call, and second ``k`` of the leg is second ``offset + k`` of the call
(:func:`call_second`). What a leg holds is then a span of the call's time, which a test can read back
from the bytes: a span the PBX did not record (a secure pause) is in no leg.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import random
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH
HEADER_SIZE = 44
SECONDS_PER_CHUNK = 48  # 768 000 bytes of PCM per chunk: a multiple of 3 and of 57 (one 76-char line)
_ROTATION_STEP = 2 * 1997  # bytes; even, so a rotation never splits a sample


@dataclass(frozen=True)
class Segment:
    """``seconds`` of one leg's audio."""

    unique_id: str
    leg: int
    seconds: int
    #: The call's second at which the leg begins, for a leg recorded live (see :func:`call_second`).
    offset: int | None = None


def wav_size(segments: Sequence[Segment]) -> int:
    return HEADER_SIZE + sum(s.seconds for s in segments) * BYTES_PER_SECOND


def wav_header(data_bytes: int, *, corrupt: bool = False) -> bytes:
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFX" if corrupt else b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        0x7777 if corrupt else 1,  # format code: 1 is PCM
        1,
        SAMPLE_RATE,
        BYTES_PER_SECOND,
        SAMPLE_WIDTH,
        16,
        b"data",
        data_bytes,
    )
    assert len(header) == HEADER_SIZE
    return header


@functools.lru_cache(maxsize=64)
def _two_tone(f1: int, f2: int) -> bytes:
    """One second of two sine tones: computed once per pair of frequencies (35 pairs in all)."""
    step1 = 2 * math.pi * f1 / SAMPLE_RATE
    step2 = 2 * math.pi * f2 / SAMPLE_RATE
    samples = [int(3000 * math.sin(step1 * i) + 1500 * math.sin(step2 * i)) for i in range(SAMPLE_RATE)]
    return struct.pack(f"<{SAMPLE_RATE}h", *samples)


@functools.lru_cache(maxsize=256)
def second_block(unique_id: str, leg: int) -> bytes:
    """One second of a quiet two-tone hum with a little noise, seeded by the leg.

    The noise replaces each sample's low byte with seeded random bytes (at most ±128 out of ±4500):
    slicing at C speed, so a new leg costs microseconds, not a Python loop over 8,000 samples.
    """
    seed = int.from_bytes(hashlib.sha256(f"{unique_id}/{leg}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    f1 = rng.choice((200, 250, 300, 350, 400, 450, 500))
    f2 = rng.choice((600, 700, 800, 900, 1000))
    block = bytearray(_two_tone(f1, f2))
    block[0::2] = rng.randbytes(SAMPLE_RATE)
    return bytes(block)


def _second(block: bytes, k: int) -> bytes:
    shift = (k * _ROTATION_STEP) % BYTES_PER_SECOND
    return block[shift:] + block[:shift] if shift else block


def call_block(unique_id: str) -> bytes:
    """The call's own second of sound, whatever leg records it."""
    return second_block(f"call:{unique_id}", 0)


#: Seconds after which a call's sound repeats (the rotations of one block).
CALL_SOUND_PERIOD = BYTES_PER_SECOND // math.gcd(_ROTATION_STEP, BYTES_PER_SECOND)


def call_second(unique_id: str, second: int) -> bytes:
    """Second ``second`` (from the call's start) of call ``unique_id``'s sound, as a live leg holds it."""
    return _second(call_block(unique_id), second)


def iter_pcm(segment: Segment) -> Iterator[bytes]:
    if segment.offset is None:
        block, start = second_block(segment.unique_id, segment.leg), 0
    else:
        block, start = call_block(segment.unique_id), segment.offset
    for first in range(0, segment.seconds, SECONDS_PER_CHUNK):
        last = min(segment.seconds, first + SECONDS_PER_CHUNK)
        yield b"".join(_second(block, start + k) for k in range(first, last))


def iter_wav(segments: Sequence[Segment], *, corrupt_header: bool = False) -> Iterator[bytes]:
    """The WAV of ``segments`` joined in order, as chunks of at most ~768 kB."""
    data_bytes = wav_size(segments) - HEADER_SIZE
    yield wav_header(data_bytes, corrupt=corrupt_header)
    for segment in segments:
        yield from iter_pcm(segment)


def limit(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of ``chunks``."""
    left = size
    for chunk in chunks:
        if left <= 0:
            return
        if len(chunk) > left:
            chunk = chunk[:left]
        left -= len(chunk)
        yield chunk


def base64_size(raw_size: int, line_length: int) -> int:
    """Exact length of :func:`iter_base64` output for ``raw_size`` input bytes."""
    encoded = 4 * ((raw_size + 2) // 3)
    if line_length <= 0 or encoded == 0:
        return encoded
    return encoded + (encoded + line_length - 1) // line_length


def iter_base64(chunks: Iterable[bytes], line_length: int = 76) -> Iterator[bytes]:
    """Base64 of the concatenated ``chunks``; with ``line_length`` > 0 every line, the last too, ends in
    ``\\n`` (MIME style). Input is re-cut to multiples of 3 bytes so no padding appears mid-stream."""
    carry = b""
    column = 0  # characters already on the current output line
    # Cut the input so that each piece encodes to whole lines when the line length allows it.
    unit = line_length * 3 // 4 if line_length > 0 and line_length % 4 == 0 else 3

    def encode(raw: bytes | memoryview) -> bytes:
        nonlocal column
        if line_length <= 0:
            return base64.b64encode(raw)
        if line_length == 76 and column == 0 and len(raw) % 57 == 0:
            return base64.encodebytes(raw)  # whole lines, at C speed
        text = base64.b64encode(raw)
        parts: list[bytes] = []
        position = 0
        if column:
            head = text[: line_length - column]
            position = len(head)
            column += len(head)
            parts.append(head)
            if column == line_length:
                parts.append(b"\n")
                column = 0
        while position < len(text):
            piece = text[position : position + line_length]
            position += len(piece)
            parts.append(piece)
            if len(piece) == line_length:
                parts.append(b"\n")
            else:
                column = len(piece)
        return b"".join(parts)

    for chunk in chunks:
        if carry:
            chunk = carry + chunk
        usable = len(chunk) - len(chunk) % unit
        carry = chunk[usable:]
        if usable:
            yield encode(memoryview(chunk)[:usable] if carry else chunk)
    tail = encode(carry) if carry else b""
    if line_length > 0 and column:
        tail += b"\n"
    if tail:
        yield tail


def sha256_and_size(segments: Sequence[Segment]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_wav(segments):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def wav_bytes(segments: Sequence[Segment]) -> bytes:
    """The whole WAV in memory: for the control API and tests, never for a PBX reply."""
    return b"".join(iter_wav(segments))
