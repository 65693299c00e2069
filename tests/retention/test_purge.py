"""Retention purges on three engines: what goes, what stays, and that a kill changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, insert, select

from dsr.catalog.loader import load_catalog
from dsr.cli import main
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.demo import schema as s
from dsr.errors import CatalogError, SchemaMismatch
from dsr.ledger.lock import exclusive
from dsr.ledger.migrate import create_ledger
from dsr.ledger.tables import audit, purge_checkpoints
from dsr.retention.purge import purge

BERLIN = ZoneInfo("Europe/Berlin")
AS_OF = datetime(2026, 11, 25, 12, 0, tzinfo=BERLIN)
SECRET = "ab" * 32
KEYS = StaticKeys(bytes.fromhex(SECRET))
OLD = datetime(2016, 1, 1)


def seed(engine: Engine, logs: int = 20, log_start: datetime | None = None) -> None:
    """A small demo world: partners (one ended 2020, one running), accounts, customers,
    an acceptance, invoices, and ``logs`` usage-log rows one day apart, oldest first."""
    s.metadata.create_all(engine)
    create_ledger(engine)
    base = {
        "street": "Weg 1",
        "postal_code": "04109",
        "city": "Leipzig",
        "country": "DE",
        "region": "SN",
        "employee_count": 5,
        "pc_count": 5,
        "currency": "EUR",
        "inquiry_email": "info@partner.example",
        "registered_at": datetime(2015, 1, 1),
    }
    start = log_start or datetime(2026, 1, 1, 12, 0)
    with engine.begin() as c:
        c.execute(
            insert(s.partners),
            [
                {"id": 1, "company_name": "Ended GmbH", "contract_end": date(2020, 6, 30), **base},
                {"id": 2, "company_name": "Running AG", "contract_end": None, **base},
            ],
        )
        person = {
            "first_name": "A",
            "last_name": "B",
            "password_hash": "x",
            "created_at": datetime(2016, 1, 1),
        }
        c.execute(
            insert(s.user_accounts),
            [
                {"id": 1, "partner_id": 1, "email": "old.employee@ended.example", **person},
                {"id": 2, "partner_id": 1, "email": "creator@ended.example", **person},
                {"id": 3, "partner_id": 2, "email": "visitor@running.example", **person},
            ],
        )
        c.execute(
            insert(s.partner_contacts),
            [
                {
                    "id": 1,
                    "partner_id": 1,
                    "first_name": "C",
                    "last_name": "D",
                    "email": "contact@ended.example",
                    "phone": "+493411",
                    "created_at": OLD,
                },
                {
                    "id": 2,
                    "partner_id": 2,
                    "first_name": "E",
                    "last_name": "F",
                    "email": "contact@running.example",
                    "phone": "+493412",
                    "created_at": OLD,
                },
            ],
        )
        cust = {
            "street": "Weg 2",
            "postal_code": "04109",
            "city": "Leipzig",
            "country": "DE",
            "region": "SN",
            "markup_percent": 5,
            "credit_limit_eur": 1000,
            "contact_first_name": "G",
            "contact_last_name": "H",
            "contact_phone": "+49341",
            "company_name": "Kunde",
            "created_at": datetime(2017, 1, 1),
        }
        c.execute(
            insert(s.customers),
            [
                {
                    "id": 1,
                    "partner_id": 1,
                    "created_by": 2,
                    "contact_email": "k1@k.example",
                    **cust,
                },
                {
                    "id": 2,
                    "partner_id": 1,
                    "created_by": 2,
                    "contact_email": "k2@k.example",
                    **cust,
                },
                {
                    "id": 3,
                    "partner_id": 2,
                    "created_by": 3,
                    "contact_email": "k3@k.example",
                    **cust,
                },
            ],
        )
        c.execute(
            insert(s.mca_acceptances),
            [
                {
                    "id": 1,
                    "customer_id": 2,
                    "first_name": "G",
                    "last_name": "H",
                    "position": "CEO",
                    "email": "k2@kunde.example",
                    "ip_address": "198.51.100.7",
                    "accepted_at": datetime(2024, 3, 1),
                    "agreement_version": "v1",
                },
            ],
        )
        bill = {
            "partner_id": 1,
            "amount_eur": 10,
            "billing_name": "Ended GmbH",
            "billing_email": "billing@ended.example",
            "billing_address": "Weg 1",
        }
        c.execute(
            insert(s.invoices),
            [
                {"id": 1, "invoice_number": "R-1", "issued_at": date(2018, 2, 1), **bill},
                {"id": 2, "invoice_number": "R-2", "issued_at": date(2017, 12, 31), **bill},
                {"id": 3, "invoice_number": "R-3", "issued_at": date(2019, 1, 1), **bill},
            ],
        )
        if logs:
            c.execute(
                insert(s.usage_log),
                [
                    {
                        "id": i + 1,
                        "ts": start + timedelta(days=i),
                        "ip": f"198.51.100.{i % 250 + 1}",
                        "user_agent": "Mozilla/5.0",
                        "referrer": "https://example.org/",
                        "file_name": f"/page/{i}",
                        "bytes_sent": 1000 + i,
                        "status": 200,
                        "user_account_id": 3 if i % 2 else None,
                    }
                    for i in range(logs)
                ],
            )


def ids(engine: Engine, table: Any) -> list[int]:
    with engine.connect() as c:
        return sorted(c.execute(select(table.c.id)).scalars())


def by_rule(report: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["rule"], r["table"]): r for r in report.to_json()["rules"]}


def test_end_of_year_boundary_in_the_catalog_time_zone(db_url: str) -> None:
    """An invoice issued 2018-02-01 under 8 years: kept through 2026, gone from 2027-01-01."""
    engine = connect(db_url)
    seed(engine, logs=0)
    catalog = load_catalog()
    kept = datetime(2026, 12, 31, 23, 0, tzinfo=BERLIN)
    purge(engine, catalog, KEYS, as_of=kept)
    assert ids(engine, s.invoices) == [1, 3]  # 2017-12-31 went at the start of 2026
    # 00:30 in Berlin is still 2026 in UTC: the catalog's zone decides
    gone = datetime(2027, 1, 1, 0, 30, tzinfo=BERLIN)
    report = purge(engine, catalog, KEYS, as_of=gone)
    assert ids(engine, s.invoices) == [3]
    assert by_rule(report)[("invoices", "invoices")]["rows"] == 1
    engine.dispose()


def test_anonymise_keeps_rows_and_truncates_ips_once(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=20, log_start=datetime(2026, 11, 1, 12, 0))
    with engine.begin() as c:
        c.execute(
            s.usage_log.update()
            .where(s.usage_log.c.id == 2)
            .values(ip="2001:db8:85a3:8d3:1319:8a2e:370:7348")
        )
    catalog = load_catalog()
    report = purge(engine, catalog, KEYS, as_of=AS_OF)
    # 2026-11-01 + 7 days <= 2026-11-25 12:00 for the first 18 rows (up to 2026-11-18 12:00)
    assert by_rule(report)[("usage_log_truncate_ip", "usage_log")]["rows"] == 18
    with engine.connect() as c:
        rows = c.execute(select(s.usage_log).order_by(s.usage_log.c.id)).mappings().all()
    assert len(rows) == 20
    assert rows[0]["ip"] == "198.51.100.0" and rows[0]["user_agent"] is None
    assert rows[0]["referrer"] is None
    assert rows[1]["ip"] == "2001:db8:85a3::"
    assert rows[0]["file_name"] == "/page/0" and rows[0]["bytes_sent"] == 1000
    assert rows[0]["ts"] == datetime(2026, 11, 1, 12, 0)
    assert rows[19]["ip"] == "198.51.100.20" and rows[19]["user_agent"] == "Mozilla/5.0"
    again = purge(engine, catalog, KEYS, as_of=AS_OF)
    assert by_rule(again)[("usage_log_truncate_ip", "usage_log")]["rows"] == 0
    engine.dispose()


def test_linked_anchor_partner_contract_end(db_url: str) -> None:
    """Three years after the end of the year the partner's contract ended; running: never."""
    engine = connect(db_url)
    seed(engine, logs=0)
    catalog = load_catalog()
    purge(engine, catalog, KEYS, as_of=datetime(2023, 12, 31, 23, 59, tzinfo=BERLIN))
    assert ids(engine, s.partner_contacts) == [1, 2]
    report = purge(engine, catalog, KEYS, as_of=datetime(2024, 1, 1, 0, 1, tzinfo=BERLIN))
    assert ids(engine, s.partner_contacts) == [2]
    assert ids(engine, s.customers) == [2, 3]  # customer 2 is referenced by its acceptance
    rule = by_rule(report)[("customer_relationship", "customers")]
    assert rule["rows"] == 1 and rule["withheld"] == 1
    assert rule["withheld_reasons"] == [{"reason": "referenced by mca_acceptances", "rows": 1}]
    # account 2 created the customers: withheld while customer 2 stays, account 3 runs on
    accounts = by_rule(report)[("partner_relationship", "user_accounts")]
    assert ids(engine, s.user_accounts) == [2, 3] and accounts["rows"] == 1
    assert accounts["withheld_reasons"] == [{"reason": "referenced by customers", "rows": 1}]
    engine.dispose()


