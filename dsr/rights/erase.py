"""Right to erasure on request (Art. 17 GDPR), with restriction of what must be kept.

Plan, then act, on one code path. :func:`plan_erasure` finds the person's rows with the
subject graph (keys only) and decides per row:

1. **restrict** when a statutory retention rule whose period has not run out (§ 147 AO,
   § 257 HGB) or a legal hold covers the row: it is kept and marked restricted instead
   (Art. 17(3)(b) and (e), Art. 18, § 35(3) BDSG), and only that row;
2. **delete** when a party the person is on the row says ``erase: delete_row``;
3. **clear** when a party says ``clear_fields``: each of the person's fields is set to NULL or
   an irreversible fixed placeholder per ``Field.erase`` (never a keyed hash: pseudonymisation
   is not erasure); fields shared with a party the person is not on the row stay;
4. **keep** when every party the person is on the row says ``erase: keep``.

Foreign keys are reflected from the live database. A row to be deleted that is still
referenced by a row that stays (``customers.created_by`` → ``user_accounts``, ON DELETE
RESTRICT or not) is not deleted: its personal fields are cleared instead and it is reported
as kept, anonymised, "referenced by customers.created_by". Deletes run children first.

:func:`apply_erasure` executes exactly the plan as set-based ``UPDATE``/``DELETE ... WHERE pk
IN (...)`` statements in the caller's transaction, marks the kept rows restricted and appends
the audit entry; :func:`erase` runs both under the destructive-work lock in one transaction,
then checkpoints SQLite's WAL so no old page image of erased data stays in the journal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from graphlib import CycleError
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    String,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy import Table as SATable
from sqlalchemy import types as sat

from dsr.catalog.model import Catalog, Field, Table
from dsr.clock import Clock, SystemClock
from dsr.crypto.keys import KeyProvider, pseudonym
from dsr.db import is_mysql
from dsr.errors import ErasureError
from dsr.ledger.audit import append as audit_append
from dsr.ledger.holds import HoldIndex, load_holds
from dsr.ledger.lock import destructive_transaction
from dsr.ledger.migrate import has_ledger_table
from dsr.ledger.requests import identities_aad
from dsr.ledger.tables import holds as holds_table
from dsr.log import get, log_step
from dsr.portability.storage import PackageStorage
from dsr.removal.periods import expires_at, last_day_kept
from dsr.removal.protection import gives_way, protected_rows, restricted_tables, unprotected_table
from dsr.removal.references import (
    Reference,
    References,
    children_first,
    detach,
    references,
    strict_order,
)
from dsr.rights.notices import Notice, build_notices
from dsr.rights.restrict import ERASURE_REASON_PREFIX, mark_restricted
from dsr.subject.graph import SubjectGraph, bind_values, bind_values_flat, identity_map
from dsr.subject.identity import Identity, parse_identities
from dsr.subject.rowkey import chunks, key_in, key_text, row_key, sort_keys

_PARTY_RANK = {"delete_row": 2, "clear_fields": 1, "keep": 0}
NOTHING_TO_CLEAR = (
    "none of the person's fields on this record can be cleared (only keys, references, or "
    "NOT NULL numbers and dates are left); kept as it is"
)

_log = get("erase")


# -- the plan ----------------------------------------------------------------------------------


@dataclass
class Step:
    """One set-based statement of the plan: an UPDATE of ``fields`` or a DELETE, by key; or
    (``unlink``, ``tombstone``) the references of other rows of ``table`` to the rows ``keys``
    of ``reference.parent`` that are about to go, as the catalog's link says."""

    table: str
    kind: str
    keys: list[Any]
    fields: tuple[str, ...] = ()
    kept: bool = False
    reference: Reference | None = None
    #: the referring rows a detach changes, or the rows a bulk delete removes (counted when
    #: planned)
    rows: int = 0
    #: a bulk delete: the person's rows are those ``where`` selects with ``params`` (a table
    #: where nothing protects or refers to any of them, so no row needs a decision of its own)
    where: ColumnElement[bool] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """The rows this statement erases (or, for a detach, the references it changes)."""
        return self.rows if self.detach or self.where is not None else len(self.keys)

    @property
    def action(self) -> str:
        if self.reference is not None:
            return self.reference.action
        return "deleted" if self.kind == "delete" else "anonymised"

    @property
    def detach(self) -> bool:
        return self.reference is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": self.table,
            "kind": self.kind,
            "rows": self.count,
            "fields": list(self.fields),
            "kept": self.kept,
        }
        if self.reference is not None:
            out["column"] = self.reference.columns[0]
            out["references"] = self.reference.parent
        return out


@dataclass
class Kept:
    """Rows of one table not erased, and why: ``action`` restricted, anonymised or kept."""

    table: str
    action: str
    reason: str
    keys: list[Any] = field(default_factory=list)
    until: date | None = None
    legal_reference: str | None = None
    rule: str | None = None
    holds: tuple[int, ...] = ()
    fields: tuple[str, ...] = ()
    #: per kept key, the parties the person is on that row (to find it again later)
    parties: dict[Any, tuple[str, ...]] = field(default_factory=dict)
    #: why, as a code the letters word: ``statutory``, ``hold``, ``referenced`` (other kept
    #: records point at it), ``shared`` (someone else's too), ``other_role`` (the person is
    #: only referenced there, the catalog keeps it), ``nothing_to_clear``
    basis: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": self.table,
            "rows": len(self.keys),
            "action": self.action,
            "reason": self.reason,
            "until": self.until.isoformat() if self.until else None,
            "legal_reference": self.legal_reference,
        }
        if self.rule:
            out["rule"] = self.rule
        if self.holds:
            out["holds"] = list(self.holds)
        if self.fields:
            out["fields_anonymised"] = list(self.fields)
        return out


