"""The purge plan: per rule and table, what would be deleted or anonymised and what is withheld.

One :class:`PurgePlan` serves the dry run (printed) and the real run (executed batch by batch),
so the two cannot disagree. Steps are ordered children before parents (reflected foreign
keys), and within a table deletions before anonymisations, so no row is anonymised that is
about to go and no DELETE ever fails on a foreign key: a parent row still referenced by a row
that stays is withheld ("referenced by <table>") instead. Counting anticipates the earlier
steps of the same run: a customer referenced only by acceptances that this run deletes counts
as deletable, exactly as the real run will find it. A reference the catalog lets give way
(``on_remove: unlink`` or ``tombstone``, :mod:`dsr.removal.references`) withholds nothing: the
referring rows are detached in the same batch, right before the delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    exists,
    func,
    inspect,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy import Table as SATable

from dsr.catalog.model import Catalog, RetentionRule
from dsr.crypto.keys import KeyProvider
from dsr.ledger.holds import HoldIndex, load_holds
from dsr.ledger.tables import holds as holds_table
from dsr.removal.periods import not_true
from dsr.removal.protection import (
    gives_way,
    restricted_condition,
    restricted_tables,
    uncorrelated,
)
from dsr.removal.references import Reference, References, children_first, references
from dsr.retention.rules import anonymised_value, expired_condition, pending_condition
from dsr.subject.graph import SubjectGraph

RESTRICTED = "restricted (Art. 18)"


@dataclass
class Withheld:
    """Expired rows kept back, and why: a hold, a restriction or a referencing row."""

    reason: str
    rows: int
    hold_id: int | None = None
    until: date | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "rows": self.rows}
        if self.hold_id is not None:
            out["hold_id"] = self.hold_id
            out["until"] = self.until.isoformat() if self.until else None
        return out


@dataclass
class PurgeStep:
    """One rule applied to one table."""

    rule: RetentionRule
    table: str
    rows: int
    withheld: int
    reasons: list[Withheld] = field(default_factory=list)
    first_key: Any = None
    last_key: Any = None
    done: int = 0
    batches: int = 0
    #: references that give way to this step's deletes: (reference, rows planned, rows done)
    detached: list[list[Any]] = field(default_factory=list)

    @property
    def action(self) -> str:
        return self.rule.action

    def to_json(self, dry_run: bool) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "table": self.table,
            "action": self.action,
            "rows": self.rows if dry_run else self.done,
            "withheld": self.withheld,
            "withheld_reasons": [w.to_json() for w in self.reasons],
            "legal_reference": str(self.rule.legal_reference),
            "statutory": self.rule.statutory,
            "batches": self.batches,
            "references_detached": [
                {
                    "table": ref.child,
                    "column": ref.columns[0],
                    "action": ref.action,
                    "rows": planned if dry_run else done,
                }
                for ref, planned, done in self.detached
            ],
        }


@dataclass
class PurgePlan:
    """What a purge at ``as_of`` does, in execution order (Art. 5(1)(e) GDPR)."""

    as_of: datetime
    steps: list[PurgeStep]
    catalog: Catalog
    sa_tables: dict[str, SATable]
    holds: HoldIndex
    references: References
    restricted_tables: set[str]
    dialect: str

    @property
    def withheld(self) -> int:
        return sum(s.withheld for s in self.steps)

    # -- conditions shared by counting and execution ---------------------------------------

    def expired(self, step: PurgeStep, index: int | None = None) -> ColumnElement[bool]:
        """TRUE for the rows of the step's table its rule has expired. With the step's
        ``index`` (counting), rows the steps before it delete count as gone already; without
        (executing), they are."""
        gone = None if index is None else (lambda table: self.deletable(table, index))
        return expired_condition(
            self.catalog, step.table, step.rule, self.sa_tables, self.as_of, gone
        )

    def pending(self, step: PurgeStep) -> ColumnElement[bool] | None:
        """Anonymise: TRUE where some field is not yet in anonymised form."""
        if step.action != "anonymise":
            return None
        sa = self.sa_tables[step.table]
        return or_(
            *(
                pending_condition(sa.c[f], how, self.dialect)
                for f, how in step.rule.anonymise.items()
            )
        )

    def assignments(self, step: PurgeStep) -> dict[str, Any]:
        sa = self.sa_tables[step.table]
        return {
            f: anonymised_value(sa.c[f], how, self.dialect)
            for f, how in step.rule.anonymise.items()
        }

    def restricted(self, table: str, index: int | None = None) -> ColumnElement[bool]:
        """TRUE for rows of ``table`` under an active Art. 18 restriction marker (``index``
        as for :meth:`expired`)."""
        gone = None if index is None else (lambda t: self.deletable(t, index))
        return restricted_condition(self.catalog, table, self.sa_tables, self.as_of, gone)

    def protected(
        self,
        table: str,
        *,
        restricted: bool,
        index: int | None = None,
        step: PurgeStep | None = None,
    ) -> list[ColumnElement[bool]]:
        """Conditions TRUE for rows no hold or restriction covers, nor, for the deletes of
        ``step``, another statutory rule of the table whose period still runs."""
        out: list[ColumnElement[bool]] = []
        free = self.holds.exclusion(table, self.sa_tables[table])
        if free is not None:
            out.append(uncorrelated(free))
        if restricted:
            out.append(not_(self.restricted(table, index)))
        if step is not None:
            out += [not_(running) for _, running in self.kept_by_law(step, index)]
        return out

    def kept_by_law(
        self, step: PurgeStep, index: int | None = None
    ) -> list[tuple[str, ColumnElement[bool]]]:
        """Per other statutory rule of the step's table, TRUE for rows whose period under it
        still runs: a delete step of a shorter rule (a CRM's 3 years) leaves them to the law
        (10 years under § 147 AO); anonymising steps may change them. ``index`` as for
        :meth:`expired`."""
        if step.action != "delete":
            return []
        gone = None if index is None else (lambda table: self.deletable(table, index))
        out = []
        for rule in self.catalog.rules_for(step.table):
            if not rule.statutory or rule.id == step.rule.id:
                continue
            ended = expired_condition(
                self.catalog, step.table, rule, self.sa_tables, self.as_of, gone
            )
            # not expired, also where the rule's condition is NULL for the row
            out.append((rule.id, not_true(ended)))
        return out

    def referenced_now(self, table: str) -> list[tuple[str, ColumnElement[bool]]]:
        """Per referencing table: TRUE where a row of it references this row now."""
        return [
            (ref.child, self._exists_child(table, ref, None))
            for ref in self.references.get(table, [])
            if not self.gives_way(ref)
        ]

    def detaching(self, table: str) -> list[Reference]:
        """The references to ``table`` that give way to its deletes (unlink, tombstone)."""
        return [ref for ref in self.references.get(table, []) if self.gives_way(ref)]

    def gives_way(self, ref: Reference) -> bool:
        """The reference is unlinked or tombstoned (:func:`dsr.removal.protection.gives_way`)."""
        return gives_way(ref, self.catalog, self.holds, self.restricted_tables)

    def referenced_after(self, table: str, before: int) -> list[tuple[str, ColumnElement[bool]]]:
        """As :meth:`referenced_now`, ignoring child rows that steps before ``before`` delete."""
        out = []
        for ref in self.references.get(table, []):
            if self.gives_way(ref):
                continue
            gone = self.deletable(ref.child, before)
            out.append((ref.child, self._exists_child(table, ref, gone)))
        return out

    def deletable(self, table: str, before: int) -> ColumnElement[bool] | None:
        """TRUE for rows of ``table`` that the delete steps before index ``before`` remove."""
        conds = []
        for i, step in enumerate(self.steps[:before]):
            if step.table != table or step.action != "delete":
                continue
            parts = [self.expired(step, i)]
            parts += self.protected(
                table, restricted=table in self.restricted_tables, index=i, step=step
            )
            parts += [not_(c) for _, c in self.referenced_after(table, i)]
            conds.append(and_(*parts))
        return or_(*conds) if conds else None

    def _exists_child(
        self, table: str, ref: Reference, gone: ColumnElement[bool] | None
    ) -> ColumnElement[bool]:
        parent = self.sa_tables[table]
        child: Any = ref.child_table
        if ref.child == table:
            child = ref.child_table.alias("referencing")
        cond = [
            child.c[c] == parent.c[p] for c, p in zip(ref.columns, ref.parent_columns, strict=True)
        ]
        if gone is not None and ref.child != table:
            cond.append(not_(gone))
        return exists().where(*cond)


def order_steps(catalog: Catalog, refs: References) -> list[tuple[RetentionRule, str]]:
    """Rules in execution order: referencing tables before referenced ones, deletions first."""
    tables = [t.name for t in catalog.tables.values() if t.retention]
    out: list[tuple[RetentionRule, str]] = []
    for name in children_first(tables, refs):
        rules = catalog.rules_for(name)
        out += [(r, name) for r in rules if r.action == "delete"]
        out += [(r, name) for r in rules if r.action != "delete"]
    return out


def count_step(conn: Connection, plan: PurgePlan, index: int) -> None:
    """Fill in the step's counts and key range in one aggregate query over its expired rows."""
    step = plan.steps[index]
    t = plan.catalog.tables[step.table]
    sa = plan.sa_tables[step.table]
    # batches are ranges of the first key column; a table without a key goes in one statement
    pk: Any = sa.c[t.key[0]] if t.key else literal(None)
    base: list[ColumnElement[bool]] = [plan.expired(step, index)]
    pending = plan.pending(step)
    if pending is not None:
        base.append(pending)
    earlier = plan.deletable(step.table, index)
    if earlier is not None:
        base.append(not_(earlier))
    is_restricted = step.table in plan.restricted_tables
    reasons: list[tuple[Withheld, ColumnElement[bool]]] = []
    for hold_id, cond in plan.holds.coverage(step.table, sa):
        reasons.append(
            (
                Withheld(f"hold {hold_id}", 0, hold_id, plan.holds.until(hold_id)),
                uncorrelated(cond),
            )
        )
    if is_restricted:
        reasons.append((Withheld(RESTRICTED, 0), plan.restricted(step.table, index)))
    for rule_id, running in plan.kept_by_law(step, index):
        reasons.append((Withheld(f"statutory retention ({rule_id})", 0), running))
    blockers = plan.referenced_after(step.table, index) if step.action == "delete" else []
    for child, cond in blockers:
        reasons.append((Withheld(f"referenced by {child}", 0), cond))
    unprotected = [
        *plan.protected(step.table, restricted=is_restricted, index=index, step=step),
        *(not_(c) for _, c in blockers),
    ]
    if step.action == "delete":
        _count_detached(conn, plan, index, [*base, *unprotected])
    if not reasons:
        row = conn.execute(select(func.count(), func.min(pk), func.max(pk)).where(*base)).one()
        step.rows, step.first_key, step.last_key = int(row[0]), row[1], row[2]
        step.withheld, step.reasons = 0, []
        return
    ok = and_(*unprotected)
    cols: list[Any] = [
        func.count(),
        func.coalesce(func.sum(case((ok, 1), else_=0)), 0),
        func.min(case((ok, pk), else_=None)),
        func.max(case((ok, pk), else_=None)),
    ]
    cols += [func.coalesce(func.sum(case((c, 1), else_=0)), 0) for _, c in reasons]
    row = conn.execute(select(*cols).where(*base)).one()
    total, free = int(row[0]), int(row[1])
    step.rows, step.first_key, step.last_key = free, row[2], row[3]
    step.withheld = total - free
    step.reasons = []
    for (w, _), n in zip(reasons, row[4:], strict=True):
        if int(n):
            w.rows = int(n)
            step.reasons.append(w)


def _count_detached(
    conn: Connection, plan: PurgePlan, index: int, deleted: list[ColumnElement[bool]]
) -> None:
    """How many referring rows each giving-way reference detaches from the rows of this step
    that ``deleted`` selects (expired, protected by nothing)."""
    step = plan.steps[index]
    step.detached = []
    sa = plan.sa_tables[step.table]
    for ref in plan.detaching(step.table):
        targets = select(sa.c[ref.parent_columns[0]]).where(*deleted)
        column = ref.child_table.c[ref.columns[0]]
        referring: list[ColumnElement[bool]] = [column.in_(targets)]
        gone = plan.deletable(ref.child, index) if ref.child != step.table else None
        if gone is not None:
            referring.append(not_(gone))
        n = conn.execute(select(func.count()).select_from(ref.child_table).where(*referring))
        step.detached.append([ref, int(n.scalar_one()), 0])


def plan_purge(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    keys: KeyProvider,
    as_of: datetime,
) -> PurgePlan:
    """Plan a purge at ``as_of`` (timezone-aware): every rule on every table, counted."""
    catalog = graph.catalog
    sa_tables = graph.sa_tables
    refs = references(conn, catalog, sa_tables, graph.schema_cache)
    plan = PurgePlan(
        as_of=as_of,
        steps=[
            PurgeStep(rule=r, table=t, rows=0, withheld=0) for r, t in order_steps(catalog, refs)
        ],
        catalog=catalog,
        sa_tables=sa_tables,
        holds=(
            load_holds(conn, catalog, graph, keys, as_of)
            if inspect(conn).has_table(holds_table.name)
            else HoldIndex(catalog=catalog, graph=graph, holds=[])
        ),
        references=refs,
        restricted_tables=restricted_tables(conn),
        dialect=conn.dialect.name,
    )
    for i in range(len(plan.steps)):
        count_step(conn, plan, i)
    return plan


__all__ = [
    "RESTRICTED",
    "PurgePlan",
    "PurgeStep",
    "Withheld",
    "count_step",
    "order_steps",
    "plan_purge",
]
