"""Who points at whom: one reference model for erasure and purge.

A row may only be deleted when nothing that stays still points at it. What points at a
catalogued table is read once per schema (cached with the graph's schema cache): every
foreign key the database declares, on any table (catalogued or not), and every link the
catalog declares, enforced by the database or not (a store must not point at a deleted
manager). A declared link says what becomes of the reference when its target goes while the
referring row stays (``on_remove``):

- ``restrict`` (default): the target is not deleted (a purge withholds it, "referenced by";
  an erasure anonymises it instead and keeps it);
- ``unlink``: the referring column is set to NULL first, then the target goes;
- ``tombstone``: the referring column gets a random value that points at nothing and maps
  to no one (log lines keep telling apart "the same account" from "another one" no longer:
  each row gets its own value), then the target goes. Only where no database foreign key
  enforces the link (``dsr catalog check`` says so).

:func:`detach` is the one statement both commands run for ``unlink`` and ``tombstone``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    MetaData,
    String,
    cast,
    func,
    inspect,
    literal,
    update,
)
from sqlalchemy import Table as SATable
from sqlalchemy.sql import sqltypes

from dsr.catalog.bind import TOMBSTONE_PREFIX, integer_max, link_target, tombstone_unfit
from dsr.catalog.model import Catalog
from dsr.db import is_mysql
from dsr.errors import SchemaMismatch
from dsr.subject.rowkey import chunks, key_in

#: the key under which a graph's schema cache keeps the references
CACHE_KEY = "removal.references"


@dataclass(frozen=True)
class Reference:
    """Rows of ``child`` whose ``columns`` hold the ``parent_columns`` of a ``parent`` row."""

    child: str
    child_table: SATable
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    #: the referring table's key (the catalog's, else its primary key), () when it has none
    child_key: tuple[str, ...] = ()
    #: a database foreign key enforces it
    enforced: bool = False
    #: the catalog link it is declared as, if any
    link: str | None = None
    on_remove: str = "restrict"

    @property
    def detaches(self) -> bool:
        """The reference gives way (unlink, tombstone) instead of keeping its target."""
        return self.on_remove != "restrict"

    @property
    def action(self) -> str:
        """What detaching did to the referring rows, as reports say it."""
        return "unlinked" if self.on_remove == "unlink" else "tombstoned"

    @property
    def label(self) -> str:
        return f"{self.child}.{', '.join(self.columns)}"


References = dict[str, list[Reference]]


def references(
    conn: Connection, catalog: Catalog, sa_tables: dict[str, SATable], cache: dict[str, Any]
) -> References:
    """Per catalogued table, everything that references it; read once per schema cache."""
    found = cache.get(CACHE_KEY)
    if found is None:
        found = cache[CACHE_KEY] = _reflect(conn, catalog, sa_tables)
    return found


def _reflect(conn: Connection, catalog: Catalog, sa_tables: dict[str, SATable]) -> References:
    insp = inspect(conn)
    # one catalogue query for all foreign keys and one for all primary keys (not one per table)
    fks: dict[str, Any] = {name: v for (_, name), v in insp.get_multi_foreign_keys().items()}
    pks: dict[str, Any] = {name: v for (_, name), v in insp.get_multi_pk_constraint().items()}
    declared: dict[tuple[str, tuple[str, ...], str], tuple[str | None, str]] = {
        (t.name, (lk.column,), lk.table): (lname, lk.on_remove)
        for t in catalog.tables.values()
        for lname, lk in t.links.items()
    }
    md = MetaData()
    out: References = {}

    extra: dict[str, SATable] = {}

    def table_of(name: str) -> SATable:
        if name in sa_tables:
            return sa_tables[name]
        if name not in extra:
            # a table the catalog does not know, but whose foreign key guards a catalogued one
            extra[name] = SATable(name, md, autoload_with=conn)
        return extra[name]

    def child_key(name: str) -> tuple[str, ...]:
        if name in catalog.tables and catalog.tables[name].key:
            return tuple(catalog.tables[name].key)
        return tuple((pks.get(name) or {}).get("constrained_columns") or ())

    seen: set[tuple[str, tuple[str, ...], str]] = set()
    for name in sorted(fks):
        for fk in fks[name]:
            parent = fk.get("referred_table")
            if parent not in catalog.tables:
                continue
            cols = tuple(fk["constrained_columns"])
            link, on_remove = declared.get((name, cols, parent), (None, "restrict"))
            seen.add((name, cols, parent))
            out.setdefault(parent, []).append(
                Reference(
                    child=name,
                    child_table=table_of(name),
                    columns=cols,
                    parent=parent,
                    parent_columns=tuple(fk["referred_columns"]),
                    child_key=child_key(name),
                    enforced=True,
                    link=link,
                    on_remove=on_remove,
                )
            )
    for t in catalog.tables.values():
        for lname, lk in t.links.items():
            if (t.name, (lk.column,), lk.table) in seen or t.name not in sa_tables:
                continue
            out.setdefault(lk.table, []).append(
                Reference(
                    child=t.name,
                    child_table=sa_tables[t.name],
                    columns=(lk.column,),
                    parent=lk.table,
                    parent_columns=(link_target(t, lname, catalog.tables),),
                    child_key=child_key(t.name),
                    link=lname,
                    on_remove=lk.on_remove,
                )
            )
    return out


def children_first(tables: Iterable[str], refs: References) -> list[str]:
    """``tables`` ordered so that referring tables come before the tables they refer to;
    a cycle is broken where it closes (the NOT EXISTS guards then keep what is referenced)."""
    names = list(dict.fromkeys(tables))
    wanted = set(names)
    children = {
        n: sorted({r.child for r in refs.get(n, []) if r.child != n} & wanted) for n in names
    }
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        for child in children[name]:
            visit(child)
        visiting.discard(name)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def strict_order(tables: Iterable[str], refs: References) -> list[str]:
    """As :func:`children_first`, but raises :class:`graphlib.CycleError` on a cycle."""
    names = list(dict.fromkeys(tables))
    wanted = set(names)
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name in names:
        sorter.add(name)
        for r in refs.get(name, []):
            if r.child != name and r.child in wanted:
                sorter.add(name, r.child)
    return list(sorter.static_order())


def detach(conn: Connection, ref: Reference, targets: Sequence[Any]) -> int:
    """Unlink or tombstone the references of ``ref`` to the parent rows whose
    ``parent_columns`` hold the values ``targets``; returns the number of referring rows
    changed."""
    column = ref.child_table.c[ref.columns[0]]
    value = _tombstone(column, conn.dialect.name) if ref.on_remove == "tombstone" else None
    done = 0
    for chunk in chunks(targets, conn):
        stmt = update(ref.child_table).where(key_in([column], chunk, conn))
        done += max(int(conn.execute(stmt.values({column.name: value})).rowcount or 0), 0)
    return done


def _tombstone(column: Any, dialect: str) -> ColumnElement[Any]:
    """A random value per row, of the column's type, that no key takes: negative integers
    (keys and sequences count from 1), random UUIDs, or random hexadecimal text (beginning
    ``tombstone-`` where the column is long enough). :func:`tombstone_unfit` says which
    columns cannot take one; ``dsr catalog check`` reports them."""
    unfit = tombstone_unfit(column.type)
    if unfit is not None:
        raise SchemaMismatch(
            f"{column.table.name}.{column.name} {unfit}; use on_remove: unlink",
            key=f"{column.table.name}.{column.name}",
        )
    if isinstance(column.type, sqltypes.Integer):
        top = integer_max(column.type) - 1
        if dialect == "postgresql":
            return -cast(func.floor(func.random() * top), Integer) - 1
        if is_mysql(dialect):
            return -cast(func.floor(func.rand() * top), Integer) - 1
        return -(func.abs(func.random()) % top) - 1
    if isinstance(column.type, sqltypes.Uuid):
        if dialect == "postgresql":
            return func.gen_random_uuid()
        if is_mysql(dialect):
            return func.uuid()
        return func.lower(func.hex(func.randomblob(16)))
    if dialect == "postgresql":
        digits: Any = func.md5(cast(func.random(), String), type_=String) + func.md5(
            cast(func.random(), String), type_=String
        )
    elif is_mysql(dialect):
        digits = func.concat(func.md5(func.rand()), func.md5(func.rand()))
    else:
        digits = func.lower(func.hex(func.randomblob(32)))
    length = getattr(column.type, "length", None) or len(TOMBSTONE_PREFIX) + 32
    if length < len(TOMBSTONE_PREFIX) + 32:
        return func.substr(digits, 1, length)
    return func.substr(literal(TOMBSTONE_PREFIX) + digits, 1, length)


__all__ = [
    "CACHE_KEY",
    "Reference",
    "References",
    "children_first",
    "detach",
    "references",
    "strict_order",
]
