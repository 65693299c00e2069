"""Benchmark: Art. 20 export of one person with 1,000,000 usage-log rows.

The example catalog's usage log rests on Art. 6(1)(f) and is not portable, so this bench uses
a variant of it in which the usage log serves a purpose on Art. 6(1)(b) with every field
``portable: true``. It builds (or reuses) a database with one account holder owning N log rows
(plus other people's rows around them) and, each in a fresh process so peak RSS is the run's
own, times alternately:

* ``export_package`` (what ``dsr export`` does: data.json + one CSV per table, DEFLATE level
  1, SHA-256 per file, schema, manifest) into a ZIP file, and
* a hand-written stream of the same rows to JSON: raw DB-API cursor, ``fetchmany``, dicts,
  orjson, one file.

Throughput is the size of data.json (the same JSON rows) divided by wall time. Not part of
CI. Usage::

    python bench/bench_export.py                     # SQLite in bench/data/, 1,000,000 rows
    python bench/bench_export.py --postgresql postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsr.catalog.loader import load_catalog  # noqa: E402
from dsr.db import connect  # noqa: E402
from dsr.demo import schema as s  # noqa: E402

HERE = Path(__file__).resolve().parent
EMAIL = "heavy.user@bench.example"
FIELDS = ("ts", "ip", "user_agent", "referrer", "file_name", "bytes_sent", "status")
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
FILES = ("/", "/login", "/dashboard", "/customers", "/orders/new", "/downloads/price-list.pdf")


def variant_catalog(dest: Path) -> Path:
    """The example catalog with the usage log on Art. 6(1)(b) and all its fields portable."""
    src = Path(load_catalog().files[0])
    doc = yaml.safe_load(src.read_text("utf-8"))
    doc["purposes"]["service_usage"] = {
        "title": {"en": "Providing the Cloud Center service you use", "de": "Cloud-Center-Dienst"},
        "legal_basis": "6(1)(b)",
    }
    log = doc["tables"]["usage_log"]
    log["purpose"] = "service_usage"
    for f in log["fields"].values():
        f["portable"] = True
    path = dest / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    load_catalog(path)
    return path


def build(url: str, rows: int) -> None:
    engine = connect(url)
    with engine.connect() as conn:
        if engine.dialect.has_table(conn, "usage_log"):
            n = conn.execute(
                text("SELECT count(*) FROM usage_log WHERE user_account_id = 1")
            ).scalar_one()
            if n == rows:
                return
    s.metadata.drop_all(engine)
    s.metadata.create_all(engine)
    now = datetime(2026, 11, 25, 9, 0)
    with engine.begin() as conn:
        conn.execute(
            insert(s.partners).values(
                id=1,
                company_name="Bench GmbH",
                street="Weg 1",
                postal_code="04109",
                city="Leipzig",
                country="DE",
                region="Sachsen",
                employee_count=10,
                pc_count=10,
                currency="EUR",
                inquiry_email="info@bench.example",
                registered_at=now - timedelta(days=900),
            )
        )
        conn.execute(
            insert(s.user_accounts),
            [
                {
                    "id": i,
                    "partner_id": 1,
                    "first_name": f"U{i}",
                    "last_name": "Bench",
                    "email": EMAIL if i == 1 else f"user{i}@bench.example",
                    "password_hash": "x",
                    "created_at": now - timedelta(days=400),
                }
                for i in range(1, 6)
            ],
        )
    chunk = 50_000
    start = now - timedelta(days=170)
    step = timedelta(days=160) / rows
    done = 0
    t0 = time.perf_counter()
    while done < rows:
        n = min(chunk, rows - done)
        batch = []
        for k in range(done, done + n):
            batch.append(
                {
                    "ts": (start + step * k).replace(microsecond=0),
                    "ip": f"198.51.100.{k % 250 + 1}",
                    "user_agent": UA,
                    "referrer": "https://www.comparex.de/" if k % 3 else None,
                    "file_name": FILES[k % len(FILES)],
                    "bytes_sent": 1000 + k % 90_000,
                    "status": 200 if k % 17 else 404,
                    "user_account_id": 1,
                }
            )
            if k % 10 == 0:  # other people's rows between them
                batch.append({**batch[-1], "user_account_id": 2 + k % 4, "ip": "192.0.2.9"})
        with engine.begin() as conn:
            conn.execute(insert(s.usage_log), batch)
        done += n
    print(f"built {rows} rows in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


# -- the two contenders, each run in a fresh process --------------------------------------------


def run_export(url: str, catalog: str, out: str) -> dict[str, Any]:
    from dsr.clock import SystemClock
    from dsr.portability.export import export_package
    from dsr.subject.graph import SubjectGraph

    cat = load_catalog(catalog)
    engine = connect(url)
    graph = SubjectGraph(cat, engine)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        result = export_package(conn, cat, graph, [f"email={EMAIL}"], out, clock=SystemClock())
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "rows": result.rows,
        "json_bytes": result.files["data.json"]["size"],
        "csv_bytes": result.files["usage_log.csv"]["size"],
        "zip_bytes": os.path.getsize(out),
    }


def run_raw(url: str, out: str) -> dict[str, Any]:
    import orjson

    engine = create_engine(url)
    raw = engine.raw_connection()
    dialect = engine.dialect.name
    cols = ", ".join(FIELDS)
    if dialect == "sqlite":
        sql = (
            f"SELECT {cols} FROM usage_log WHERE user_account_id IN "
            "(SELECT id FROM user_accounts WHERE lower(email) = ?)"
        )
        cur = raw.cursor()
    else:
        sql = (
            f"SELECT {cols} FROM usage_log WHERE user_account_id IN "
            "(SELECT id FROM user_accounts WHERE lower(email) = %s)"
        )
        cur = raw.cursor(name="bench_raw")
    names = list(FIELDS)
    t0 = time.perf_counter()
    cur.execute(sql, (EMAIL,))
    n = size = 0
    with open(out, "wb") as fh:
        fh.write(b"[")
        first = True
        while True:
            rows = cur.fetchmany(5000)
            if not rows:
                break
            j = orjson.dumps([dict(zip(names, r, strict=True)) for r in rows])
            fh.write(j[1:-1] if first else b"," + j[1:-1])
            first = False
            n += len(rows)
            size += len(j)
        fh.write(b"]")
    seconds = time.perf_counter() - t0
    cur.close()
    raw.close()
    return {"seconds": seconds, "rows": n, "json_bytes": os.path.getsize(out)}


def peak_rss_mb(fallback: float) -> float:
    """This process's own peak RSS (Linux VmHWM).

    ``ru_maxrss`` is not used where VmHWM exists: Linux carries it over ``execve`` from the
    parent, so a child would report at least the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return fallback


