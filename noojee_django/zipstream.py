"""A ZIP archive written front to back, for a stream that cannot seek: stored entries, no compression.

:class:`ZipStream` returns the bytes of each piece (a local header, a block of an entry's data, the
data descriptor that follows it, the central directory) for the caller to send as it goes. Unlike
``zipfile`` in streaming mode, it does not compute an entry's CRC-32 itself: the caller gives it at
the end of the entry (:meth:`ZipStream.end`), so a CRC-32 known in advance (the audio ledger records
each object's when it is stored) costs nothing at export. Every entry's sizes and CRC-32 follow its
data in a data descriptor, and the central directory holds them too; an entry, or an offset, at or
past 4 GiB gets its ZIP64 fields (APPNOTE 6.3, section 4.5.3). What ``zipfile``, Info-ZIP's
``unzip`` and ``zipinfo`` read is tested.

No Django import: like the client, it can be used on its own.
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from dataclasses import dataclass

#: A size or an offset from this on needs ZIP64 fields (the 32-bit field then holds 0xFFFFFFFF).
ZIP64_LIMIT = 0xFFFFFFFF
_MAX_ENTRIES = 0xFFFF

_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
_CENTRAL = b"PK\x01\x02"
_END64 = b"PK\x06\x06"
_LOCATOR64 = b"PK\x06\x07"
_END = b"PK\x05\x06"

_DATA_DESCRIPTOR_FLAG = 0x08
_UTF8_FLAG = 0x800
_STORED = 0
_VERSION = 20  # 2.0: stored entries, data descriptors
_VERSION64 = 45  # 4.5: ZIP64
_UNIX = 3
_REGULAR_FILE = 0o100644 << 16


@dataclass
class _Entry:
    name: bytes
    flags: int
    dos_time: int
    dos_date: int
    offset: int
    zip64: bool
    size: int = 0
    crc32: int = 0


def dos_time(when: dt.datetime) -> tuple[int, int]:
    """``(time, date)`` in MS-DOS form, in UTC; before 1980 (which it cannot say) is 1980-01-01."""
    utc = when.astimezone(dt.UTC)
    if utc.year < 1980:
        return 0, (1 << 5) | 1
    return (
        (utc.hour << 11) | (utc.minute << 5) | (utc.second // 2),
        ((utc.year - 1980) << 9) | (utc.month << 5) | utc.day,
    )


class ZipStream:
    """One archive, written entry after entry: :meth:`small` for a whole entry in memory, or
    :meth:`begin`, :meth:`data` for each block, and :meth:`end`; then :meth:`finish`. Each returns the
    bytes to send next, in order. ``zip64_limit`` is :data:`ZIP64_LIMIT` but in tests, which give a
    small one to write the ZIP64 fields without writing 4 GiB.
    """

    def __init__(self, *, zip64_limit: int = ZIP64_LIMIT) -> None:
        self._limit = zip64_limit
        self._offset = 0
        self._entries: list[_Entry] = []
        self._open: _Entry | None = None
        self._finished = False

    @property
    def offset(self) -> int:
        """Bytes of the archive returned so far."""
        return self._offset

    def small(self, name: str, data: bytes, when: dt.datetime) -> bytes:
        """A whole entry whose data is in memory: its header, data and descriptor."""
        return self.begin(name, when, size=len(data)) + self.data(data) + self.end(zlib.crc32(data))

    def begin(self, name: str, when: dt.datetime, *, size: int) -> bytes:
        """The local header of the next entry; ``size`` is the size expected, which decides whether
        the entry has ZIP64 fields (:meth:`end` refuses an entry that outgrew a header without)."""
        if self._open is not None or self._finished:
            raise ValueError("an entry is still open, or the archive is finished")
        if len(self._entries) >= _MAX_ENTRIES:
            raise ValueError(f"a ZIP written here holds at most {_MAX_ENTRIES} entries")
        encoded, flags = _encoded(name)
        flags |= _DATA_DESCRIPTOR_FLAG
        time_, date = dos_time(when)
        entry = _Entry(encoded, flags, time_, date, self._offset, zip64=size >= self._limit)
        self._open = entry
        # The sizes and CRC-32 follow the data; here they are 0 (or, with ZIP64, 0 in its extra field).
        extra = struct.pack("<HHQQ", 0x0001, 16, 0, 0) if entry.zip64 else b""
        marker = 0xFFFFFFFF if entry.zip64 else 0
        header = _LOCAL + struct.pack(
            "<HHHHHIIIHH",
            _VERSION64 if entry.zip64 else _VERSION,
            flags,
            _STORED,
            time_,
            date,
            0,
            marker,
            marker,
            len(encoded),
            len(extra),
        )
        return self._sent(header + encoded + extra)

    def data(self, block: bytes) -> bytes:
        """``block`` itself (not a copy), counted as the open entry's next bytes."""
        if self._open is None:
            raise ValueError("no entry is open")
        self._open.size += len(block)
        return self._sent(block)

    def end(self, crc32: int) -> bytes:
        """The open entry's data descriptor: ``crc32`` (of all its data) and the size counted."""
        entry = self._open
        if entry is None:
            raise ValueError("no entry is open")
        if entry.size >= self._limit and not entry.zip64:
            raise ValueError(
                f"{entry.name.decode('utf-8')} grew to {entry.size} bytes, past what its header allowed "
                "without ZIP64: begin() was given a size too small"
            )
        entry.crc32 = crc32 & 0xFFFFFFFF
        self._entries.append(entry)
        self._open = None
        sizes = "QQ" if entry.zip64 else "II"
        return self._sent(_DESCRIPTOR + struct.pack(f"<I{sizes}", entry.crc32, entry.size, entry.size))

    def finish(self) -> bytes:
        """The central directory and the end records: the archive's last bytes."""
        if self._open is not None or self._finished:
            raise ValueError("an entry is still open, or the archive is finished")
        self._finished = True
        start = self._offset
        directory = b"".join(self._central(entry) for entry in self._entries)
        length, count = len(directory), len(self._entries)
        tail = b""
        if start >= self._limit or length >= self._limit:
            end64 = start + length
            tail = (
                _END64
                + struct.pack(
                    "<QHHIIQQQQ", 44, (_UNIX << 8) | _VERSION64, _VERSION64, 0, 0, count, count, length, start
                )
                + _LOCATOR64
                + struct.pack("<IQI", 0, end64, 1)
            )
        end = _END + struct.pack("<HHHHIIH", 0, 0, count, count, self._32(length), self._32(start), 0)
        return self._sent(directory + tail + end)

    def _central(self, entry: _Entry) -> bytes:
        large_size = entry.zip64 or entry.size >= self._limit
        large_offset = entry.offset >= self._limit
        fields = ([entry.size, entry.size] if large_size else []) + ([entry.offset] if large_offset else [])
        extra = struct.pack(f"<HH{len(fields)}Q", 0x0001, 8 * len(fields), *fields) if fields else b""
        version = _VERSION64 if fields else _VERSION
        size32 = 0xFFFFFFFF if large_size else entry.size
        return (
            _CENTRAL
            + struct.pack(
                "<HHHHHHIIIHHHHHII",
                (_UNIX << 8) | version,
                version,
                entry.flags,
                _STORED,
                entry.dos_time,
                entry.dos_date,
                entry.crc32,
                size32,
                size32,
                len(entry.name),
                len(extra),
                0,
                0,
                0,
                _REGULAR_FILE,
                0xFFFFFFFF if large_offset else entry.offset,
            )
            + entry.name
            + extra
        )

    def _32(self, value: int) -> int:
        """``value`` in a 32-bit field: 0xFFFFFFFF when its ZIP64 field holds it."""
        return 0xFFFFFFFF if value >= self._limit else value

    def _sent(self, data: bytes) -> bytes:
        self._offset += len(data)
        return data


def _encoded(name: str) -> tuple[bytes, int]:
    """The name's bytes, and the flag that says they are UTF-8 when they are not plain ASCII."""
    if not name or name.startswith("/") or "\\" in name or ".." in name.split("/"):
        raise ValueError(f"not a safe name for a ZIP entry: {name!r}")
    if name.isascii():
        return name.encode("ascii"), 0
    return name.encode("utf-8"), _UTF8_FLAG


__all__ = ["ZIP64_LIMIT", "ZipStream", "dos_time"]
