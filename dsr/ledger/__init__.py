"""The ledger: the toolkit's own records, kept beside the data they govern.

* the request register (:mod:`dsr.ledger.requests`) with Art. 12(3) deadlines
  (:mod:`dsr.ledger.deadlines`);
* the audit trail (:mod:`dsr.ledger.audit`), hash-chained and pseudonymous;
* holds, restrictions, purge checkpoints, locks and export packages (:mod:`dsr.ledger.tables`);
* the toolkit secret and its subkeys (:mod:`dsr.ledger.keys`, :mod:`dsr.ledger.crypto`).

:func:`init_ledger` is what ``dsr init`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from dsr.ledger.audit import AuditVerdict, verify
from dsr.ledger.deadlines import due_date, extended_due_date, holiday_calendar
from dsr.ledger.keys import (
    KEY_FILE_ENV,
    SECRET_ENV,
    FileKeys,
    create_key_file,
    default_key_file,
    key_provider,
)
from dsr.ledger.requests import (
    REQUEST_TYPES,
    Request,
    close_request,
    extend_request,
    get_request,
    list_requests,
    open_request,
    record_outcome,
)
from dsr.ledger.tables import create_ledger


@dataclass(frozen=True)
class LedgerInit:
    """What :func:`init_ledger` did."""

    key_file: Path | None
    key_file_created: bool
    tables: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "key_file": str(self.key_file) if self.key_file is not None else None,
            "key_file_created": self.key_file_created,
            "tables": self.tables,
        }


def init_ledger(
    engine: Engine, key_file: str | Path | None = None, env: Mapping[str, str] | None = None
) -> LedgerInit:
    """Create the ledger tables where missing and the secret key file if it does not exist.

    The key file (``key_file``, else ``DSR_KEY_FILE``, else the default path) is created with
    mode 0600 and never overwritten; an existing one is checked (readable, not shared with
    others, a valid secret) before anything is created. With ``DSR_SECRET`` set and no key file
    named, the secret comes from the environment and no file is written.
    """
    env = os.environ if env is None else env
    path: Path | None
    created = False
    if key_file is None and env.get(SECRET_ENV):
        key_provider(None, env).secret()
        path = None
    else:
        path = Path(key_file or env.get(KEY_FILE_ENV) or default_key_file())
        if path.exists():
            FileKeys(path).secret()
        else:
            created = create_key_file(path)
    return LedgerInit(path, created, create_ledger(engine))


__all__ = [
    "REQUEST_TYPES",
    "AuditVerdict",
    "LedgerInit",
    "Request",
    "close_request",
    "create_ledger",
    "due_date",
    "extend_request",
    "extended_due_date",
    "get_request",
    "holiday_calendar",
    "init_ledger",
    "list_requests",
    "open_request",
    "record_outcome",
    "verify",
]