@dataclass
class ErasurePlan:
    """What an erasure does: statements in order, what is erased, what is kept and why."""

    identities: tuple[Identity, ...]
    subject: str
    steps: list[Step] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    #: (id, file) of the person's delivered Art. 20 packages still stored: erased too
    packages: list[tuple[str, str]] = field(default_factory=list)
    #: ids of released or lapsed holds and of closed requests whose sealed identities of the
    #: person are no longer needed: erased too (the records themselves stay, by pseudonym)
    ledger_holds: list[int] = field(default_factory=list)
    ledger_requests: list[int] = field(default_factory=list)
    dry_run: bool = False
    applied: bool = False
    #: the lookup run again before commit found exactly the rows reported kept
    verified: bool = False
    #: identities recorded as suppressed (not to be re-created by importers)
    suppressed: int = 0
    #: the receipt this erasure left in the ledger (:mod:`dsr.ledger.receipts`)
    receipt_id: int | None = None

    @property
    def withheld(self) -> bool:
        """Something was kept: the CLI exits with 3."""
        return bool(self.kept)

    def erased(self) -> list[dict[str, Any]]:
        """Per table: rows deleted, or rows whose personal fields were anonymised."""
        return [
            {
                "table": s.table,
                "rows": s.count,
                "action": s.action,
                **({"fields": list(s.fields)} if s.fields else {}),
            }
            for s in self.steps
            if not s.kept and not s.detach
        ]

    def detached(self) -> list[dict[str, Any]]:
        """References of other people's rows (or of other purposes) to erased rows, unlinked
        or tombstoned as the catalog's links say: counts, table and column only."""
        return [
            {
                "table": s.table,
                "column": s.reference.columns[0],
                "references": s.reference.parent,
                "action": s.action,
                "rows": s.rows,
            }
            for s in self.steps
            if s.reference is not None and s.rows
        ]

    def summary(self) -> dict[str, Any]:
        """Counts, table names and rule/hold ids only: for the audit trail and the register."""
        return {
            "packages": len(self.packages),
            "ledger_identities": self.ledger_identities(),
            "erased": [{k: v for k, v in e.items() if k != "fields"} for e in self.erased()],
            "detached": self.detached(),
            "kept": [
                {
                    "table": k.table,
                    "rows": len(k.keys),
                    "action": k.action,
                    "rule": k.rule,
                    "holds": list(k.holds),
                    "until": k.until.isoformat() if k.until else None,
                    "basis": k.basis,
                }
                for k in self.kept
            ],
            "verified": self.verified,
            "suppressed": self.suppressed,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "subject": self.subject,
            "erased": self.erased(),
            "references_detached": self.detached(),
            "kept": [k.to_json() for k in self.kept],
            "notices": [n.to_json() for n in self.notices],
            "packages_erased": len(self.packages),
            "ledger_identities_erased": self.ledger_identities(),
            "verified": self.verified,
            "suppressed": self.suppressed,
            "receipt": self.receipt_id,
            "steps": [s.to_json() for s in self.steps],
        }

    def ledger_identities(self) -> dict[str, int]:
        """How many finished holds and requests lose the person's sealed identities."""
        return {"holds": len(self.ledger_holds), "requests": len(self.ledger_requests)}


@dataclass
class _Row:
    table: str
    key: Any
    parties: set[str]
    action: str = ""
    fields: tuple[str, ...] = ()
    kept: Kept | None = None


def plan_erasure(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    keys: KeyProvider,
    identities: Sequence[Identity | str],
    *,
    clock: Clock,
) -> ErasurePlan:
    """Decide, row by row but with set-based queries, what erasing the person means (Art. 17).

    Changes nothing. Raises :class:`ErasureError` when the live schema makes a safe plan
    impossible (a foreign key cycle among the tables to delete from).
    """
    catalog = graph.catalog
    ids = parse_identities(identities, catalog)
    idmap = identity_map(ids, catalog)
    plan = ErasurePlan(identities=ids, subject=pseudonym(keys, ids))
    now = clock.now()
    holds = _load_holds(conn, catalog, graph, keys, now)
    refs = _erasure_references(
        catalog, references(conn, catalog, graph.sa_tables, graph.schema_cache)
    )
    refs = _protected_referrers_restrict(conn, catalog, holds, refs, graph.schema_cache)
    bulk: dict[str, Step] = {}
    rows_by_table = _find_rows(
        conn, catalog, graph, idmap, _bulk_check(conn, graph, holds, refs), bulk
    )
    kept: dict[tuple[Any, ...], Kept] = {}

    def keep(row: _Row, entry: Kept) -> None:
        sig = (
            entry.table,
            entry.action,
            entry.reason,
            entry.until,
            entry.rule,
            entry.holds,
            entry.fields,
        )
        k = kept.setdefault(sig, entry)
        k.keys.append(row.key)
        k.parties[row.key] = tuple(sorted(row.parties))
        row.kept = k

    leaving: dict[str, set[Any]] = {}
    # referring tables first: a row kept only while others refer to it knows which go
    for tname in children_first(rows_by_table, refs):
        rows = rows_by_table[tname]
        t = catalog.tables[tname]
        protected = _protected(conn, graph, t, [r.key for r in rows], now, holds, leaving)
        for row in rows:
            rank = max(_PARTY_RANK[t.parties[p].erase] for p in row.parties)
            if rank == 0:
                # the person is only referenced here (an attesting user, a creator): nothing of
                # theirs is erased, so nothing is restricted either; the row is someone else's
                row.action = "keep"
                names = ", ".join(sorted(row.parties))
                reason = f"the catalog keeps this record (party {names}: erase keep)"
                keep(row, Kept(table=tname, action="kept", reason=reason, basis="other_role"))
                continue
            why = protected.get(row.key)
            if why is not None:
                row.action = "restrict"
                keep(row, why)
                continue
            if rank == 2:
                row.action = "delete"
                continue
            row.action = "clear"
            row.fields = _clear_fields(t, graph.sa_tables[tname], row.parties)
            if not row.fields:
                row.action = "keep"
                keep(
                    row,
                    Kept(
                        table=tname,
                        action="kept",
                        reason=NOTHING_TO_CLEAR,
                        basis="nothing_to_clear",
                    ),
                )
        leaving[tname] = {r.key for r in rows if r.action == "delete"}

    _resolve_references(conn, catalog, graph, rows_by_table, refs, keep, bulk)
    plan.steps = _steps(conn, rows_by_table, refs, bulk)
    _unlinked_from_person(catalog, rows_by_table, plan.steps)
    plan.kept = [k for k in kept.values() if k.keys]
    plan.packages = _packages(conn, keys, ids, graph.schema_cache)
    plan.ledger_holds, plan.ledger_requests = _finished_ledger_records(
        conn, catalog, keys, ids, clock, graph.schema_cache
    )
    items = [{"table": s.table, "rows": s.count, "action": s.action} for s in plan.steps]
    plan.notices = build_notices(catalog, "erasure", items, [i.spec for i in ids])
    return plan


