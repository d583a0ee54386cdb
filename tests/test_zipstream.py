"""The streaming ZIP writer of evidence bundles: what ``zipfile``, ``unzip`` and ``zipinfo`` read back.

ZIP64 is written with a small ``zip64_limit``, so its fields are checked without 4 GiB of data.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from noojee_django.zipstream import ZipStream, dos_time
from tests.servers import require

WHEN = dt.datetime(2026, 3, 4, 5, 6, 8, tzinfo=dt.UTC)


def archive(files: dict[str, bytes], *, block: int = 7, zip64_limit: int | None = None) -> bytes:
    """``files`` written as the evidence export writes audio: in blocks, the CRC-32 given at the end."""
    stream = ZipStream() if zip64_limit is None else ZipStream(zip64_limit=zip64_limit)
    pieces = []
    for name, data in files.items():
        pieces.append(stream.begin(name, WHEN, size=len(data)))
        for start in range(0, len(data), block):
            pieces.append(stream.data(data[start : start + block]))
        pieces.append(stream.end(zlib.crc32(data)))
    pieces.append(stream.finish())
    written = b"".join(pieces)
    assert len(written) == stream.offset
    return written


FILES = {
    "public_key.pem": b"-----BEGIN PUBLIC KEY-----\n",
    "legs/leg-1-42.wav": bytes(range(256)) * 9,
    "signature.wav": b"",
    "manifest.json": b'{"format": "noojee-evidence/1"}\n',
}


def read_all(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        assert zipped.testzip() is None
        return {info.filename: zipped.read(info) for info in zipped.infolist()}


def test_zipfile_reads_back_every_entry_with_its_bytes_its_order_and_its_time() -> None:
    data = archive(FILES)
    assert read_all(data) == FILES
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        assert [info.filename for info in zipped.infolist()] == list(FILES)
        info = zipped.getinfo("legs/leg-1-42.wav")
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.flag_bits & 0x08  # sizes and CRC-32 follow the data
        assert info.date_time == (2026, 3, 4, 5, 6, 8)
        assert info.CRC == zlib.crc32(FILES["legs/leg-1-42.wav"])


def test_a_whole_small_entry_is_the_same_as_one_written_in_blocks() -> None:
    stream = ZipStream()
    small = stream.small("manifest.json", FILES["manifest.json"], WHEN) + stream.finish()
    assert small == archive({"manifest.json": FILES["manifest.json"]})


def test_a_block_is_passed_on_as_it_is_not_copied() -> None:
    stream = ZipStream()
    stream.begin("a.wav", WHEN, size=1 << 20)
    block = bytes(1 << 20)
    assert stream.data(block) is block


def test_a_name_that_is_not_ascii_is_marked_utf8() -> None:
    data = archive({"légs/çà.wav": b"abc"})
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        (info,) = zipped.infolist()
        assert info.filename == "légs/çà.wav" and info.flag_bits & 0x800


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../up.wav", "legs/../../up.wav", "a\\b.wav"])
def test_a_name_that_could_escape_the_folder_it_is_unpacked_in_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a safe name"):
        ZipStream().begin(name, WHEN, size=0)


def test_a_wrong_crc32_is_what_readers_report_as_damage() -> None:
    stream = ZipStream()
    data = stream.begin("a.wav", WHEN, size=3) + stream.data(b"abc") + stream.end(zlib.crc32(b"abd"))
    data += stream.finish()
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        assert zipped.testzip() == "a.wav"
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            zipped.read("a.wav")


def test_zip64_fields_for_an_entry_and_offsets_past_the_limit() -> None:
    big = bytes(range(256)) * 4  # 1024 bytes, past a limit of 600
    files = {"first.wav": big, "second.wav": b"after the limit", "third.wav": big}
    data = archive(files, zip64_limit=600)
    assert read_all(data) == files
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        first, second, third = zipped.infolist()
        assert first.file_size == 1024 and first.extract_version == 45
        assert second.header_offset > 600 and second.extract_version == 45
        assert third.header_offset > second.header_offset
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # the ZIP64 end records


def test_without_zip64_an_entry_may_not_outgrow_its_header() -> None:
    stream = ZipStream(zip64_limit=600)
    stream.begin("a.wav", WHEN, size=10)
    stream.data(bytes(600))
    with pytest.raises(ValueError, match="past what its header allowed"):
        stream.end(0)


def test_pieces_out_of_order_are_refused() -> None:
    stream = ZipStream()
    with pytest.raises(ValueError, match="no entry is open"):
        stream.data(b"x")
    with pytest.raises(ValueError, match="no entry is open"):
        stream.end(0)
    stream.begin("a", WHEN, size=0)
    with pytest.raises(ValueError, match="still open"):
        stream.begin("b", WHEN, size=0)
    with pytest.raises(ValueError, match="still open"):
        stream.finish()
    stream.end(0)
    stream.finish()
    with pytest.raises(ValueError, match="finished"):
        stream.small("c", b"", WHEN)


def test_dos_times_are_utc_and_a_time_before_1980_is_1980() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert dos_time(dt.datetime(2026, 3, 4, 6, 6, 8, tzinfo=paris)) == dos_time(WHEN)
    assert dos_time(dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) == (0, (1 << 5) | 1)


@pytest.mark.parametrize("zip64_limit", [None, 600], ids=["zip", "zip64"])
def test_info_zip_tests_lists_and_unpacks_what_is_written(tmp_path: Path, zip64_limit: int | None) -> None:
    if not (shutil.which("unzip") and shutil.which("zipinfo")):
        require("unzip and zipinfo (Debian package unzip) are needed")
    big = bytes(range(256)) * 4
    files = {"legs/leg-1-42.wav": big, "signature.wav": big + b"!", "manifest.json": b"{}\n"}
    path = tmp_path / "bundle.zip"
    path.write_bytes(archive(files, block=100, zip64_limit=zip64_limit))
    tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "No errors detected" in tested.stdout
    listed = subprocess.run(["zipinfo", "-1", str(path)], capture_output=True, text=True, timeout=60)
    assert listed.stdout.split() == list(files)
    subprocess.run(["unzip", "-q", str(path), "-d", str(tmp_path / "out")], check=True, timeout=60)
    assert {name: (tmp_path / "out" / name).read_bytes() for name in files} == files
    damaged = path.read_bytes().replace(big + b"!", big + b"?")
    path.write_bytes(damaged)
    refused = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "bad CRC" in refused.stdout
