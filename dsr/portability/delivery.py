"""Secure delivery of export packages to the person (Art. 20 with Art. 32 GDPR).

:func:`deliver` writes the package straight into a sealing stream (AES-256-GCM, subkey
``storage``, see :mod:`dsr.portability.storage`): no plaintext reaches the disk. The sealed
file gets a random name, a row in ``dsr_exports`` (package id, subject pseudonym, expiry) and
a signed token that names the package and its expiry (HMAC-SHA256, subkey ``token``).

:func:`download` verifies the token (signature, expiry), decrypts to a temporary file next to
the target and, in one transaction, marks the package downloaded and appends the audit entry;
the file is renamed into place only after that commit, so a refused or failed download writes
nothing. The token is single-use: the sealed file is deleted right after the download.
:func:`purge_expired_packages` deletes what expired and any leftovers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import Connection, Engine, or_, select, update

from dsr.catalog.model import Catalog
from dsr.clock import Clock, utc_naive
from dsr.crypto.keys import KeyProvider, derive, pseudonym
from dsr.errors import ConfigError, DeliveryError
from dsr.ledger.tables import exports
from dsr.portability.export import export_package, record_export
from dsr.portability.scope import ExportResult
from dsr.portability.storage import (
    PackageStorage,
    SealingWriter,
    new_name,
    open_private,
    unseal_stream,
)
from dsr.subject.graph import SubjectGraph
from dsr.subject.identity import Identity

DEFAULT_EXPIRY = timedelta(days=7)
PACKAGE_MEDIA_TYPE = "application/zip"
MAX_EXPIRY = timedelta(days=30)
#: Sealed files nobody registered (a crash between writing and committing) go after this.
ORPHAN_AGE = timedelta(days=1)
TOKEN_VERSION = "dsr1"
_TOKEN = re.compile(r"^dsr1\.([0-9a-f]{32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")
_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$")


@dataclass
class Delivery:
    """A stored package and the token that redeems it (or, nothing portable: neither).
    ``export`` is None for a sealed document (:func:`deliver_document`)."""

    export: ExportResult | None
    token: str | None = None
    package_id: str | None = None
    expires_at: datetime | None = None
    size: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "package_id": self.package_id,
            "expires_at": _iso(self.expires_at) if self.expires_at else None,
            **(self.export.to_json() if self.export is not None else {}),
            "size": self.size,
        }


@dataclass
class Download:
    """A redeemed token: where the package (or document) went and what it is."""

    file: str
    size: int
    package_id: str
    media_type: str = PACKAGE_MEDIA_TYPE

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "size": self.size,
            "package_id": self.package_id,
            "media_type": self.media_type,
        }


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w``; at most :data:`MAX_EXPIRY` (storage limitation)."""
    m = _DURATION.match(text)
    if not m:
        raise ConfigError("expected a duration such as 12h, 7d or 2w", where="--expires")
    n, unit = int(m.group(1)), m.group(2)
    delta = {
        "m": timedelta(minutes=n),
        "h": timedelta(hours=n),
        "d": timedelta(days=n),
        "w": timedelta(weeks=n),
    }[unit]
    _check_expiry(delta)
    return delta


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _token_mac(keys: KeyProvider, package_id: str, expires: int) -> bytes:
    msg = f"{TOKEN_VERSION}\n{package_id}\n{expires}".encode()
    return hmac.new(derive(keys, "token"), msg, sha256).digest()


def make_token(keys: KeyProvider, package_id: str, expires_at: datetime) -> str:
    """A signed token naming the package and its expiry (no personal data in it)."""
    expires = int(utc_naive(expires_at).replace(tzinfo=timezone.utc).timestamp())
    return f"{TOKEN_VERSION}.{package_id}.{expires}.{_b64(_token_mac(keys, package_id, expires))}"


def read_token(keys: KeyProvider, token: str, clock: Clock) -> tuple[str, datetime]:
    """Verify signature and expiry; the package id and expiry (UTC) of a valid token."""
    m = _TOKEN.match(token.strip())
    if m is None:
        raise DeliveryError("the download token is invalid: malformed or altered", where="token")
    package_id, expires = m.group(1), int(m.group(2))
    try:
        given = base64.urlsafe_b64decode(m.group(3) + "=")
    except (binascii.Error, ValueError):
        given = b""
    if not hmac.compare_digest(given, _token_mac(keys, package_id, expires)):
        raise DeliveryError(
            "the download token is invalid: altered, or signed with another toolkit secret",
            where="token",
        )
    expires_at = datetime.fromtimestamp(expires, timezone.utc)
    if clock.now() >= expires_at:
        raise DeliveryError(
            f"the download token expired at {expires_at.isoformat()}; ask for a new export",
            where="token",
        )
    return package_id, expires_at


class _NothingToStore(Exception):
    pass


