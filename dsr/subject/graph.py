"""The subject graph: every row about a person, in every catalogued table, following links.

Each (table, party) pair becomes one SELECT whose WHERE clause depends only on the identities:
a party found directly compares its identity columns; a party found ``via`` a link nests the
linked table's condition as a subquery (``user_account_id IN (SELECT id FROM user_accounts
WHERE lower(email) IN (...))``). Statements are built once per identity signature and reused.

Only the fields that belong to a matched party are selected, so data about other people on the
same row never leaves the database (Art. 15(4)).
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Select,
    and_,
    bindparam,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy import Table as SATable
from sqlalchemy.exc import SAWarning
from sqlalchemy.sql import sqltypes

from dsr.catalog.model import Catalog, Field, Table
from dsr.db import is_mysql
from dsr.errors import SchemaMismatch
from dsr.subject.identity import Identity, parse_identities

Signature = tuple[tuple[str, int], ...]


@dataclass
class MatchedRow:
    """One row about the person: its key, which parties they are on it, the values shown."""

    key: Any
    parties: set[str]
    values: dict[str, Any]


@dataclass
class TableRecords:
    """The rows of one table that are about the person."""

    table: Table
    rows: list[MatchedRow]
    parties: tuple[str, ...]

    @property
    def fields(self) -> list[Field]:
        """The fields of every matched party, in catalog order."""
        return [f for f in self.table.fields.values() if set(f.parties) & set(self.parties)]


@dataclass
class SubjectRecord:
    """Everything held about one person, as the catalog describes it."""

    identities: tuple[Identity, ...]
    tables: list[TableRecords] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(t.rows for t in self.tables)

    @property
    def row_count(self) -> int:
        return sum(len(t.rows) for t in self.tables)


class SubjectGraph:
    """Finds a person's rows; build once per engine and catalog, then call :meth:`resolve`."""

    def __init__(self, catalog: Catalog, engine: Engine | Connection) -> None:
        self.catalog = catalog
        self.dialect = engine.dialect.name
        self.sa_tables = _reflect_catalogued(catalog, engine)
        self._cache: dict[tuple[str, str, Signature, bool], Select[Any] | None] = {}
        self._plans: dict[Signature, list[tuple[Table, list[tuple[str, _Compiled]]]]] = {}

    # -- statement construction -------------------------------------------------------------

    def condition(
        self, table: str, party: str, idmap: dict[str, list[str]]
    ) -> ColumnElement[bool] | None:
        """The WHERE clause selecting the rows of ``table`` where the person is ``party``."""
        t = self.catalog.tables[table]
        p = t.parties[party]
        sa = self.sa_tables[table]
        if p.via_link:
            link = t.links[p.via_link]
            target = self.catalog.tables[link.table]
            inner = self.condition(link.table, p.via_party or "", idmap)
            if inner is None:
                return None
            target_sa = self.sa_tables[link.table]
            sub = select(target_sa.c[target.primary_key]).where(inner)
            return sa.c[link.column].in_(sub.scalar_subquery())
        clauses: list[ColumnElement[bool]] = []
        for itype, column in p.identities.items():
            values = idmap.get(itype)
            if not values:
                continue
            col: ColumnElement[Any] = sa.c[column]
            if itype == "email" and not is_mysql(self.dialect):
                col = func.lower(col)
            params = [
                bindparam(f"{itype}_{i}", type_=sa.c[column].type) for i in range(len(values))
            ]
            clauses.append(col == params[0] if len(params) == 1 else col.in_(params))
        if not clauses:
            return None
        found = clauses[0] if len(clauses) == 1 else or_(*clauses)
        if p.unattributed:
            found = and_(found, *(sa.c[t.links[name].column].is_(None) for name in p.unattributed))
        return found

    def party_select(
        self,
        table: str,
        party: str,
        idmap: dict[str, list[str]],
        fields: Sequence[str] | None = None,
        *,
        ordered: bool = True,
    ) -> Select[Any] | None:
        """SELECT key and ``fields`` (default: the party's fields) of the party's rows, or None.

        ``ordered=False`` leaves out ``ORDER BY`` the key: SQLite then reads a linked party's
        rows through the link column's index instead of scanning the table in key order.
        """
        sig: Signature = tuple(sorted((k, len(v)) for k, v in idmap.items()))
        cache_key = (table, party, sig, ordered)
        if fields is None and cache_key in self._cache:
            return self._cache[cache_key]
        t = self.catalog.tables[table]
        cond = self.condition(table, party, idmap)
        stmt: Select[Any] | None = None
        if cond is not None:
            sa = self.sa_tables[table]
            names = [f.name for f in t.fields_of(party)] if fields is None else list(fields)
            cols: list[Column[Any]] = [sa.c[t.primary_key]]
            cols += [sa.c[n] for n in names if n != t.primary_key]
            stmt = select(*cols).where(cond)
            if ordered:
                stmt = stmt.order_by(sa.c[t.primary_key])
        if fields is None:
            self._cache[cache_key] = stmt
        return stmt

    # -- execution --------------------------------------------------------------------------

    def resolve(self, conn: Connection, identities: Sequence[Identity | str]) -> SubjectRecord:
        """Every row about the person in every catalogued personal table (Art. 15).

        The statements are compiled once per identity signature and run on the connection's
        DB-API cursor, converting only the columns whose type needs it (SQLite dates); this
        keeps a lookup within a small factor of hand-written driver calls.
        """
        ids = parse_identities(identities)
        idmap = identity_map(ids)
        values = bind_values_flat(idmap)
        record = SubjectRecord(identities=ids)
        sig: Signature = tuple(sorted((k, len(v)) for k, v in idmap.items()))
        plan = self._plans.get(sig)
        if plan is None:
            plan = self._plans[sig] = self._plan(conn, idmap)
        # one parameter tuple per distinct bind order, shared by the statements using it
        params: dict[Any, Any] = {}
        cursor = conn.connection.cursor()
        execute, fetchall = cursor.execute, cursor.fetchall
        # Building many small row objects triggers the cyclic GC over and over (it rescans
        # everything built so far); these objects form no cycles, so it is paused meanwhile.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for t, parties in plan:
                by_key: dict[Any, MatchedRow] = {}
                matched: list[str] = []
                for pname, compiled in parties:
                    order = compiled.order
                    p = params.get(order)
                    if p is None:
                        p = params[order] = compiled.params(values)
                    execute(compiled.sql, p)
                    rows = fetchall()
                    if not rows:
                        continue
                    if compiled.processors is None or compiled.processors:
                        rows = compiled.convert(rows, cursor.description)
                    matched.append(pname)
                    names = compiled.names
                    pk = t.primary_key
                    keep_key = pk in t.fields
                    if not by_key:
                        for row in rows:
                            values_ = dict(zip(names, row, strict=True))
                            if not keep_key:
                                del values_[pk]
                            by_key[row[0]] = MatchedRow(row[0], {pname}, values_)
                        continue
                    for row in rows:
                        key = row[0]
                        m = by_key.get(key)
                        if m is None:
                            m = by_key[key] = MatchedRow(key=key, parties=set(), values={})
                        m.parties.add(pname)
                        m.values.update(zip(names[1:], row[1:], strict=True))
                        if keep_key:
                            m.values[pk] = key
                if by_key:
                    try:
                        keys = sorted(by_key)
                    except TypeError:
                        keys = sorted(by_key, key=_sort_key)
                    record.tables.append(
                        TableRecords(
                            table=t, rows=[by_key[k] for k in keys], parties=tuple(matched)
                        )
                    )
        finally:
            if gc_was_enabled:
                gc.enable()
            cursor.close()
        return record

    def _plan(
        self, conn: Connection, idmap: dict[str, list[str]]
    ) -> list[tuple[Table, list[tuple[str, _Compiled]]]]:
        plan: list[tuple[Table, list[tuple[str, _Compiled]]]] = []
        for t in self.catalog.personal_tables():
            parties: list[tuple[str, _Compiled]] = []
            for pname in t.parties:
                # rows are sorted by key in resolve; ORDER BY would make SQLite scan linked tables
                stmt = self.party_select(t.name, pname, idmap, ordered=False)
                if stmt is not None:
                    parties.append((pname, _Compiled(stmt, conn)))
            plan.append((t, parties))
        return plan

    def iter_party_rows(
        self,
        conn: Connection,
        table: str,
        party: str,
        identities: Sequence[Identity | str],
        fields: Sequence[str] | None = None,
        batch: int = 5000,
    ) -> Iterator[dict[str, Any]]:
        """Stream the party's rows with a server-side cursor (exports of millions of rows)."""
        idmap = identity_map(parse_identities(identities))
        stmt = self.party_select(table, party, idmap, fields)
        if stmt is None:
            return
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(
            stmt, bind_values(stmt, idmap)
        )
        for row in result.mappings():
            yield dict(row)


