"""The leg audio: a valid 8 kHz 16-bit mono WAV, deterministic, encoded without ever holding a leg."""

from __future__ import annotations

import base64
import tracemalloc

import pytest

from noojee_django.emulator import audio

from .helpers import sha256, wav_info


def test_wav_is_8khz_16bit_mono_with_16000_bytes_a_second() -> None:
    data = audio.wav_bytes([audio.Segment("1412749510.488", 1, 3)])
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert len(data) == 44 + 3 * 16000
    assert wav_info(data) == (8000, 2, 1, 3 * 8000)


def test_same_leg_gives_the_same_bytes_and_other_legs_differ() -> None:
    first = audio.wav_bytes([audio.Segment("1.100", 1, 2)])
    audio.second_block.cache_clear()
    assert audio.wav_bytes([audio.Segment("1.100", 1, 2)]) == first
    assert audio.wav_bytes([audio.Segment("1.100", 2, 2)]) != first
    assert audio.wav_bytes([audio.Segment("1.101", 1, 2)]) != first


def test_every_second_of_a_leg_differs() -> None:
    pcm = audio.wav_bytes([audio.Segment("1.100", 1, 4)])[44:]
    seconds = {pcm[i : i + 16000] for i in range(0, len(pcm), 16000)}
    assert len(seconds) == 4


def test_sha256_and_size_match_the_whole_file() -> None:
    segments = [audio.Segment("1.100", 1, 2), audio.Segment("1.100", 2, 1)]
    data = audio.wav_bytes(segments)
    assert audio.sha256_and_size(segments) == (sha256(data), len(data))


@pytest.mark.parametrize("line_length", [0, 76, 64, 70, 1, 4])
def test_streamed_base64_decodes_to_the_wav_with_the_announced_length(line_length: int) -> None:
    segments = [audio.Segment("1.100", 1, 50)]  # more than one chunk of 48 s
    data = audio.wav_bytes(segments)
    body = b"".join(audio.iter_base64(audio.iter_wav(segments), line_length))
    assert len(body) == audio.base64_size(len(data), line_length)
    assert base64.b64decode(body.replace(b"\n", b""), validate=True) == data
    lines = body.split(b"\n")
    if line_length == 0:
        assert lines == [body]
    else:
        assert lines[-1] == b""
        assert {len(x) for x in lines[:-2]} <= {line_length} and 0 < len(lines[-2]) <= line_length
    if line_length == 76:
        assert body == base64.encodebytes(data)


def test_streamed_base64_never_pads_mid_stream() -> None:
    chunks = list(audio.iter_base64([b"a", b"bc", b"defg", b"hi"], 0))
    assert b"=" not in b"".join(chunks[:-1])
    assert base64.b64decode(b"".join(chunks)) == b"abcdefghi"


def test_a_long_leg_streams_in_small_blocks() -> None:
    segments = [audio.Segment("1.100", 1, 900)]  # 14.4 MB of WAV, 19 MB of text; an hour is the same, longer
    tracemalloc.start()
    try:
        total = 0
        biggest = 0
        for chunk in audio.iter_base64(audio.iter_wav(segments[:1]), 76):
            total += len(chunk)
            biggest = max(biggest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == audio.base64_size(44 + 900 * 16000, 76) > 19_000_000
    assert biggest < 2_000_000
    assert peak < 8_000_000  # the whole body would be 19 MB, the WAV under it 14 MB


def test_corrupt_header_is_no_longer_riff_pcm() -> None:
    header = audio.wav_header(16000, corrupt=True)
    assert header[:4] == b"RIFX"
    assert header[20:22] != b"\x01\x00"
