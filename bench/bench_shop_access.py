"""Benchmark: access per person on a shop schema of real-world shapes, 10k and 1M customers.

The schema and catalog are the test suite's (tests/_shop.py): customers with two e-mail
columns pointing at (sometimes shared) addresses, orders with shipping addresses, order items
with a composite key, payment cards with billing addresses, sign-ins, visits (unique
constraint, no primary key), service requests, staff, a keyless newsletter log. Rows are
generated set-based in SQL (~15.7 rows per customer: 15.7M at 1M customers), then the
indexes ``dsr catalog check`` recommends are created with the statements it prints.

Timed in the same run, per person, alternating which goes first:

* ``SubjectGraph.resolve`` for ``email=...`` (what ``dsr access`` collects), and
* the same rows collected by hand on the DB-API cursor: the customer by ``lower(email)`` or
  ``lower(alt_email)``, then every dependent table by the customer's id, the order items by
  the order ids, the addresses by the ids the person's rows point at, visits and the
  newsletter log by e-mail, staff by e-mail.

Both must return the same number of rows per person (checked). Reports median and p95 per
person for each and their ratios, per round (min/median/max over rounds). Not part of CI::

    python bench/bench_shop_access.py --customers 10000
    python bench/bench_shop_access.py --customers 1000000 \\
        --url postgresql+psycopg://postgres@127.0.0.1/test   # builds its own database there
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import _shop as shop  # noqa: E402

from dsr.catalog.check import check_catalog  # noqa: E402
from dsr.catalog.loader import load_catalog  # noqa: E402
from dsr.db import connect  # noqa: E402
from dsr.subject.graph import SubjectGraph  # noqa: E402


def _series(dialect: str, n: int) -> tuple[str, str]:
    """(WITH prefix, FROM clause) yielding integers i = 1..n."""
    if dialect == "postgresql":
        return "", f"generate_series(1, {n}) AS s(i)"
    return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) ", "s"


def populate(engine: Engine, n: int) -> dict[str, int]:
    """The shop schema with ``n`` customers, generated in SQL; returns rows per table."""
    shop.md.drop_all(engine)
    shop.md.create_all(engine)
    d = engine.dialect.name
    pad = "lpad(CAST(i AS TEXT), 7, '0')" if d == "postgresql" else "printf('%07d', i)"
    extra = max(n // 5, 1)
    ts = "TIMESTAMP '2025-06-01 10:00:00'" if d == "postgresql" else "'2025-06-01 10:00:00'"
    visit_ts = (
        f"{ts} + i * INTERVAL '1 second'"
        if d == "postgresql"
        else "datetime('2025-06-01 10:00:00', '+' || i || ' seconds')"
    )
    plan = [
        (
            "address",
            n + extra,
            "SELECT i, 'Street ' || i, 'City ' || (i % 997), '0' || (i % 99999), 'DE' FROM {s}",
        ),
        (
            "employee",
            100,
            "SELECT i, 'staff' || i || '@shop.example', 'Staff ' || i, "
            "CASE WHEN i > 10 THEN (i % 10) + 1 END FROM {s}",
        ),
        (
            "customer",
            n,
            "SELECT i, 'c' || i || '@example.com', "
            "CASE WHEN i % 5 = 0 THEN 'alt' || i || '@mail.example' END, "
            f"'+49 (0)351 ' || {pad}, 'First' || i, 'Last' || i, NULL, "
            f"CASE WHEN i % 10 = 0 THEN i - 1 ELSE i END, {ts} FROM {{s}}",
        ),
        (
            "orders",
            3 * n,
            f"SELECT i, (i - 1) / 3 + 1, CASE WHEN i % 3 = 0 THEN {n} + 1 + (i % {extra}) "
            f"ELSE (i - 1) / 3 + 1 END, {ts}, 9.99 FROM {{s}}",
        ),
        ("order_item", 6 * n, "SELECT (i - 1) / 2 + 1, (i - 1) % 2 + 1, 'Tea', 1 FROM {s}"),
        ("payment_card", n, "SELECT i, i, i, 'Holder ' || i, '4242' FROM {s}"),
        ("login", 2 * n, f"SELECT i, (i - 1) / 2 + 1, {ts}, '198.51.100.7' FROM {{s}}"),
        ("visit", n, f"SELECT 'c' || i || '@example.com', {visit_ts}, '/' FROM {{s}}"),
        ("service_request", n // 2, f"SELECT i, 2 * i, (i % 100) + 1, {ts}, 'Question' FROM {{s}}"),
        ("newsletter_log", n, f"SELECT 'c' || i || '@example.com', {ts} FROM {{s}}"),
    ]
    counts = {}
    with engine.begin() as conn:
        for table, rows, select_sql in plan:
            prefix, source = _series(d, rows)
            columns = ", ".join(c.name for c in shop.md.tables[table].c)
            conn.execute(
                text(f"{prefix}INSERT INTO {table} ({columns}) {select_sql.format(s=source)}")
            )
            counts[table] = rows
    return counts


def create_recommended_indexes(engine: Engine, catalog: Any) -> list[str]:
    """Run the CREATE INDEX statements ``catalog check`` prints, as a user would."""
    report = check_catalog(catalog, engine)
    statements = [
        f.message.split("Create one: ")[1] for f in report.warnings if "Create one: " in f.message
    ]
    with engine.begin() as conn:
        for stmt in statements:
            conn.execute(text(stmt))
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
    return statements


#: columns a hand-written collector on SQLite turns from ISO text into datetimes, as dsr does
DATETIMES = {"created_at", "placed_at", "ts", "last_visit", "opened_at", "sent_at"}


def raw_collect(cursor: Any, ph: str, email: str, sqlite: bool = False) -> dict[str, int]:
    """The person's rows collected by hand into dicts keyed by row key, with typed values
    (SQLite's ISO text turned into datetimes, as dsr does); returns rows per table."""
    parse = datetime.fromisoformat
    got: dict[str, dict[Any, dict[str, Any]]] = {}

    def q(table: str, sql: str, params: Sequence[Any], key: int = 1) -> list[dict[str, Any]]:
        cursor.execute(sql.replace("?", ph), tuple(params))
        rows = cursor.fetchall()
        if not rows:
            return []
        names = [d[0] for d in cursor.description]
        dated = [i for i, n in enumerate(names) if n in DATETIMES] if sqlite else []
        out = []
        for row in rows:
            if dated:
                row = list(row)
                for i in dated:
                    if isinstance(row[i], str):
                        row[i] = parse(row[i])
            out.append(dict(zip(names, row, strict=True)))
        mine = got.setdefault(table, {})
        for r, row in zip(out, rows, strict=True):
            mine[row[0] if key == 1 else tuple(row[:key])] = r
        return out

    def marks(values: Sequence[Any]) -> str:
        return ", ".join(["?"] * len(values))

    customers = q(
        "customer",
        "SELECT id, email, alt_email, phone, first_name, last_name, loyalty_id, address_id, "
        "created_at FROM customer WHERE lower(email) = ? OR lower(alt_email) = ?",
        (email, email),
    )
    cids = [c["id"] for c in customers]
    addresses = {c["address_id"] for c in customers if c["address_id"] is not None}
    if cids:
        orders = q(
            "orders",
            "SELECT id, customer_id, shipping_address_id, placed_at, total FROM orders "
            f"WHERE customer_id IN ({marks(cids)})",
            cids,
        )
        addresses |= {o["shipping_address_id"] for o in orders} - {None}
        if orders:
            oids = [o["id"] for o in orders]
            q(
                "order_item",
                "SELECT order_id, item_no, product, qty FROM order_item "
                f"WHERE order_id IN ({marks(oids)})",
                oids,
                key=2,
            )
        cards = q(
            "payment_card",
            "SELECT id, billing_address_id, holder_name, last4 FROM payment_card "
            f"WHERE customer_id IN ({marks(cids)})",
            cids,
        )
        addresses |= {c["billing_address_id"] for c in cards} - {None}
        q("login", f"SELECT id, ts, ip FROM login WHERE customer_id IN ({marks(cids)})", cids)
        q(
            "service_request",
            "SELECT id, opened_at, subject, handled_by FROM service_request "
            f"WHERE customer_id IN ({marks(cids)})",
            cids,
        )
    if addresses:
        ids = sorted(addresses)
        q(
            "address",
            f"SELECT id, street, city, postcode, country FROM address WHERE id IN ({marks(ids)})",
            ids,
        )
    q("visit", "SELECT email, last_visit, page FROM visit WHERE lower(email) = ?", (email,), 2)
    q(
        "employee",
        "SELECT id, email, name, manager_id FROM employee WHERE lower(email) = ?",
        (email,),
    )
    log = "SELECT email, sent_at FROM newsletter_log WHERE lower(email) = ?"
    cursor.execute(log.replace("?", ph), (email,))
    sent = [dict(zip(("email", "sent_at"), r, strict=True)) for r in cursor.fetchall()]
    counts = {t: len(rows) for t, rows in got.items() if rows}
    if sent:
        counts["newsletter_log"] = len(sent)  # no key: every row stands alone
    return counts


@contextmanager
def own_database(url: str, customers: int, keep: bool) -> Iterator[str]:
    """On a server, a database of the benchmark's own (dropped afterwards unless ``keep``)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        yield url
        return
    name = f"dsr_bench_shop_{customers}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n")
            if u.get_backend_name() == "postgresql"
            else text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"),
            {"n": name},
        ).first()
        if not exists:
            conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield u.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def run(url: str, customers: int, persons: int, rounds: int, reuse: bool) -> dict[str, Any]:
    engine = connect(url)
    t0 = time.perf_counter()
    catalog_path = Path("/tmp/dsr-bench-shop.yaml")
    catalog_path.write_text(shop.CATALOG, encoding="utf-8")
    catalog = load_catalog(catalog_path)
    counts: dict[str, int] = {}
    if not reuse:
        counts = populate(engine, customers)
        statements = create_recommended_indexes(engine, catalog)
    else:
        statements = []
    build = time.perf_counter() - t0
    graph = SubjectGraph(catalog, engine)
    ph = "%s" if engine.dialect.paramstyle in ("format", "pyformat") else "?"
    sqlite = engine.dialect.name == "sqlite"
    rng = random.Random(7)
    people = [f"c{rng.randint(1, customers)}@example.com" for _ in range(persons)]
    results = []
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        for email in people[:20]:  # warm-up, and the check that both collect the same rows
            rec = graph.resolve(conn, [f"email={email}"])
            mine = {t.table.name: len(t.rows) for t in rec.tables}
            assert mine == raw_collect(cursor, ph, email, sqlite), (email, mine)
        for _ in range(rounds):
            dsr_t: list[float] = []
            raw_t: list[float] = []
            for k, email in enumerate(people):
                order = (0, 1) if k % 2 == 0 else (1, 0)
                for which in order:
                    started = time.perf_counter()
                    if which == 0:
                        graph.resolve(conn, [f"email={email}"])
                        dsr_t.append(time.perf_counter() - started)
                    else:
                        raw_collect(cursor, ph, email, sqlite)
                        raw_t.append(time.perf_counter() - started)
            results.append(_summary(dsr_t, raw_t))
        cursor.close()
    engine.dispose()
    return {
        "engine": engine.dialect.name,
        "customers": customers,
        "rows": sum(counts.values()) if counts else None,
        "build_seconds": round(build, 1),
        "indexes_created": len(statements),
        "persons": persons,
        "rounds": results,
        "ratio_median": _spread([r["ratio_median"] for r in results]),
        "ratio_p95": _spread([r["ratio_p95"] for r in results]),
        "dsr_median_ms": _spread([r["dsr_median_ms"] for r in results]),
        "raw_median_ms": _spread([r["raw_median_ms"] for r in results]),
    }


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def _summary(dsr_t: list[float], raw_t: list[float]) -> dict[str, float]:
    dm, rm = statistics.median(dsr_t), statistics.median(raw_t)
    dp, rp = _p95(dsr_t), _p95(raw_t)
    return {
        "dsr_median_ms": round(dm * 1000, 3),
        "raw_median_ms": round(rm * 1000, 3),
        "dsr_p95_ms": round(dp * 1000, 3),
        "raw_p95_ms": round(rp * 1000, 3),
        "ratio_median": round(dm / rm, 3),
        "ratio_p95": round(dp / rp, 3),
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=None, help="database URL (default: a SQLite file in /tmp)")
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--persons", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="the database is already built")
    ap.add_argument("--keep", action="store_true", help="keep a server database for --reuse")
    args = ap.parse_args()
    url = args.url or f"sqlite:////tmp/dsr-bench-shop-{args.customers}.db"
    with own_database(url, args.customers, args.keep or args.reuse) as db:
        result = run(db, args.customers, args.persons, args.rounds, args.reuse)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
