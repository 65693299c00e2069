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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    or_,
    select,
)
from sqlalchemy.sql import sqltypes

from dsr.catalog.bind import bind_catalog, link_target
from dsr.catalog.indexes import match_expression, match_kind
from dsr.catalog.model import Catalog, Field, Table
from dsr.errors import SubjectError
from dsr.subject.identity import (
    Identity,
    is_anonymised_ip,
    parse_identities,
    stored_forms,
)

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


@dataclass(frozen=True)
class Ambiguity:
    """A party the catalog says a person is on at most one row of matched several rows: the
    identities name more than one person there (a shared or mistyped address)."""

    table: str
    party: str
    rows: int

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "party": self.party, "rows": self.rows}


@dataclass
class SubjectRecord:
    """Everything held about one person, as the catalog describes it."""

    identities: tuple[Identity, ...]
    tables: list[TableRecords] = field(default_factory=list)
    ambiguous: list[Ambiguity] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(t.rows for t in self.tables)

    @property
    def row_count(self) -> int:
        return sum(len(t.rows) for t in self.tables)


class SubjectGraph:
    """Finds a person's rows; build once per engine and catalog, then call :meth:`resolve`.

    Building binds the catalog to the live schema (:func:`dsr.catalog.bind.bind_catalog`):
    ``graph.catalog`` is the bound catalog, with every table's key settled.
    """

    def __init__(self, catalog: Catalog, engine: Engine | Connection) -> None:
        bound = bind_catalog(catalog, engine)
        self.catalog = bound.catalog
        self.dialect = engine.dialect.name
        self.sa_tables = bound.sa_tables
        self._cache: dict[tuple[str, str, Signature, bool], Select[Any] | None] = {}
        self._plans: dict[Signature, list[tuple[Table, list[tuple[str, _Compiled]]]]] = {}

    # -- statement construction -------------------------------------------------------------

    def match_expression(self, table: str, column: str, itype: str) -> ColumnElement[Any]:
        """The column as compared with an identity's normalised values (see identity.py)."""
        col = self.sa_tables[table].c[column]
        kind = match_kind(self.catalog, itype, self.dialect)
        return match_expression(col, kind)

    def condition(
        self, table: str, party: str, idmap: dict[str, list[str]]
    ) -> ColumnElement[bool] | None:
        """The WHERE clause selecting the rows of ``table`` where the person is ``party``.

        The party's identity columns, its ``via`` links (the row points at a row of theirs)
        and its ``pointed_by`` links (a row of theirs points at this row) are alternatives,
        each nested as a subquery, across as many hops as the catalog describes.
        """
        t = self.catalog.tables[table]
        p = t.parties[party]
        sa = self.sa_tables[table]
        found: list[ColumnElement[bool]] = []
        direct: list[ColumnElement[bool]] = []
        for itype, columns in p.identities.items():
            values = idmap.get(itype)
            if not values:
                continue
            for column in columns:
                col = self.match_expression(table, column, itype)
                params = [
                    bindparam(f"{itype}_{i}", type_=sa.c[column].type) for i in range(len(values))
                ]
                direct.append(col == params[0] if len(params) == 1 else col.in_(params))
        if direct:
            clause = direct[0] if len(direct) == 1 else or_(*direct)
            if p.unattributed:
                clause = and_(
                    clause, *(sa.c[t.links[name].column].is_(None) for name in p.unattributed)
                )
            found.append(clause)
        for v in p.via:
            link = t.links[v.link]
            inner = self.condition(link.table, v.party, idmap)
            if inner is None:
                continue
            target_col = self.sa_tables[link.table].c[link_target(t, v.link, self.catalog.tables)]
            sub = select(target_col).where(inner)
            found.append(sa.c[link.column].in_(sub.scalar_subquery()))
        for b in p.pointed_by:
            source = self.catalog.tables[b.table]
            inner = self.condition(b.table, b.party, idmap)
            if inner is None:
                continue
            link = source.links[b.link]
            ref = self.sa_tables[b.table].c[link.column]
            sub = select(ref).where(inner, ref.is_not(None))
            here = sa.c[link_target(source, b.link, self.catalog.tables)]
            found.append(here.in_(sub.scalar_subquery()))
        if not found:
            return None
        return found[0] if len(found) == 1 else or_(*found)

    def key_columns(self, table: str) -> list[Column[Any]]:
        """The columns that address a row of ``table`` (none for a table without a key)."""
        sa = self.sa_tables[table]
        return [sa.c[c] for c in self.catalog.tables[table].key]

    def party_select(
        self,
        table: str,
        party: str,
        idmap: dict[str, list[str]],
        fields: Sequence[str] | None = None,
        *,
        ordered: bool = True,
    ) -> Select[Any] | None:
        """SELECT the key columns and ``fields`` (default: the party's) of the party's rows.

        ``ordered=False`` leaves out ``ORDER BY`` the key: SQLite then reads a linked party's
        rows through the link column's index instead of scanning the table in key order.
        Returns None when the identities cannot reach the party.
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
            cols: list[Column[Any]] = self.key_columns(table)
            cols += [sa.c[n] for n in names if n not in t.key]
            if not cols:
                cols = [sa.c[f.name] for f in t.fields_of(party)]
            stmt = select(*cols).where(cond)
            if ordered and t.key:
                stmt = stmt.order_by(*self.key_columns(table))
        if fields is None:
            self._cache[cache_key] = stmt
        return stmt

    def identity_map(self, ids: Sequence[Identity]) -> dict[str, list[str]]:
        """Bind values per identity type: every stored form of every given value."""
        return identity_map(ids, self.catalog)

    # -- execution --------------------------------------------------------------------------

    def resolve(self, conn: Connection, identities: Sequence[Identity | str]) -> SubjectRecord:
        """Every row about the person in every catalogued personal table (Art. 15).

        The statements are compiled once per identity signature and run on the connection's
        DB-API cursor, converting only the columns whose type needs it (SQLite dates); this
        keeps a lookup within a small factor of hand-written driver calls.
        """
        ids = parse_identities(identities, self.catalog)
        idmap = identity_map(ids, self.catalog)
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
                nk = len(t.key)
                drop = [c for c in t.key if c not in t.fields]
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
                    if t.parties[pname].one_row and len(rows) > 1:
                        record.ambiguous.append(Ambiguity(t.name, pname, len(rows)))
                    names = compiled.names
                    if nk == 0:
                        # no key: rows cannot be told apart across parties; each stands alone
                        for row in rows:
                            key = ("row", len(by_key) + 1)
                            by_key[key] = MatchedRow(
                                key, {pname}, dict(zip(names, row, strict=True))
                            )
                        continue
                    for row in rows:
                        key = row[0] if nk == 1 else tuple(row[:nk])
                        m = by_key.get(key)
                        if m is None:
                            values_ = dict(zip(names, row, strict=True))
                            for c in drop:
                                del values_[c]
                            by_key[key] = MatchedRow(key, {pname}, values_)
                            continue
                        m.parties.add(pname)
                        m.values.update(
                            (n, v) for n, v in zip(names, row, strict=True) if n not in drop
                        )
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
        idmap = identity_map(parse_identities(identities, self.catalog), self.catalog)
        stmt = self.party_select(table, party, idmap, fields)
        if stmt is None:
            return
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(
            stmt, bind_values(stmt, idmap)
        )
        for row in result.mappings():
            yield dict(row)


def identity_map(ids: Sequence[Identity], catalog: Catalog) -> dict[str, list[str]]:
    """Bind values per identity type: every form a stored value equal to an identity may take.

    An IP address that is what the catalog's own IP truncation leaves behind (a /24 or /48
    network address) is refused: it is shared by everyone whose address was truncated to it.
    """
    truncates = any(
        a == "truncate_ip" for r in catalog.retention.values() for a in r.anonymise.values()
    )
    out: dict[str, list[str]] = {}
    for i in ids:
        kind = catalog.identity_types[i.type]
        if kind.match == "ip" and truncates and is_anonymised_ip(i.value):
            raise SubjectError(
                "this is a network address that IP anonymisation leaves behind (/24 or /48); "
                "it is shared by many people and identifies no one",
                where=f"identity {i.type}",
            )
        forms = out.setdefault(i.type, [])
        forms += [f for f in stored_forms(kind, i.value, catalog.phone_region) if f not in forms]
    return out


def bind_values(stmt: Select[Any], idmap: dict[str, list[str]]) -> dict[str, Any]:
    """Values for the statement's bind parameters, named ``TYPE_INDEX`` at every nesting level."""
    return bind_values_flat(idmap)


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
