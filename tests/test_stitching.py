from __future__ import annotations

import hashlib
import io
import wave

import pytest

from noojee_django.stitching import StitchError, stitch_wavs


def wav(frames: bytes, *, rate: int = 8000, channels: int = 1) -> io.BytesIO:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)
    buffer.seek(0)
    return buffer


def test_legs_are_joined_in_order_with_a_correct_header() -> None:
    first, second = b"\x01\x00" * 8000, b"\x02\x00" * 4000
    out = io.BytesIO()
    result = stitch_wavs([wav(first), wav(second)], out)
    out.seek(0)
    with wave.open(out, "rb") as reader:
        assert reader.getnframes() == 12000
        assert reader.readframes(12000) == first + second
    assert result.duration_seconds == pytest.approx(1.5)
    assert result.bytes_written == len(out.getvalue())
    assert result.sha256 == hashlib.sha256(out.getvalue()).hexdigest()


def test_legs_of_different_formats_are_refused() -> None:
    with pytest.raises(StitchError, match="differ"):
        stitch_wavs([wav(b"\x00\x00" * 10), wav(b"\x00\x00" * 10, rate=16000)], io.BytesIO())


def test_a_leg_that_is_not_a_wav_is_refused() -> None:
    with pytest.raises(StitchError, match="not a readable WAV"):
        stitch_wavs([io.BytesIO(b"RIFX not a wav at all")], io.BytesIO())


def test_no_legs_is_refused() -> None:
    with pytest.raises(StitchError):
        stitch_wavs([], io.BytesIO())