def _bulk_check(
    conn: Connection, graph: SubjectGraph, holds: HoldIndex | None, refs: References
) -> Callable[[Table], bool]:
    """Whether the person's rows of a table can go in one statement, undecided one by one:
    every party says delete_row, and no hold, statutory rule or reference can stand in the
    way of any row (nothing points at the table, it anchors no rule kept while referenced)."""
    catalog = graph.catalog
    if is_mysql(conn.dialect.name):
        return lambda t: False  # MariaDB refuses a DELETE whose subqueries read its own table
    anchored = {
        r.anchor.related_table for r in catalog.retention.values() if r.anchor.while_referenced
    }

    def check(t: Table) -> bool:
        return (
            bool(t.key)
            and all(p.erase == "delete_row" for p in t.parties.values())
            and not refs.get(t.name)
            and t.name not in anchored
            and unprotected_table(catalog, t.name, graph.sa_tables[t.name], holds)
        )

    return check


def _find_rows(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    idmap: dict[str, list[str]],
    bulk_ok: Callable[[Table], bool],
    bulk: dict[str, Step],
) -> dict[str, list[_Row]]:
    out: dict[str, list[_Row]] = {}
    params = bind_values_flat(idmap)
    for t in catalog.personal_tables():
        if bulk_ok(t):
            conds = [c for p in t.parties if (c := graph.condition(t.name, p, idmap)) is not None]
            if not conds:
                continue
            where = or_(*conds)
            sa = graph.sa_tables[t.name]
            n = int(
                conn.execute(select(func.count()).select_from(sa).where(where), params).scalar_one()
            )
            if n > 1:
                for pname, party in t.parties.items():
                    cond = graph.condition(t.name, pname, idmap) if party.one_row else None
                    if cond is not None:
                        count = select(func.count()).select_from(sa).where(cond)
                        _refuse_ambiguous(t, pname, int(conn.execute(count, params).scalar_one()))
            if n:
                bulk[t.name] = Step(t.name, "delete", [], rows=n, where=where, params=params)
            continue
        by_key: dict[Any, _Row] = {}
        for pname in t.parties:
            stmt = graph.party_select(t.name, pname, idmap, fields=[], ordered=False)
            if stmt is None:
                continue
            if t.keyless:
                if conn.execute(stmt.limit(1), bind_values(stmt, idmap)).first() is not None:
                    raise ErasureError(
                        f"the person has rows in table {t.name!r}, which has no primary key "
                        "or unique constraint, so they cannot be addressed one by one; "
                        "add a key to the table (nothing was changed)",
                        where=t.name,
                    )
                continue
            width = len(t.key)
            found = conn.execute(stmt, bind_values(stmt, idmap)).all()
            if t.parties[pname].one_row:
                _refuse_ambiguous(t, pname, len(found))
            for row in found:
                key = row_key(row, width)
                by_key.setdefault(key, _Row(t.name, key, set())).parties.add(pname)
        if by_key:
            out[t.name] = [by_key[k] for k in sort_keys(list(by_key))]
    return out


def _refuse_ambiguous(t: Table, party: str, rows: int) -> None:
    """A party the catalog says a person is on at most once, matched more than once: the
    identities name several people there (a telephone number a household shares), and
    erasing would destroy someone else's data. Refused before anything is changed."""
    if rows > 1:
        raise ErasureError(
            f"the identities match {rows} rows of party {party!r} in table {t.name!r}, where "
            "the catalog expects one person to have one: they may name several people (a "
            "shared telephone number, say); erase by identities that name the person alone "
            "(nothing was changed)",
            where=t.name,
        )