def child(kind: str, url: str, catalog: str, out: str) -> None:
    result = run_export(url, catalog, out) if kind == "export" else run_raw(url, out)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["max_rss_mb"] = peak_rss_mb(usage.ru_maxrss / 1024)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


def spawn(kind: str, url: str, catalog: str, out: str) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--url",
            url,
            "--catalog",
            catalog,
            "--out",
            out,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sqlite", default=str(HERE / "data" / "export.db"))
    ap.add_argument("--postgresql")
    ap.add_argument("--child", choices=["export", "raw"])
    ap.add_argument("--url")
    ap.add_argument("--catalog")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.url, args.catalog, args.out)
        return
    url = args.postgresql or f"sqlite:///{args.sqlite}"
    if not args.postgresql:
        Path(args.sqlite).parent.mkdir(parents=True, exist_ok=True)
    build(url, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = str(variant_catalog(Path(tmp)))
        runs: dict[str, list[dict[str, Any]]] = {"export": [], "raw": []}
        for _ in range(args.repeat):
            for kind in ("raw", "export"):
                out = str(Path(tmp) / f"{kind}.out")
                runs[kind].append(spawn(kind, url, catalog, out))
                if kind == "export":
                    with zipfile.ZipFile(out) as zf:
                        assert zf.testzip() is None
                os.unlink(out)
    exp, raw = runs["export"], runs["raw"]
    assert exp[0]["rows"] == raw[0]["rows"] == args.rows, (exp[0]["rows"], raw[0]["rows"])
    t_exp = statistics.median(r["seconds"] for r in exp)
    t_raw = statistics.median(r["seconds"] for r in raw)
    mb_exp = exp[0]["json_bytes"] / 1e6 / t_exp
    mb_raw = raw[0]["json_bytes"] / 1e6 / t_raw
    summary = {
        "database": connect(url).dialect.name,
        "rows": args.rows,
        "data_json_mb": round(exp[0]["json_bytes"] / 1e6, 1),
        "raw_json_mb": round(raw[0]["json_bytes"] / 1e6, 1),
        "csv_mb": round(exp[0]["csv_bytes"] / 1e6, 1),
        "zip_mb": round(exp[0]["zip_bytes"] / 1e6, 1),
        "export_s": [round(r["seconds"], 2) for r in exp],
        "raw_s": [round(r["seconds"], 2) for r in raw],
        "export_mb_s": round(mb_exp, 1),
        "raw_mb_s": round(mb_raw, 1),
        "ratio": round(mb_exp / mb_raw, 2),
        "export_cpu_s": [round(r["cpu_s"], 2) for r in exp],
        "raw_cpu_s": [round(r["cpu_s"], 2) for r in raw],
        "content_ratio": round(
            (exp[0]["json_bytes"] + exp[0]["csv_bytes"]) / 1e6 / t_exp / mb_raw, 2
        ),
        "export_peak_rss_mb": round(max(r["max_rss_mb"] for r in exp), 1),
        "raw_peak_rss_mb": round(max(r["max_rss_mb"] for r in raw), 1),
    }
    print(json.dumps(summary, indent=2))
    print(
        f"\n| database | rows | data.json | export | hand-written | ratio | export peak RSS |\n"
        f"|---|---|---|---|---|---|---|\n"
        f"| {summary['database']} | {args.rows:,} | {summary['data_json_mb']} MB "
        f"| {summary['export_mb_s']} MB/s | {summary['raw_mb_s']} MB/s | {summary['ratio']}x "
        f"| {summary['export_peak_rss_mb']} MB |"
    )


if __name__ == "__main__":
    main()