def test_dry_run_counts_equal_the_real_run(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=300, log_start=datetime(2025, 9, 1))
    catalog = load_catalog()
    # children first: the acceptance (2031) goes before its customer in the same run
    at = datetime(2031, 1, 1, 1, 0, tzinfo=BERLIN)
    before = ids(engine, s.usage_log)
    dry = purge(engine, catalog, KEYS, as_of=at, dry_run=True)
    assert ids(engine, s.usage_log) == before
    real = purge(engine, catalog, KEYS, as_of=at, batch_size=37)
    planned = {k: (v["rows"], v["withheld"]) for k, v in by_rule(dry).items()}
    done = {k: (v["rows"], v["withheld"]) for k, v in by_rule(real).items()}
    assert planned == done
    # customer 2 was referenced only by the acceptance this run deletes; customer 3 runs on
    assert done[("customer_relationship", "customers")] == (2, 0)
    assert done[("agreement_evidence", "mca_acceptances")] == (1, 0)
    assert sum(v[0] for v in done.values()) > 300
    engine.dispose()


def test_a_purge_run_leaves_a_receipt_the_audit_trail_seals(db_url: str) -> None:
    import json as json_module

    from sqlalchemy import update

    from dsr.ledger.audit import verify
    from dsr.ledger.tables import receipts

    engine = connect(db_url)
    seed(engine, logs=50, log_start=datetime(2025, 9, 1))
    catalog = load_catalog()
    dry = purge(
        engine, catalog, KEYS, as_of=datetime(2031, 1, 1, 1, 0, tzinfo=BERLIN), dry_run=True
    )
    assert dry.receipt_id is None
    real = purge(engine, catalog, KEYS, as_of=datetime(2031, 1, 1, 1, 0, tzinfo=BERLIN))
    assert real.receipt_id is not None
    with engine.connect() as conn:
        row = conn.execute(select(receipts).where(receipts.c.id == real.receipt_id)).one()
        body = json_module.loads(row.body)
        assert row.kind == "purge" and body["run"] == real.run_id
        rules = {(r["rule"], r["table"]): r for r in body["rules"]}
        assert rules[("customer_relationship", "customers")]["rows"] == 2
        assert all(r["legal_reference"] for r in body["rules"])
        assert verify(conn, KEYS).ok and verify(conn, KEYS).receipts == 1
    with engine.begin() as conn:
        conn.execute(update(receipts).values(body=row.body.replace('"rows":2', '"rows":0')))
    with engine.connect() as conn:
        verdict = verify(conn, KEYS)
    assert not verdict.ok and "does not match its audit entry" in str(verdict.reason)
    engine.dispose()


