"""Versions of the ledger's own tables (``dsr_*``) and upgrades between them.

Each change to the ledger's tables is an Alembic revision in ``dsr/ledger/migrations/versions``;
the version a database is at is kept in ``dsr_schema_version`` (not Alembic's default
``alembic_version``, which may belong to the application whose data dsr governs).

* :func:`create_ledger` (``dsr init``) makes the ledger of this version on a database without
  one, in one step (``create_all`` and the version stamp), and upgrades an older one;
* :func:`require_ledger` is what every service calls before it writes: one query, and a clear
  error naming the command to run when the ledger is missing, older or newer. Services never
  create or alter tables on their own (no DDL behind an operator's back);
* :func:`upgrade_ledger` (``dsr migrate``) runs the revisions between the database's version
  and this one. A ledger made by a dsr from before versioning (tables, no version) is adopted
  by the baseline revision without touching a row.

Alembic is imported only for an actual upgrade; the check itself is plain SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    select,
)

from dsr.errors import LedgerError
from dsr.ledger.tables import ledger_metadata
from dsr.log import get, log_step

VERSION_TABLE = "dsr_schema_version"
#: Every revision in order; the last is the version this code writes and expects.
REVISIONS = ("0001", "0002", "0003", "0004")
LEDGER_VERSION = REVISIONS[-1]
_log = get("migrate")

# Alembic's own layout of a version table, so that a ledger stamped here upgrades with Alembic.
schema_version = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)


@dataclass(frozen=True)
class LedgerState:
    """Where a database's ledger stands relative to this dsr."""

    version: str | None
    has_tables: bool

    @property
    def status(self) -> str:
        """``missing``, ``unversioned``, ``behind``, ``current`` or ``newer``."""
        if self.version is None:
            return "unversioned" if self.has_tables else "missing"
        if self.version == LEDGER_VERSION:
            return "current"
        return "behind" if self.version in REVISIONS else "newer"

    @property
    def pending(self) -> tuple[str, ...]:
        """The revisions an upgrade would run (the baseline adopts an unversioned ledger)."""
        status = self.status
        if status == "unversioned":
            return REVISIONS
        if status == "behind":
            return REVISIONS[REVISIONS.index(str(self.version)) + 1 :]
        return ()

    def problem(self) -> str | None:
        """What is wrong for a service that needs the ledger, with what to do; None if usable."""
        status = self.status
        if status == "current":
            return None
        if status == "missing":
            return "this database has no dsr ledger (the dsr_* tables); run 'dsr init' first"
        if status == "newer":
            return (
                f"this database's ledger is at version {self.version}, newer than this dsr "
                f"(which knows up to {LEDGER_VERSION}); upgrade dsr. Nothing was changed"
            )
        was = "from before versioned upgrades" if status == "unversioned" else self.version
        return (
            f"this database's ledger is at version {was}, this dsr needs {LEDGER_VERSION}; "
            "back up the database, then run 'dsr migrate'. Nothing was changed"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "expected": LEDGER_VERSION,
            "status": self.status,
            "pending": list(self.pending),
        }


@dataclass(frozen=True)
class Migration:
    """What :func:`upgrade_ledger` did: ``applied`` lists the revisions run, in order."""

    before: LedgerState
    applied: tuple[str, ...]
    created: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.before.version,
            "from_status": self.before.status,
            "to": LEDGER_VERSION,
            "applied": list(self.applied),
            "created": self.created,
        }


@contextmanager
def _connected(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def _stored_version(conn: Connection) -> str | None:
    # has_table first: a failing SELECT would abort the caller's transaction on PostgreSQL
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(select(schema_version.c.version_num)).scalar()


def ledger_state(bind: Engine | Connection) -> LedgerState:
    """Read the ledger's version (and whether unversioned ``dsr_*`` tables exist)."""
    with _connected(bind) as conn:
        version = _stored_version(conn)
        has_tables = version is not None or any(
            inspect(conn).has_table(name) for name in ledger_metadata.tables
        )
    return LedgerState(version, has_tables)


def require_ledger(bind: Engine | Connection, cache: dict[str, Any] | None = None) -> None:
    """Refuse to go on unless the ledger exists at this dsr's version (see module docs).

    Two cheap queries; with ``cache`` (a graph's ``schema_cache``) they run once per graph.
    """
    if cache is not None and cache.get("ledger.version") == LEDGER_VERSION:
        return
    with _connected(bind) as conn:
        if _stored_version(conn) != LEDGER_VERSION:
            problem = ledger_state(conn).problem()
            if problem is not None:
                raise LedgerError(problem, where="ledger")
    if cache is not None:
        cache["ledger.version"] = LEDGER_VERSION


def has_ledger_table(conn: Connection, name: str, cache: dict[str, Any] | None = None) -> bool:
    """Whether the ledger table ``name`` exists: known without asking the database once
    :func:`require_ledger` or :func:`create_ledger` confirmed this dsr's ledger with
    ``cache`` (a graph's ``schema_cache``); a dry run on a database without one asks."""
    if cache is not None and cache.get("ledger.version") == LEDGER_VERSION:
        return name in ledger_metadata.tables
    return bool(inspect(conn).has_table(name))


def create_ledger(engine: Engine, cache: dict[str, Any] | None = None) -> list[str]:
    """Make the ledger usable by this dsr: create it, or upgrade an older one; its table names."""
    upgrade_ledger(engine)
    if cache is not None:
        cache["ledger.version"] = LEDGER_VERSION
    return sorted(ledger_metadata.tables)


def upgrade_ledger(engine: Engine) -> Migration:
    """Bring the ledger to this dsr's version; refuses (changing nothing) a newer one.

    A database without a ledger gets today's tables and the version stamp in one transaction
    (what Alembic's documentation recommends for a new database); anything older runs the
    revisions it lacks through Alembic, in one transaction where the engine has transactional
    DDL (PostgreSQL, SQLite; MariaDB commits each DDL statement).
    """
    before = ledger_state(engine)
    status = before.status
    if status == "newer":
        raise LedgerError(before.problem() or "", where="ledger")
    if status == "current":
        return Migration(before, (), created=False)
    if status == "missing":
        with engine.begin() as conn:
            ledger_metadata.create_all(conn)
            schema_version.create(conn)
            conn.execute(schema_version.insert().values(version_num=LEDGER_VERSION))
        log_step(
            _log, "done", f"ledger created at version {LEDGER_VERSION}", version=LEDGER_VERSION
        )
        return Migration(before, (), created=True)
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "dsr.ledger:migrations")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, LEDGER_VERSION)
    log_step(
        _log,
        "done",
        f"ledger upgraded from {before.version or 'unversioned'} to "
        f"{LEDGER_VERSION}: {', '.join(before.pending)}",
        applied=list(before.pending),
        version=LEDGER_VERSION,
    )
    return Migration(before, before.pending, created=False)
