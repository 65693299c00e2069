"""Benchmark: erasure of one typical person on a shop schema of 10k to 1M customers.

The schema, data and indexes are those of ``bench_shop_access.py`` (the test suite's shop:
customers pointing at addresses, some shared; orders shipping to addresses shared by many;
order items with a composite key; payment cards; sign-ins; visits without a primary key),
built once. Typical persons are customers ``30k + 3``: three orders (one shipping to an
address other orders use too), six order items, a card, two sign-ins, a visit, an address of
their own. Each pair erases two different such persons, one per side, order alternating
pair by pair, every side committing its own work:

* **raw**: the hand-written statements that make the same change to the data: find the
  customer by ``lower(email)``, collect the addresses their rows point at, delete order
  items, orders, card, sign-ins, service requests, visits and the customer, then the
  addresses nothing else points at;
* **dsr warm**: ``Toolkit.erase`` on a toolkit that has served a request before (catalog
  bound, references and holds cached, as in a portal or a worker): lookup, plan,
  statements, the ledger's kept-row and audit entries, commit (and on SQLite the WAL
  checkpoint, which the raw side runs too), on a ledger bound to its key as ``dsr init``
  leaves it.

Both sides' row changes are checked to be the same for every pair. Prints min/median/max
seconds per side and of the ratio dsr / raw. Not part of CI::

    python bench/bench_shop_erase.py --customers 1000000 [--pairs 9]
    python bench/bench_shop_erase.py --customers 1000000 \\
        --url postgresql+psycopg://postgres@127.0.0.1/test   # builds its own database there
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import _shop as shop  # noqa: E402
from bench_shop_access import create_recommended_indexes, own_database, populate  # noqa: E402

import dsr  # noqa: E402
from dsr.db import connect  # noqa: E402
from dsr.ledger.migrate import create_ledger  # noqa: E402
from dsr.ledger.setup import bind_key  # noqa: E402

KEYS = dsr.StaticKeys(b"s" * 32)
CLOCK = dsr.FixedClock(datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc))
TABLES = ("customer", "orders", "order_item", "payment_card", "login", "visit", "address")


def raw_erase(conn: Connection, email: str) -> dict[str, int]:
    """The person's rows deleted by hand; returns rows deleted per table."""
    done: dict[str, int] = {}

    def run(table: str, sql: str, **params: Any) -> None:
        n = conn.execute(text(sql), params).rowcount
        if n:
            done[table] = done.get(table, 0) + n

    customer, address = conn.execute(
        text(
            "SELECT id, address_id FROM customer WHERE lower(email) = :e OR lower(alt_email) = :e"
        ),
        {"e": email},
    ).one()
    ids = {address}
    ids |= set(
        conn.execute(
            text("SELECT shipping_address_id FROM orders WHERE customer_id = :c"), {"c": customer}
        ).scalars()
    )
    ids |= set(
        conn.execute(
            text("SELECT billing_address_id FROM payment_card WHERE customer_id = :c"),
            {"c": customer},
        ).scalars()
    )
    ids.discard(None)
    run(
        "order_item",
        "DELETE FROM order_item WHERE order_id IN (SELECT id FROM orders WHERE customer_id = :c)",
        c=customer,
    )
    for table in ("payment_card", "login", "service_request", "orders"):
        run(table, f"DELETE FROM {table} WHERE customer_id = :c", c=customer)
    run("visit", "DELETE FROM visit WHERE lower(email) = :e", e=email)
    run("customer", "DELETE FROM customer WHERE id = :c", c=customer)
    for a in sorted(ids):
        run(
            "address",
            "DELETE FROM address WHERE id = :a "
            "AND NOT EXISTS (SELECT 1 FROM customer WHERE address_id = :a) "
            "AND NOT EXISTS (SELECT 1 FROM orders WHERE shipping_address_id = :a) "
            "AND NOT EXISTS (SELECT 1 FROM payment_card WHERE billing_address_id = :a)",
            a=a,
        )
    return done


def _checkpoint(engine: Any) -> None:
    if engine.dialect.name == "sqlite":
        with engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def run(url: str, customers: int, pairs: int, reuse: bool, first: int) -> dict[str, Any]:
    engine = connect(url)
    catalog_path = Path("/tmp/dsr-bench-shop-erase.yaml")
    catalog_path.write_text(shop.CATALOG_ERASABLE, encoding="utf-8")
    catalog = dsr.load_catalog(catalog_path)
    t0 = time.perf_counter()
    if not reuse:
        populate(engine, customers)
        create_recommended_indexes(engine, catalog)
        create_ledger(engine)
    bind_key(engine, KEYS)  # as `dsr init` does: the ledger knows its key
    build = time.perf_counter() - t0
    # typical persons, spread over the table; each is erased once, by one side
    step = max(customers // (2 * pairs + 2) // 30, 1) * 30
    people = [f"c{i}@example.com" for i in range(first, customers, step)][: 2 * pairs + 1]
    if len(people) < 2 * pairs + 1:
        raise SystemExit("too few customers for that many pairs")
    tk = dsr.Toolkit(engine, catalog, KEYS, clock=CLOCK)
    tk.erase([people.pop()])  # an earlier request: caches filled
    raw_s: list[float] = []
    dsr_s: list[float] = []
    ratios: list[float] = []
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.commit()
        for i in range(pairs):
            a, b = people[2 * i], people[2 * i + 1]
            got: dict[str, float] = {}
            changed: dict[str, dict[str, int]] = {}
            for side in ("raw", "dsr") if i % 2 == 0 else ("dsr", "raw"):
                started = time.perf_counter()
                if side == "raw":
                    with conn.begin():
                        changed["raw"] = raw_erase(conn, a)
                    _checkpoint(engine)
                else:
                    plan = tk.erase([b])
                    changed["dsr"] = {
                        e["table"]: e["rows"] for e in plan.erased() if e["action"] == "deleted"
                    }
                got[side] = time.perf_counter() - started
            assert changed["raw"] == changed["dsr"], changed
            raw_s.append(got["raw"])
            dsr_s.append(got["dsr"])
            ratios.append(got["dsr"] / got["raw"])
    engine.dispose()
    return {
        "engine": engine.dialect.name,
        "customers": customers,
        "build_seconds": round(build, 1),
        "rows_erased_per_person": sum(changed["dsr"].values()),
        "pairs": pairs,
        "raw_s": _stats(raw_s),
        "dsr_warm_s": _stats(dsr_s),
        "ratio_dsr_to_raw": _stats(ratios),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=None, help="database URL (default: a SQLite file in /tmp)")
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--pairs", type=int, default=9)
    ap.add_argument("--reuse", action="store_true", help="the database is already built")
    ap.add_argument("--keep", action="store_true", help="keep a server database for --reuse")
    ap.add_argument(
        "--first",
        type=int,
        default=3,
        help="the first person's number, 3 mod 30 (with --reuse: one not erased before)",
    )
    args = ap.parse_args()
    if args.first % 30 != 3:
        raise SystemExit("--first must be 3 mod 30: the typical persons")
    url = args.url or f"sqlite:////tmp/dsr-bench-shop-erase-{args.customers}.db"
    if not args.reuse and url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    with own_database(url, args.customers, args.keep or args.reuse) as db:
        print(json.dumps(run(db, args.customers, args.pairs, args.reuse, args.first), indent=2))


if __name__ == "__main__":
    main()