def _cli(url: str, *args: str) -> list[str]:
    return ["--database-url", url, *args]


def test_cli_json_exit_codes_and_concurrent_run(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    monkeypatch.setenv("DSR_SECRET", SECRET)
    engine = connect(db_url)
    seed(engine, logs=5)
    args = _cli(db_url, "purge", "--as-of", "2024-01-01T00:01", "--json")
    with exclusive(connect(db_url)):
        assert main(args) == 75
    capsys.readouterr()
    assert ids(engine, s.partner_contacts) == [1, 2]  # the refused run changed nothing
    assert main([*args[:-1], "--dry-run", "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["dry_run"] is True and data["as_of"].startswith("2024-01-01T00:01:00+01:00")
    assert ids(engine, s.partner_contacts) == [1, 2]
    assert main(args) == 3  # customer 2 withheld (referenced)
    data = json.loads(capsys.readouterr().out)
    rules = {(r["rule"], r["table"]): r for r in data["rules"]}
    assert set(rules[("partner_relationship", "partner_contacts")]) >= {
        "rule",
        "table",
        "action",
        "rows",
        "withheld",
        "withheld_reasons",
    }
    assert ids(engine, s.partner_contacts) == [2]
    with engine.connect() as c:
        entries = c.execute(select(audit.c.action, audit.c.details)).all()
    assert any(a == "purge.run" for a, _ in entries)
    assert not any("@" in d for _, d in entries)  # counts and ids, never data
    engine.dispose()


def test_malformed_rule_and_missing_anchor_change_nothing(db_url: str, tmp_path: Path) -> None:
    engine = connect(db_url)
    seed(engine, logs=10)
    text = Path(load_catalog().files[0]).read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("period: 6 months", "period: six months"), encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        purge(engine, load_catalog(bad), KEYS, as_of=AS_OF)
    assert "bad.yaml:" in str(info.value)
    missing = tmp_path / "missing.yaml"
    missing.write_text(
        text.replace("anchor: {column: received_at}", "anchor: {column: answered_on}").replace(
            "      answered_at:",
            "      answered_on: {party: sender, category: usage, "
            "source: controller}\n      answered_at:",
            1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(SchemaMismatch) as info2:
        purge(engine, load_catalog(missing), KEYS, as_of=datetime(2030, 1, 1, tzinfo=BERLIN))
    assert "answered_on" in str(info2.value) and "contact_requests" in str(info2.value)
    assert len(ids(engine, s.usage_log)) == 10
    assert ids(engine, s.invoices) == [1, 2, 3]
    engine.dispose()


def _log_progress(engine: Engine) -> int:
    """Rows of usage_log purged in committed batches so far."""
    cp = purge_checkpoints
    with engine.connect() as c:
        stmt = select(func.max(cp.c.rows_done)).where(cp.c.table_name == "usage_log")
        return int(c.execute(stmt).scalar() or 0)


def test_sigkill_mid_purge_then_rerun_ends_in_the_expected_state(db_url: str) -> None:
    engine = connect(db_url)
    n = 2500
    seed(engine, logs=n, log_start=datetime(2010, 1, 1))
    with engine.begin() as c:  # a hold in the middle of the range must survive both runs
        c.execute(
            s.usage_log.update().where(s.usage_log.c.id.in_([1500, 1501])).values(user_account_id=1)
        )
    from dsr.clock import FixedClock
    from dsr.ledger.holds import add_hold

    with engine.begin() as c:
        add_hold(
            c,
            KEYS,
            load_catalog(),
            table="usage_log",
            row_keys=[1500],
            reason="case",
            clock=FixedClock(AS_OF),
        )
    cutoff = datetime(2026, 5, 25, 12, 0)  # 6 months before AS_OF
    with engine.connect() as c:
        expected = sorted(
            c.execute(
                select(s.usage_log.c.id).where(
                    (s.usage_log.c.ts > cutoff) | (s.usage_log.c.id == 1500)
                )
            ).scalars()
        )
    env = {**os.environ, "DSR_SECRET": SECRET}
    cmd = [
        sys.executable,
        "-m",
        "dsr",
        "--database-url",
        db_url,
        "purge",
        "--batch-size",
        "50",
        "--as-of",
        AS_OF.isoformat(),
        "--json",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if _log_progress(engine):
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    left = ids(engine, s.usage_log)
    assert len(left) > len(expected)  # killed mid-way
    assert set(expected) <= set(left)  # nothing deleted that should stay
    rerun = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert rerun.returncode == 3, rerun.stderr  # the held row is withheld
    assert ids(engine, s.usage_log) == expected
    engine.dispose()


def test_sigterm_stops_after_a_whole_batch_and_a_rerun_finishes(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=2500, log_start=datetime(2010, 1, 1))
    env = {**os.environ, "DSR_SECRET": SECRET}
    cmd = [
        sys.executable,
        "-m",
        "dsr",
        "--database-url",
        db_url,
        "purge",
        "--batch-size",
        "50",
        "--as-of",
        AS_OF.isoformat(),
        "--json",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _log_progress(engine):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    import json

    assert proc.returncode == 143
    report = json.loads(out)
    assert report["stopped"] is True
    done = sum(r["rows"] for r in report["rules"] if r["table"] == "usage_log")
    left = ids(engine, s.usage_log)
    assert 0 < done and len(left) == 2500 - done  # every counted batch committed, none partly
    with engine.connect() as c:
        batches = c.execute(select(func.count()).where(audit.c.action == "purge.batch")).scalar()
    assert batches == sum(r["batches"] for r in report["rules"])
    rerun = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert rerun.returncode in (0, 3), rerun.stderr
    cutoff = datetime(2026, 5, 25, 12, 0)
    with engine.connect() as c:
        expected = sorted(
            c.execute(select(s.usage_log.c.id).where(s.usage_log.c.ts > cutoff)).scalars()
        )
    assert ids(engine, s.usage_log) == expected
    engine.dispose()


def test_vacuum_runs_on_every_engine(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=30, log_start=datetime(2020, 1, 1))
    report = purge(engine, load_catalog(), KEYS, as_of=AS_OF, vacuum=True)
    assert report.vacuumed  # SQLite: the whole file; others: the purged tables
    if engine.dialect.name != "sqlite":
        assert "usage_log" in report.vacuumed
    assert ids(engine, s.usage_log) == []
    engine.dispose()
