"""The subject graph: every row about a person, in every catalogued table, following links.

A party of a table is found directly, by comparing its identity columns with the given
identities; ``via`` a link, when the row points at a row of theirs; or ``pointed_by`` another
table's link, when a row of theirs points at this one. Two forms of the same lookup exist:

* :meth:`SubjectGraph.condition` / :meth:`~SubjectGraph.party_select`: one set-based WHERE
  clause per (table, party) that depends only on the identities, nesting the linked tables'
  conditions as subqueries (``user_account_id IN (SELECT id FROM user_accounts WHERE
  lower(email) IN (...))``): what erasure, export, holds and purges run;
* :meth:`SubjectGraph.resolve`: the parties in dependency order, each fed the values the
  parties it depends on matched (``customer_id IN (:ids)``), which answers an access request
  with one short indexed statement per table and party.

Only the fields that belong to a matched party are selected, so data about other people on the
same row never leaves the database (Art. 15(4)).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, cached_property
from operator import attrgetter, itemgetter
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
    union_all,
)
from sqlalchemy.sql import sqltypes

from dsr.catalog.bind import LiveSchema, bind_catalog, link_target
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
Node = tuple[str, str]
#: Values passed on from one party's rows to another's lookup in one IN list at most; past
#: that the lookup nests the other party's condition as a subquery instead.
MAX_FED = 512
_MISSING: Any = object()


@cache
def _fed_names(j: int, size: int) -> list[str]:
    return [f"fed{j}_{i}" for i in range(size)]


def _bucket(n: int) -> int:
    """The IN-list size for ``n`` values: the next power of two, so few statements exist."""
    size = 1
    while size < n:
        size *= 2
    return size


@dataclass(frozen=True)
class _Feed:
    """A party found through another party's rows: ``column`` of this table is compared with
    the values of ``source_column`` on the rows where the person is the ``source`` party."""

    column: str
    source: Node
    source_column: str


@dataclass(slots=True)
class MatchedRow:
    """One row about the person: its key, which parties they are on it, the values shown."""

    key: Any
    parties: set[str]
    values: dict[str, Any]
    #: kept by an erasure and found again through the ledger (restricted, Art. 17(3))
    kept: bool = False


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

    def __init__(
        self, catalog: Catalog, engine: Engine | Connection, live: LiveSchema | None = None
    ) -> None:
        bound = bind_catalog(catalog, engine, live)
        self.catalog = bound.catalog
        self.dialect = engine.dialect.name
        self.sa_tables = bound.sa_tables
        self._cache: dict[tuple[Any, ...], Select[Any] | None] = {}
        self._conditions: dict[tuple[str, str, Signature], ColumnElement[bool] | None] = {}
        self._compiled: dict[tuple[Node, Signature, tuple[int, ...]], _Compiled | None] = {}
        #: what services learn of the live schema beyond the catalogued tables (foreign keys),
        #: reflected once per graph: build a new graph after a migration
        self.schema_cache: dict[str, Any] = {}

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
        each nested as a subquery, across as many hops as the catalog describes. Built once
        per shape of ``idmap`` (its values are bound when the statement runs).
        """
        sig: Signature = tuple(sorted((k, len(v)) for k, v in idmap.items()))
        if (table, party, sig) not in self._conditions:
            self._conditions[table, party, sig] = self._condition(table, party, idmap)
        return self._conditions[table, party, sig]

    def _condition(
        self, table: str, party: str, idmap: dict[str, list[str]]
    ) -> ColumnElement[bool] | None:
        t = self.catalog.tables[table]
        p = t.parties[party]
        sa = self.sa_tables[table]
        found: list[ColumnElement[bool]] = []
        direct = self._direct(table, party, idmap)
        if direct is not None:
            found.append(direct)
        # per column of this table, the subqueries whose values it must be among
        among: dict[str, list[Select[Any]]] = {}
        for v in p.via:
            link = t.links[v.link]
            inner = self.condition(link.table, v.party, idmap)
            if inner is None:
                continue
            target_col = self.sa_tables[link.table].c[link_target(t, v.link, self.catalog.tables)]
            among.setdefault(link.column, []).append(select(target_col).where(inner))
        for b in p.pointed_by:
            source = self.catalog.tables[b.table]
            inner = self.condition(b.table, b.party, idmap)
            if inner is None:
                continue
            link = source.links[b.link]
            ref = self.sa_tables[b.table].c[link.column]
            here = link_target(source, b.link, self.catalog.tables)
            among.setdefault(here, []).append(select(ref).where(inner, ref.is_not(None)))
        for column, subs in among.items():
            # one IN over a UNION ALL, not an OR of INs: PostgreSQL turns an OR of
            # subqueries into a scan of the whole table (an address pointed at by customers,
            # orders and cards: 0.34 s on 1.2M addresses, against 1 ms)
            found.append(
                sa.c[column].in_(subs[0].scalar_subquery() if len(subs) == 1 else union_all(*subs))
            )
        if not found:
            return None
        return found[0] if len(found) == 1 else or_(*found)

    def key_columns(self, table: str) -> list[Column[Any]]:
        """The columns that address a row of ``table`` (none for a table without a key)."""
        sa = self.sa_tables[table]
        return [sa.c[c] for c in self.catalog.tables[table].key]

    def _columns(
        self, table: str, names: Sequence[str], fallback: Sequence[str] = ()
    ) -> list[Column[Any]]:
        """The key columns, then ``names`` (less the key); a table without a key and nothing
        asked for selects ``fallback`` (or ``names``), so a row is never empty."""
        sa = self.sa_tables[table]
        key = self.catalog.tables[table].key
        cols: list[Column[Any]] = self.key_columns(table)
        cols += [sa.c[n] for n in names if n not in key]
        return cols or [sa.c[n] for n in (fallback or names)]

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
        cache_key = (table, party, sig, ordered, None if fields is None else tuple(fields))
        if cache_key in self._cache:
            return self._cache[cache_key]
        t = self.catalog.tables[table]
        cond = self.condition(table, party, idmap)
        stmt: Select[Any] | None = None
        if cond is not None:
            names = [f.name for f in t.fields_of(party)] if fields is None else list(fields)
            cols = self._columns(table, names, fallback=[f.name for f in t.fields_of(party)])
            stmt = select(*cols).where(cond)
            if ordered and t.key:
                stmt = stmt.order_by(*self.key_columns(table))
        self._cache[cache_key] = stmt
        return stmt

    def identity_map(self, ids: Sequence[Identity]) -> dict[str, list[str]]:
        """Bind values per identity type: every stored form of every given value."""
        return identity_map(ids, self.catalog)

    # -- execution --------------------------------------------------------------------------

    def resolve(self, conn: Connection, identities: Sequence[Identity | str]) -> SubjectRecord:
        """Every row about the person in every catalogued personal table (Art. 15).

        Parties are looked up in dependency order, and what a party's rows point at (or are
        pointed at by) is passed on as values: once the customer's row is found, the orders
        are read by ``customer_id IN (:ids)`` rather than by repeating the customer's lookup
        inside every dependent statement, and a party nothing leads to is not queried at
        all. Statements are compiled once per identity signature and bucket of value counts
        and run as driver SQL (``Connection.exec_driver_sql``: every statement passes
        SQLAlchemy's events, so tracers and loggers see it), converting only the columns whose
        type needs it (SQLite dates); this keeps a lookup close to hand-written driver calls.
        """
        ids = parse_identities(identities, self.catalog)
        idmap = identity_map(ids, self.catalog)
        base = bind_values_flat(idmap)
        record = SubjectRecord(identities=ids)
        sig: Signature = tuple(sorted((k, len(v)) for k, v in idmap.items()))
        found: dict[Node, dict[str, list[Any]]] = {}
        per_table: dict[str, dict[str, tuple[_Compiled, list[Any]]]] = {}
        execute = conn.exec_driver_sql
        base_params: dict[Any, tuple[Any, ...]] = {}
        for node, feeds in self._lookups:
            sizes: list[int] = []
            fed_lists: list[list[Any]] = []
            for feed in feeds:
                source = found.get(feed.source)
                fed: list[Any] = source.get(feed.source_column, []) if source else []
                n = len(fed)
                sizes.append(0 if n == 0 else (-1 if n > MAX_FED else _bucket(n)))
                fed_lists.append(fed)
            cache_key = (node, sig, tuple(sizes))
            compiled = self._compiled.get(cache_key, _MISSING)
            if compiled is _MISSING:
                compiled = self._lookup_statement(conn, node, feeds, idmap, cache_key)
            if compiled is None:
                continue
            if compiled.leading is not None:
                # positional parameters: the identities' tuple (shared by statements with
                # the same order) followed by each fed list, padded to its bucket
                lead = base_params.get(compiled.leading)
                if lead is None:
                    lead = base_params[compiled.leading] = tuple(
                        [base[n] for n in compiled.leading]
                    )
                params: Any = lead
                for fed, size in zip(fed_lists, sizes, strict=True):
                    if size > 0:
                        params += tuple(fed) + (fed[-1],) * (size - len(fed))
            else:
                values = dict(base)
                for j, (fed, size) in enumerate(zip(fed_lists, sizes, strict=True)):
                    if size > 0:
                        padded = fed + [fed[-1]] * (size - len(fed))
                        values.update(zip(_fed_names(j, size), padded, strict=True))
                params = compiled.params(values)
            result = execute(compiled.sql, params)
            description = result.cursor.description
            rows: Any = result.fetchall()
            if not rows:
                continue
            if compiled.processors is None:
                compiled.prepare(description)
            if compiled.convert_rows:
                rows = compiled.convert(rows, description)
            if compiled.feeds:
                out: dict[str, list[Any]] = {}
                for col, i in compiled.feeds:
                    # the order of the values does not matter to IN (...)
                    out[col] = list({r[i] for r in rows} - {None})
                found[node] = out
            per_table.setdefault(node[0], {})[node[1]] = (compiled, rows)
        for t in self.catalog.personal_tables():
            matched = per_table.get(t.name)
            if matched:
                record.tables.append(self._records(t, matched, record))
        return record

    def _records(
        self,
        t: Table,
        matched: dict[str, tuple[_Compiled, list[Any]]],
        record: SubjectRecord,
    ) -> TableRecords:
        """The table's matched rows, merged by key across the parties the person is on."""
        nk = len(t.key)
        if len(matched) == 1:
            # the common case: one party, no merging
            ((pname, (compiled, rows)),) = matched.items()
            if t.parties[pname].one_row and len(rows) > 1:
                record.ambiguous.append(Ambiguity(t.name, pname, len(rows)))
            values_of = compiled.values_of
            if nk == 1:
                out = [MatchedRow(row[0], {pname}, values_of(row)) for row in rows]
                if len(out) > 1:
                    try:
                        out.sort(key=_key_of)
                    except TypeError:
                        out.sort(key=lambda m: _sort_key(m.key))
                return TableRecords(table=t, rows=out, parties=(pname,))
        by_key: dict[Any, MatchedRow] = {}
        parties = [p for p in t.parties if p in matched]
        for pname in parties:
            compiled, rows = matched[pname]
            if t.parties[pname].one_row and len(rows) > 1:
                record.ambiguous.append(Ambiguity(t.name, pname, len(rows)))
            values_of = compiled.values_of
            if nk == 0:
                # no key: rows cannot be told apart across parties; each stands alone
                for row in rows:
                    key = ("row", len(by_key) + 1)
                    by_key[key] = MatchedRow(key, {pname}, values_of(row))
                continue
            for row in rows:
                key = row[0] if nk == 1 else tuple(row[:nk])
                m = by_key.get(key)
                if m is None:
                    by_key[key] = MatchedRow(key, {pname}, values_of(row))
                    continue
                m.parties.add(pname)
                m.values.update(values_of(row))
        try:
            keys = sorted(by_key)
        except TypeError:
            keys = sorted(by_key, key=_sort_key)
        return TableRecords(table=t, rows=[by_key[k] for k in keys], parties=tuple(parties))

    @cached_property
    def _lookups(self) -> list[tuple[Node, list[_Feed]]]:
        """Every (table, party) of the personal tables with what feeds it, in dependency
        order (the loader refuses loops)."""
        feeds: dict[Node, list[_Feed]] = {}
        tables = self.catalog.tables
        for t in self.catalog.personal_tables():
            for pname, p in t.parties.items():
                out = [
                    _Feed(
                        t.links[v.link].column,
                        (t.links[v.link].table, v.party),
                        link_target(t, v.link, tables),
                    )
                    for v in p.via
                ]
                for b in p.pointed_by:
                    source = tables[b.table]
                    out.append(
                        _Feed(
                            link_target(source, b.link, tables),
                            (b.table, b.party),
                            source.links[b.link].column,
                        )
                    )
                feeds[(t.name, pname)] = out
        order: list[Node] = []
        seen: set[Node] = set()

        def visit(node: Node) -> None:
            if node in seen:
                return
            seen.add(node)
            for f in feeds.get(node, ()):
                visit(f.source)
            if node in feeds:
                order.append(node)

        for node in feeds:
            visit(node)
        return [(node, feeds[node]) for node in order]

    @cached_property
    def _feeds_from(self) -> dict[Node, set[str]]:
        """Per party, the columns of its rows that other parties' lookups are fed with."""
        out: dict[Node, set[str]] = {}
        for _, feeds in self._lookups:
            for f in feeds:
                out.setdefault(f.source, set()).add(f.source_column)
        return out

    def _lookup_statement(
        self,
        conn: Connection,
        node: Node,
        feeds: list[_Feed],
        idmap: dict[str, list[str]],
        cache_key: tuple[Node, Signature, tuple[int, ...]],
    ) -> _Compiled | None:
        sizes = cache_key[2]
        tname, pname = node
        t = self.catalog.tables[tname]
        sa = self.sa_tables[tname]
        clauses: list[ColumnElement[bool]] = []
        direct = self._direct(tname, pname, idmap)
        if direct is not None:
            clauses.append(direct)
        for j, (feed, size) in enumerate(zip(feeds, sizes, strict=True)):
            col = sa.c[feed.column]
            if size > 0:
                params = [bindparam(f"fed{j}_{i}", type_=col.type) for i in range(size)]
                clauses.append(col.in_(params))
            elif size < 0:
                source_sa = self.sa_tables[feed.source[0]]
                inner = self.condition(feed.source[0], feed.source[1], idmap)
                if inner is not None:
                    ref = source_sa.c[feed.source_column]
                    sub = select(ref).where(inner, ref.is_not(None)).scalar_subquery()
                    clauses.append(col.in_(sub))
        compiled: _Compiled | None = None
        if clauses:
            cols = self._columns(tname, [f.name for f in t.fields_of(pname)])
            picked = {c.name for c in cols}
            fed_on = sorted(self._feeds_from.get(node, ()))
            extra = [sa.c[c] for c in fed_on if c not in picked]
            stmt = select(*cols, *extra).where(or_(*clauses) if len(clauses) > 1 else clauses[0])
            compiled = _Compiled(stmt, conn)
            compiled.lead_with([_fed_names(j, size) for j, size in enumerate(sizes) if size > 0])
            hidden = {c for c in t.key if c not in t.fields} | {c.name for c in extra}
            compiled.show([i for i, n in enumerate(compiled.names) if n not in hidden])
            compiled.width = len(t.key)
            compiled.feeds = [(c, compiled.names.index(c)) for c in fed_on]
        self._compiled[cache_key] = compiled
        return compiled

    def _direct(
        self, table: str, party: str, idmap: dict[str, list[str]]
    ) -> ColumnElement[bool] | None:
        """The party's identity columns compared with the given identities, or None."""
        t = self.catalog.tables[table]
        p = t.parties[party]
        sa = self.sa_tables[table]
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
        if not direct:
            return None
        clause = direct[0] if len(direct) == 1 else or_(*direct)
        if p.unattributed:
            clause = and_(
                clause, *(sa.c[t.links[name].column].is_(None) for name in p.unattributed)
            )
        return clause

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
        self.names = [str(c.key) for c in stmt.selected_columns]
        #: (column, index) of the values other parties' lookups are fed with
        self.feeds: list[tuple[str, int]] = []
        #: how many leading columns are the row key
        self.width = 0
        #: names of the identity parameters before the fed ones (see lead_with), or None
        self.leading: tuple[str, ...] | None = None
        self.shown = list(range(len(self.names)))
        #: convert whole rows (a key or fed column needs it) rather than only shown values
        self.convert_rows = False
        self.values_of: Callable[[Sequence[Any]], dict[str, Any]] = self._all_values
        self.types = [c.type for c in stmt.selected_columns]
        self.processors: list[Any] | None = None

    def lead_with(self, fed: list[list[str]]) -> None:
        """Allow parameters as the identities' tuple plus the fed lists, in that order, when
        the statement's positional parameters are exactly that and need no conversion."""
        if self.positional is None or self.convert_binds:
            return
        tail = [n for names in fed for n in names]
        head = list(self.positional[: len(self.positional) - len(tail)])
        if head + tail == list(self.positional) and not any(n.startswith("fed") for n in head):
            self.leading = tuple(head)

    def _all_values(self, row: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self.names, row, strict=True))

    def show(self, indexes: list[int]) -> None:
        """Show only these columns of a row (not hidden keys or columns only passed on)."""
        self.shown = indexes
        self.values_of = self._picker(indexes)

    def _picker(self, indexes: list[int]) -> Callable[[Sequence[Any]], dict[str, Any]]:
        if indexes == list(range(len(self.names))):
            return self._all_values
        names = [self.names[i] for i in indexes]
        if len(indexes) == 1:
            (only,) = indexes
            return lambda row: {names[0]: row[only]}
        pick = itemgetter(*indexes)
        return lambda row: dict(zip(names, pick(row), strict=True))

    def prepare(self, description: Any) -> None:
        """Learn the result processors from the first result; convert only what is shown,
        unless a key or fed column needs converting (then whole rows are)."""
        self.convert([], description)
        assert self.processors is not None
        needed = {i for i, _ in self.processors}
        if not needed:
            return
        if needed & ({*range(self.width)} | {i for _, i in self.feeds}):
            self.convert_rows = True
            return
        plain = self.values_of
        convs = [(self.names[i], p) for i, p in self.processors if i in set(self.shown)]

        def values_of(row: Sequence[Any]) -> dict[str, Any]:
            out = plain(row)
            for name, p in convs:
                out[name] = p(out[name])
            return out

        self.values_of = values_of

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


_key_of = attrgetter("key")


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int) else (1, str(key))