def _protected(
    conn: Connection,
    graph: SubjectGraph,
    t: Table,
    row_keys: list[Any],
    now: datetime,
    holds: HoldIndex | None,
    leaving: dict[str, set[Any]],
) -> dict[Any, Kept]:
    """Rows a legal hold or an unexpired statutory retention rule covers, with the reason
    (:func:`dsr.removal.protection.protected_rows`, the purge's own definition)."""
    found = protected_rows(
        conn, graph, t, row_keys, now, holds, lambda name: leaving.get(name, set())
    )
    return {
        key: Kept(
            table=t.name,
            action="restricted",
            reason=p.reason,
            until=p.until,
            legal_reference=p.legal_reference,
            rule=p.rule,
            holds=p.holds,
            basis="hold" if p.holds else "statutory",
        )
        for key, p in found.items()
    }


def _clear_fields(t: Table, sa: SATable, parties: set[str]) -> tuple[str, ...]:
    """The fields to clear: the person's own (not shared with another party), not kept."""
    links = {lk.column for lk in t.links.values()}
    out = []
    for f in t.fields.values():
        if f.name in t.key or f.erase == "keep" or not set(f.parties) <= parties:
            continue
        if f.name in links and not sa.c[f.name].nullable:
            continue
        if _placeholder(f, sa.c[f.name], sa.c[t.key[0]]) is _UNCHANGED:
            continue
        out.append(f.name)
    return tuple(out)


_UNCHANGED: Any = object()


def _placeholder(f: Field, column: Column[Any], pk: Column[Any]) -> Any:
    """NULL, or a fixed irreversible placeholder of a valid type for a NOT NULL or unique column.

    Returns ``_UNCHANGED`` for a NOT NULL column with no anonymous value (a number, a date),
    which is then left as it is: on its own it no longer identifies anyone once the person's
    identifying fields are gone.
    """
    if f.erase == "null" and column.nullable:
        return null()
    ctype = column.type
    if not isinstance(ctype, sat.String):
        return null() if column.nullable else _UNCHANGED
    length = ctype.length or 1000
    if f.format == "email":
        expr: Any = literal("erased-") + cast(pk, String(20)) + literal("@invalid")
        return expr if length >= 36 else (literal("x@x.invalid") if length >= 11 else _UNCHANGED)
    fixed = {"ip": "0.0.0.0", "country": "XX", "date": None, "datetime": None}.get(f.format)
    if f.format in ("date", "datetime"):
        return null() if column.nullable else _UNCHANGED
    if column.unique:
        return literal("erased-") + cast(pk, String(20))
    text = fixed or "erased"
    if len(text) > length:
        return null() if column.nullable else _UNCHANGED
    return literal(text)


def _erasure_references(catalog: Catalog, refs: References) -> References:
    """The references an erasure follows: single-column, to the referenced table's key."""
    return {
        parent: [
            r
            for r in rs
            if len(r.columns) == 1 and r.parent_columns == tuple(catalog.tables[parent].key)
        ]
        for parent, rs in refs.items()
    }


def _protected_referrers_restrict(
    conn: Connection,
    catalog: Catalog,
    holds: HoldIndex | None,
    refs: References,
    cache: dict[str, Any],
) -> References:
    """References keep their target (as ``restrict``) unless they give way
    (:func:`dsr.removal.protection.gives_way`, the purge's own answer)."""
    from dataclasses import replace

    restricted = restricted_tables(conn, cache)
    return {
        parent: [
            replace(r, on_remove="restrict")
            if r.detaches and not gives_way(r, catalog, holds, restricted)
            else r
            for r in rs
        ]
        for parent, rs in refs.items()
    }


def _resolve_references(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    rows_by_table: dict[str, list[_Row]],
    refs: References,
    keep: Callable[[_Row, Kept], None],
    bulk: dict[str, Step],
) -> None:
    """Turn deletes of rows still referenced by rows that stay into clears (to a fixpoint).

    A reference that gives way (``on_remove: unlink`` or ``tombstone``) does not keep the
    person's row; :func:`_steps` detaches it. A row that is the person's only because their
    rows point at it (a shared address) is never detached from anyone else: it stays.
    """
    dirty: set[str] | None = None  # None: every reference still to be looked at
    while dirty is None or dirty:
        # a reference needs another look only when rows of its referring table stopped
        # being deleted in the round before (they now refer as rows that stay)
        looking, dirty = dirty, set()
        for parent, rs in refs.items():
            t = catalog.tables[parent]
            for ref in rs:
                if looking is not None and ref.child not in looking:
                    continue
                parents = {r.key: r for r in rows_by_table.get(parent, []) if r.action == "delete"}
                if ref.detaches:
                    parents = {
                        k: r
                        for k, r in parents.items()
                        if all(_pointed_at_only(t, p) for p in r.parties)
                    }
                if not parents:
                    continue
                column = ref.columns[0]
                staying = _referenced_by_staying(conn, ref, rows_by_table, list(parents), bulk)
                for pkey in staying:
                    row = parents.get(pkey)
                    if row is None:
                        continue
                    dirty.add(parent)
                    _keep_referenced(t, graph, row, ref.child, column, keep)


def _unlinked_from_person(
    catalog: Catalog, rows_by_table: dict[str, list[_Row]], steps: list[Step]
) -> None:
    """Rows the catalog keeps that were the person's only through a reference this erasure
    detaches (a security log line of their deleted account) are no longer about them: they
    leave the kept list (and are not remembered for later access requests)."""
    detached = {(s.table, s.reference.link) for s in steps if s.reference is not None}
    if not detached:
        return
    dropped: dict[int, tuple[Kept, set[Any]]] = {}
    for tname, rows in rows_by_table.items():
        t = catalog.tables[tname]
        for row in rows:
            if row.kept is None or row.action != "keep":
                continue
            vias = [t.parties[p].via for p in row.parties]
            if not all(v and all((tname, x.link) in detached for x in v) for v in vias):
                continue
            if any(t.parties[p].identities or t.parties[p].pointed_by for p in row.parties):
                continue
            dropped.setdefault(id(row.kept), (row.kept, set()))[1].add(row.key)
            row.kept.parties.pop(row.key, None)
            row.kept = None
            row.action = "detached"
    for entry, gone in dropped.values():
        entry.keys = [k for k in entry.keys if k not in gone]


