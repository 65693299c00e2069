"""What an Art. 20 package holds and why: per table, the portable fields of the person's
parties, other people's fields masked in SQL, restricted rows left out and counted; and the
results the caller gets (:class:`ExportResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    case,
    exists,
    inspect,
    literal,
    or_,
    select,
)
from sqlalchemy import Table as SATable

from dsr.catalog.model import Catalog, Field, Table
from dsr.subject.graph import SubjectGraph, bind_values_flat
from dsr.subject.identity import Identity
from dsr.subject.rowkey import key_text_sql

if TYPE_CHECKING:
    from dsr.portability.export import Spool


# -- results -------------------------------------------------------------------------------------


@dataclass
class NotPortable:
    """Data held about the person that the package leaves out, and why (Art. 20(1))."""

    table: str
    title: str
    purpose: str
    legal_basis: str
    reason: str  # "legal_basis", "source" or "redacted"
    fields: list[str]

    @property
    def message(self) -> str:
        if self.reason == "legal_basis":
            return (
                f"purpose {self.purpose!r} rests on Art. {self.legal_basis} GDPR; Art. 20(1)(a) "
                "covers only data processed on consent or contract"
            )
        if self.reason == "redacted":
            return "access credentials are not disclosed"
        return (
            f"not provided by the person (purpose {self.purpose!r}, Art. {self.legal_basis}); "
            "see the access report (Art. 15) for this data"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "title": self.title,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "reason": self.reason,
            "message": self.message,
            "fields": list(self.fields),
        }


@dataclass
class TableExport:
    """One table of the package: its exported fields and how many rows went in or were held."""

    table: str
    title: str
    fields: list[str]
    file: str
    rows: int = 0
    restricted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "file": self.file,
            "fields": list(self.fields),
            "rows": self.rows,
            "restricted_rows": self.restricted,
        }


@dataclass
class ExportResult:
    """What :func:`export_package` wrote (or why it wrote nothing)."""

    identities: tuple[Identity, ...]
    generated_at: datetime
    tables: list[TableExport] = field(default_factory=list)
    not_portable: list[NotPortable] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    found: bool = False
    request_id: int | None = None
    size: int = 0

    @property
    def nothing_portable(self) -> bool:
        """True when no package was written: nothing about the person is portable."""
        return not self.tables

    @property
    def counts(self) -> dict[str, int]:
        return {t.table: t.rows for t in self.tables}

    @property
    def restricted(self) -> dict[str, int]:
        return {t.table: t.restricted for t in self.tables if t.restricted}

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def message(self) -> str:
        if not self.found:
            return "no data about this person was found; no package was written"
        if self.nothing_portable:
            return (
                "data about this person is held, but none of it is portable under Art. 20(1) "
                "GDPR (see not_portable); no package was written"
            )
        held = sum(self.restricted.values())
        text = f"{self.rows} rows in {len(self.tables)} tables"
        return text + (f"; {held} rows under restriction (Art. 18) left out" if held else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "nothing_portable": self.nothing_portable,
            "found": self.found,
            "generated_at": iso_time(self.generated_at),
            "counts": self.counts,
            "restricted": self.restricted,
            "tables": {t.table: t.to_json() for t in self.tables},
            "not_portable": [n.to_json() for n in self.not_portable],
            "files": self.files,
            "size": self.size,
            "message": self.message,
        }


# -- scope ---------------------------------------------------------------------------------------


@dataclass
class TablePlan:
    table: Table
    sa: SATable
    fields: list[Field]
    parties: list[str]
    conds: dict[str, ColumnElement[bool]]
    export: TableExport
    spool: Spool | None = None


def _reason(catalog: Catalog, f: Field) -> str:
    if not catalog.purposes[f.purpose].portable_basis:
        return "legal_basis"
    return "redacted" if f.access == "redact" else "source"


def plan_tables(
    conn: Connection, catalog: Catalog, graph: SubjectGraph, idmap: dict[str, list[str]]
) -> tuple[list[TablePlan], list[NotPortable], bool]:
    values = bind_values_flat(idmap)
    plans: list[TablePlan] = []
    withheld: list[NotPortable] = []
    found = False
    for t in catalog.personal_tables():
        sa = graph.sa_tables[t.name]
        conds: dict[str, ColumnElement[bool]] = {}
        for pname in t.parties:
            cond = graph.condition(t.name, pname, idmap)
            if cond is None:
                continue
            probe = select(literal(1)).select_from(sa).where(cond).limit(1)
            if conn.execute(probe, values).first() is not None:
                conds[pname] = cond
        if not conds:
            continue
        found = True
        mine = [f for f in t.fields.values() if set(f.parties) & set(conds)]
        groups: dict[tuple[str, str], list[str]] = {}
        for f in mine:
            if not f.portable:
                groups.setdefault((f.purpose, _reason(catalog, f)), []).append(f.name)
        for (purpose, reason), names in groups.items():
            withheld.append(
                NotPortable(
                    table=t.name,
                    title=str(t.title),
                    purpose=purpose,
                    legal_basis=catalog.purposes[purpose].legal_basis,
                    reason=reason,
                    fields=names,
                )
            )
        portable = [f for f in mine if f.portable]
        owners = [p for p in conds if any(p in f.parties for f in portable)]
        if portable:
            plans.append(
                TablePlan(
                    table=t,
                    sa=sa,
                    fields=portable,
                    parties=owners,
                    conds={p: conds[p] for p in owners},
                    export=TableExport(
                        table=t.name,
                        title=str(t.title),
                        fields=[f.name for f in portable],
                        file=f"{t.name}.csv",
                    ),
                )
            )
    return plans, withheld, found


def restricted_clause(plan: TablePlan) -> ColumnElement[bool]:
    from dsr.ledger.tables import restrictions as r

    key = key_text_sql([plan.sa.c[c] for c in plan.table.key])
    return exists(
        select(r.c.id).where(
            r.c.table_name == plan.table.name,
            r.c.row_key == key,
            r.c.lifted_at.is_(None),
        )
    )


def has_restrictions(conn: Connection, table: str) -> bool:
    from dsr.ledger.tables import restrictions as r

    if not inspect(conn).has_table(r.name):
        return False
    probe = select(r.c.id).where(r.c.table_name == table, r.c.lifted_at.is_(None)).limit(1)
    return conn.execute(probe).first() is not None


def rows_select(plan: TablePlan, restricted: bool) -> Select[Any]:
    cols: list[ColumnElement[Any]] = []
    for f in plan.fields:
        col = plan.sa.c[f.name]
        owners = [p for p in plan.parties if p in f.parties]
        if len(owners) == len(plan.parties):
            cols.append(col)
        else:
            # the row may be about somebody else in this role: their data stays in the database
            cols.append(case((or_(*(plan.conds[p] for p in owners)), col)).label(f.name))
    stmt = select(*cols).where(or_(*plan.conds.values()))
    if restricted:
        stmt = stmt.where(~restricted_clause(plan))
    return stmt


def iso_time(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.isoformat()
