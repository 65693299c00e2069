"""Benchmark: erasure on request of a heavy account holder, dsr against hand-written SQL.

Builds the demo database once at ``--scale`` (the heavy user has 3,000 x scale usage-log
rows) as a template, then for each of ``--pairs`` pairs makes two fresh, identical copies
(SQLite: a file copy; PostgreSQL: ``CREATE DATABASE ... TEMPLATE``) and erases the heavy user
on one with each side, the order alternating pair by pair:

* **raw**: the hand-written statements that make the same change to the data (delete the
  account's usage-log rows, anonymise the account customer records still reference),
  committed, and on SQLite the same WAL checkpoint dsr ends with;
* **dsr warm**: ``Toolkit.erase`` on a toolkit that already served a request on that
  database (catalog bound, foreign keys and holds cached, as in a portal or a worker): plan,
  statements, restriction marks, kept-row record, audit entry, commit, checkpoint;
* **dsr cold** (reported, not paired): a new toolkit's first erasure, binding included.

Every side commits on its own copy, so none is measured on rolled-back or warmed-up data.
Prints min/median/max seconds and the ratio dsr warm / raw pair by pair. Not part of CI::

    python bench/bench_erase.py --scale 10 [--pairs 5]
    python bench/bench_erase.py --scale 10 --url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dsr  # noqa: E402
from dsr.db import connect  # noqa: E402
from dsr.demo.data import populate  # noqa: E402
from dsr.ledger.migrate import create_ledger  # noqa: E402

RAW = [
    "DELETE FROM usage_log WHERE user_account_id = :a",
    "UPDATE user_accounts SET first_name = 'erased', last_name = 'erased', "
    "email = 'erased-' || CAST(id AS TEXT) || '@invalid', phone = NULL, "
    "password_hash = 'erased', last_login_at = NULL WHERE id = :a",
]
NOW = datetime(2026, 11, 25, 10, 0)
CLOCK = dsr.FixedClock(NOW.replace(tzinfo=timezone.utc))
KEYS = dsr.StaticKeys(b"b" * 32)


class Copies:
    """Fresh identical copies of the template database."""

    def __init__(self, url: str | None) -> None:
        self.server = url
        self.n = 0
        if url is None:
            self.dir = Path(tempfile.mkdtemp(prefix="dsr-bench-erase-"))
            self.template = f"sqlite:///{self.dir}/template.db"
        else:
            self.admin = create_engine(url, isolation_level="AUTOCOMMIT")
            self.template = self._db_url("dsr_bench_erase_tpl")
            with self.admin.connect() as c:
                c.execute(text("DROP DATABASE IF EXISTS dsr_bench_erase_tpl"))
                c.execute(text("CREATE DATABASE dsr_bench_erase_tpl"))
        self.made: list[str] = []

    def _db_url(self, name: str) -> str:
        assert self.server
        return make_url(self.server).set(database=name).render_as_string(hide_password=False)

    def new(self) -> str:
        self.n += 1
        if self.server is None:
            target = self.dir / f"copy{self.n}.db"
            shutil.copyfile(self.dir / "template.db", target)
            url = f"sqlite:///{target}"
        else:
            name = f"dsr_bench_erase_{self.n}"
            with self.admin.connect() as c:
                c.execute(text(f"DROP DATABASE IF EXISTS {name}"))
                c.execute(text(f"CREATE DATABASE {name} TEMPLATE dsr_bench_erase_tpl"))
            url = self._db_url(name)
        self.made.append(url)
        return url

    def drop_all(self) -> None:
        if self.server is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        with self.admin.connect() as c:
            for url in self.made:
                c.execute(text(f"DROP DATABASE IF EXISTS {make_url(url).database}"))
            c.execute(text("DROP DATABASE IF EXISTS dsr_bench_erase_tpl"))


def _raw(url: str, account: int) -> float:
    engine = connect(url)
    with engine.connect() as c:  # connected before the clock starts, as the toolkit is
        c.execute(text("SELECT 1"))
    started = time.perf_counter()
    with engine.begin() as c:
        for sql in RAW:
            c.execute(text(sql), {"a": account})
    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def _dsr_warm(url: str, identities: list[str], warm_with: list[str]) -> tuple[float, int]:
    tk = dsr.Toolkit(connect(url), None, KEYS, clock=CLOCK)
    tk.erase(warm_with)  # an earlier request on this database: caches filled
    started = time.perf_counter()
    plan = tk.erase(identities)
    seconds = time.perf_counter() - started
    tk.engine.dispose()
    return seconds, sum(e["rows"] for e in plan.erased())


def _dsr_cold(url: str, identities: list[str]) -> float:
    started = time.perf_counter()
    tk = dsr.Toolkit(connect(url), None, KEYS, clock=CLOCK)
    tk.erase(identities)
    seconds = time.perf_counter() - started
    tk.engine.dispose()
    return seconds


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--url", default=None, help="admin URL of a PostgreSQL server")
    args = ap.parse_args()
    copies = Copies(args.url)
    try:
        engine = connect(copies.template)
        people = populate(engine, scale=args.scale, now=NOW)
        create_ledger(engine)
        with engine.connect() as c:
            account = c.execute(
                text("SELECT id FROM user_accounts WHERE email = :e"), {"e": people.heavy.email}
            ).scalar_one()
            rows = c.execute(
                text("SELECT count(*) FROM usage_log WHERE user_account_id = :a"), {"a": account}
            ).scalar_one()
        engine.dispose()
        heavy = list(people.heavy.identities)
        other = list(people.visitor.identities)  # a different person, erased first when warm
        raw_s: list[float] = []
        warm_s: list[float] = []
        ratios: list[float] = []
        for i in range(args.pairs):
            a, b = copies.new(), copies.new()
            sides: list[tuple[str, Callable[[], float]]] = [
                ("raw", lambda a=a: _raw(a, account)),  # type: ignore[misc]
                ("dsr", lambda b=b: _dsr_warm(b, heavy, other)[0]),  # type: ignore[misc]
            ]
            if i % 2:
                sides.reverse()
            got = {name: run() for name, run in sides}
            raw_s.append(got["raw"])
            warm_s.append(got["dsr"])
            ratios.append(got["dsr"] / got["raw"])
        cold = [_dsr_cold(copies.new(), heavy) for _ in range(max(2, args.pairs // 2))]
        erased_rows = _dsr_warm(copies.new(), heavy, other)[1]
        print(
            json.dumps(
                {
                    "engine": make_url(copies.template).get_backend_name(),
                    "scale": args.scale,
                    "usage_log_rows_of_person": rows,
                    "rows_erased_by_dsr": erased_rows,
                    "pairs": args.pairs,
                    "raw_s": _stats(raw_s),
                    "dsr_warm_s": _stats(warm_s),
                    "ratio_warm_to_raw": _stats(ratios),
                    "dsr_cold_s": _stats(cold),
                },
                indent=2,
            )
        )
    finally:
        copies.drop_all()


if __name__ == "__main__":
    main()
