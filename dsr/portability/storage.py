"""Where delivered export packages rest, and how they are sealed while they do.

A package is personal data, so it is only ever stored encrypted (AES-256-GCM) in a segmented
streaming construction (the STREAM scheme of Hoang, Reyhanitabar, Rogaway and Vizár):

``header = MAGIC || version || nonce prefix (8 bytes)``, then segments of ``SEGMENT`` bytes of
plaintext (the last one shorter, possibly empty), each sealed with
``nonce = prefix || counter (4 bytes, big-endian)`` and associated data
``header || context || last flag``. The counter stops reordering and dropping of segments,
the last flag stops truncation at a segment boundary and appending, the context (the package
id) stops a file from being passed off as another package. Memory stays at one segment.

:class:`PackageStorage` is the boundary (a directory here, object storage elsewhere);
:class:`DirectoryStorage` keeps files of mode 0600 in a directory of mode 0700.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
import struct
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dsr.errors import ConfigError, DeliveryError

EXPORT_DIR_ENV = "DSR_EXPORT_DIR"
MAGIC = b"DSRPKG"
VERSION = 1
SEGMENT = 1 << 20
TAG = 16
PREFIX = 8
HEADER_LEN = len(MAGIC) + 1 + PREFIX
MAX_SEGMENTS = 1 << 32
_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.dsrpkg(\.part)?$")


def default_export_dir() -> Path:
    """``DSR_EXPORT_DIR``, else ``$XDG_DATA_HOME/dsr/exports`` (``~/.local/share/dsr/exports``)."""
    if os.environ.get(EXPORT_DIR_ENV):
        return Path(os.environ[EXPORT_DIR_ENV])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dsr" / "exports"


class PackageStorage(Protocol):
    """Storage of sealed packages under random names (no personal data in a name)."""

    def create(self, name: str) -> AbstractContextManager[BinaryIO]:
        """A context manager yielding a writable stream; the file appears only on success."""
        ...

    def open(self, name: str) -> BinaryIO:
        """The stored file for reading; :class:`DeliveryError` if it is gone."""
        ...

    def delete(self, name: str) -> bool:
        """Remove the file; False if it did not exist."""
        ...

    def list(self) -> list[tuple[str, float]]:
        """Stored names (with ``.part`` leftovers of interrupted writes) and their mtime."""
        ...


def new_name() -> str:
    """A random file name for a package."""
    return secrets.token_urlsafe(24) + ".dsrpkg"


def open_private(part: Path, target: Path) -> int:
    """Create ``part``, the temporary file beside ``target`` that is renamed to it once
    complete: mode 0600, never an existing file; a ConfigError naming ``target`` when the
    folder is missing or not writable."""
    try:
        return os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write {target} ({exc.strerror})", where="-o") from None


def write_private(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` as a file of mode 0600 (reports and letters hold personal
    data), through a temporary file renamed into place, so a failure leaves no half file."""
    part = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    fd = open_private(part, target)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