def deliver(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    identities: Sequence[Identity | str],
    storage: PackageStorage,
    keys: KeyProvider,
    *,
    clock: Clock,
    expires: timedelta = DEFAULT_EXPIRY,
    request_id: int | None = None,
) -> Delivery:
    """Export the person's package sealed into ``storage`` and return a single-use token.

    Registers the package in ``dsr_exports`` and appends the audit entry in the caller's
    transaction (the ledger tables must exist). Nothing portable: nothing is stored, no token.
    """
    _check_expiry(expires)
    package_id = secrets.token_hex(16)
    name = new_name()
    key = derive(keys, "storage")
    holder: dict[str, Any] = {}
    try:
        with storage.create(name) as fh:
            sealer = SealingWriter(fh, key, context=package_id.encode())
            result = export_package(
                conn,
                catalog,
                graph,
                identities,
                cast(BinaryIO, sealer),
                clock=clock,
                request_id=request_id,
            )
            holder["result"] = result
            if result.nothing_portable:
                raise _NothingToStore
            sealer.close()
            size = sealer.ciphertext_size
            digest, plain_size = sealer.sha256, sealer.tell()
    except _NothingToStore:
        result = holder["result"]
        record_export(conn, keys, result, clock=clock, action="export.deliver")
        return Delivery(export=result)
    now = clock.now()
    expires_at = utc_naive(now + expires)
    return _register(
        conn,
        storage,
        keys,
        name=name,
        package_id=package_id,
        subject=pseudonym(keys, list(result.identities)),
        request_id=request_id,
        size=size,
        media_type=None,
        now=now,
        expires_at=expires_at,
        record=lambda: record_export(
            conn,
            keys,
            result,
            clock=clock,
            action="export.deliver",
            extra={
                "package": package_id,
                "expires_at": _iso(expires_at),
                "sha256": digest,
                "size": plain_size,
            },
        ),
        export=result,
    )


def _check_expiry(expires: timedelta) -> None:
    if expires <= timedelta(0) or expires > MAX_EXPIRY:
        raise ConfigError("must be more than 0 and at most 30 days", where="--expires")


def _register(
    conn: Connection,
    storage: PackageStorage,
    keys: KeyProvider,
    *,
    name: str,
    package_id: str,
    subject: str,
    request_id: int | None,
    size: int,
    media_type: str | None,
    now: datetime,
    expires_at: datetime,
    record: Callable[[], None],
    export: ExportResult | None = None,
) -> Delivery:
    """Register a sealed file in ``dsr_exports`` and ``record`` its audit entry, in the
    caller's transaction; on failure the sealed file goes. The delivery with its token."""
    try:
        conn.execute(
            exports.insert().values(
                id=package_id,
                file_name=name,
                subject=subject,
                request_id=request_id,
                created_at=utc_naive(now),
                expires_at=expires_at,
                size=size,
                media_type=media_type,
            )
        )
        record()
    except BaseException:
        storage.delete(name)
        raise
    return Delivery(
        export=export,
        token=make_token(keys, package_id, expires_at),
        package_id=package_id,
        expires_at=expires_at.replace(tzinfo=timezone.utc),
        size=size,
    )


def deliver_document(
    conn: Connection,
    storage: PackageStorage,
    keys: KeyProvider,
    document: bytes,
    *,
    media_type: str,
    subject: str,
    clock: Clock,
    expires: timedelta = DEFAULT_EXPIRY,
    request_id: int | None = None,
) -> Delivery:
    """Seal a finished document (an Art. 15 report as PDF) into ``storage`` the way
    :func:`deliver` seals a package, and return its single-use token. ``subject`` is the
    person's keyed pseudonym; the audit entry ``export.deliver`` names the media type and
    size, in the caller's transaction."""
    _check_expiry(expires)
    package_id = secrets.token_hex(16)
    name = new_name()
    with storage.create(name) as fh:
        sealer = SealingWriter(fh, derive(keys, "storage"), context=package_id.encode())
        sealer.write(document)
        sealer.close()
        size = sealer.ciphertext_size
    now = clock.now()
    expires_at = utc_naive(now + expires)

    def record() -> None:
        from dsr.ledger.audit import append

        append(
            conn,
            keys,
            "export.deliver",
            details={
                "package": package_id,
                "media_type": media_type,
                "size": len(document),
                "expires_at": _iso(expires_at),
                "sha256": hashlib.sha256(document).hexdigest(),
            },
            subject=subject,
            request_id=request_id,
            at=now,
        )

    return _register(
        conn,
        storage,
        keys,
        name=name,
        package_id=package_id,
        subject=subject,
        request_id=request_id,
        size=size,
        media_type=media_type,
        now=now,
        expires_at=expires_at,
        record=record,
    )


def renew_link(conn: Connection, keys: KeyProvider, package_id: str, expires_at: datetime) -> str:
    """Let an unused package live until ``expires_at`` (never shorter than it had) and return
    the token that says so: a download approved days after it was prepared still gives the
    person the whole period. In the caller's transaction."""
    until = utc_naive(expires_at)
    conn.execute(
        update(exports)
        .where(
            exports.c.id == package_id,
            exports.c.downloaded_at.is_(None),
            exports.c.deleted_at.is_(None),
            exports.c.expires_at < until,
        )
        .values(expires_at=until)
    )
    return make_token(keys, package_id, expires_at)