def identity_map(ids: Sequence[Identity]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i in ids:
        out.setdefault(i.type, []).append(i.value)
    return out


def bind_values(stmt: Select[Any], idmap: dict[str, list[str]]) -> dict[str, Any]:
    """Values for the statement's bind parameters, named ``TYPE_INDEX`` at every nesting level."""
    return {f"{itype}_{i}": v for itype, values in idmap.items() for i, v in enumerate(values)}


def bind_values_flat(idmap: dict[str, list[str]]) -> dict[str, Any]:
    return {f"{itype}_{i}": v for itype, values in idmap.items() for i, v in enumerate(values)}


class _Compiled:
    """A SELECT compiled once for the connection's dialect, run on the DB-API cursor.

    Bind and result processors come from the SQLAlchemy types, so values are converted as
    ``Connection.execute`` would; columns whose type needs no conversion are left alone.
    """

    def __init__(self, stmt: Select[Any], conn: Connection) -> None:
        dialect = conn.dialect
        compiled = stmt.compile(dialect=dialect)
        self.dialect = dialect
        self.sql = str(compiled)
        self.positional = compiled.positiontup if dialect.positional else None
        self.binds = {
            name: b.type.dialect_impl(dialect).bind_processor(dialect)
            for name, b in compiled.binds.items()
        }
        self.convert_binds = any(self.binds.values())
        # statements with the same bind order share one parameter tuple per lookup
        self.order: Any = (
            (self.positional and tuple(self.positional)) if not self.convert_binds else id(self)
        )
        self.names = [str(c.key) for c in stmt.selected_columns]
        self.types = [c.type for c in stmt.selected_columns]
        self.processors: list[Any] | None = None

    def params(self, values: dict[str, Any]) -> Any:
        """The DB-API parameters for the identity values (a tuple or a mapping)."""
        if self.convert_binds:
            values = {n: p(values[n]) if p else values[n] for n, p in self.binds.items()}
        if self.positional is not None:
            return tuple([values[n] for n in self.positional])
        return values

    def convert(self, rows: Sequence[Any], description: Any) -> list[Any]:
        """Apply the result processors of the columns that have one (SQLite dates)."""
        if self.processors is None:
            d = self.dialect
            self.processors = [
                (i, p)
                for i, (ty, desc) in enumerate(zip(self.types, description, strict=True))
                if (p := _result_processor(ty, d, desc[1])) is not None
            ]
        if not self.processors:
            return list(rows)
        out = []
        for row in rows:
            row = list(row)
            for i, p in self.processors:
                row[i] = p(row[i])
            out.append(row)
        return out

    def run(self, cursor: Any, values: dict[str, Any]) -> list[Any]:
        """Execute on ``cursor`` and return the converted rows."""
        cursor.execute(self.sql, self.params(values))
        rows = cursor.fetchall()
        return self.convert(rows, cursor.description) if rows else []


def _result_processor(type_: Any, dialect: Any, coltype: Any) -> Any:
    """The type's result processor; SQLite's ISO date strings parsed by the C parser."""
    impl = type_.dialect_impl(dialect)
    if dialect.name == "sqlite" and not getattr(impl, "_reg", None):
        if isinstance(impl, sqltypes.DateTime):
            return _iso_datetime
        if isinstance(impl, sqltypes.Date):
            return _iso_date
    return impl.result_processor(dialect, coltype)


def _iso_datetime(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _iso_date(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int) else (1, str(key))


def _reflect_catalogued(catalog: Catalog, engine: Engine | Connection) -> dict[str, SATable]:
    """Reflect the catalogued tables and check every name the catalog uses against them."""
    insp = inspect(engine)
    existing = set(insp.get_table_names())
    md = MetaData()
    out: dict[str, SATable] = {}
    for t in catalog.tables.values():
        where = str(t.location) if t.location else f"tables.{t.name}"
        if t.name not in existing:
            raise SchemaMismatch(f"table {t.name!r} does not exist in the database", key=where)
        with warnings.catch_warnings():
            # expression indexes (lower(email)) are not reflected; they are not needed here
            warnings.simplefilter("ignore", SAWarning)
            sa = SATable(t.name, md, autoload_with=engine)
        needed = {t.primary_key, *t.fields}
        needed |= {lk.column for lk in t.links.values()}
        for rid in t.retention:
            anchor = catalog.retention[rid].anchor
            if anchor.link is None:
                needed.add(anchor.column)
        for column in sorted(needed):
            if column not in sa.c:
                f = t.fields.get(column)
                loc = str(f.location) if f and f.location else where
                raise SchemaMismatch(
                    f"column {column!r} of table {t.name!r} does not exist in the database", key=loc
                )
        out[t.name] = sa
    for t in catalog.tables.values():
        for rid in t.retention:
            anchor = catalog.retention[rid].anchor
            if anchor.link:
                target = catalog.tables[t.links[anchor.link].table]
                if anchor.column not in out[target.name].c:
                    raise SchemaMismatch(
                        f"retention rule {rid!r} anchors on {target.name}.{anchor.column}, "
                        "which does not exist in the database",
                        key=str(catalog.retention[rid].location),
                    )
    return out
