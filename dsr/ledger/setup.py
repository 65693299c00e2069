"""Setting up the ledger: what ``dsr init`` runs, and the binding of a ledger to its secret."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select

from dsr.crypto.keys import (
    KEY_FILE_ENV,
    SECRET_ENV,
    FileKeys,
    KeyProvider,
    create_key_file,
    default_key_file,
    key_check,
    key_provider,
)
from dsr.errors import KeyError_, LedgerError
from dsr.ledger.audit import refuse_other_key, verify
from dsr.ledger.migrate import (
    LEDGER_VERSION,
    Migration,
    ledger_state,
    upgrade_ledger,
)
from dsr.ledger.tables import audit as audit_table
from dsr.ledger.tables import ledger_metadata, settings


@dataclass(frozen=True)
class LedgerInit:
    """What :func:`init_ledger` did."""

    key_file: Path | None
    key_file_created: bool
    tables: list[str]
    migration: Migration

    def to_json(self) -> dict[str, Any]:
        return {
            "key_file": str(self.key_file) if self.key_file is not None else None,
            "key_file_created": self.key_file_created,
            "tables": self.tables,
            "ledger_version": LEDGER_VERSION,
            "migration": self.migration.to_json(),
        }


def init_ledger(
    engine: Engine,
    key_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    upgrade: bool = False,
    keys: KeyProvider | None = None,
) -> LedgerInit:
    """Create the ledger tables and the secret key file if it does not exist.

    The key file (``key_file``, else ``DSR_KEY_FILE``, else the default path) is created with
    mode 0600 and never overwritten; an existing one is checked (readable, not shared with
    others, a valid secret) before anything is created. With ``DSR_SECRET`` set and no key file
    named, the secret comes from the environment and no file is written. A ledger of an older
    version is upgraded only with ``upgrade`` (``dsr init --upgrade``; else it is refused with
    the advice to back up and migrate); one of a newer version is always refused. Given
    ``keys`` (an embedder's provider), no key file is read or written.
    """
    env = os.environ if env is None else env
    state = ledger_state(engine)
    if state.status == "newer" or (state.status in ("behind", "unversioned") and not upgrade):
        raise LedgerError(state.problem() or "", where="ledger")
    path: Path | None
    created = False
    if keys is not None:
        keys.secret()
        path = None
    elif key_file is None and env.get(SECRET_ENV):
        key_provider(None, env).secret()
        path = None
    else:
        path = Path(key_file or env.get(KEY_FILE_ENV) or default_key_file())
        if path.exists():
            FileKeys(path).secret()
        else:
            created = create_key_file(path)
    if keys is None:
        keys = key_provider(str(path) if path is not None else None, env)
    if state.status != "missing":
        # an existing ledger is checked against the key before anything about it changes
        try:
            bind_key(engine, keys, check_only=True)
        except KeyError_:
            if created and path is not None:
                path.unlink(missing_ok=True)  # the new key is of no use to this ledger
            raise
    migration = upgrade_ledger(engine)
    bind_key(engine, keys)
    return LedgerInit(path, created, sorted(ledger_metadata.tables), migration)


def bind_key(engine: Engine, keys: KeyProvider, *, check_only: bool = False) -> None:
    """Record which secret the ledger belongs to, or refuse a different one.

    A ledger keeps data only its own key opens (sealed identities, the audit chain, download
    tokens); with another key every check would fail later as "tampered". A ledger from before
    the check was recorded is bound when its audit trail verifies with this key. With
    ``check_only`` (a ledger not yet upgraded) it writes nothing.
    """
    with engine.begin() as conn:
        if refuse_other_key(conn, keys):
            return
        if conn.execute(select(audit_table.c.seq).limit(1)).first() is not None:
            if not verify(conn, keys).ok:
                raise KeyError_(
                    "the ledger's audit trail does not verify with this secret key: it was "
                    "created with another one; use that key file (or DSR_SECRET)",
                    where="key",
                )
        if not check_only:
            conn.execute(insert(settings).values(name="key_check", value=key_check(keys)))


__all__ = ["LedgerInit", "bind_key", "init_ledger"]