class DirectoryStorage:
    """Packages as files of mode 0600 in a directory of mode 0700."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_export_dir()

    def _dir(self) -> Path:
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = self.path.stat()
            if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(self.path, 0o700)
        except OSError as exc:
            raise ConfigError(
                f"export directory cannot be created or secured ({exc.strerror})",
                where=f"export directory {self.path}",
            ) from None
        return self.path

    def _file(self, name: str) -> Path:
        if not _NAME.match(name):
            raise DeliveryError("not a package file name", where="export storage")
        return self.path / name

    @contextmanager
    def create(self, name: str) -> Iterator[BinaryIO]:
        target = self._file(name)
        if name.endswith(".part"):
            raise DeliveryError("not a package file name", where="export storage")
        part = self._dir() / (name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    def open(self, name: str) -> BinaryIO:
        try:
            return self._file(name).open("rb")
        except FileNotFoundError:
            raise DeliveryError(
                "the package file no longer exists (expired and deleted)", where="export storage"
            ) from None

    def delete(self, name: str) -> bool:
        path = self._file(name)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def list(self) -> list[tuple[str, float]]:
        if not self.path.is_dir():
            return []
        return sorted(
            (p.name, p.stat().st_mtime) for p in self.path.iterdir() if _NAME.match(p.name)
        )


# -- the segmented AEAD ------------------------------------------------------------------------


def _aad(header: bytes, context: bytes, last: bool) -> bytes:
    return header + struct.pack(">H", len(context)) + context + (b"\x01" if last else b"\x00")


class SealingWriter:
    """A write-only stream that seals what it is given, segment by segment, into ``sink``.

    Call :meth:`close` to seal the last segment; without it the output fails to decrypt
    (truncation is detected), which is what an interrupted write should produce.
    """

    def __init__(self, sink: IO[bytes], key: bytes, context: bytes = b"") -> None:
        self._sink = sink
        self._aead = AESGCM(key)
        self._prefix = os.urandom(PREFIX)
        self._header = MAGIC + bytes([VERSION]) + self._prefix
        self._context = context
        self._buf = bytearray()
        self._counter = 0
        self._written = 0
        self._digest = hashlib.sha256()
        self.closed = False
        self.ciphertext_size = len(self._header)
        sink.write(self._header)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        self._written += n
        buf = self._buf
        buf += data
        if len(buf) > SEGMENT:
            view = memoryview(buf)
            start = 0
            # keep at least one byte back: only close() knows which segment is the last
            while len(buf) - start > SEGMENT:
                self._seal(view[start : start + SEGMENT], last=False)
                start += SEGMENT
            view.release()
            del buf[:start]
        return n

    def _seal(self, chunk: bytes | bytearray | memoryview, last: bool) -> None:
        if self._counter >= MAX_SEGMENTS:
            raise DeliveryError("package too large to seal", where="export storage")
        nonce = self._prefix + struct.pack(">I", self._counter)
        self._digest.update(chunk)
        out = self._aead.encrypt(nonce, bytes(chunk), _aad(self._header, self._context, last))
        self._sink.write(out)
        self.ciphertext_size += len(out)
        self._counter += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(self._buf, last=True)
            self._buf = bytearray()
            self.closed = True

    @property
    def sha256(self) -> str:
        """The SHA-256 of what was sealed (the file the person gets), once closed: the DPO's
        record of what was delivered."""
        if not self.closed:
            raise ValueError("the hash is known once the writer is closed")
        return self._digest.hexdigest()

    def __enter__(self) -> SealingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


def _read_full(src: IO[bytes], n: int) -> bytes:
    parts = []
    while n > 0:
        chunk = src.read(n)
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def unseal_stream(
    src: IO[bytes], key: bytes, context: bytes = b"", *, where: str = "package"
) -> Iterator[bytes]:
    """Yield the plaintext segments of what :class:`SealingWriter` wrote.

    Raises :class:`DeliveryError` on a wrong key, and on any truncation, reordering,
    modification or appended data. Callers must treat the output as untrusted until the
    iterator is exhausted (write to a temporary file, rename at the end).
    """
    header = _read_full(src, HEADER_LEN)
    if len(header) < HEADER_LEN or not header.startswith(MAGIC):
        raise DeliveryError("the stored package is truncated or not a dsr package", where=where)
    if header[len(MAGIC)] != VERSION:
        raise DeliveryError("the stored package has an unknown format version", where=where)
    prefix = header[len(MAGIC) + 1 :]
    aead = AESGCM(key)
    counter = 0
    current = _read_full(src, SEGMENT + TAG)
    while True:
        nxt = _read_full(src, SEGMENT + TAG) if len(current) == SEGMENT + TAG else b""
        last = not nxt
        if len(current) < TAG:
            raise DeliveryError("the stored package is truncated", where=where)
        nonce = prefix + struct.pack(">I", counter)
        try:
            plain = aead.decrypt(nonce, current, _aad(header, context, last))
        except InvalidTag:
            raise DeliveryError(
                f"the stored package fails to decrypt at segment {counter}: it was truncated "
                "or altered, or the toolkit secret is not the one it was sealed with",
                where=where,
            ) from None
        yield plain
        if last:
            return
        counter += 1
        current = nxt
