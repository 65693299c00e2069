"""One lock per database so that destructive runs (purges, erasures) never overlap.

PostgreSQL: a session-level ``pg_try_advisory_lock`` on a dedicated autocommit connection,
held for the duration (advisory locks are scoped to the database). MariaDB/MySQL:
``GET_LOCK(name, 0)`` on a dedicated connection (server-wide, so the name is prefixed with the
database name). SQLite: an exclusive ``flock`` on a file next to the database
(``<db>.dsr-lock``). In every case the lock dies with its holder: a SIGKILLed process leaves no
stale lock behind, because the server closes its session or the kernel drops its file lock.
An in-memory SQLite database uses a lock local to the process.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text

from dsr.db import is_mysql
from dsr.errors import LockBusy

DEFAULT_NAME = "dsr-destructive"

_local_locks: dict[tuple[str, str], threading.Lock] = {}
_local_guard = threading.Lock()


@contextmanager
def destructive_transaction(
    engine: Engine, cache: dict[str, Any] | None = None
) -> Iterator[Connection]:
    """The frame of every destructive service: a current ledger (else LedgerError naming the
    command to run), the destructive-work lock (else LockBusy, at once) and one transaction,
    committed when the block ends and rolled back, with nothing changed, when it raises."""
    from dsr.ledger.migrate import require_ledger

    require_ledger(engine, cache)
    with exclusive(engine), engine.begin() as conn:
        yield conn


@contextmanager
def exclusive(engine: Engine, name: str = DEFAULT_NAME) -> Iterator[None]:
    """Hold the lock ``name`` on ``engine``'s database for the block; never waits.

    Raises :class:`~dsr.errors.LockBusy` (exit code 75) at once when another process or
    connection holds it.
    """
    dialect = engine.dialect.name
    if dialect == "postgresql":
        with _postgresql(engine, name):
            yield
    elif is_mysql(dialect):
        with _mysql(engine, name):
            yield
    elif dialect == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            with _process_local(str(engine.url), name):
                yield
        else:
            with _file_lock(
                f"{database}.dsr-lock"
                if name == DEFAULT_NAME
                else f"{database}.{_safe(name)}.dsr-lock",
                name,
            ):
                yield
    else:
        with _process_local(str(engine.url), name):
            yield


def _key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]


def _dedicated(engine: Engine) -> Connection:
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def _postgresql(engine: Engine, name: str) -> Iterator[None]:
    key = _key(name)
    conn = _dedicated(engine)
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        if not got:
            raise LockBusy(f"another run holds the lock {name!r}", where="lock")
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        conn.close()


@contextmanager
def _mysql(engine: Engine, name: str) -> Iterator[None]:
    conn = _dedicated(engine)
    try:
        database = conn.execute(text("SELECT DATABASE()")).scalar() or ""
        full = f"{database}:{name}"
        if len(full) > 64:  # GET_LOCK names are limited to 64 characters
            full = hashlib.sha256(full.encode()).hexdigest()[:64]
        got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": full}).scalar()
        if got != 1:
            raise LockBusy(f"another run holds the lock {name!r}", where="lock")
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": full})
    finally:
        conn.close()


@contextmanager
def _file_lock(path: str, name: str) -> Iterator[None]:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"another run holds the lock {name!r}", where="lock") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _process_local(url: str, name: str) -> Iterator[None]:
    with _local_guard:
        lock = _local_locks.setdefault((url, name), threading.Lock())
    if not lock.acquire(blocking=False):
        raise LockBusy(f"another run holds the lock {name!r}", where="lock")
    try:
        yield
    finally:
        lock.release()


__all__ = ["DEFAULT_NAME", "exclusive"]
