"""The streaming decoder and WAV verifier, fed the way a network feeds them: in arbitrary pieces."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import struct
import wave

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from noojee_django.client.audio import Base64StreamDecoder, WavVerifier, write_audio
from noojee_django.client.errors import InvalidAudioError
from tests.hypothesis_profiles import examples


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


def decode_and_verify(pieces: list[bytes], sniff: int = 4096) -> tuple[bytes, WavVerifier]:
    decoder, verifier, out = Base64StreamDecoder(sniff=sniff), WavVerifier(), bytearray()
    for piece in pieces:
        data = decoder.feed(piece)
        verifier.feed(data)
        out += data
    tail = decoder.finish()
    verifier.feed(tail)
    out += tail
    return bytes(out), verifier


@settings(max_examples=examples(150), deadline=None)
@given(
    frames=st.binary(max_size=4000).map(lambda b: b[: len(b) // 2 * 2]),
    line_length=st.sampled_from([0, 4, 60, 64, 76, 77, 1000]),
    newline=st.sampled_from([b"\n", b"\r\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    sniff=st.sampled_from([1, 16, 4096]),
)
def test_any_wav_cut_anywhere_decodes_to_identical_bytes(
    frames: bytes, line_length: int, newline: bytes, cuts: list[int], sniff: int
) -> None:
    original = make_wav(frames)
    encoded = wrap(base64.b64encode(original), line_length, newline)
    decoded, verifier = decode_and_verify(cut(encoded, cuts), sniff)
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
    with pytest.raises(InvalidAudioError, match="padding"):
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


@settings(max_examples=examples(100), deadline=None)
@given(
    frames=st.binary(min_size=2, max_size=2000).map(lambda b: b[: len(b) // 2 * 2]),
    data=st.data(),
    wrapped=st.booleans(),
    sniff=st.sampled_from([1, 16, 4096]),
)
def test_base64_cut_short_anywhere_is_invalid_audio(
    frames: bytes, data: st.DataObject, wrapped: bool, sniff: int
) -> None:
    encoded = base64.b64encode(make_wav(frames))
    if wrapped:
        encoded = wrap(encoded, 64, b"\n").rstrip(b"\n")
    end = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=end), max_size=5))
    with pytest.raises(InvalidAudioError):
        _, verifier = decode_and_verify(cut(encoded[:end], cuts), sniff)
        verifier.finish()


@settings(max_examples=examples(100), deadline=None)
@given(
    frames=st.binary(max_size=2000).map(lambda b: b[: len(b) // 2 * 2]),
    data=st.data(),
    garbage=st.sampled_from([b"*", b"!", b"-", b"_", b"\x00", b"\xc3", b"{", b'"', b".", b"=", b"A="]),
    newline=st.sampled_from([b"\n", b"\r\n", b""]),
    sniff=st.sampled_from([1, 16, 4096]),
)
def test_a_character_outside_the_alphabet_anywhere_is_invalid_audio(
    frames: bytes, data: st.DataObject, garbage: bytes, newline: bytes, sniff: int
) -> None:
    encoded = base64.b64encode(make_wav(frames))
    encoded = wrap(encoded, 76, newline) if newline else encoded
    where = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    assume(encoded[where : where + len(garbage)] != garbage)
    broken = encoded[:where] + garbage + encoded[where + 1 :]
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(broken)), max_size=5))
    # a stray "=" is in the alphabet: it reads as padding in the wrong place, or a cut-short group;
    # some such audio decodes to fewer bytes than the WAV declares, refused when the stream ends
    with pytest.raises(InvalidAudioError, match=r"invalid base64|padding|truncated"):
        _, verifier = decode_and_verify(cut(broken, cuts), sniff)
        verifier.finish()


def test_an_equals_sign_just_before_the_final_padding_is_refused_when_the_audio_ends() -> None:
    """The case a draw found: the decoder reads the stray "=" as padding, the WAV falls short."""
    encoded = base64.b64encode(make_wav(b"\x00" * 6))
    assert encoded.endswith(b"A=")
    broken = encoded[:-2] + b"=="  # "...AA=" becomes "...A==": padding one byte early
    with pytest.raises(InvalidAudioError, match=r"truncated"):
        _, verifier = decode_and_verify(cut(broken, []), 16)
        verifier.finish()


def test_a_wav_of_zero_frames_is_valid() -> None:
    info = WavVerifier()
    info.feed(make_wav(b""))
    assert info.finish().duration_seconds == 0


def test_bytes_beyond_the_declared_sizes_are_refused() -> None:
    verifier = WavVerifier()
    verifier.feed(make_wav(b"\x01\x00" * 100) + b"\x00" * 10)
    with pytest.raises(InvalidAudioError, match="does not match"):
        verifier.finish()


def test_a_fmt_chunk_that_contradicts_itself_is_refused() -> None:
    original = bytearray(make_wav(b"\x01\x00" * 100))
    struct.pack_into("<I", original, 28, 12345)  # byte rate
    with pytest.raises(InvalidAudioError, match="contradicts"):
        WavVerifier().feed(bytes(original))


def test_data_before_fmt_is_refused() -> None:
    body = b"RIFF" + struct.pack("<I", 12) + b"WAVE" + b"data" + struct.pack("<I", 0)
    with pytest.raises(InvalidAudioError, match="no fmt"):
        WavVerifier().feed(body)


@pytest.mark.parametrize("size", [1, 3, 1000, 1 << 16])
def test_write_audio_gives_the_same_bytes_whatever_the_network_chunk(size: int) -> None:
    original = make_wav(bytes(range(256)) * 300)
    encoded = base64.encodebytes(original)
    chunks = [encoded[i : i + size] for i in range(0, len(encoded), size)]
    out = io.BytesIO()
    info = write_audio(chunks, out)
    assert out.getvalue() == original and info.sha256 == hashlib.sha256(original).hexdigest()


def test_leading_whitespace_does_not_hide_the_encoding() -> None:
    original = make_wav(b"\x05\x00" * 10)
    for body in (b"\r\n  " + original, b"\n" + base64.b64encode(original)):
        out = io.BytesIO()
        write_audio([body[:1], body[1:]], out)
        assert out.getvalue() == original


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b""])
def test_regular_lines_take_the_fast_path(newline: bytes) -> None:
    original = make_wav(bytes(range(256)) * 200)
    encoded = wrap(base64.b64encode(original), 76, newline) if newline else base64.b64encode(original)
    decoder = Base64StreamDecoder()
    pieces = [decoder.feed(encoded[i : i + 65536]) for i in range(0, len(encoded), 65536)]
    assert b"".join(pieces) + decoder.finish() == original
    assert decoder.fast_chars > len(encoded) * 0.9


def test_a_change_of_line_length_falls_back_and_still_decodes() -> None:
    original = make_wav(bytes(range(256)) * 200)
    text = base64.b64encode(original)
    encoded = wrap(text[:8000], 76, b"\n") + wrap(text[8000:], 64, b"\r\n")
    decoded, _ = decode_and_verify([encoded[i : i + 1000] for i in range(0, len(encoded), 1000)])
    assert decoded == original


def test_garbage_in_place_of_a_line_break_is_caught_on_the_fast_path() -> None:
    encoded = bytearray(wrap(base64.b64encode(make_wav(bytes(range(256)) * 200)), 76, b"\n"))
    encoded[76 * 50 + 49] = ord("*")  # the 50th line break
    with pytest.raises(InvalidAudioError, match="invalid base64"):
        decode_and_verify([bytes(encoded)])