def delivered_what(media_type: str | None) -> str:
    """What a sealed delivery is to the person: ``package`` (Art. 20 ZIP) or ``report``."""
    return "package" if media_type in (None, PACKAGE_MEDIA_TYPE) else "report"


def package_state(engine: Engine, keys: KeyProvider, token: str, *, clock: Clock) -> dict[str, Any]:
    """What a token would redeem, without redeeming it: ``state`` ``ready``, ``used``,
    ``expired`` or ``invalid`` (tampered, malformed, unknown); for a ready one its media type
    and expiry. For a page that explains a link before anyone presses Download."""
    try:
        package_id, expires_at = read_token(keys, token, clock)
    except DeliveryError as exc:
        return {"state": "expired" if "expired" in exc.message else "invalid"}
    with engine.connect() as conn:
        row = conn.execute(select(exports).where(exports.c.id == package_id)).first()
    if row is None:
        return {"state": "invalid"}
    if row.downloaded_at is not None:
        return {"state": "used"}
    if row.deleted_at is not None or row.expires_at <= utc_naive(clock.now()):
        return {"state": "expired"}
    return {
        "state": "ready",
        "media_type": row.media_type or PACKAGE_MEDIA_TYPE,
        "expires_at": expires_at,
        "size": row.size,
    }


def download(
    engine: Engine,
    storage: PackageStorage,
    keys: KeyProvider,
    token: str,
    out: str | Path,
    *,
    clock: Clock,
) -> Download:
    """Redeem a token: decrypt the package to ``out`` and record the download (Art. 20).

    A tampered, expired or reused token, or a package that fails to decrypt, is a
    :class:`DeliveryError` and nothing is written. The sealed file is deleted afterwards.
    """
    package_id, _ = read_token(keys, token, clock)
    target = Path(out)
    part = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    key = derive(keys, "storage")
    where = f"package {package_id}"
    size = 0
    try:
        with engine.begin() as conn:
            row = conn.execute(
                select(exports).where(exports.c.id == package_id).with_for_update()
            ).first()
            now = utc_naive(clock.now())
            if row is None:
                raise DeliveryError("no such package", where=where)
            if row.downloaded_at is not None:
                raise DeliveryError(
                    "the download token was already used; tokens are single-use", where=where
                )
            if row.deleted_at is not None or row.expires_at <= now:
                raise DeliveryError("the package expired and was deleted", where=where)
            fd = open_private(part, target)
            with os.fdopen(fd, "wb") as dst, storage.open(row.file_name) as src:
                for chunk in unseal_stream(src, key, package_id.encode(), where=where):
                    dst.write(chunk)
                    size += len(chunk)
            marked = conn.execute(
                update(exports)
                .where(exports.c.id == package_id, exports.c.downloaded_at.is_(None))
                .values(downloaded_at=now)
            )
            if marked.rowcount != 1:
                raise DeliveryError(
                    "the download token was already used; tokens are single-use", where=where
                )
            from dsr.ledger.audit import append

            append(
                conn,
                keys,
                "export.download",
                details={"package": package_id, "size": size},
                subject=row.subject,
                request_id=row.request_id,
                at=clock.now(),
            )
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    # single-use: nothing is left to serve, so the sealed copy goes at once
    storage.delete(row.file_name)
    with engine.begin() as conn:
        conn.execute(update(exports).where(exports.c.id == package_id).values(deleted_at=now))
    return Download(
        file=str(target),
        size=size,
        package_id=package_id,
        media_type=row.media_type or PACKAGE_MEDIA_TYPE,
    )


def purge_expired_packages(
    conn: Connection, storage: PackageStorage, clock: Clock, keys: KeyProvider | None = None
) -> int:
    """Delete expired or already downloaded packages and sealed files nobody registered.

    Marks the rows deleted (set-based) in the caller's transaction; returns how many packages
    were deleted. With ``keys``, appends an ``export.purge`` audit entry when any were.
    """
    now = utc_naive(clock.now())
    due = conn.execute(
        select(exports.c.id, exports.c.file_name).where(
            exports.c.deleted_at.is_(None),
            or_(exports.c.expires_at <= now, exports.c.downloaded_at.is_not(None)),
        )
    ).all()
    for row in due:
        storage.delete(row.file_name)
    if due:
        conn.execute(
            update(exports).where(exports.c.id.in_([r.id for r in due])).values(deleted_at=now)
        )
    live = set(
        conn.execute(select(exports.c.file_name).where(exports.c.deleted_at.is_(None))).scalars()
    )
    cutoff = max(clock.now().timestamp(), time.time()) - ORPHAN_AGE.total_seconds()
    orphans = 0
    for listed, mtime in storage.list():
        base = listed.removesuffix(".part")
        if base not in live and mtime < cutoff:
            storage.delete(listed)
            orphans += 1
    if keys is not None and (due or orphans):
        from dsr.ledger.audit import append

        append(
            conn,
            keys,
            "export.purge",
            details={"packages": len(due), "orphans": orphans},
            at=clock.now(),
        )
    return len(due)
