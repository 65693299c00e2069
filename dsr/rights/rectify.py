"""Right to rectification (Art. 16 GDPR) with notification of recipients (Art. 19).

Plan, then act, on one code path: :func:`plan_rectification` resolves the person, checks every
``TABLE.FIELD=VALUE`` against the catalog and the live schema (:mod:`dsr.rights.validate`) and
lists the rows that change with their old values; :func:`apply_rectification` executes exactly
that plan in the caller's transaction, with its audit entry. :func:`rectify` does both, under
the destructive-work lock, and stops after the plan on a dry run.

Only fields of the person's own party on rows about them can be changed. Tables marked
``evidence: true`` in the catalog (the signed agreement acceptance) are not rewritten: the
correction is recorded as a supplementary statement (Art. 16 sentence 2) in the ledger table
``dsr_supplements``, encrypted, since it holds the corrected value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from dsr.catalog.model import Catalog
from dsr.clock import Clock, SystemClock
from dsr.crypto.keys import KeyProvider, pseudonym
from dsr.crypto.seal import seal, unseal
from dsr.db import is_mysql
from dsr.errors import ValidationError
from dsr.ledger.audit import append as audit_append
from dsr.ledger.lock import destructive_transaction
from dsr.ledger.tables import supplements as supplements_table
from dsr.rights.notices import Notice, build_notices
from dsr.rights.validate import Assignment, parse_assignment, validate_assignment
from dsr.subject.graph import SubjectGraph
from dsr.subject.identity import Identity, parse_identities
from dsr.subject.rowkey import chunks, key_in, key_text

#: Keys per ``WHERE pk IN (...)`` statement: below every engine's bound-parameter limit.
CHUNK = 500


@dataclass
class FieldChange:
    """One field of one table, changed on ``rows`` (key, old value) to ``new``."""

    table: str
    field: str
    new: Any
    rows: list[tuple[Any, Any]]
    evidence: bool = False

    @property
    def action(self) -> str:
        return "supplemented" if self.evidence else "rectified"

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "field": self.field,
            "rows": len(self.rows),
            "action": self.action,
            "evidence": self.evidence,
        }


@dataclass
class RectificationPlan:
    """What a rectification changes; holds old and new values (personal data)."""

    identities: tuple[Identity, ...]
    subject: str
    changes: list[FieldChange] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    dry_run: bool = False
    applied: bool = False

    @property
    def row_count(self) -> int:
        return sum(len(c.rows) for c in self.changes)

    def summary(self) -> dict[str, Any]:
        """Counts and names only: what the audit trail and the request register get."""
        return {
            "changes": [
                {"table": c.table, "field": c.field, "rows": len(c.rows), "action": c.action}
                for c in self.changes
            ],
            "recipients": [n.recipient for n in self.notices],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "subject": self.subject,
            "changes": [c.to_json() for c in self.changes],
            "notices": [n.to_json() for n in self.notices],
        }


def plan_rectification(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    keys: KeyProvider,
    identities: Sequence[Identity | str],
    assignments: Sequence[Assignment | str],
) -> RectificationPlan:
    """Check every assignment and list the rows it changes; changes nothing (Art. 16).

    Raises :class:`ValidationError` naming ``table.field`` and the rule broken for an unknown
    table or field, a field of another party, a key or link column, or an invalid value.
    """
    catalog = graph.catalog
    ids = parse_identities(identities, catalog)
    parsed = [a if isinstance(a, Assignment) else parse_assignment(a) for a in assignments]
    if not parsed:
        raise ValidationError("give at least one --set TABLE.FIELD=VALUE", where="--set")
    seen: set[str] = set()
    checked = []
    for a in parsed:
        if a.where in seen:
            raise ValidationError("the field is given twice", where=a.where)
        seen.add(a.where)
        t = catalog.tables.get(a.table)
        if t is None or not t.personal:
            raise ValidationError(
                "rule known-table: not a catalogued personal table", where=a.where
            )
        f = t.fields.get(a.field)
        if f is None:
            raise ValidationError(
                "rule known-field: not a catalogued field of the table", where=a.where
            )
        if t.keyless:
            raise ValidationError(
                "rule addressable: the table has no primary key or unique constraint, so its "
                "rows cannot be changed one by one",
                where=a.where,
            )
        if a.field in t.key or a.field in {lk.column for lk in t.links.values()}:
            raise ValidationError(
                "rule no-keys: keys and references to other records are not rectified here",
                where=a.where,
            )
        column = graph.sa_tables[t.name].c[a.field]
        checked.append((a, t, f, validate_assignment(catalog, t, f, column, a.value)))

    record = graph.resolve(conn, ids)
    by_table = {rec.table.name: rec for rec in record.tables}
    plan = RectificationPlan(identities=ids, subject=pseudonym(keys, ids))
    items: list[dict[str, Any]] = []
    for a, t, f, new in checked:
        rec = by_table.get(t.name)
        if rec is None:
            raise ValidationError(
                "rule own-rows: the person has no record in this table", where=a.where
            )
        own = [row for row in rec.rows if row.parties & set(f.parties)]
        if not own:
            raise ValidationError(
                f"rule own-party: the field belongs to {', '.join(f.parties)}, not to the "
                f"person's role on these rows ({', '.join(rec.parties)})",
                where=a.where,
            )
        rows = [(row.key, row.values.get(f.name)) for row in own]
        rows = [(k, old) for k, old in rows if not _same(old, new)]
        change = FieldChange(table=t.name, field=f.name, new=new, rows=rows, evidence=t.evidence)
        plan.changes.append(change)
        items += [
            {
                "table": t.name,
                "field": f.name,
                "row": key_text(k),
                "old": old,
                "new": new,
                "action": change.action,
            }
            for k, old in rows
        ]
    plan.notices = build_notices(catalog, "rectification", items, [i.spec for i in ids])
    return plan


def apply_rectification(
    conn: Connection,
    catalog: Catalog,
    graph: SubjectGraph,
    keys: KeyProvider,
    plan: RectificationPlan,
    *,
    clock: Clock,
    request_id: int | None = None,
) -> RectificationPlan:
    """Carry out ``plan`` in the caller's transaction, with its audit entry (Art. 16, 5(2)).

    Ordinary fields: one ``UPDATE ... WHERE pk IN (...)`` per field and chunk of keys.
    Evidence tables: one encrypted supplementary statement per row instead.
    """
    catalog = graph.catalog
    now = clock.now()
    created = now.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    for change in plan.changes:
        if not change.rows:
            continue
        t = catalog.tables[change.table]
        sa = graph.sa_tables[t.name]
        if change.evidence:
            conn.execute(
                insert(supplements_table),
                [
                    {
                        "table_name": t.name,
                        "row_key": key_text(key),
                        "field": change.field,
                        "statement": _seal_statement(keys, t.name, key_text(key), change, old),
                        "subject": plan.subject,
                        "created_at": created,
                        "request_id": request_id,
                    }
                    for key, old in change.rows
                ],
            )
            continue
        keys_ = [k for k, _ in change.rows]
        pk = graph.key_columns(t.name)
        done = 0
        for chunk in chunks(keys_, conn, len(pk)):
            stmt = update(sa).where(key_in(pk, chunk, conn)).values({change.field: change.new})
            done += conn.execute(stmt).rowcount
        if done != len(keys_) and not is_mysql(conn.dialect.name):
            # MariaDB counts changed rows only; elsewhere a difference means the key lied
            raise ValidationError(
                f"expected to change {len(keys_)} rows, the database changed {done}; "
                "nothing was changed",
                where=f"{t.name}.{change.field}",
            )
    summary = plan.summary()
    if request_id is not None:
        from dsr.ledger.requests import record_outcome

        record_outcome(conn, keys, request_id, "rectify", summary, clock)
    audit_append(
        conn, keys, "rectify", details=summary, subject=plan.subject, request_id=request_id, at=now
    )
    plan.applied = True
    return plan


def rectify(
    engine: Engine,
    catalog: Catalog,
    keys: KeyProvider,
    identities: Sequence[Identity | str],
    assignments: Sequence[Assignment | str],
    *,
    dry_run: bool = False,
    request_id: int | None = None,
    clock: Clock | None = None,
    graph: SubjectGraph | None = None,
) -> RectificationPlan:
    """Rectify the person's data (Art. 16): plan, and unless ``dry_run`` apply in one transaction.

    The plan's notices name every recipient to inform under Art. 19 with old and new values.
    """
    clock = clock or SystemClock()
    graph = graph or SubjectGraph(catalog, engine)
    if dry_run:
        with engine.connect() as conn:
            plan = plan_rectification(conn, catalog, graph, keys, identities, assignments)
            conn.rollback()
        plan.dry_run = True
        return plan
    with destructive_transaction(engine, graph.schema_cache) as conn:
        plan = plan_rectification(conn, catalog, graph, keys, identities, assignments)
        return apply_rectification(
            conn, catalog, graph, keys, plan, clock=clock, request_id=request_id
        )


def supplements_for(
    conn: Connection, keys: KeyProvider, table: str, row_keys: Sequence[Any]
) -> list[dict[str, Any]]:
    """The supplementary statements recorded on rows of ``table`` (for the access report)."""
    if not row_keys:
        return []
    st = supplements_table
    out = []
    for chunk in _chunks([key_text(k) for k in row_keys]):
        rows = conn.execute(
            select(st).where(st.c.table_name == table, st.c.row_key.in_(chunk)).order_by(st.c.id)
        ).mappings()
        for r in rows:
            aad = f"{table}/{r['row_key']}/{r['field']}".encode()
            data = json.loads(unseal(keys, "supplements", r["statement"], aad))
            out.append(
                {
                    "table": table,
                    "row": r["row_key"],
                    "created_at": r["created_at"],
                    "request_id": r["request_id"],
                    **data,
                }
            )
    return out


def _seal_statement(
    keys: KeyProvider, table: str, row_key: str, change: FieldChange, old: Any
) -> bytes:
    body = {
        "field": change.field,
        "recorded_value": _plain(old),
        "corrected_value": _plain(change.new),
        "statement": "The data subject states that the recorded value is inaccurate and that "
        "the corrected value applies; the record is kept unchanged as evidence (Art. 16 GDPR).",
    }
    aad = f"{table}/{row_key}/{change.field}".encode()
    return seal(keys, "supplements", json.dumps(body, sort_keys=True).encode(), aad)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime) or hasattr(value, "isoformat"):
        return value.isoformat()
    return value if value is None or isinstance(value, int | str) else str(value)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return old.replace(tzinfo=None) == new.replace(tzinfo=None)
    return bool(old == new)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


__all__ = [
    "FieldChange",
    "RectificationPlan",
    "apply_rectification",
    "plan_rectification",
    "rectify",
    "supplements_for",
]
