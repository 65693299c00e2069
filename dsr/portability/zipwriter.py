"""A streaming ZIP writer, written against PKWARE's APPNOTE.TXT (6.3.x), for export packages.

Python's ``zipfile`` cannot take an entry that is DEFLATE output already (the CSV files are
compressed while their rows stream, in a second thread); this writer can, without touching
any private attribute. It writes what the package needs and no more:

* DEFLATE entries (method 8) compressed here (:meth:`ZipWriter.entry`) or handed over
  compressed with their CRC-32 and size (:meth:`ZipWriter.precompressed`);
* every entry in ZIP64 form (version 4.5): sizes in a data descriptor after the data
  (general purpose flag bit 3), so the output need not be seekable, and no 4 GiB limit;
* UTF-8 names (flag bit 11), regular files of mode 0600 made on UNIX, one timestamp for all;
* the ZIP64 end of central directory record and locator when the entries, the directory's
  size or its offset exceed the classic fields.

Read back by ``zipfile``, Info-ZIP ``unzip`` and 7-Zip (tests check the first two).
"""

from __future__ import annotations

import stat
import struct
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

#: zlib's raw DEFLATE stream (no header), what method 8 stores
DEFLATE_WBITS = -15
VERSION = 45  # 4.5: ZIP64
FLAGS = 0x0008 | 0x0800  # sizes in a data descriptor; names in UTF-8
METHOD_DEFLATE = 8
MADE_BY = (3 << 8) | VERSION  # UNIX, spec 4.5
EXTERNAL_ATTR = (stat.S_IFREG | 0o600) << 16
LIMIT_16 = 0xFFFF
LIMIT_32 = 0xFFFFFFFF

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_ZIP64_LOCAL_EXTRA = struct.Struct("<HHQQ")
_DESCRIPTOR = struct.Struct("<IIQQ")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_CENTRAL_EXTRA = struct.Struct("<HHQQQ")
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_EOCD = struct.Struct("<IHHHHIIH")


@dataclass(frozen=True)
class _Written:
    name: bytes
    crc: int
    compressed: int
    size: int
    offset: int


def dos_time(moment: datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS form, two-second resolution, years 1980-2107."""
    year = min(max(moment.year, 1980), 2107)
    return (
        (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2),
        ((year - 1980) << 9) | (moment.month << 5) | moment.day,
    )


class ZipWriter:
    """Write a ZIP archive to ``out`` (any binary stream; it is never sought).

    ``modified`` is the time stamp of every entry (local time as the archive shows it).
    Call :meth:`close` (or use ``with``) to write the central directory.
    """

    def __init__(self, out: BinaryIO, modified: datetime, *, level: int = 6) -> None:
        self._out = out
        self._time, self._date = dos_time(modified)
        self._level = level
        self._offset = 0
        self._entries: list[_Written] = []
        self._names: set[bytes] = set()
        self._open = False
        self._closed = False

    def __enter__(self) -> ZipWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()

    @property
    def offset(self) -> int:
        """Bytes written so far (the archive's size once closed)."""
        return self._offset

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._offset += len(data)

    def _begin(self, name: str) -> tuple[bytes, int]:
        if self._closed or self._open:
            raise ValueError("the archive is closed or an entry is still open")
        raw = name.encode("utf-8")
        if not raw or raw.startswith(b"/") or b"\\" in raw or raw in self._names:
            raise ValueError(f"bad or repeated entry name {name!r}")
        self._names.add(raw)
        offset = self._offset
        extra = _ZIP64_LOCAL_EXTRA.pack(0x0001, 16, 0, 0)
        header = _LOCAL.pack(
            0x04034B50,
            VERSION,
            FLAGS,
            METHOD_DEFLATE,
            self._time,
            self._date,
            0,
            LIMIT_32,
            LIMIT_32,
            len(raw),
            len(extra),
        )
        self._write(header)
        self._write(raw + extra)
        self._open = True
        return raw, offset

    def _end(self, raw: bytes, offset: int, crc: int, compressed: int, size: int) -> None:
        self._write(_DESCRIPTOR.pack(0x08074B50, crc, compressed, size))
        self._entries.append(_Written(raw, crc, compressed, size, offset))
        self._open = False

    @contextmanager
    def entry(self, name: str) -> Iterator[EntryStream]:
        """An entry compressed here: ``with zw.entry("a.json") as f: f.write(b"...")``."""
        raw, offset = self._begin(name)
        stream = EntryStream(self, zlib.compressobj(self._level, zlib.DEFLATED, DEFLATE_WBITS))
        yield stream
        stream.finish()
        self._end(raw, offset, stream.crc, stream.compressed, stream.size)

    def precompressed(self, name: str, chunks: Iterable[bytes], crc: int, size: int) -> None:
        """An entry whose raw DEFLATE bytes are ready, with the CRC-32 and size of the data."""
        raw, offset = self._begin(name)
        compressed = 0
        for chunk in chunks:
            self._write(chunk)
            compressed += len(chunk)
        self._end(raw, offset, crc, compressed, size)

    def close(self) -> None:
        """Write the central directory (and the ZIP64 end records when needed)."""
        if self._closed:
            return
        if self._open:
            raise ValueError("an entry is still open")
        start = self._offset
        for e in self._entries:
            extra = _ZIP64_CENTRAL_EXTRA.pack(0x0001, 24, e.size, e.compressed, e.offset)
            self._write(
                _CENTRAL.pack(
                    0x02014B50,
                    MADE_BY,
                    VERSION,
                    FLAGS,
                    METHOD_DEFLATE,
                    self._time,
                    self._date,
                    e.crc,
                    LIMIT_32,
                    LIMIT_32,
                    len(e.name),
                    len(extra),
                    0,
                    0,
                    0,
                    EXTERNAL_ATTR,
                    LIMIT_32,
                )
            )
            self._write(e.name + extra)
        size = self._offset - start
        count = len(self._entries)
        if count >= LIMIT_16 or size >= LIMIT_32 or start >= LIMIT_32:
            eocd64 = self._offset
            self._write(
                _EOCD64.pack(0x06064B50, 44, MADE_BY, VERSION, 0, 0, count, count, size, start)
            )
            self._write(_LOCATOR64.pack(0x07064B50, 0, eocd64, 1))
        self._write(
            _EOCD.pack(
                0x06054B50,
                0,
                0,
                min(count, LIMIT_16),
                min(count, LIMIT_16),
                min(size, LIMIT_32),
                min(start, LIMIT_32),
                0,
            )
        )
        self._closed = True


class EntryStream:
    """The writable side of :meth:`ZipWriter.entry`: compresses, counts and checksums."""

    def __init__(self, zw: ZipWriter, compressor: Any) -> None:
        self._zw = zw
        self._c = compressor
        self.crc = 0
        self.size = 0
        self.compressed = 0

    def write(self, data: bytes) -> None:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        out = self._c.compress(data)
        if out:
            self._zw._write(out)
            self.compressed += len(out)

    def finish(self) -> None:
        out = self._c.flush()
        self._zw._write(out)
        self.compressed += len(out)


__all__ = ["EntryStream", "ZipWriter", "dos_time"]