def _referenced_by_staying(
    conn: Connection,
    ref: Reference,
    rows_by_table: dict[str, list[_Row]],
    parent_keys: list[Any],
    bulk: dict[str, Step],
) -> dict[Any, int]:
    """Per key of ``parent_keys``, how many rows of ``ref.child`` that this erasure does not
    delete refer to it."""
    deleting = {r.key for r in rows_by_table.get(ref.child, []) if r.action == "delete"}
    csa = ref.child_table
    col = csa.c[ref.columns[0]]
    out: dict[Any, int] = {}
    gone = bulk.get(ref.child)
    for chunk in chunks(parent_keys, conn):
        if gone is not None and gone.where is not None:
            # the person's rows of a bulk table all go: count the others
            stmt = (
                select(col, func.count())
                .where(key_in([col], chunk, conn), ~gone.where)
                .group_by(col)
            )
            out.update((r[0], int(r[1])) for r in conn.execute(stmt, gone.params))
        elif ref.child_key:
            ckey_cols = [csa.c[c] for c in ref.child_key]
            width = len(ckey_cols)
            stmt = select(*ckey_cols, col).where(key_in([col], chunk, conn))
            for r in conn.execute(stmt):
                if row_key(r, width) not in deleting:
                    out[r[width]] = out.get(r[width], 0) + 1
        else:
            stmt = select(col, func.count()).where(key_in([col], chunk, conn)).group_by(col)
            out.update((r[0], int(r[1])) for r in conn.execute(stmt))
    return out


def _keep_referenced(
    t: Table,
    graph: SubjectGraph,
    row: _Row,
    child: str,
    column: str,
    keep: Callable[[_Row, Kept], None],
) -> None:
    """The person's row ``row`` cannot go (``child.column`` refers to it): kept as it is when
    it is someone else's too, else anonymised."""
    where = f"{child}.{column}"
    if all(_pointed_at_only(t, p) for p in row.parties):
        # a row the person's rows point at (an address) that another record points at too
        # is that other person's as well: left exactly as it is
        row.action = "keep"
        reason = (
            f"also referenced by another record of {child} ({where}); left as it is, the "
            "person's own references to it are erased"
        )
        keep(row, Kept(table=t.name, action="kept", reason=reason, basis="shared"))
        return
    row.action = "clear"
    row.fields = _clear_fields(t, graph.sa_tables[t.name], row.parties)
    if not row.fields:
        row.action = "keep"
        keep(
            row,
            Kept(
                table=t.name,
                action="kept",
                reason=f"referenced by {where}; " + NOTHING_TO_CLEAR,
                basis="referenced",
            ),
        )
        return
    reason = f"referenced by {where}; the person's fields were anonymised and the record kept"
    keep(
        row,
        Kept(
            table=t.name,
            action="anonymised",
            fields=row.fields,
            reason=reason,
            basis="referenced",
        ),
    )


def _packages(
    conn: Connection, keys: KeyProvider, ids: Sequence[Identity], cache: dict[str, Any]
) -> list[tuple[str, str]]:
    """The person's delivered packages still stored: made for these identities or any one."""
    from dsr.ledger.tables import exports

    if not has_ledger_table(conn, exports.name, cache):
        return []
    subjects = _subjects(keys, ids)
    rows = conn.execute(
        select(exports.c.id, exports.c.file_name).where(
            exports.c.subject.in_(subjects), exports.c.deleted_at.is_(None)
        )
    )
    return [(r.id, r.file_name) for r in rows]


def _subjects(keys: KeyProvider, ids: Sequence[Identity]) -> list[str]:
    """The pseudonyms the ledger may know the person by: of all the identities given, or of
    any one of them (a package or a request made for one address)."""
    return sorted({pseudonym(keys, list(ids)), *(pseudonym(keys, [i]) for i in ids)})


def _finished_ledger_records(
    conn: Connection,
    catalog: Catalog,
    keys: KeyProvider,
    ids: Sequence[Identity],
    clock: Clock,
    cache: dict[str, Any],
) -> tuple[list[int], list[int]]:
    """Holds released or lapsed and requests closed that still keep the person's identities
    sealed: nothing needs them any more once the person's data is erased. Active holds keep
    theirs (they protect what they hold) and so do open requests (this erasure's own, too)."""
    from zoneinfo import ZoneInfo

    from dsr.crypto.seal import unseal_identities
    from dsr.ledger.tables import holds, requests

    if not has_ledger_table(conn, holds.name, cache):
        return [], []  # a dry run on a database without a ledger
    subjects = _subjects(keys, ids)
    today = clock.now().astimezone(ZoneInfo(catalog.timezone)).date()
    finished_hold = or_(holds.c.released_at.is_not(None), holds.c.until < today)
    hold_ids = conn.execute(
        select(holds.c.id).where(
            holds.c.subject.in_(subjects), holds.c.identities_enc.is_not(None), finished_hold
        )
    ).scalars()
    closed = conn.execute(
        select(requests.c.id, requests.c.identities_enc).where(
            requests.c.subject.in_(subjects), requests.c.status == "closed"
        )
    )
    request_ids = [
        int(r.id)
        for r in closed
        if unseal_identities(keys, r.identities_enc, identities_aad(int(r.id)))
        != [ERASED_IDENTITIES]
    ]
    return sorted(int(i) for i in hold_ids), sorted(request_ids)


