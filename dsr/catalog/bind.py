"""Bind a catalog to a live database: reflect its tables once, and settle how rows are addressed.

A row is addressed only by what the database guarantees unique. A table's key is the
catalog's ``primary_key`` when the database backs it with its primary key or a unique
constraint (or unique index) on exactly those columns, all NOT NULL; without ``primary_key``
it is the reflected primary key, else the first such unique constraint. A catalog key the
database does not guarantee is a :class:`~dsr.errors.SchemaMismatch` naming the file and line:
a wrong key once rewrote 21 customers, because ``UPDATE ... WHERE key = ...`` matched them all.
A table with no unique key at all is bound with an empty key: it is read, never changed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, UniqueConstraint, inspect
from sqlalchemy import Table as SATable
from sqlalchemy.exc import SAWarning
from sqlalchemy.sql import sqltypes

from dsr.catalog.model import Catalog, Table
from dsr.errors import SchemaMismatch


@dataclass(frozen=True)
class BoundCatalog:
    """A catalog whose tables' keys are settled against the live schema, with that schema."""

    catalog: Catalog
    sa_tables: dict[str, SATable]


def unique_keys(sa: SATable) -> list[tuple[str, ...]]:
    """Column sets the database guarantees unique: primary key first, then unique constraints
    and unique indexes whose columns are all NOT NULL (NULLs may repeat under UNIQUE)."""
    out: list[tuple[str, ...]] = []
    pk = tuple(c.name for c in sa.primary_key.columns)
    if pk:
        out.append(pk)
    candidates = [
        tuple(c.name for c in con.columns)
        for con in sa.constraints
        if isinstance(con, UniqueConstraint)
    ]
    candidates += [
        tuple(c.name for c in ix.columns) for ix in sa.indexes if ix.unique and ix.columns
    ]
    for cols in candidates:
        if cols and cols not in out and all(not sa.c[c].nullable for c in cols):
            out.append(cols)
    return out


def reflect_table(engine: Engine | Connection, name: str, md: MetaData) -> SATable:
    with warnings.catch_warnings():
        # expression indexes (lower(email)) are not reflected; they are not needed here
        warnings.simplefilter("ignore", SAWarning)
        return SATable(name, md, autoload_with=engine)


class LiveSchema:
    """The live database's tables, each reflected at most once and shared by everything that
    needs them: binding the catalog (the catalogued tables) and ``dsr catalog check`` (all
    tables, for uncatalogued personal data). A :class:`dsr.Toolkit` keeps one; build a new one
    after the application's schema changed."""

    def __init__(self) -> None:
        self.metadata = MetaData()
        self._names: set[str] | None = None

    def table_names(self, bind: Engine | Connection) -> set[str]:
        if self._names is None:
            self._names = set(inspect(bind).get_table_names())
        return self._names

    def table(self, bind: Engine | Connection, name: str) -> SATable:
        existing = self.metadata.tables.get(name)
        return existing if existing is not None else reflect_table(bind, name, self.metadata)

    def all_tables(self, bind: Engine | Connection) -> dict[str, SATable]:
        """Every table of the database (those not reflected yet are reflected now)."""
        missing = sorted(self.table_names(bind) - set(self.metadata.tables))
        if missing:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SAWarning)
                self.metadata.reflect(bind=bind, only=missing, resolve_fks=False)
        names = self.table_names(bind)
        return {n: t for n, t in self.metadata.tables.items() if n in names}


def bind_catalog(
    catalog: Catalog, engine: Engine | Connection, live: LiveSchema | None = None
) -> BoundCatalog:
    """Reflect the catalogued tables, check every name the catalog uses, settle each key."""
    live = live or LiveSchema()
    existing = live.table_names(engine)
    sa_tables: dict[str, SATable] = {}
    tables: dict[str, Table] = {}
    for t in catalog.tables.values():
        where = str(t.location) if t.location else f"tables.{t.name}"
        if t.name not in existing:
            raise SchemaMismatch(f"table {t.name!r} does not exist in the database", key=where)
        sa = live.table(engine, t.name)
        needed = {*t.key, *t.fields}
        needed |= {lk.column for lk in t.links.values()}
        if t.display:
            needed.add(t.display)
        for rid in t.retention:
            rule = catalog.retention[rid]
            if rule.anchor.link is None and rule.anchor.related_table is None:
                needed.add(rule.anchor.column)
            needed |= {c.column for c in rule.when}
        for column in sorted(needed):
            if column not in sa.c:
                f = t.fields.get(column)
                loc = str(f.location) if f and f.location else where
                raise SchemaMismatch(
                    f"column {column!r} of table {t.name!r} does not exist in the database", key=loc
                )
        sa_tables[t.name] = sa
        tables[t.name] = replace(t, key=settle_key(t, sa))
    for t in tables.values():
        _check_links(catalog, t, tables, sa_tables)
    bound = replace(catalog, tables=tables, bound=True)
    return BoundCatalog(bound, sa_tables)


