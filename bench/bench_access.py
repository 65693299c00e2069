"""Benchmark: Art. 15 data collection per subject, SubjectGraph vs hand-written raw SQL.

Builds (or reuses) a demo database of at least 1,000,000 rows, samples ~200 subjects across
roles (partner contacts, employees, customer contacts, enquirers, subscribers; some also
looked up by IP), and times in the same run, interleaved per subject:

* ``SubjectGraph.resolve`` (what ``dsr access`` uses), and
* a hand-written collection of the same rows: raw DBAPI cursor, one SQL string per table and
  party with the same WHERE semantics (``lower(email) = ?``, ``IN (SELECT id ...)`` links),
  rows merged by key into dicts.

Both must find the same rows per table for every subject (checked). Then it renders the PDF
of a typical and of the heavy subject, each in a fresh process, and reports time, pages and
peak RSS. Not part of CI. Usage::

    python bench/bench_access.py                       # SQLite, scale 43 (~1.02M rows)
    python bench/bench_access.py --postgresql postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsr.catalog.loader import load_catalog  # noqa: E402
from dsr.clock import FixedClock  # noqa: E402
from dsr.db import connect  # noqa: E402
from dsr.demo import schema as s  # noqa: E402
from dsr.demo.data import populate  # noqa: E402
from dsr.subject.graph import SubjectGraph  # noqa: E402
from dsr.subject.identity import parse_identities  # noqa: E402

NOW = datetime(2026, 11, 25, 9, 0)
CLOCK = FixedClock(datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc))
ROWS_PER_SCALE = 24_600  # about; populate() reports the exact counts

# -- the hand-written baseline --------------------------------------------------------------
# (table, party, identity types the WHERE clause needs, SQL with ? placeholders for them)
LOG_COLS = "id, ts, ip, user_agent, referrer, file_name, bytes_sent, status"
ACCOUNT_BY_EMAIL = "SELECT id FROM user_accounts WHERE {lower}(email) = ?"
RAW_QUERIES: list[tuple[str, str, dict[str, str]]] = [
    (
        "partner_contacts",
        "contact",
        {
            "email": "SELECT id, salutation, first_name, last_name, position, department, email, "
            "phone, partner_id, created_at FROM partner_contacts "
            "WHERE {lower}(email) = ?"
        },
    ),
    (
        "user_accounts",
        "employee",
        {
            "email": "SELECT id, first_name, last_name, email, phone, password_hash, partner_id, "
            "created_at, last_login_at FROM user_accounts WHERE {lower}(email) = ?"
        },
    ),
    (
        "customers",
        "contact",
        {
            "email": "SELECT id, customer_number, company_name, contact_first_name, "
            "contact_last_name, contact_email, contact_phone, created_at FROM customers "
            "WHERE {lower}(contact_email) = ?"
        },
    ),
    (
        "customers",
        "creator",
        {
            "email": "SELECT id, company_name, created_by, created_at FROM customers "
            f"WHERE created_by IN ({ACCOUNT_BY_EMAIL})"
        },
    ),
    (
        "mca_acceptances",
        "signatory",
        {
            "email": "SELECT id, first_name, last_name, position, email, ip_address, accepted_at, "
            "agreement_version FROM mca_acceptances WHERE {lower}(email) = ?",
            "email+ip": "SELECT id, first_name, last_name, position, email, ip_address, "
            "accepted_at, agreement_version FROM mca_acceptances "
            "WHERE {lower}(email) = ? OR ip_address = ?",
        },
    ),
    (
        "usage_log",
        "visitor",
        {"ip": f"SELECT {LOG_COLS} FROM usage_log WHERE ip = ? AND user_account_id IS NULL"},
    ),
    (
        "usage_log",
        "account_holder",
        {
            "email": f"SELECT {LOG_COLS} FROM usage_log "
            f"WHERE user_account_id IN ({ACCOUNT_BY_EMAIL})"
        },
    ),
    (
        "contact_requests",
        "sender",
        {
            "email": "SELECT id, received_at, name, email, phone, company, topic, message, "
            "answered_at FROM contact_requests WHERE {lower}(email) = ?"
        },
    ),
    (
        "newsletter_subscriptions",
        "subscriber",
        {
            "email": "SELECT id, email, first_name, topics, consented_at, consent_text_version, "
            "unsubscribed_at FROM newsletter_subscriptions WHERE {lower}(email) = ?"
        },
    ),
    (
        "invoices",
        "billing_contact",
        {
            "email": "SELECT id, invoice_number, issued_at, amount_eur, billing_name, "
            "billing_email, billing_address FROM invoices "
            "WHERE {lower}(billing_email) = ?"
        },
    ),
]


def prepare_raw(dialect: str) -> list[tuple[str, dict[str, str]]]:
    lower = "" if dialect in ("mysql", "mariadb") else "lower"
    mark = "?" if dialect == "sqlite" else "%s"
    return [
        (table, {k: q.format(lower=lower).replace("?", mark) for k, q in variants.items()})
        for table, _party, variants in RAW_QUERIES
    ]


DATETIMES = {
    "created_at",
    "last_login_at",
    "accepted_at",
    "ts",
    "received_at",
    "answered_at",
    "consented_at",
    "unsubscribed_at",
}
DATES = {"issued_at"}


def raw_collect(
    cur: Any,
    raw: list[tuple[str, dict[str, str]]],
    email: str,
    ip: str | None,
    convert: bool = False,
) -> dict[str, dict[Any, dict[str, Any]]]:
    """The same rows as SubjectGraph.resolve, by hand: {table: {key: {column: value}}}.

    ``convert`` parses SQLite's ISO date strings (the only values the driver leaves as text
    that the graph returns as dates), so both sides produce the same Python values.
    """
    out: dict[str, dict[Any, dict[str, Any]]] = {}
    for table, variants in raw:
        if ip is not None and "email+ip" in variants:
            sql, params = variants["email+ip"], (email, ip)
        elif "email" in variants:
            sql, params = variants["email"], (email,)
        elif ip is not None and "ip" in variants:
            sql, params = variants["ip"], (ip,)
        else:
            continue
        cur.execute(sql, params)
        rows = cur.fetchall()
        if rows:
            names = [d[0] for d in cur.description]
            if convert:
                conv = [
                    (i, datetime.fromisoformat if n in DATETIMES else date.fromisoformat)
                    for i, n in enumerate(names)
                    if n in DATETIMES or n in DATES
                ]
                fixed = []
                for row in rows:
                    row = list(row)
                    for i, parse in conv:
                        if row[i] is not None:
                            row[i] = parse(row[i])
                    fixed.append(row)
                rows = fixed
            by_key = out.setdefault(table, {})
            for row in rows:
                by_key.setdefault(row[0], {}).update(zip(names, row, strict=True))
    return out


# -- subjects -----------------------------------------------------------------------------------


def sample_subjects(
    engine: Any, people: Any, n: int, seed: int = 7
) -> list[tuple[str, str | None]]:
    """~n (email, ip or None) pairs across roles; the heavy user is timed separately."""
    rnd = random.Random(seed)
    heavy = people.heavy.email if people else None
    picks: list[tuple[str, str | None]] = []
    with engine.connect() as conn:

        def emails(col: Any, k: int) -> list[str]:
            found = conn.execute(select(col).where(col.is_not(None))).scalars()
            values = sorted({v for v in found if v != heavy})
            return rnd.sample(values, min(k, len(values)))

        picks += [(e, None) for e in emails(s.partner_contacts.c.email, n * 3 // 10)]
        accounts = emails(s.user_accounts.c.email, n * 3 // 10)
        for i, e in enumerate(accounts):
            ip = None
            if i % 3 == 0:  # a third of the employees are also looked up by an IP of theirs
                ip = conn.execute(
                    select(s.usage_log.c.ip)
                    .join(s.user_accounts, s.user_accounts.c.id == s.usage_log.c.user_account_id)
                    .where(s.user_accounts.c.email == e)
                    .limit(1)
                ).scalar()
            picks.append((e, ip))
        picks += [(e, None) for e in emails(s.customers.c.contact_email, n * 2 // 10)]
        picks += [(e, None) for e in emails(s.contact_requests.c.email, n // 10)]
        picks += [(e, None) for e in emails(s.newsletter_subscriptions.c.email, n // 10)]
    if people:
        for p in (people.dual_role, people.employee, people.customer_contact, people.visitor):
            picks.append((p.email, p.ip))
    return picks


def identities(email: str, ip: str | None) -> list[str]:
    return [f"email={email}"] + ([f"ip={ip}"] if ip else [])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def time_collection(
    engine: Any, subjects: list[tuple[str, str | None]], rounds: int
) -> dict[str, Any]:
    catalog = load_catalog()
    graph = SubjectGraph(catalog, engine)
    raw = prepare_raw(engine.dialect.name)
    convert = engine.dialect.name == "sqlite"
    graph_ms: list[list[float]] = [[] for _ in subjects]
    raw_ms: list[list[float]] = [[] for _ in subjects]
    bare_ms: list[list[float]] = [[] for _ in subjects]
    rows_found = 0
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        cur = dbapi.cursor()
        # correctness: both collect the same rows, table by table
        for email, ip in subjects:
            record = graph.resolve(conn, identities(email, ip))
            mine = {t.table.name: sorted(r.key for r in t.rows) for t in record.tables}
            theirs = {
                t: sorted(rows) for t, rows in raw_collect(cur, raw, email.lower(), ip).items()
            }
            assert mine == theirs, (sorted(mine), sorted(theirs))
            rows_found += record.row_count
        for r in range(rounds):
            order = list(range(len(subjects)))
            random.Random(r).shuffle(order)
            for i in order:
                email, ip = subjects[i]
                ids = identities(email, ip)
                value = parse_identities(ids)[0].value
                # alternate who goes first, so neither side always meets cold caches
                steps = [
                    (graph_ms, partial(graph.resolve, conn, ids)),
                    (raw_ms, partial(raw_collect, cur, raw, value, ip, convert)),
                    (bare_ms, partial(raw_collect, cur, raw, value, ip, False)),
                ]
                for sink, step in steps if r % 2 == 0 else steps[::-1]:
                    t0 = time.perf_counter()
                    step()
                    sink[i].append((time.perf_counter() - t0) * 1000)
        cur.close()
    # best of the rounds per subject (the machine is shared; noise only ever adds time)
    g = [min(v) for v in graph_ms]
    w = [min(v) for v in raw_ms]
    b = [min(v) for v in bare_ms]
    return {
        "subjects": len(subjects),
        "rounds": rounds,
        "per_subject": "best of the rounds; median and p95 across subjects",
        "rows_per_subject_mean": round(rows_found / len(subjects), 1),
        "graph_ms": {
            "median": round(statistics.median(g), 3),
            "p95": round(percentile(g, 0.95), 3),
        },
        "raw_ms": {"median": round(statistics.median(w), 3), "p95": round(percentile(w, 0.95), 3)},
        "ratio_median": round(statistics.median(g) / statistics.median(w), 2),
        "ratio_p95": round(percentile(g, 0.95) / percentile(w, 0.95), 2),
        "raw_without_date_parsing_ms": {
            "median": round(statistics.median(b), 3),
            "p95": round(percentile(b, 0.95), 3),
        },
        "ratio_median_vs_raw_without_date_parsing": round(
            statistics.median(g) / statistics.median(b), 2
        ),
    }


def time_heavy(engine: Any, email: str) -> dict[str, Any]:
    catalog = load_catalog()
    graph = SubjectGraph(catalog, engine)
    raw = prepare_raw(engine.dialect.name)
    with engine.connect() as conn:
        cur = conn.connection.driver_connection.cursor()
        convert = engine.dialect.name == "sqlite"
        g, w = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            record = graph.resolve(conn, [f"email={email}"])
            t1 = time.perf_counter()
            raw_collect(cur, raw, email.lower(), None, convert)
            t2 = time.perf_counter()
            g.append(t1 - t0)
            w.append(t2 - t1)
    return {
        "rows": record.row_count,
        "graph_ms": round(statistics.median(g) * 1000, 1),
        "raw_ms": round(statistics.median(w) * 1000, 1),
        "ratio": round(statistics.median(g) / statistics.median(w), 2),
    }


# -- PDF rendering, one subject per fresh process -------------------------------------------------


def render_one(url: str, email: str) -> dict[str, Any]:
    import io

    import pypdf

    from dsr.render import render_pdf
    from dsr.rights.access import access_report

    engine = connect(url)
    catalog = load_catalog()
    graph = SubjectGraph(catalog, engine)
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    with engine.connect() as conn:
        report = access_report(conn, catalog, graph, [f"email={email}"], clock=CLOCK)
    t1 = time.perf_counter()
    pdf = render_pdf(report)
    t2 = time.perf_counter()
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return {
        "rows": report.row_count,
        "report_ms": round((t1 - t0) * 1000, 1),
        "pdf_s": round(t2 - t1, 2),
        "pages": len(reader.pages),
        "pdf_kb": len(pdf) // 1024,
        "attachment": bool(reader.attachments),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_before_render_mb": rss_before,
    }


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it does not survive exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def render_in_child(url: str, email: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--render-one", url, email],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


# -- main ---------------------------------------------------------------------------------------


def build(url: str, scale: int, reuse: bool) -> tuple[Any, Any, int, float]:
    engine = connect(url)
    people = None
    t0 = time.perf_counter()
    with engine.connect() as conn:
        exists = engine.dialect.has_table(conn, "usage_log")
    if exists and reuse:
        people_file = Path(str(make_url(url).database) + ".people.json")
        people = _load_people(people_file) if people_file.exists() else None
    else:
        if exists:
            s.metadata.drop_all(engine)
        people = populate(engine, scale=scale, now=NOW)
        if engine.dialect.name == "sqlite":
            Path(str(make_url(url).database) + ".people.json").write_text(
                json.dumps({k: vars(getattr(people, k)) for k in ROLES})
            )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        elif engine.dialect.name == "sqlite":
            conn.execute(text("ANALYZE"))
    with engine.connect() as conn:
        total = sum(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in s.metadata.sorted_tables
        )
    return engine, people, total, time.perf_counter() - t0


ROLES = ("dual_role", "employee", "customer_contact", "visitor", "heavy", "nobody")


def _load_people(path: Path) -> Any:
    from dsr.demo.data import DemoPeople, DemoPerson

    data = json.loads(path.read_text())
    return DemoPeople(**{k: DemoPerson(**data[k]) for k in ROLES})


def run(url: str, scale: int, n: int, rounds: int, reuse: bool) -> dict[str, Any]:
    engine, people, total, build_s = build(url, scale, reuse)
    result: dict[str, Any] = {
        "backend": engine.dialect.name,
        "scale": scale,
        "total_rows": total,
        "build_s": round(build_s, 1),
    }
    subjects = sample_subjects(engine, people, n)
    result["collection"] = time_collection(engine, subjects, rounds)
    if people:
        result["heavy_collection"] = time_heavy(engine, people.heavy.email)
        result["pdf_typical"] = render_in_child(url, people.dual_role.email)
        result["pdf_employee"] = render_in_child(url, people.employee.email)
        result["pdf_heavy"] = render_in_child(url, people.heavy.email)
    engine.dispose()
    return result


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--render-one":
        print(json.dumps(render_one(sys.argv[2], sys.argv[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=43, help="populate() scale (43: ~1.02M rows)")
    ap.add_argument("--sqlite", default="/tmp/dsr-bench-access.db", help="SQLite file")
    ap.add_argument("--reuse", action="store_true", help="reuse an existing SQLite database")
    ap.add_argument("--postgresql", help="admin URL of a PostgreSQL server to bench too")
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-sqlite", action="store_true")
    args = ap.parse_args()
    results = []
    if not args.skip_sqlite:
        if not args.reuse and os.path.exists(args.sqlite):
            os.remove(args.sqlite)
        results.append(
            run(f"sqlite:///{args.sqlite}", args.scale, args.subjects, args.rounds, args.reuse)
        )
        print(json.dumps(results[-1], indent=2), file=sys.stderr)
    if args.postgresql:
        name = "dsr_bench_access"
        admin = create_engine(args.postgresql, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = make_url(args.postgresql).set(database=name).render_as_string(hide_password=False)
        try:
            results.append(run(url, args.scale, args.subjects, args.rounds, False))
            print(json.dumps(results[-1], indent=2), file=sys.stderr)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            admin.dispose()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
