"""Which lookups of the subject graph lack an index, and the statement that creates one.

The graph compares identity columns as the identity type says (``lower(email)``, a telephone
number with its formatting stripped) and follows links through their columns. Each such
comparison runs on every request, often inside every dependent table's subquery, so each one
needs an index the engine can use for exactly that expression: a plain index on the column,
or an expression index on ``lower(col)`` / the stripping expression (PostgreSQL, SQLite).
MariaDB cannot index an expression that a query names (it compares e-mail addresses through
its case-insensitive collations, for which a plain index serves); a stripped telephone number
there can only be looked up by a scan, which the finding says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, UniqueConstraint, text
from sqlalchemy import Table as SATable
from sqlalchemy import column as sa_column
from sqlalchemy.sql import func

from dsr.catalog.model import Catalog, Table
from dsr.db import is_mysql
from dsr.subject.identity import FORMATTING


def strip_formatting(col: Any) -> Any:
    """``col`` with the characters people type into numbers removed, as SQL every engine runs.

    The characters are SQL literals, not bound parameters, so an expression index on the
    same expression matches the lookup.
    """
    out = col
    for ch in FORMATTING:
        out = func.replace(out, text(f"'{ch}'"), text("''"))
    return out


def match_kind(catalog: Catalog, itype: str, dialect: str) -> str:
    """``plain``, ``lower`` or ``stripped``: how the graph compares an identity column."""
    kind = catalog.identity_types[itype].match
    if kind in ("email", "casefold"):
        # MariaDB/MySQL compare through the column's case-insensitive (_ci) collation
        return "plain" if is_mysql(dialect) else "lower"
    if kind in ("phone", "digits"):
        return "stripped"
    return "plain"


def match_expression(col: Any, kind: str) -> Any:
    if kind == "lower":
        return func.lower(col)
    if kind == "stripped":
        return strip_formatting(col)
    return col


@dataclass(frozen=True)
class MissingIndex:
    """A lookup without a usable index; ``statement`` creates one (None: the engine cannot)."""

    table: str
    column: str
    kind: str
    why: str
    statement: str | None
    path: tuple[str, ...]

    def where(self, locate: Callable[..., str]) -> str:
        return locate(*self.path)

    def message(self) -> str:
        head = f"{self.table}.{self.column} has no index for {self.why}"
        if self.statement:
            return f"{head}; every lookup scans the table. Create one: {self.statement}"
        return (
            f"{head}, and this engine cannot index the expression dsr compares "
            f"({self.kind}); every lookup scans the table. Store the values normalised "
            "(E.164 for telephone numbers) or accept the scan"
        )


def missing_indexes(
    catalog: Catalog, t: Table, live: dict[str, SATable], conn: Connection
) -> Iterator[MissingIndex]:
    """The lookups on ``t`` the subject graph makes that no index of the live table serves."""
    sa = live[t.name]
    dialect = conn.dialect.name
    seen: set[tuple[str, str]] = set()
    expressions: list[str] | None = None
    for pname, p in t.parties.items():
        ppath = ("tables", t.name, "parties", pname)
        for itype, columns in p.identities.items():
            kind = match_kind(catalog, itype, dialect)
            for c in columns:
                if c not in sa.c or (c, kind) in seen:
                    continue
                seen.add((c, kind))
                if kind == "plain":
                    if _plain_index(sa, c):
                        continue
                else:
                    if expressions is None:
                        expressions = _expression_indexes(conn, t.name)
                    wanted = _normal(_expr_sql(conn, c, kind))
                    if any(wanted in e for e in expressions):
                        continue
                yield MissingIndex(
                    t.name,
                    c,
                    kind,
                    f"the {itype} lookup",
                    _create(conn, t.name, c, kind),
                    (*ppath, "identities", itype),
                )
        for v in p.via:
            c = t.links[v.link].column
            if c in sa.c and (c, "plain") not in seen and not _plain_index(sa, c):
                seen.add((c, "plain"))
                yield MissingIndex(
                    t.name,
                    c,
                    "plain",
                    f"link {v.link!r}",
                    _create(conn, t.name, c, "plain"),
                    (*ppath, "via"),
                )
    for lname, lk in t.links.items():
        # before an erasure or a purge deletes a row of the target, it asks whether any other
        # row still points at it: without an index every such question scans this table
        c = lk.column
        if c in sa.c and (c, "plain") not in seen and not _plain_index(sa, c):
            seen.add((c, "plain"))
            yield MissingIndex(
                t.name,
                c,
                "plain",
                f"link {lname!r} (erasure and purge ask whether a row of {lk.table} is still "
                "referenced)",
                _create(conn, t.name, c, "plain"),
                ("tables", t.name, "links", lname),
            )


def _plain_index(sa: SATable, column: str) -> bool:
    """An index (or key) whose first column is ``column``."""
    pk = [c.name for c in sa.primary_key.columns]
    if pk and pk[0] == column:
        return True
    for ix in sa.indexes:
        cols = [c.name for c in ix.columns]
        if cols and cols[0] == column:
            return True
    for con in sa.constraints:
        if isinstance(con, UniqueConstraint):
            cols = [c.name for c in con.columns]
            if cols and cols[0] == column:
                return True
    return False


def _expression_indexes(conn: Connection, table: str) -> list[str]:
    """The normalised text of every index definition on ``table`` (SQLite, PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"),
            {"t": table},
        ).scalars()
    elif conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() AND tablename = :t"
            ),
            {"t": table},
        ).scalars()
    else:
        return []
    return [_normal(r) for r in rows if r]


def _normal(sql: str) -> str:
    sql = re.sub(r"::[a-z ]+(\([0-9]+\))?", "", sql.lower())
    return re.sub(r"[^a-z0-9_]", "", sql)


def _expr_sql(conn: Connection, column: str, kind: str) -> str:
    expr = match_expression(sa_column(column), kind)
    return str(expr.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _create(conn: Connection, table: str, column: str, kind: str) -> str | None:
    """``CREATE INDEX`` for this engine, or None where it cannot index the expression."""
    dialect = conn.dialect
    prep = dialect.identifier_preparer
    suffix = {"plain": "", "lower": "_lower", "stripped": "_digits"}[kind]
    name = re.sub(r"[^a-z0-9_]", "_", f"ix_{table}_{column}{suffix}".lower())[:60]
    target = f"{prep.quote(table)}"
    if kind == "plain":
        return f"CREATE INDEX {prep.quote(name)} ON {target} ({prep.quote(column)});"
    if is_mysql(dialect.name):
        return None
    expr = _expr_sql(conn, column, kind)
    if dialect.name == "postgresql":
        return f"CREATE INDEX {prep.quote(name)} ON {target} (({expr}));"
    return f"CREATE INDEX {prep.quote(name)} ON {target} ({expr});"
