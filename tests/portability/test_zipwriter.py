"""The package's own ZIP writer: what zipfile and Info-ZIP unzip read back, byte for byte."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import pytest

from dsr.portability.zipwriter import DEFLATE_WBITS, ZipWriter

MODIFIED = datetime(2026, 12, 1, 13, 45, 31)
CSV = "id,name\r\n1,Jürgen Müller\r\n".encode() * 2000


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, DEFLATE_WBITS)
    return c.compress(data) + c.flush()


def _archive() -> bytes:
    out = io.BytesIO()
    with ZipWriter(out, MODIFIED) as zw:
        with zw.entry("data.json") as f:
            f.write(b'{"tables":')
            f.write(b"{}}")
        packed = _deflate(CSV)
        zw.precompressed(
            "Kunden-Übersicht.csv", [packed[:100], packed[100:]], zlib.crc32(CSV), len(CSV)
        )
        with zw.entry("empty.txt"):
            pass
    assert zw.offset == len(out.getvalue())
    return out.getvalue()


def test_zipfile_reads_every_entry_with_its_name_time_and_mode() -> None:
    with zipfile.ZipFile(io.BytesIO(_archive())) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["data.json", "Kunden-Übersicht.csv", "empty.txt"]
        assert zf.read("data.json") == b'{"tables":{}}'
        assert zf.read("Kunden-Übersicht.csv") == CSV
        assert zf.read("empty.txt") == b""
        info = zf.getinfo("Kunden-Übersicht.csv")
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.date_time == (2026, 12, 1, 13, 45, 30)  # two-second resolution
        assert (info.external_attr >> 16) & 0o777 == 0o600
        assert info.file_size == len(CSV) and info.compress_size < len(CSV)


def test_info_zip_unzip_tests_the_archive_as_sound(tmp_path: Path) -> None:
    unzip = shutil.which("unzip")
    assert unzip, "Info-ZIP unzip is part of this machine's toolset (apt install unzip)"
    path = tmp_path / "package.zip"
    path.write_bytes(_archive())
    run = subprocess.run([unzip, "-t", str(path)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "No errors detected" in run.stdout


def test_the_output_is_never_sought_so_a_pipe_will_do() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.data += b
            return len(b)

        def seekable(self) -> bool:
            return False

    pipe = Pipe()
    with ZipWriter(pipe, MODIFIED) as zw, zw.entry("a.txt") as f:  # type: ignore[arg-type]
        f.write(b"streamed")
    with zipfile.ZipFile(io.BytesIO(bytes(pipe.data))) as zf:
        assert zf.read("a.txt") == b"streamed"


def test_more_entries_than_the_classic_directory_holds_use_zip64_end_records() -> None:
    out = io.BytesIO()
    with ZipWriter(out, MODIFIED, level=1) as zw:
        for i in range(70_000):
            zw.precompressed(f"f{i}", [b"\x03\x00"], 0, 0)  # an empty DEFLATE stream
    data = out.getvalue()
    assert b"PK\x06\x06" in data[-200:] and b"PK\x06\x07" in data[-200:]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert len(names) == 70_000 and names[-1] == "f69999"
        assert zf.read("f12345") == b""


@pytest.mark.parametrize("name", ["", "/etc/passwd", "a\\b", "data.json"])
def test_bad_or_repeated_names_are_refused(name: str) -> None:
    zw = ZipWriter(io.BytesIO(), MODIFIED)
    with zw.entry("data.json") as f:
        f.write(b"{}")
    with pytest.raises(ValueError, match="entry name"):
        zw.precompressed(name, [], 0, 0)