def settle_key(t: Table, sa: SATable) -> tuple[str, ...]:
    """The table's key against its reflected table, or SchemaMismatch (see the module)."""
    guaranteed = unique_keys(sa)
    if not t.key:
        return guaranteed[0] if guaranteed else ()
    for cols in guaranteed:
        if set(cols) == set(t.key):
            return t.key
    where = str(t.key_location or t.location or f"tables.{t.name}")
    live = (
        "; the database guarantees " + " or ".join("(" + ", ".join(c) + ")" for c in guaranteed)
        if guaranteed
        else "; the table has no primary key or unique constraint"
    )
    raise SchemaMismatch(
        f"primary_key ({', '.join(t.key)}) of table {t.name!r} is not unique in the database: "
        f"it is neither its primary key nor a unique constraint on NOT NULL columns{live}. "
        "Rows would be addressed by a guess, so no service runs on this catalog",
        key=where,
    )


def link_target(t: Table, link_name: str, tables: dict[str, Table]) -> str:
    """The referenced column of a link: ``to``, else the target table's single key column."""
    link = t.links[link_name]
    if link.to:
        return link.to
    target = tables[link.table]
    if len(target.key) != 1:
        raise SchemaMismatch(
            f"link {t.name}.{link_name} points at table {target.name!r}, whose key is "
            f"{'composite' if target.key else 'missing'}; name the referenced column with 'to'",
            key=str(t.location or f"tables.{t.name}"),
        )
    return target.key[0]


def _check_links(
    catalog: Catalog, t: Table, tables: dict[str, Table], sa_tables: dict[str, SATable]
) -> None:
    for name, link in t.links.items():
        column = link_target(t, name, tables)
        if column not in sa_tables[link.table].c:
            raise SchemaMismatch(
                f"link {t.name}.{name} points at {link.table}.{column}, "
                "which does not exist in the database",
                key=str(t.location or f"tables.{t.name}"),
            )
    for rid in t.retention:
        anchor = catalog.retention[rid].anchor
        if anchor.related_table:
            if anchor.while_referenced:
                continue  # the link was checked with the referring table's links
            if anchor.column not in sa_tables[anchor.related_table].c:
                raise SchemaMismatch(
                    f"retention rule {rid!r} anchors on {anchor.related_table}.{anchor.column}, "
                    "which does not exist in the database",
                    key=str(catalog.retention[rid].location),
                )
            continue
        if anchor.link:
            target = t.links[anchor.link].table
            if anchor.column not in sa_tables[target].c:
                raise SchemaMismatch(
                    f"retention rule {rid!r} anchors on {target}.{anchor.column}, "
                    "which does not exist in the database",
                    key=str(catalog.retention[rid].location),
                )


#: fewer random characters than this and two tombstones of a column would meet too often
TOMBSTONE_MIN_LENGTH = 16
TOMBSTONE_PREFIX = "tombstone-"
#: the largest value of the signed integer types a reference column may have
_INTEGER_MAX = {"TINYINT": 127, "SMALLINT": 32767, "MEDIUMINT": 8388607}


def integer_max(type_: Any) -> int:
    """The largest value a signed integer column of ``type_`` holds."""
    for cls in type(type_).__mro__:
        if cls.__name__.upper() in _INTEGER_MAX:
            return _INTEGER_MAX[cls.__name__.upper()]
        if cls is sqltypes.SmallInteger:
            return _INTEGER_MAX["SMALLINT"]
    return 2147483647


def tombstone_unfit(type_: Any) -> str | None:
    """Why a column of ``type_`` cannot take a tombstone (None: it can): a tombstone is a
    negative integer, a random UUID or random hexadecimal text, of the column's own type."""
    if isinstance(type_, sqltypes.Integer):
        if getattr(type_, "unsigned", False):
            return "is unsigned and cannot hold the negative value a tombstone is"
        if integer_max(type_) < 32767:
            return "is too small an integer for tombstones that rows do not share"
        return None
    if isinstance(type_, sqltypes.Uuid):
        return None
    if isinstance(type_, sqltypes.String) and not isinstance(type_, sqltypes.Enum):
        length = getattr(type_, "length", None)
        if length is not None and length < TOMBSTONE_MIN_LENGTH:
            return (
                f"holds at most {length} characters; a tombstone needs "
                f"{TOMBSTONE_MIN_LENGTH} random ones"
            )
        return None
    return "is neither an integer, a UUID nor text"