#: What a closed request's identities read as after the person's erasure
ERASED_IDENTITIES = "(erased with the person's data)"


def _pointed_at_only(t: Table, party: str) -> bool:
    """The person is on the row only because rows of theirs point at it (``pointed_by``)."""
    p = t.parties[party]
    return bool(p.pointed_by) and not p.identities and not p.via


def _steps(
    conn: Connection, rows_by_table: dict[str, list[_Row]], refs: References, bulk: dict[str, Step]
) -> list[Step]:
    """Bulk deletes first, then updates (any order), then deletes children before parents;
    right before a table's deletes, the references that give way to them are unlinked or
    tombstoned."""
    # bulk deletes first: nothing refers to their rows, and the conditions that select them
    # read the person's other rows, which must not have been anonymised yet
    steps: list[Step] = list(bulk.values())
    for tname, rows in rows_by_table.items():
        by_fields: dict[tuple[tuple[str, ...], bool], list[Any]] = {}
        for r in rows:
            if r.action == "clear" and r.fields:
                by_fields.setdefault((r.fields, r.kept is not None), []).append(r.key)
        steps += [Step(tname, "update", ks, flds, kept) for (flds, kept), ks in by_fields.items()]
    try:
        order = strict_order(rows_by_table, refs)
    except CycleError:
        raise ErasureError(
            "the tables to erase from reference each other in a cycle; "
            "erase cannot find a safe order",
            where="foreign keys",
        ) from None
    for tname in order:
        ks = [r.key for r in rows_by_table.get(tname, []) if r.action == "delete"]
        if not ks:
            continue
        for ref in refs.get(tname, []):
            if not ref.detaches:
                continue
            counts = _referenced_by_staying(conn, ref, rows_by_table, ks, bulk)
            if counts:
                steps.append(
                    Step(
                        ref.child,
                        ref.on_remove,
                        sorted(counts),
                        reference=ref,
                        rows=sum(counts.values()),
                    )
                )
        steps.append(Step(tname, "delete", ks))
    return steps


# -- holds -------------------------------------------------------------------------------------


def _load_holds(
    conn: Connection, catalog: Catalog, graph: SubjectGraph, keys: KeyProvider, now: datetime
) -> HoldIndex | None:
    """The legal holds in force (:mod:`dsr.ledger.holds`); None when the ledger has none."""
    if not has_ledger_table(conn, holds_table.name, graph.schema_cache):
        return None
    return load_holds(conn, catalog, graph, keys, now)


# -- acting ------------------------------------------------------------------------------------


StepHook = Callable[[Step], None]


def apply_erasure(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    keys: KeyProvider,
    plan: ErasurePlan,
    *,
    clock: Clock,
    request_id: int | None = None,
    after_step: StepHook | None = None,
) -> ErasurePlan:
    """Execute ``plan`` in the caller's transaction: statements, restrictions, audit entry.

    ``after_step`` is called after each statement (progress, or a test's injected failure);
    anything it raises rolls the whole erasure back with the transaction.
    """
    catalog = graph.catalog
    now = clock.now()
    noted = _tables_with_ledger_notes(conn, [s.table for s in plan.steps if s.reference is None])
    for step in plan.steps:
        if step.reference is not None:
            _detach(conn, step)
            if after_step is not None:
                after_step(step)
            continue
        t = catalog.tables[step.table]
        sa = graph.sa_tables[t.name]
        pk = graph.key_columns(t.name)
        if step.where is not None:
            _forget_ledger_notes(conn, step, graph, noted)
            done = conn.execute(delete(sa).where(step.where), step.params).rowcount
            if done != step.rows:
                raise ErasureError(
                    f"expected {step.rows} rows, the database deleted {done}; nothing was changed",
                    where=step.table,
                )
            if after_step is not None:
                after_step(step)
            continue
        values: dict[str, ColumnElement[Any]] = {}
        if step.kind == "update":
            values = {f: _placeholder(t.fields[f], sa.c[f], pk[0]) for f in step.fields}
        done = 0
        for chunk in chunks(step.keys, conn, len(pk)):
            stmt = (
                update(sa).where(key_in(pk, chunk, conn)).values(values)
                if step.kind == "update"
                else delete(sa).where(key_in(pk, chunk, conn))
            )
            done += conn.execute(stmt).rowcount
        if done != len(step.keys) and (step.kind == "delete" or not is_mysql(conn.dialect.name)):
            # MariaDB counts changed rows only; elsewhere a difference means a concurrent writer
            raise ErasureError(
                f"expected {len(step.keys)} rows, the database {step.kind}d {done}; "
                "nothing was changed",
                where=step.table,
            )
        _forget_ledger_notes(conn, step, graph, noted)
        if after_step is not None:
            after_step(step)
    verify_erased(conn, graph, plan)
    plan.verified = True
    from dsr.ledger.suppression import suppress

    if plan.erased() or plan.kept:  # an identity that found nobody suppresses nobody
        plan.suppressed = suppress(
            conn,
            keys,
            plan.identities,
            reason="erasure",
            clock=clock,
            request_id=request_id,
            shared=catalog.shared_identity_types,
        )
    since = now.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    for k in plan.kept:
        if k.action == "restricted":
            mark_restricted(
                conn,
                k.table,
                k.keys,
                subject=plan.subject,
                reason=ERASURE_REASON_PREFIX + k.reason,
                since=since,
                until=k.until,
                request_id=request_id,
            )
    _remember_kept(conn, keys, plan, since, request_id)
    _forget_sealed_identities(conn, keys, plan)
    if plan.packages:
        from dsr.ledger.tables import exports

        # the token of a deleted package is refused from this commit on; files go after it
        conn.execute(
            update(exports)
            .where(exports.c.id.in_([p for p, _ in plan.packages]))
            .values(deleted_at=since)
        )
    summary = plan.summary()
    plan.receipt_id, summary["receipt_sha256"] = _receipt(conn, keys, plan, now, request_id)
    summary["receipt"] = plan.receipt_id
    if request_id is not None:
        from dsr.ledger.requests import record_outcome

        record_outcome(conn, keys, request_id, "erase", summary, clock)
    audit_append(
        conn, keys, "erase", details=summary, subject=plan.subject, request_id=request_id, at=now
    )
    plan.applied = True
    return plan


