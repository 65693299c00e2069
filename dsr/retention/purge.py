"""Executing a purge plan: set-based batches bounded by primary-key ranges, resumable, locked.

Each batch is one DELETE or UPDATE over ``pk >= lo AND pk < hi AND <expired> AND <not held>
AND <not restricted> [AND <not referenced>]``, committed together with its audit entry (rule,
counts, key range, never data) and its checkpoint row. The WHERE clause is idempotent: a run
killed at any moment (SIGKILL included) leaves whole batches or nothing, and the next run
finishes the job. A set :class:`StopFlag` (the CLI sets it on SIGTERM) stops the run after the
current batch. Batches adapt their key span to take about ``target_seconds`` each (10 s on
SQLite, 1 s elsewhere), because on SQLite every commit rewrites the pages of secondary indexes
that the batch touched, so fewer, larger batches approach one big statement's speed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import FrameType
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    exists,
    insert,
    not_,
    select,
    text,
    update,
)
from sqlalchemy.sql import sqltypes

from dsr.catalog.model import Catalog
from dsr.clock import Clock, SystemClock, utc_naive
from dsr.crypto.keys import KeyProvider
from dsr.db import is_mysql
from dsr.errors import ValidationError
from dsr.ledger import audit
from dsr.ledger.holds import holds_version, load_holds
from dsr.ledger.lock import exclusive
from dsr.ledger.migrate import require_ledger
from dsr.ledger.tables import MADE_BY_ERASURE, kept_rows, purge_checkpoints
from dsr.ledger.tables import restrictions as restrictions_table
from dsr.log import get, log_step
from dsr.portability.delivery import purge_expired_packages
from dsr.portability.storage import PackageStorage
from dsr.removal.references import detach
from dsr.retention.plan import PurgePlan, PurgeStep, plan_purge
from dsr.subject.graph import SubjectGraph
from dsr.subject.rowkey import chunks, key_in, key_text_sql, row_key

DEFAULT_SPAN = 50_000
MIN_SPAN = 1_000
MAX_SPAN = 5_000_000
DEFAULT_TARGET = 1.0
SQLITE_TARGET = 10.0
Progress = Callable[[PurgeStep, int], None]

_log = get("purge")


@dataclass
class PurgeReport:
    """The outcome of a purge or dry run; ``to_json`` is the CLI's JSON."""

    plan: PurgePlan
    dry_run: bool
    run_id: str | None = None
    stopped: bool = False
    vacuumed: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    packages_deleted: int | None = None
    #: restriction marks of erasure-kept rows this run deleted at the end of their period
    restrictions_ended: int = 0
    #: the run's receipt in the ledger (:mod:`dsr.ledger.receipts`); None for a dry run
    receipt_id: int | None = None

    @property
    def withheld(self) -> int:
        return self.plan.withheld

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.plan.as_of.isoformat(),
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "stopped": self.stopped,
            "rules": [s.to_json(self.dry_run) for s in self.plan.steps],
            "withheld": self.withheld,
            "vacuumed": self.vacuumed,
            "packages_deleted": self.packages_deleted,
            "restrictions_ended": self.restrictions_ended,
            "receipt": self.receipt_id,
            "seconds": {k: round(v, 3) for k, v in self.timings.items()},
        }


