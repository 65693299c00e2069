"""Right to restriction of processing (Art. 18 GDPR) and its lifting (Art. 18(3)).

:func:`restrict` marks every row about the person in the ledger table ``dsr_restrictions``
(table, row key, subject pseudonym, reason, since, request). Marked rows stay out of exports,
purges and any disclosure while ``lifted_at`` is NULL; they stay visible in the person's own
access report. :func:`lift` ends the restriction and records when the person was informed,
which Art. 18(3) requires to happen before the lift.

Rows an erasure had to keep (statutory retention, legal hold) are restricted by
:mod:`dsr.rights.erase` with a reason starting :data:`ERASURE_REASON_PREFIX`; lifting a
restriction the person asked for leaves those in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, insert, select, update

from dsr.catalog.model import Catalog
from dsr.clock import Clock, SystemClock, utc_naive
from dsr.crypto.keys import KeyProvider, pseudonym
from dsr.errors import ValidationError
from dsr.ledger.audit import append as audit_append
from dsr.ledger.migrate import require_ledger
from dsr.ledger.tables import ERASURE_REASON_PREFIX, MADE_BY_ERASURE
from dsr.ledger.tables import restrictions as restrictions_table
from dsr.subject.graph import SubjectGraph
from dsr.subject.identity import Identity, parse_identities
from dsr.subject.rowkey import key_text

CHUNK = 500


@dataclass
class RestrictionResult:
    """Per table, how many rows were newly restricted (or lifted) and how many already were."""

    subject: str
    counts: dict[str, int] = field(default_factory=dict)
    already: dict[str, int] = field(default_factory=dict)
    informed_at: datetime | None = None
    #: rows of tables without a unique key: they cannot carry a restriction mark
    unaddressable: dict[str, int] = field(default_factory=dict)

    def entries(self) -> list[dict[str, Any]]:
        return [
            {"table": t, "rows": n, "already": self.already.get(t, 0)}
            for t, n in self.counts.items()
        ]

    def to_json(self, key: str = "restricted") -> dict[str, Any]:
        out: dict[str, Any] = {"subject": self.subject, key: self.entries()}
        if self.informed_at is not None:
            out["informed_at"] = self.informed_at.isoformat()
        if self.unaddressable:
            out["not_marked"] = [
                {"table": t, "rows": n, "reason": "the table has no unique key"}
                for t, n in self.unaddressable.items()
            ]
        return out


def active_restrictions(
    conn: Connection, table: str, row_keys: Sequence[Any], *, erasure: bool | None = None
) -> set[str]:
    """Which of ``row_keys`` of ``table`` are restricted now (as strings); ``erasure`` True or
    False counts only the marks an erasure made, or only the others."""
    r = restrictions_table
    kind = [] if erasure is None else [MADE_BY_ERASURE if erasure else ~MADE_BY_ERASURE]
    found: set[str] = set()
    keys = [key_text(k) for k in row_keys]
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i : i + CHUNK]
        found.update(
            conn.execute(
                select(r.c.row_key).where(
                    r.c.table_name == table,
                    r.c.row_key.in_(chunk),
                    r.c.lifted_at.is_(None),
                    *kind,
                )
            ).scalars()
        )
    return found


def mark_restricted(
    conn: Connection,
    table: str,
    row_keys: Sequence[Any],
    *,
    subject: str,
    reason: str,
    since: datetime,
    until: date | None = None,
    request_id: int | None = None,
) -> tuple[int, int]:
    """Insert restriction marks for rows not yet restricted the same way; returns (new,
    already). The two kinds stand apart: a restriction the person asked for outlives the one
    an erasure made (which ends with the duty that kept the row), and lifting the person's
    leaves the erasure's in place."""
    erasure = reason.startswith(ERASURE_REASON_PREFIX)
    already = active_restrictions(conn, table, row_keys, erasure=erasure)
    new = [key_text(k) for k in row_keys if key_text(k) not in already]
    if new:
        conn.execute(
            insert(restrictions_table),
            [
                {
                    "table_name": table,
                    "row_key": k,
                    "subject": subject,
                    "reason": reason,
                    "request_id": request_id,
                    "since": since,
                    "until": until,
                }
                for k in new
            ],
        )
    return len(new), len(row_keys) - len(new)


