"""Benchmark: ``dsr purge`` against one hand-written DELETE on an identical copy, same run.

A usage log of ``--rows`` rows (timestamps spread evenly over the 12 months before the as-of
time, so half has outlived ``usage_log_delete``: 6 months) with the demo schema's indexes
(ts, account, ip) is generated with set-based SQL (a recursive CTE on SQLite,
``generate_series`` on PostgreSQL), then copied. On copy A, ``dsr purge`` runs in a child
process (its peak RSS is read with ``getrusage``); on copy B, ``DELETE FROM usage_log WHERE
ts < :cutoff`` runs in one transaction. Prints JSON and a markdown row.

    python bench/bench_purge.py --backend sqlite --rows 10000000
    python bench/bench_purge.py --backend postgresql --rows 2000000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import create_engine, insert, text

from dsr.catalog.loader import load_catalog
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.demo import schema as s
from dsr.ledger.migrate import create_ledger

AS_OF = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
SPAN_SECONDS = 365 * 86400
PG_ADMIN = os.environ.get("DSR_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


#: Fills usage_log with ``rows`` rows spread over SPAN_SECONDS (one statement per engine)
SQLITE_FILL = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :rows) "
    "INSERT INTO usage_log (id, ts, ip, user_agent, referrer, file_name, bytes_sent, "
    "status, user_account_id) SELECT x, "
    "datetime(:start, '+' || CAST(x * :step AS INTEGER) || ' seconds') || '.000000', "
    "'198.51.' || (x % 256) || '.' || (x % 251), 'Mozilla/5.0 (X11; Linux x86_64)', "
    "'https://example.org/', '/downloads/file' || (x % 500) || '.pdf', 1000 + x % 9000,"
    " 200, CASE WHEN x % 3 = 0 THEN NULL ELSE (x * 7919) % 1000 + 1 END FROM n"
)
PG_FILL = (
    "INSERT INTO usage_log (id, ts, ip, user_agent, referrer, file_name, bytes_sent, "
    "status, user_account_id) SELECT x, "
    "CAST(:start AS timestamp) + make_interval(secs => floor(x * :step)), "
    "'198.51.' || (x % 256) || '.' || (x % 251), 'Mozilla/5.0 (X11; Linux x86_64)', "
    "'https://example.org/', '/downloads/file' || (x % 500) || '.pdf', 1000 + x % 9000,"
    " 200, CASE WHEN x % 3 = 0 THEN NULL ELSE (x * 7919) % 1000 + 1 END "
    "FROM generate_series(CAST(1 AS bigint), :rows) AS x"
)


def build(url: str, rows: int) -> None:
    """Create the demo schema and fill usage_log with ``rows`` rows, set-based."""
    engine = connect(url)
    idx = [i for i in s.usage_log.indexes]
    for i in idx:
        s.usage_log.indexes.discard(i)
    try:
        s.metadata.create_all(engine)
    finally:
        for i in idx:
            s.usage_log.indexes.add(i)
    create_ledger(engine)
    with engine.begin() as c:
        c.execute(
            insert(s.partners).values(
                id=1,
                company_name="P",
                street="W",
                postal_code="1",
                city="L",
                country="DE",
                region="SN",
                employee_count=1,
                pc_count=1,
                currency="EUR",
                inquiry_email="i@p.example",
                registered_at=datetime(2015, 1, 1),
            )
        )
        c.execute(
            insert(s.user_accounts),
            [
                {
                    "id": i,
                    "partner_id": 1,
                    "first_name": "F",
                    "last_name": "L",
                    "email": f"u{i}@p.example",
                    "password_hash": "x",
                    "created_at": datetime(2016, 1, 1),
                }
                for i in range(1, 1001)
            ],
        )
    start = "2025-11-25 04:00:00"  # wall-clock Berlin, 12 months before AS_OF
    step = SPAN_SECONDS / rows
    with engine.begin() as c:
        if engine.dialect.name == "sqlite":
            c.execute(
                text(SQLITE_FILL),
                {"rows": rows, "start": start, "step": step},
            )
        else:
            c.execute(
                text(PG_FILL),
                {"rows": rows, "start": start, "step": step},
            )
    for i in s.usage_log.indexes:
        i.create(engine)
    with engine.connect() as raw:
        conn = raw.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE"))
        if engine.dialect.name == "sqlite":
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()


def purge_catalog() -> Any:
    """The example catalog with only ``usage_log_delete`` on usage_log (what the raw DELETE
    does); the other tables are empty here."""
    catalog = load_catalog()
    log = dataclasses.replace(catalog.tables["usage_log"], retention=("usage_log_delete",))
    return dataclasses.replace(catalog, tables={**catalog.tables, "usage_log": log})


def child(url: str, target: float | None) -> None:
    """Run the purge and print seconds, rows and peak RSS (this process only)."""
    from dsr.retention.purge import purge

    engine = connect(url)
    catalog = purge_catalog()  # loading YAML is per process, not per purge
    before = _hwm_mb()
    t0 = time.perf_counter()
    report = purge(engine, catalog, StaticKeys(b"k" * 32), as_of=AS_OF, target_seconds=target)
    seconds = time.perf_counter() - t0
    step = next(st for st in report.plan.steps if st.rule.id == "usage_log_delete")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": step.done,
                "batches": step.batches,
                "plan_seconds": report.timings["plan"],
                "execute_seconds": report.timings["execute"],
                "rss_before_mb": before,
                "peak_rss_mb": _hwm_mb(),
            }
        )
    )


def _hwm_mb() -> float:
    """Peak RSS of this process image. ``getrusage``'s ru_maxrss would include the parent's
    RSS copied by fork before exec, so /proc/self/status VmHWM is read where it exists."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_delete(url: str) -> dict[str, Any]:
    from dsr.retention.rules import cutoff

    rule = load_catalog().retention["usage_log_delete"]
    value = cutoff(rule, AS_OF, "Europe/Berlin").value
    engine = connect(url)
    t0 = time.perf_counter()
    with engine.begin() as c:
        n = c.execute(text("DELETE FROM usage_log WHERE ts <= :cutoff"), {"cutoff": value}).rowcount
    seconds = time.perf_counter() - t0
    engine.dispose()
    return {"seconds": seconds, "rows": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--target-seconds", type=float, default=None, help="Seconds per batch (default: dsr's own)."
    )
    ap.add_argument("--dir", default=None, help="Folder for the SQLite files (default: temp).")
    ap.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.target_seconds if args.target_seconds else None)
        return
    tmp = args.dir or tempfile.mkdtemp(prefix="dsr-bench-purge-")
    admin = None
    t0 = time.perf_counter()
    if args.backend == "sqlite":
        a, b = f"{tmp}/purge-a.db", f"{tmp}/purge-b.db"
        for p in (a, b):
            for suffix in ("", "-wal", "-shm", ".dsr-lock"):
                if os.path.exists(p + suffix):
                    os.remove(p + suffix)
        build(f"sqlite:///{a}", args.rows)
        shutil.copyfile(a, b)
        url_a, url_b = f"sqlite:///{a}", f"sqlite:///{b}"
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            for name in ("dsr_bench_a", "dsr_bench_b"):
                c.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            c.execute(text("CREATE DATABASE dsr_bench_a"))
        base = PG_ADMIN.rsplit("/", 1)[0]
        url_a, url_b = f"{base}/dsr_bench_a", f"{base}/dsr_bench_b"
        build(url_a, args.rows)
        with admin.connect() as c:
            c.execute(text("CREATE DATABASE dsr_bench_b TEMPLATE dsr_bench_a"))
    generated = time.perf_counter() - t0
    raw = raw_delete(url_b)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            url_a,
            "--target-seconds",
            str(args.target_seconds or 0),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    dsr = json.loads(out.stdout.strip().splitlines()[-1])
    assert dsr["rows"] == raw["rows"], (dsr, raw)
    result = {
        "backend": args.backend,
        "rows": args.rows,
        "expired": raw["rows"],
        "generate_seconds": round(generated, 1),
        "raw_delete_seconds": round(raw["seconds"], 2),
        "raw_rows_per_s": round(raw["rows"] / raw["seconds"]),
        "dsr_purge_seconds": round(dsr["seconds"], 2),
        "dsr_rows_per_s": round(dsr["rows"] / dsr["seconds"]),
        "dsr_batches": dsr["batches"],
        "dsr_plan_seconds": round(dsr["plan_seconds"], 2),
        "dsr_execute_seconds": round(dsr["execute_seconds"], 2),
        "execute_ratio": round(raw["seconds"] / dsr["execute_seconds"], 2),
        "ratio": round(raw["seconds"] / dsr["seconds"], 2),
        "rss_after_import_mb": round(dsr["rss_before_mb"], 1),
        "peak_rss_mb": round(dsr["peak_rss_mb"], 1),
    }
    print(json.dumps(result, indent=2))
    print(
        f"| {args.backend} | {args.rows:,} | {raw['rows']:,} | {result['raw_rows_per_s']:,} | "
        f"{result['dsr_rows_per_s']:,} ({dsr['batches']} batches) | {result['ratio']}x | "
        f"{result['peak_rss_mb']} MB |"
    )
    if admin is not None:
        with admin.connect() as c:
            for name in ("dsr_bench_a", "dsr_bench_b"):
                c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    elif not args.dir:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