class StopFlag:
    """Ask a running purge to stop after its current batch: call it, or set ``.set``.

    The library installs no signal handler; the CLI calls the flag from its SIGTERM handler
    (a scheduler or a web worker may call it from anywhere). Its call signature is a signal
    handler's, so ``signal.signal(signal.SIGTERM, flag)`` works as it is.
    """

    def __init__(self) -> None:
        self.set = False

    def __call__(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self.set = True


def purge(
    engine: Engine,
    catalog: Catalog,
    keys: KeyProvider,
    *,
    as_of: datetime | None = None,
    dry_run: bool = False,
    vacuum: bool = False,
    batch_size: int | None = None,
    target_seconds: float | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
    stop: StopFlag | None = None,
    storage: PackageStorage | None = None,
    graph: SubjectGraph | None = None,
) -> PurgeReport:
    """Storage limitation (Art. 5(1)(e) GDPR): apply every retention rule as of ``as_of``.

    Plans first (counts, withheld rows and why), then, unless ``dry_run``, executes that plan
    under the destructive-run lock (:class:`~dsr.errors.LockBusy` when another run holds it).
    ``batch_size`` fixes the primary-key span of a batch; by default it adapts to take about
    ``target_seconds`` (default: 10 s on SQLite, where every commit rewrites the secondary-index
    pages a batch touched, so larger batches are much faster; 1 s elsewhere). Schema mismatches
    are raised before anything changes. With ``storage``, expired or already downloaded export
    packages (Art. 20 deliveries, personal data too) are deleted from it as well.
    """
    if target_seconds is None:
        target_seconds = SQLITE_TARGET if engine.dialect.name == "sqlite" else DEFAULT_TARGET
    clock = clock or SystemClock()
    moment = as_of or clock.now()
    if moment.tzinfo is None:
        raise ValidationError(
            "the moment to purge as of needs a time zone (a naive time is ambiguous)",
            where="as_of",
        )
    graph = graph or SubjectGraph(catalog, engine)
    started = time.perf_counter()
    if dry_run:
        # a dry run changes nothing, not even the schema: no ledger tables are created
        with engine.connect() as conn:
            plan = plan_purge(conn, catalog, graph, keys, moment)
        seconds = time.perf_counter() - started
        _log_plan(plan, seconds, dry_run=True)
        return PurgeReport(plan=plan, dry_run=True, timings={"plan": seconds})
    require_ledger(engine, graph.schema_cache)
    flag = stop or StopFlag()
    with exclusive(engine):
        with engine.connect() as conn:
            plan = plan_purge(conn, catalog, graph, keys, moment)
        report = PurgeReport(plan=plan, dry_run=False, run_id=uuid.uuid4().hex[:16])
        report.timings["plan"] = time.perf_counter() - started
        _log_plan(plan, report.timings["plan"], dry_run=False)
        execute(
            engine,
            plan,
            graph,
            keys,
            report,
            flag,
            batch_size=batch_size,
            target_seconds=target_seconds,
            clock=clock,
            progress=progress,
        )
        report.timings["execute"] = time.perf_counter() - started - report.timings["plan"]
        if not report.stopped:
            with engine.begin() as conn:
                report.restrictions_ended = end_erasure_restrictions(conn, plan, keys, clock)
        if storage is not None and not report.stopped:
            with engine.begin() as conn:
                report.packages_deleted = purge_expired_packages(conn, storage, clock, keys)
        if vacuum and not report.stopped:
            report.vacuumed = vacuum_tables(engine, plan)
            report.timings["vacuum"] = (
                time.perf_counter() - started - report.timings["plan"] - report.timings["execute"]
            )
            log_step(
                _log,
                "vacuum",
                f"reclaimed the space of {len(report.vacuumed)} table(s) "
                f"in {report.timings['vacuum']:.1f} s",
                tables=report.vacuumed,
                seconds=round(report.timings["vacuum"], 3),
            )
        if engine.dialect.name == "sqlite":
            # deleted rows must not linger in the WAL file for other connections to read
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    done = sum(s.done for s in plan.steps)
    seconds = time.perf_counter() - started
    what = "stopped on request after a whole batch" if report.stopped else "finished"
    log_step(
        _log,
        "done",
        f"{what}: {done:,} rows purged, {report.withheld:,} withheld, "
        f"{report.packages_deleted} package(s) deleted, in {seconds:.1f} s",
        rows=done,
        withheld=report.withheld,
        stopped=report.stopped,
        run=report.run_id,
        seconds=round(seconds, 3),
    )
    return report


def _log_plan(plan: PurgePlan, seconds: float, *, dry_run: bool) -> None:
    rows = sum(s.rows for s in plan.steps)
    busy = sum(1 for s in plan.steps if s.rows)
    verb = "would purge" if dry_run else "to purge"
    log_step(
        _log,
        "plan",
        f"{len(plan.steps)} rule step(s), {busy} with expired rows: {verb} "
        f"{rows:,} rows, {plan.withheld:,} withheld (planned in {seconds:.2f} s)",
        steps=len(plan.steps),
        rows=rows,
        withheld=plan.withheld,
        dry_run=dry_run,
        seconds=round(seconds, 3),
    )


def end_erasure_restrictions(
    conn: Connection, plan: PurgePlan, keys: KeyProvider, clock: Clock
) -> int:
    """Remove the restriction marks an erasure left on rows this purge deleted after their
    retention period ran out, with or without an ``until`` day (they would name rows that no
    longer exist, and a key the database hands out again would find itself restricted);
    audited."""
    r = restrictions_table
    removed = 0
    for table in sorted({s.table for s in plan.steps if s.action == "delete"}):
        t = plan.catalog.tables[table]
        if not t.key:
            continue
        sa = plan.sa_tables[table]
        gone = ~exists().where(key_text_sql([sa.c[c] for c in t.key]) == r.c.row_key)
        result = conn.execute(
            delete(r).where(
                r.c.table_name == table,
                MADE_BY_ERASURE,
                gone,
            )
        )
        removed += max(int(result.rowcount or 0), 0)
        k = kept_rows
        conn.execute(
            delete(k).where(
                k.c.table_name == table,
                ~exists().where(key_text_sql([sa.c[c] for c in t.key]) == k.c.row_key),
            )
        )
    if removed:
        audit.append(conn, keys, "purge.restrictions", details={"ended": removed}, at=clock.now())
    return removed


def execute(
    engine: Engine,
    plan: PurgePlan,
    graph: SubjectGraph,
    keys: KeyProvider,
    report: PurgeReport,
    stop: StopFlag,
    *,
    batch_size: int | None,
    target_seconds: float,
    clock: Clock,
    progress: Progress | None,
) -> None:
    """Execute ``plan`` step by step, batch by batch; each batch one transaction."""
    assert report.run_id is not None
    version = plan.holds.version
    for step in plan.steps:
        if step.rows == 0:
            continue
        t = plan.catalog.tables[step.table]
        pk = plan.sa_tables[step.table].c[t.key[0]] if t.key else None
        ranged = pk is not None and step.first_key is not None and _integer(pk.type)
        span = batch_size or DEFAULT_SPAN
        lo: Any = step.first_key
        checkpoint: int | None = None
        while True:
            if stop.set:
                report.stopped = True
                break
            hi = lo + span if ranged else None
            started = time.monotonic()
            with engine.begin() as conn:
                current = holds_version(conn)
                if current != version:
                    plan.holds = load_holds(conn, plan.catalog, graph, keys, plan.as_of)
                    version = current
                restricted = _has_restrictions(conn, step.table)
                where = _where(plan, step, lo if ranged else None, hi, restricted)
                if step.detached and plan.catalog.tables[step.table].key:
                    n, detached = _detach_and_delete(conn, plan, step, where)
                else:
                    detached = []
                    n = max(int(conn.execute(_statement(plan, step, where)).rowcount or 0), 0)
                step.done += n
                step.batches += 1
                last = hi - 1 if hi is not None else step.last_key
                checkpoint = _checkpoint(conn, report.run_id, step, plan.as_of, last, checkpoint)
                audit.append(
                    conn,
                    keys,
                    "purge.batch",
                    details={
                        "run": report.run_id,
                        "rule": step.rule.id,
                        "table": step.table,
                        "action": step.action,
                        "rows": n,
                        "from_key": str(lo) if ranged else None,
                        "to_key": str(hi) if ranged else None,
                        **({"detached": detached} if detached else {}),
                    },
                    at=clock.now(),
                )
            if progress is not None:
                progress(step, n)
            elapsed = time.monotonic() - started
            rate = n / max(elapsed, 1e-6)
            left = (
                -(-(step.last_key - hi + 1) // span)
                if hi is not None and hi <= step.last_key
                else 0
            )
            log_step(
                _log,
                "batch",
                f"{step.rule.id} on {step.table}: batch {step.batches}/"
                f"{step.batches + left}, {n:,} rows ({step.done:,} of {step.rows:,}), "
                f"{rate:,.0f} rows/s",
                rule=step.rule.id,
                table=step.table,
                batch=step.batches,
                batches=step.batches + left,
                rows=n,
                done=step.done,
                total=step.rows,
                rate=round(rate),
            )
            if hi is None or hi > step.last_key:
                break
            lo = hi
            if batch_size is None:
                factor = min(max(target_seconds / max(elapsed, 1e-3), 0.25), 4.0)
                span = int(min(max(span * factor, MIN_SPAN), MAX_SPAN))
        if report.stopped:
            break
        with engine.begin() as conn:
            if checkpoint is not None:
                conn.execute(
                    update(purge_checkpoints)
                    .where(purge_checkpoints.c.id == checkpoint)
                    .values(finished_at=utc_naive(clock.now()))
                )
    with engine.begin() as conn:
        from dsr.ledger.receipts import store_receipt

        rules = [
            {
                "rule": s.rule.id,
                "table": s.table,
                "action": s.action,
                "rows": s.done,
                "withheld": s.withheld,
            }
            for s in plan.steps
        ]
        now = clock.now()
        # the purge run's proof: what each rule removed, as of when (no personal data)
        body = {
            "receipt": "dsr-purge-receipt",
            "version": 1,
            "request_id": None,
            "subject": None,
            "run": report.run_id,
            "as_of": plan.as_of.isoformat(),
            "at": now.astimezone(timezone.utc).isoformat(),
            "stopped": report.stopped,
            "rules": [
                {**r, "legal_reference": s.rule.legal_reference.get("en") or None}
                for r, s in zip(rules, plan.steps, strict=True)
            ],
        }
        report.receipt_id, digest = store_receipt(
            conn, body, kind="purge", request_id=None, subject=None, at=now
        )
        audit.append(
            conn,
            keys,
            "purge.run",
            details={
                "run": report.run_id,
                "as_of": plan.as_of.isoformat(),
                "stopped": report.stopped,
                "rules": rules,
                "receipt": report.receipt_id,
                "receipt_sha256": digest,
            },
            at=now,
        )


def _integer(type_: Any) -> bool:
    return isinstance(type_, sqltypes.Integer)


def _has_restrictions(conn: Connection, table: str) -> bool:
    r = restrictions_table
    found = conn.execute(
        select(r.c.id).where(r.c.table_name == table, r.c.lifted_at.is_(None)).limit(1)
    ).first()
    return found is not None


def _where(plan: PurgePlan, step: PurgeStep, lo: Any, hi: Any, restricted: bool) -> list[Any]:
    """The rows of one batch: in the key range, expired, protected by nothing."""
    t = plan.catalog.tables[step.table]
    sa = plan.sa_tables[step.table]
    where: list[Any] = []
    if lo is not None:
        pk = sa.c[t.key[0]]
        where += [pk >= lo, pk < hi]
    where.append(plan.expired(step))
    where += plan.protected(step.table, restricted=restricted, step=step)
    if step.action == "delete":
        where += [not_(c) for _, c in plan.referenced_now(step.table)]
    else:
        pending = plan.pending(step)
        if pending is not None:
            where.append(pending)
    return where


def _detach_and_delete(
    conn: Connection, plan: PurgePlan, step: PurgeStep, where: list[Any]
) -> tuple[int, list[dict[str, Any]]]:
    """The batch's rows are read once (their conditions may depend on the references about to
    be detached), the references that give way to them detached, then the rows deleted by key."""
    t = plan.catalog.tables[step.table]
    sa = plan.sa_tables[step.table]
    pk = [sa.c[c] for c in t.key]
    width = len(pk)
    targets = sorted({ref.parent_columns[0] for ref, _, _ in step.detached})
    found = conn.execute(select(*pk, *(sa.c[c] for c in targets)).where(and_(*where))).all()
    out = []
    for entry in step.detached:
        ref = entry[0]
        at = width + targets.index(ref.parent_columns[0])
        n = detach(conn, ref, sorted({r[at] for r in found}, key=str))
        entry[2] += n
        if n:
            out.append({"table": ref.child, "column": ref.columns[0], "rows": n})
    done = 0
    for chunk in chunks([row_key(r, width) for r in found], conn, width):
        done += max(int(conn.execute(delete(sa).where(key_in(pk, chunk, conn))).rowcount or 0), 0)
    return done, out


def _statement(plan: PurgePlan, step: PurgeStep, where: list[Any]) -> Any:
    sa = plan.sa_tables[step.table]
    if step.action == "delete":
        return delete(sa).where(and_(*where))
    return update(sa).where(and_(*where)).values(**plan.assignments(step))


def _checkpoint(
    conn: Connection,
    run_id: str,
    step: PurgeStep,
    as_of: datetime,
    last_key: Any,
    existing: int | None,
) -> int:
    c = purge_checkpoints
    values = {"last_key": str(last_key), "rows_done": step.done}
    if existing is not None:
        conn.execute(update(c).where(c.c.id == existing).values(**values))
        return existing
    result = conn.execute(
        insert(c).values(
            run_id=run_id,
            rule=step.rule.id,
            table_name=step.table,
            as_of=utc_naive(as_of),
            **values,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def vacuum_tables(engine: Engine, plan: PurgePlan) -> list[str]:
    """Reclaim the space of purged rows so their bytes do not linger (SQLite VACUUM,
    PostgreSQL VACUUM (ANALYZE), MariaDB OPTIMIZE TABLE); returns what was vacuumed."""
    tables = sorted({s.table for s in plan.steps if s.done})
    if not tables:
        return []
    dialect = engine.dialect.name
    quote = engine.dialect.identifier_preparer.quote
    with engine.connect() as raw:
        conn = raw.execution_options(isolation_level="AUTOCOMMIT")
        if dialect == "sqlite":
            conn.execute(text("VACUUM"))
            return ["(database)"]
        for name in tables:
            if dialect == "postgresql":
                conn.execute(text(f"VACUUM (ANALYZE) {quote(name)}"))
            elif is_mysql(dialect):
                conn.execute(text(f"OPTIMIZE TABLE {quote(name)}")).all()
    return tables


__all__ = ["PurgeReport", "StopFlag", "execute", "purge", "vacuum_tables"]