def receipt_body(
    keys: KeyProvider, plan: ErasurePlan, at: datetime, request_id: int | None
) -> dict[str, Any]:
    """What the erasure's receipt says (no personal data: keys as keyed digests)."""
    from dsr.ledger.receipts import key_digests

    by_table: dict[str, list[str]] = {}
    bulk: set[str] = set()
    for step in plan.steps:
        if step.reference is not None:
            continue
        if step.where is not None:
            bulk.add(step.table)
        by_table.setdefault(step.table, []).extend(key_text(k) for k in step.keys)
    return {
        "receipt": "dsr-erasure-receipt",
        "version": 1,
        "request_id": request_id,
        "subject": plan.subject,
        "at": at.astimezone(timezone.utc).isoformat(),
        # what the erasure and its verification looked the person up by (types, no values)
        "identity_types": sorted({i.type for i in plan.identities}),
        "erased": [
            {
                "table": e["table"],
                "rows": e["rows"],
                "action": e["action"],
                # a set-based statement erased rows it did not list one by one
                "keys": None
                if e["table"] in bulk
                else key_digests(keys, e["table"], by_table.get(e["table"], [])),
            }
            for e in plan.erased()
        ],
        "kept": [
            {
                "table": k.table,
                "rows": len(k.keys),
                "action": k.action,
                "basis": k.basis,
                "reason": k.reason,
                "legal_reference": k.legal_reference,
                "until": k.until.isoformat() if k.until else None,
                "keys": key_digests(keys, k.table, [key_text(x) for x in k.keys]),
            }
            for k in plan.kept
        ],
        "references_detached": plan.detached(),
        "packages_erased": len(plan.packages),
        "verified": plan.verified,
        "suppressed": plan.suppressed,
    }


def _receipt(
    conn: Connection, keys: KeyProvider, plan: ErasurePlan, at: datetime, request_id: int | None
) -> tuple[int, str]:
    from dsr.ledger.receipts import store_receipt

    body = receipt_body(keys, plan, at, request_id)
    return store_receipt(
        conn, body, kind="erasure", request_id=request_id, subject=plan.subject, at=at
    )


def verify_erased(conn: Connection, graph: SubjectGraph, plan: ErasurePlan) -> None:
    """After the erasure's statements, in their transaction: look the person up again over
    every catalogued table. What is found must be rows the plan reports as kept or as
    anonymised (an anonymised row can still be reached through a kept one it belongs to);
    a row the plan never saw (a concurrent writer's, a lookup the plan missed) is an
    :class:`~dsr.errors.ErasureError`, and the caller's transaction rolls the whole erasure
    back. The error names tables and counts only."""
    remaining = graph.resolve(conn, list(plan.identities))
    allowed: dict[str, set[str]] = {}
    for k in plan.kept:
        allowed.setdefault(k.table, set()).update(key_text(key) for key in k.keys)
    for step in plan.steps:
        if step.reference is None and step.kind == "update":
            allowed.setdefault(step.table, set()).update(key_text(key) for key in step.keys)
    left = []
    for rec in remaining.tables:
        ok = allowed.get(rec.table.name, set())
        extra = sum(1 for m in rec.rows if rec.table.keyless or key_text(m.key) not in ok)
        if extra:
            left.append(f"{rec.table.name} ({extra})")
    if left:
        raise ErasureError(
            "after its statements the person's lookup still finds rows the plan neither "
            f"erased nor kept, in {', '.join(left)}; the erasure was rolled back, nothing was "
            "changed",
            where="verification",
        )


def _detach(conn: Connection, step: Step) -> None:
    ref = step.reference
    assert ref is not None
    done = detach(conn, ref, step.keys)
    # a self-reference also detaches the person's own referring rows, deleted right after
    if done != step.rows and ref.child != ref.parent and not is_mysql(conn.dialect.name):
        raise ErasureError(
            f"expected to {step.kind} {step.rows} references in {ref.label}, the database "
            f"changed {done}; nothing was changed",
            where=ref.child,
        )


def _remember_kept(
    conn: Connection,
    keys: KeyProvider,
    plan: ErasurePlan,
    since: datetime,
    request_id: int | None,
) -> None:
    """Record every kept row under a pseudonym of each identity, so that later access
    requests find it although the row that linked it to the person may be gone."""
    from dsr.ledger.tables import kept_rows

    digests = [pseudonym(keys, [i]) for i in plan.identities]
    rows = [
        {
            "table_name": k.table,
            "row_key": key_text(key),
            "party": party,
            "identity": d,
            "request_id": request_id,
            "created_at": since,
        }
        for k in plan.kept
        for key, parties in k.parties.items()
        for party in parties
        for d in digests
    ]
    for i in range(0, len(rows), 1000):
        conn.execute(insert(kept_rows), rows[i : i + 1000])


