"""The toolkit secret and the subkeys derived from it (HKDF-SHA256).

One secret, from ``DSR_SECRET`` (base64 or hex) or a key file created with mode 0600, gives
independent subkeys for pseudonyms, the audit chain, download tokens and encryption at rest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dsr.errors import KeyError_

SECRET_ENV = "DSR_SECRET"
KEY_FILE_ENV = "DSR_KEY_FILE"
SECRET_BYTES = 32


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dsr" / "secret.key"


class KeyProvider(Protocol):
    def secret(self) -> bytes:
        """The toolkit secret (32 bytes or more)."""
        ...


class StaticKeys:
    """A secret held in memory (tests, embedding)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise KeyError_("the toolkit secret must be at least 16 bytes", where="secret")
        self._secret = secret

    def secret(self) -> bytes:
        return self._secret


class FileKeys:
    """A secret in a key file; refuses files that others can read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._cached: bytes | None = None

    def secret(self) -> bytes:
        if self._cached is None:
            self._cached = _read_key_file(self.path)
        return self._cached


def _decode_secret(text: str, where: str) -> bytes:
    text = text.strip()
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            raw = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(raw) >= 16:
            return raw
    raise KeyError_("the toolkit secret is not 16+ bytes of hex or base64", where=where)


def _read_key_file(path: Path) -> bytes:
    where = f"key file {path}"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyError_(
            "missing; restore the key file this database's ledger was created with, or set "
            "DSR_SECRET ('dsr init' creates a new key only for a new ledger)",
            where=where,
        ) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyError_("is readable by others; run chmod 600 on it", where=where)
    try:
        return _decode_secret(path.read_text("ascii"), where)
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyError_(f"cannot be read ({exc})", where=where) from None


def create_key_file(path: str | Path) -> bool:
    """Create a new random secret in ``path`` with mode 0600; False if it already exists."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(SECRET_BYTES) + "\n")
    return True


def key_provider(
    key_file: str | Path | None = None, env: Mapping[str, str] | None = None
) -> KeyProvider:
    """``DSR_SECRET`` if set, else the key file (option, ``DSR_KEY_FILE``, default path)."""
    env = os.environ if env is None else env
    if env.get(SECRET_ENV) and key_file is None:
        return StaticKeys(_decode_secret(env[SECRET_ENV], SECRET_ENV))
    return FileKeys(key_file or env.get(KEY_FILE_ENV) or default_key_file())


def derive(keys: KeyProvider, purpose: str, length: int = 32) -> bytes:
    """A subkey for one purpose: ``pseudonym``, ``audit``, ``token``, ``storage``, ..."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"dsr-v1", info=f"dsr/{purpose}".encode()
    ).derive(keys.secret())


def pseudonym(keys: KeyProvider, identities: object) -> str:
    """A keyed pseudonym for a subject (a sorted sequence of identities, or one identity).

    The audit trail, holds and restrictions name people only this way, never by e-mail.
    """
    from dsr.subject.identity import Identity

    items = identities if isinstance(identities, (list, tuple)) else [identities]
    text = "\n".join(sorted(i.spec if isinstance(i, Identity) else str(i) for i in items))
    mac = hmac.new(derive(keys, "pseudonym"), text.encode(), hashlib.sha256)
    return "ps_" + mac.hexdigest()[:32]


def key_check(keys: KeyProvider) -> str:
    """A value that identifies the secret without revealing it (stored in the ledger)."""
    return "kc1_" + hmac.new(derive(keys, "key-check"), b"dsr", hashlib.sha256).hexdigest()[:24]
