"""Benchmark: erasure on request of a heavy account holder, dsr.erase vs hand-written SQL.

Builds the demo database at ``--scale`` (the heavy user has 3,000 x scale usage-log rows),
then, in the same run and on the same data:

* hand-written SQL doing the same change (delete the account's usage-log rows, anonymise the
  account that customer records still reference) in one transaction, **rolled back**;
* ``dsr erase --dry-run`` (the plan alone: subject graph, retention, holds, FK references);
* ``dsr erase`` for real (plan + statements + restriction marks + audit entry + commit, and on
  SQLite a WAL checkpoint).

Prints a JSON summary. Not part of CI. Usage::

    python bench/bench_erase.py --scale 10
    python bench/bench_erase.py --scale 10 --url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsr.catalog.loader import load_catalog  # noqa: E402
from dsr.clock import FixedClock  # noqa: E402
from dsr.crypto.keys import StaticKeys  # noqa: E402
from dsr.db import connect  # noqa: E402
from dsr.demo import schema  # noqa: E402
from dsr.demo.data import populate  # noqa: E402
from dsr.ledger.migrate import (
    create_ledger,  # noqa: E402
    schema_version,
)
from dsr.ledger.tables import ledger_metadata  # noqa: E402
from dsr.rights.erase import erase  # noqa: E402
from dsr.subject.graph import SubjectGraph  # noqa: E402

RAW = [
    "DELETE FROM usage_log WHERE user_account_id = :a",
    "UPDATE user_accounts SET first_name = 'erased', last_name = 'erased', "
    "email = 'erased-' || CAST(id AS TEXT) || '@invalid', phone = NULL, "
    "password_hash = 'erased', last_login_at = NULL WHERE id = :a",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--url", default=None)
    args = ap.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench-erase.db"
    engine = connect(url)
    schema.metadata.drop_all(engine)
    ledger_metadata.drop_all(engine)
    schema_version.drop(engine, checkfirst=True)
    now = datetime(2026, 11, 25, 10, 0)
    people = populate(engine, scale=args.scale, now=now)
    create_ledger(engine)
    clock = FixedClock(now.replace(tzinfo=timezone.utc))
    catalog, keys = load_catalog(), StaticKeys(b"b" * 32)
    with engine.connect() as c:
        account = c.execute(
            text("SELECT id FROM user_accounts WHERE email = :e"), {"e": people.heavy.email}
        ).scalar_one()
        rows = c.execute(
            text("SELECT count(*) FROM usage_log WHERE user_account_id = :a"), {"a": account}
        ).scalar_one()
    raw = RAW if engine.dialect.name != "mysql" else [
        RAW[0], RAW[1].replace("'erased-' || CAST(id AS TEXT) || '@invalid'",
                               "concat('erased-', id, '@invalid')"),
    ]  # fmt: skip
    t0 = time.perf_counter()
    with engine.connect() as c:
        for sql in raw:
            c.execute(text(sql), {"a": account})
        c.rollback()
    t_raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph = SubjectGraph(catalog, engine)  # reflection, once per process in a service
    t_graph = time.perf_counter() - t0
    t0 = time.perf_counter()
    dry = erase(engine, catalog, keys, people.heavy.identities, dry_run=True, clock=clock,
                graph=graph)  # fmt: skip
    t_dry = time.perf_counter() - t0
    t0 = time.perf_counter()
    real = erase(engine, catalog, keys, people.heavy.identities, clock=clock, graph=graph)
    t_real = time.perf_counter() - t0
    print(json.dumps({
        "engine": engine.dialect.name, "scale": args.scale, "usage_log_rows_of_person": rows,
        "raw_sql_s": round(t_raw, 3), "graph_build_s": round(t_graph, 3),
        "dsr_dry_run_s": round(t_dry, 3),
        "dsr_erase_s": round(t_real, 3), "ratio_erase_to_raw": round(t_real / t_raw, 2),
        "erased": real.to_json()["erased"],
        "same_plan": dry.to_json()["erased"] == real.to_json()["erased"],
    }, indent=2))  # fmt: skip
    if url.startswith(("postgresql", "mysql")):
        schema.metadata.drop_all(engine)
        ledger_metadata.drop_all(engine)
        schema_version.drop(engine, checkfirst=True)


if __name__ == "__main__":
    main()