def _forget_sealed_identities(conn: Connection, keys: KeyProvider, plan: ErasurePlan) -> None:
    from dsr.ledger.tables import holds, requests

    if plan.ledger_holds:
        conn.execute(
            update(holds).where(holds.c.id.in_(plan.ledger_holds)).values(identities_enc=None)
        )
    if plan.ledger_requests:
        from dsr.crypto.seal import seal_identities

    for request_id in plan.ledger_requests:
        marker = seal_identities(keys, [ERASED_IDENTITIES], identities_aad(request_id))
        conn.execute(
            update(requests).where(requests.c.id == request_id).values(identities_enc=marker)
        )


def _tables_with_ledger_notes(conn: Connection, tables: list[str]) -> set[tuple[str, str]]:
    """(ledger table, table) for each of ``tables`` that has supplementary statements,
    restriction marks or kept-row notes: most have none, and one round trip of indexed
    probes says which."""
    from dsr.ledger.tables import kept_rows, restrictions, supplements

    probes = [
        (ledger, table)
        for table in dict.fromkeys(tables)
        for ledger in (supplements, restrictions, kept_rows)
    ]
    if not probes:
        return set()
    found = conn.execute(
        select(
            *(
                exists().where(ledger.c.table_name == table).label(f"p{i}")
                for i, (ledger, table) in enumerate(probes)
            )
        )
    ).one()
    return {(ledger.name, table) for (ledger, table), hit in zip(probes, found, strict=True) if hit}


def _forget_ledger_notes(
    conn: Connection, step: Step, graph: SubjectGraph, noted: set[tuple[str, str]]
) -> None:
    """Drop supplementary statements on the erased rows (they hold the person's corrected
    values) and, for deleted rows, their restriction marks (a reused key must not inherit one).
    ``noted``: which ledger tables have notes on which tables at all."""
    from dsr.ledger.tables import kept_rows, restrictions, supplements

    ledger = [supplements] + ([restrictions, kept_rows] if step.kind == "delete" else [])
    names: list[str] | None = None
    for table in ledger:
        if (table.name, step.table) not in noted:
            continue
        if names is None:
            names = [key_text(k) for k in _step_keys(conn, step, graph)]
        for chunk in chunks(names, conn):
            conn.execute(
                delete(table).where(
                    table.c.table_name == step.table, key_in([table.c.row_key], chunk, conn)
                )
            )


def _step_keys(conn: Connection, step: Step, graph: SubjectGraph) -> list[Any]:
    """The keys of the rows a step changes (a bulk delete's read before it runs)."""
    if step.where is None:
        return step.keys
    pk = graph.key_columns(step.table)
    stmt = select(*pk).where(step.where)
    return [row_key(r, len(pk)) for r in conn.execute(stmt, step.params)]


def erase(
    engine: Engine,
    catalog: Catalog,
    keys: KeyProvider,
    identities: Sequence[Identity | str],
    *,
    dry_run: bool = False,
    request_id: int | None = None,
    clock: Clock | None = None,
    graph: SubjectGraph | None = None,
    after_step: StepHook | None = None,
    storage: PackageStorage | None = None,
) -> ErasurePlan:
    """Erase the person's data (Art. 17) as the catalog says; restrict what must be kept.

    One transaction under the destructive-work lock: a failure anywhere leaves everything as
    it was. ``dry_run`` returns the same plan and changes nothing. The person's delivered
    Art. 20 packages are part of it: their tokens are refused from the commit on, and their
    files are deleted from ``storage`` right after it (without ``storage``, by the next purge).
    """
    clock = clock or SystemClock()
    graph = graph or SubjectGraph(catalog, engine)
    started = time.perf_counter()
    if dry_run:
        with engine.connect() as conn:
            plan = plan_erasure(conn, catalog, graph, keys, identities, clock=clock)
            conn.rollback()
        plan.dry_run = True
        _log_done(plan, started)
        return plan
    with destructive_transaction(engine, graph.schema_cache) as conn:
        plan = plan_erasure(conn, catalog, graph, keys, identities, clock=clock)
        apply_erasure(
            conn,
            catalog,
            graph,
            keys,
            plan,
            clock=clock,
            request_id=request_id,
            after_step=after_step,
        )
    # committed: the packages' tokens are refused from now on, so their files can go
    if storage is not None:
        for _, file_name in plan.packages:
            storage.delete(file_name)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    _log_done(plan, started)
    return plan


def _log_done(plan: ErasurePlan, started: float) -> None:
    erased = plan.erased()
    rows = sum(e["rows"] for e in erased)
    kept = sum(len(k.keys) for k in plan.kept)
    verb = "would erase" if plan.dry_run else "erased"
    seconds = time.perf_counter() - started
    log_step(
        _log,
        "done",
        f"{verb} {rows:,} row(s) in {len(erased)} table(s), kept "
        f"{kept:,} row(s) in {len(plan.kept)} table(s), {len(plan.packages)} package(s), "
        f"in {seconds:.2f} s",
        rows=rows,
        tables=[e["table"] for e in erased],
        kept=kept,
        dry_run=plan.dry_run,
        seconds=round(seconds, 3),
    )


__all__ = [
    "ErasurePlan",
    "Kept",
    "Step",
    "apply_erasure",
    "erase",
    "expires_at",
    "last_day_kept",
    "plan_erasure",
]