def restrict(
    engine: Engine,
    catalog: Catalog,
    keys: KeyProvider,
    identities: Sequence[Identity | str],
    reason: str,
    *,
    request_id: int | None = None,
    clock: Clock | None = None,
    graph: SubjectGraph | None = None,
) -> RestrictionResult:
    """Restrict processing of every row about the person (Art. 18(1)), with an audit entry."""
    if not reason.strip():
        raise ValidationError("a reason is required (Art. 18(1)(a)-(d))", where="--reason")
    if reason.strip().lower().startswith(ERASURE_REASON_PREFIX.strip().lower()):
        raise ValidationError(
            f"a reason may not begin {ERASURE_REASON_PREFIX.strip()!r}: dsr marks the "
            "restrictions an erasure makes that way",
            where="--reason",
        )
    clock = clock or SystemClock()
    graph = graph or SubjectGraph(catalog, engine)
    ids = parse_identities(identities, graph.catalog)
    subject = pseudonym(keys, ids)
    now = utc_naive(clock.now())
    require_ledger(engine, graph.schema_cache)
    result = RestrictionResult(subject=subject)
    with engine.begin() as conn:
        record = graph.resolve(conn, ids)
        for rec in record.tables:
            if rec.table.keyless:
                result.unaddressable[rec.table.name] = len(rec.rows)
                continue
            new, old = mark_restricted(
                conn,
                rec.table.name,
                [r.key for r in rec.rows],
                subject=subject,
                reason=reason.strip(),
                since=now,
                request_id=request_id,
            )
            result.counts[rec.table.name] = new
            result.already[rec.table.name] = old
        summary = {"restricted": result.entries()}
        if request_id is not None:
            from dsr.ledger.requests import record_outcome

            record_outcome(conn, keys, request_id, "restrict", summary, clock)
        audit_append(
            conn,
            keys,
            "restrict",
            details=summary,
            subject=subject,
            request_id=request_id,
            at=clock.now(),
        )
    return result


def lift(
    engine: Engine,
    catalog: Catalog,
    keys: KeyProvider,
    identities: Sequence[Identity | str],
    informed_at: date | datetime,
    *,
    request_id: int | None = None,
    clock: Clock | None = None,
    graph: SubjectGraph | None = None,
) -> RestrictionResult:
    """Lift the person's restrictions, recording when they were informed (Art. 18(3)).

    ``informed_at`` is required and must not lie in the future: the person is told before
    the restriction is lifted. Restrictions made instead of an erasure stay in place.
    """
    clock = clock or SystemClock()
    graph = graph or SubjectGraph(catalog, engine)
    tz = ZoneInfo(catalog.timezone)
    now = clock.now()
    informed = (
        informed_at
        if isinstance(informed_at, datetime)
        else datetime.combine(informed_at, time(0, 0))
    )
    if informed.tzinfo is None:
        informed = informed.replace(tzinfo=tz)
    if informed.astimezone(tz).date() > now.astimezone(tz).date():
        raise ValidationError(
            "the person must be informed before the restriction is lifted (Art. 18(3)); "
            "the date lies in the future",
            where="--informed-at",
        )
    ids = parse_identities(identities, graph.catalog)
    subject = pseudonym(keys, ids)
    require_ledger(engine, graph.schema_cache)
    result = RestrictionResult(subject=subject, informed_at=informed)
    r = restrictions_table
    with engine.begin() as conn:
        record = graph.resolve(conn, ids)
        for rec in record.tables:
            if rec.table.keyless:
                continue
            row_keys = [key_text(x.key) for x in rec.rows]
            lifted = 0
            for i in range(0, len(row_keys), CHUNK):
                res = conn.execute(
                    update(r)
                    .where(
                        and_(
                            r.c.table_name == rec.table.name,
                            r.c.row_key.in_(row_keys[i : i + CHUNK]),
                            r.c.lifted_at.is_(None),
                            ~MADE_BY_ERASURE,
                        )
                    )
                    .values(lifted_at=utc_naive(now), informed_at=utc_naive(informed))
                )
                lifted += res.rowcount
            if lifted:
                result.counts[rec.table.name] = lifted
        summary = {"lifted": result.entries()}
        if request_id is not None:
            from dsr.ledger.requests import record_outcome

            record_outcome(conn, keys, request_id, "restrict.lift", summary, clock)
        audit_append(
            conn,
            keys,
            "restrict.lift",
            details=summary,
            subject=subject,
            request_id=request_id,
            at=now,
        )
    return result


__all__ = [
    "ERASURE_REASON_PREFIX",
    "RestrictionResult",
    "active_restrictions",
    "lift",
    "mark_restricted",
    "restrict",
]
