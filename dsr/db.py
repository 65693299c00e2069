"""Connecting to the databases a catalog describes: URLs, engines, dialect quirks, reflection."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from sqlalchemy import Engine, MetaData, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError, SQLAlchemyError

from dsr.errors import ConfigError

URL_ENV = ("DSR_DATABASE_URL", "DATABASE_URL")


def resolve_url(
    url: str | None, env: Mapping[str, str] | None = None, *, fallback: str | None = None
) -> str:
    """The database URL from the option, else ``DSR_DATABASE_URL``, else ``DATABASE_URL``,
    else ``fallback`` (the configuration file's ``database_url``).

    ``postgres://`` (as Heroku and others print it) is rewritten to ``postgresql://``.
    """
    env = os.environ if env is None else env
    chosen = url or next((env[k] for k in URL_ENV if env.get(k)), None) or fallback
    if not chosen:
        raise ConfigError(
            "no database: pass --database-url, set DSR_DATABASE_URL (or DATABASE_URL), or "
            "write database_url in dsr.toml",
            where="--database-url",
        )
    if chosen.startswith("postgres://"):
        chosen = "postgresql://" + chosen[len("postgres://") :]
    return chosen


def redact_url(url: str) -> str:
    """The URL with its password hidden, for messages and reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _driver_url(url: str) -> str:
    u = make_url(url)
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername in ("mysql", "mariadb"):
        u = u.set(drivername=f"{u.drivername}+pymysql")
    if u.get_backend_name() in ("mysql", "mariadb") and "charset" not in u.query:
        u = u.update_query_dict({"charset": "utf8mb4"})
    return u.render_as_string(hide_password=False)


def connect(url: str, **kwargs: object) -> Engine:
    """An engine for ``url`` with dsr's settings for each backend.

    SQLite: foreign keys enforced, ``secure_delete`` on (deleted bytes are overwritten, not
    left in free pages), WAL journal and a busy timeout so a waiting writer does not fail at
    once. PostgreSQL uses psycopg 3 and MariaDB/MySQL PyMySQL unless the URL names a driver.
    """
    try:
        engine = create_engine(_driver_url(url), **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"cannot use database URL {redact_url(url)}: {exc}", where="--database-url"
        ) from None
    except ImportError as exc:
        raise ConfigError(
            f"the driver for {redact_url(url)} is not installed ({exc.name}); "
            "install dsr[postgresql] or dsr[mysql]",
            where="--database-url",
        ) from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if engine.url.database and engine.url.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

    return engine


def reflect(engine: Engine, tables: list[str] | None = None) -> MetaData:
    """The live schema of the catalogued tables (those that exist)."""
    md = MetaData()
    existing = set(inspect(engine).get_table_names())
    wanted = [t for t in (tables or sorted(existing)) if t in existing]
    md.reflect(bind=engine, only=wanted, resolve_fks=False)
    return md


def is_mysql(engine_or_dialect_name: str) -> bool:
    return engine_or_dialect_name in ("mysql", "mariadb")


_STATEMENT_TABLE = re.compile(
    r"^\s*(?:(?:UPDATE)|(?:DELETE\s+FROM)|(?:INSERT\s+INTO)|(?:SELECT\b.*?\bFROM))\s+"
    r"([`\"\[]?[\w.]+[`\"\]]?)",
    re.IGNORECASE | re.DOTALL,
)


def describe_database_error(exc: SQLAlchemyError) -> str:
    """One line about a database failure that names the step, never a bound value.

    Driver messages can quote the values of a row ("Key (email)=(jane@...) already exists"),
    so only the error's class, its SQLSTATE or error number and the statement's verb and table
    are given; the statement text comes from SQLAlchemy with bound parameters, never values.
    A failure to connect quotes the driver's first line, which names host and port only.
    """
    orig = getattr(exc, "orig", None)
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    code = getattr(orig, "sqlstate", None) or (
        orig.args[0] if orig is not None and orig.args and isinstance(orig.args[0], int) else None
    )
    label = f"{kind}, {'SQLSTATE ' if isinstance(code, str) else 'error '}{code}" if code else kind
    statement = getattr(exc, "statement", None)
    if not statement or isinstance(exc, DisconnectionError) or _is_connect_failure(code, orig):
        said = str(orig or exc).strip()
        first = said.splitlines()[0][:200] if said else ""
        return f"cannot reach the database ({label}): {first}"
    m = _STATEMENT_TABLE.match(statement)
    verb = statement.split(None, 2)[0].upper()
    table = m.group(1).strip('`"[]') if m else None
    where = f" on table {table}" if table else ""
    return (
        f"the database refused a {verb}{where} ({label}); the transaction was rolled back "
        "(a read-only database, a trigger, a constraint or a lock timeout)"
    )


def _is_connect_failure(code: object, orig: object) -> bool:
    if isinstance(code, str) and code.startswith("08"):
        return True
    return isinstance(code, int) and code in (2002, 2003, 2005, 2006, 2013, 1045, 1049)
