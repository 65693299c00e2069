"""Encryption at rest (AES-256-GCM) with subkeys derived from the toolkit secret.

Used for the identities kept in the request register and in holds, and for export packages.
``aad`` binds a ciphertext to its place (a request id, a package id), so a blob copied to
another row does not decrypt.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dsr.crypto.keys import KeyProvider, derive
from dsr.errors import KeyError_

VERSION = b"\x01"


def seal(keys: KeyProvider, purpose: str, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt ``plaintext``: version byte, 12-byte nonce, ciphertext with tag."""
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(derive(keys, purpose)).encrypt(nonce, plaintext, aad)


def unseal(keys: KeyProvider, purpose: str, blob: bytes, aad: bytes = b"") -> bytes:
    """Decrypt what :func:`seal` made; a wrong key or altered blob is a :class:`KeyError_`."""
    if len(blob) < 29 or blob[:1] != VERSION:
        raise KeyError_("encrypted value is truncated or of an unknown format", where=purpose)
    try:
        return AESGCM(derive(keys, purpose)).decrypt(blob[1:13], blob[13:], aad)
    except InvalidTag:
        raise KeyError_(
            "cannot decrypt: wrong toolkit secret, or the data was altered", where=purpose
        ) from None


def seal_identities(keys: KeyProvider, specs: Iterable[str], aad: bytes = b"") -> bytes:
    """Encrypt identity specs (``email=...``) for storage in the ledger."""
    return seal(keys, "identities", "\n".join(sorted(specs)).encode(), aad)


def unseal_identities(keys: KeyProvider, blob: bytes, aad: bytes = b"") -> list[str]:
    text = unseal(keys, "identities", blob, aad).decode()
    return text.split("\n") if text else []
