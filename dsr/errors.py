"""The one exception tree of dsr.

Every error dsr raises on purpose derives from :class:`DSRError`. Messages carry context
(file and line of a catalog entry, table, column, rule, request id, option) and never a
personal-data value: no email, name, phone number or IP address ever appears in one.

::

    DSRError                      exit code 1 unless stated
    ├── ConfigError               bad option, missing database URL, unreadable file
    ├── CatalogError              malformed or inconsistent catalog (file, line, key)
    │   └── SchemaMismatch        catalog names a table/column the database lacks
    ├── SubjectError              unknown identity type, malformed identity
    ├── KeyError_                 missing, unreadable or wrong toolkit secret
    ├── LedgerError               request register, holds, audit trail
    │   ├── RequestError          unknown request, late extension, bad transition
    │   └── AuditError            the audit chain cannot be read or written
    ├── ValidationError           an invalid rectification value (table, field, rule)
    ├── ErasureError              an erasure that cannot be carried out safely
    ├── PurgeError                a retention purge that cannot be planned or run
    ├── DeliveryError             tampered, expired or reused token; undecryptable package
    ├── MailError                 the mail server refused a message or cannot be reached
    └── LockBusy                  another run holds the lock (exit code 75)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError


class DSRError(Exception):
    """Base of every error dsr raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(DSRError):
    """A bad option, a missing database URL or an unreadable file."""


class CatalogError(DSRError):
    """The catalog is malformed or inconsistent; ``where`` is ``file:line: key``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        parts = [p for p in (file, str(line) if line else None) if p]
        where = ":".join(parts) if parts else None
        if key:
            where = f"{where}: {key}" if where else key
        super().__init__(message, where=where)


class SchemaMismatch(CatalogError):
    """The catalog names a table, column or link the live database does not have."""


class SubjectError(DSRError):
    """An identity that cannot be understood (unknown type, malformed value)."""


class KeyError_(DSRError):  # noqa: N801 - avoid shadowing the builtin KeyError
    """The toolkit secret is missing, unreadable or wrong."""


class LedgerError(DSRError):
    """Request register, holds or audit trail."""


class RequestError(LedgerError):
    """Unknown request, an extension too late, an impossible status change."""


class AuditError(LedgerError):
    """The audit chain cannot be read or written."""


class ValidationError(DSRError):
    """A rectification value that the catalog's field rules reject."""


class ErasureError(DSRError):
    """An erasure that cannot be carried out safely."""


class PurgeError(DSRError):
    """A retention purge that cannot be planned or run."""


class DeliveryError(DSRError):
    """A tampered, expired or reused download token, or a package that fails to decrypt."""


class MailError(DSRError):
    """The mail server refused a message or could not be reached (its reply code, never an
    address)."""


class DatabaseError(DSRError):
    """The database refused or failed a step; the message names the step, never a value."""


def is_database_error(exc: BaseException) -> TypeGuard[SQLAlchemyError]:
    """An SQLAlchemy error, told without importing SQLAlchemy (``dsr --help`` never does)."""
    import sys

    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError)


class MissingExtra(ConfigError):
    """An optional part of dsr whose dependencies are not installed (``pip install dsr[x]``)."""

    def __init__(self, extra: str, package: str, needed_for: str) -> None:
        super().__init__(
            f"{needed_for} need(s) {package}, which is not installed: "
            f"pip install 'dsr[{extra}]' (or pip install {package})",
            where=f"dsr[{extra}]",
        )


class LockBusy(DSRError):
    """Another run holds the lock; nothing was done."""

    exit_code = 75


__all__ = [
    "AuditError",
    "CatalogError",
    "ConfigError",
    "DSRError",
    "DeliveryError",
    "ErasureError",
    "KeyError_",
    "LedgerError",
    "LockBusy",
    "MailError",
    "PurgeError",
    "RequestError",
    "SchemaMismatch",
    "SubjectError",
    "ValidationError",
]
