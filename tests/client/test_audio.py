"""The streaming decoder and WAV verifier, fed the way a network feeds them: in arbitrary pieces."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import struct
import wave

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noojee_django.client.audio import Base64StreamDecoder, WavVerifier
from noojee_django.client.errors import InvalidAudioError


def make_wav(pcm: bytes, *, rate: int = 8000, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return buffer.getvalue()


def wrap(text: bytes, line_length: int, newline: bytes) -> bytes:
    if line_length <= 0:
        return text
    return newline.join(text[i : i + line_length] for i in range(0, len(text), line_length)) + newline


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def decode_and_verify(pieces: list[bytes]) -> tuple[bytes, WavVerifier]:
    decoder, verifier, out = Base64StreamDecoder(), WavVerifier(), bytearray()
    for piece in pieces:
        data = decoder.feed(piece)
        verifier.feed(data)
        out += data
    decoder.finish()
    return bytes(out), verifier


@settings(max_examples=150, deadline=None)
@given(
    frames=st.binary(max_size=4000).map(lambda b: b[: len(b) // 2 * 2]),
    line_length=st.sampled_from([0, 4, 60, 64, 76, 77, 1000]),
    newline=st.sampled_from([b"\n", b"\r\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_wav_cut_anywhere_decodes_to_identical_bytes(
    frames: bytes, line_length: int, newline: bytes, cuts: list[int]
) -> None:
    original = make_wav(frames)
    encoded = wrap(base64.b64encode(original), line_length, newline)
    decoded, verifier = decode_and_verify(cut(encoded, cuts))
    assert decoded == original
    info = verifier.finish()
    assert info.sha256 == hashlib.sha256(original).hexdigest()
    assert info.bytes_written == len(original)
    assert info.sample_rate == 8000 and info.channels == 1 and info.bits_per_sample == 16
    assert info.duration_seconds == pytest.approx(len(frames) / 16000)


@pytest.mark.parametrize("garbage", [b"*!", b"\x00", b"\xff", b"-_"])
def test_invalid_base64_characters_are_refused(garbage: bytes) -> None:
    encoded = base64.b64encode(make_wav(b"\x01\x00" * 100))
    broken = encoded[:40] + garbage + encoded[42:]
    with pytest.raises(InvalidAudioError, match="invalid base64"):
        decode_and_verify([broken])


def test_base64_that_stops_mid_group_is_truncated() -> None:
    encoded = base64.b64encode(make_wav(b"\x01\x00" * 100))
    with pytest.raises(InvalidAudioError, match="truncated"):
        decode_and_verify([encoded[:-3]])


def test_data_after_padding_is_refused() -> None:
    first = base64.b64encode(b"ab")  # ends with '='
    with pytest.raises(InvalidAudioError, match="after its padding"):
        decode_and_verify([first, base64.b64encode(b"cde")])


def test_a_wav_shorter_than_its_header_says_is_truncated() -> None:
    original = make_wav(b"\x01\x00" * 1000)
    verifier = WavVerifier()
    verifier.feed(original[:-100])
    with pytest.raises(InvalidAudioError, match="truncated"):
        verifier.finish()


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [(0, b"RIFX", "RIFF/WAVE"), (8, b"WAVX", "RIFF/WAVE"), (20, struct.pack("<H", 3), "not PCM")],
)
def test_wrong_headers_are_refused(offset: int, value: bytes, message: str) -> None:
    original = bytearray(make_wav(b"\x01\x00" * 100))
    original[offset : offset + len(value)] = value
    with pytest.raises(InvalidAudioError, match=message):
        WavVerifier().feed(bytes(original))


def test_a_body_without_a_complete_header_is_refused() -> None:
    verifier = WavVerifier()
    verifier.feed(b"RIFF\x00\x00")
    with pytest.raises(InvalidAudioError, match="header"):
        verifier.finish()


def test_chunks_before_data_are_skipped() -> None:
    original = make_wav(b"\x02\x00" * 50)
    # insert a LIST chunk between fmt and data, as some recorders do
    fmt_end = 12 + 8 + 16
    listing = b"LIST" + struct.pack("<I", 4) + b"INFO"
    patched = bytearray(original[:fmt_end] + listing + original[fmt_end:])
    struct.pack_into("<I", patched, 4, len(patched) - 8)
    verifier = WavVerifier()
    for i in range(0, len(patched), 7):
        verifier.feed(bytes(patched[i : i + 7]))
    assert verifier.finish().duration_seconds == pytest.approx(50 / 8000)
