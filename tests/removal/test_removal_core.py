"""The removal core on a schema of our own making, on every engine: references that give way
(unlink, tombstone) to an erasure and to a purge, rules that apply only to some rows (``when``)
and master data kept as long as retained records refer to it (``while_referenced_by``).

Shapes: staff accounts referenced by security log lines (a declared link the database does not
enforce) and by support tickets of customers (an enforced, nullable foreign key); customers
without a date column of their own, referenced by invoices kept under tax law.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
)

from dsr.catalog.check import check_catalog
from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.clock import FixedClock
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.ledger.migrate import create_ledger
from dsr.retention.purge import purge
from dsr.rights.access import access_report
from dsr.rights.erase import erase
from dsr.subject.graph import SubjectGraph

KEYS = StaticKeys(b"r" * 32)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)

md = MetaData()
account = Table(
    "account",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(120), nullable=False),
    Column("name", String(80), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("left_on", Date),
)
access_log = Table(
    "access_log",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    # no foreign key: the catalog declares the link (and lets it be tombstoned)
    Column("account_id", Integer),
    Column("at", DateTime, nullable=False),
    Column("path", String(200), nullable=False),
)
ticket = Table(
    "ticket",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_email", String(120), nullable=False),
    Column("handler_id", Integer, ForeignKey("account.id")),
    Column("opened_at", DateTime, nullable=False),
    Column("subject", String(200), nullable=False),
)
customer = Table(
    "customer",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("email", String(120), nullable=False),
    Column("name", String(80), nullable=False),
    Column("closed", Boolean, nullable=False),
)
invoice = Table(
    "invoice",
    md,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("customer.id"), nullable=False),
    Column("number", String(20), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("billing_name", String(80), nullable=False),
)

CATALOG = """\
controller:
  name: Werkstatt Krause GmbH
  address: "Hauptstr. 1, 04109 Leipzig"
  email: privacy@krause.example
dpo: {name: Datenschutz, email: dpo@krause.example}
supervisory_authority: {name: Sächsische Datenschutzbeauftragte}
categories: {contact: Contact data, usage: Usage data, billing: Billing data, staff: Staff data}
purposes:
  staff: {title: Employment, legal_basis: "6(1)(b)"}
  security: {title: Security, legal_basis: "6(1)(f)", legitimate_interest: Detecting attacks}
  support: {title: Support, legal_basis: "6(1)(b)"}
  billing: {title: Billing, legal_basis: "6(1)(c)"}
retention:
  staff_accounts:
    period: 1 year
    anchor: {column: left_on}
    when: {column: active, equals: false}
    action: delete
    legal_reference: "Art. 6(1)(b) GDPR"
  security_log:
    period: 2 years
    anchor: {column: at}
    action: delete
    legal_reference: "Art. 6(1)(f) GDPR"
  invoices:
    period: 10 years
    anchor: {column: issued_on, end_of_year: true}
    action: delete
    statutory: true
    legal_reference: "§ 147 AO"
  customer_master_data:
    anchor: {while_referenced_by: {table: invoice, link: customer}}
    when: {column: closed, equals: true}
    action: delete
    statutory: true
    legal_reference: "§ 147 AO, § 257 HGB"
tables:
  account:
    title: Staff accounts
    purpose: staff
    retention: staff_accounts
    parties:
      employee: {title: Employee, identities: {email: email}}
    fields:
      email: {party: employee, category: contact, format: email}
      name: {party: employee, category: staff}
      left_on: {party: employee, category: staff, format: date}
  access_log:
    title: Security log
    purpose: security
    retention: security_log
    links:
      account: {column: account_id, table: account, on_remove: tombstone}
    parties:
      account_holder:
        title: Signed-in employee
        via: {link: account, party: employee}
        erase: keep
    fields:
      at: {party: account_holder, category: usage, format: datetime}
      path: {party: account_holder, category: usage}
  ticket:
    title: Support tickets
    purpose: support
    links:
      handler: {column: handler_id, table: account, on_remove: unlink}
    parties:
      customer: {title: Customer, identities: {email: customer_email}}
    fields:
      customer_email: {party: customer, category: contact, format: email}
      subject: {party: customer, category: usage}
      opened_at: {party: customer, category: usage, format: datetime}
  customer:
    title: Customers
    purpose: billing
    retention: customer_master_data
    parties:
      customer: {title: Customer, identities: {email: email}}
    fields:
      email: {party: customer, category: contact, format: email}
      name: {party: customer, category: contact}
  invoice:
    title: Invoices
    purpose: billing
    retention: invoices
    links:
      customer: {column: customer_id, table: customer}
    parties:
      customer: {title: Customer, via: {link: customer, party: customer}}
    fields:
      number: {party: customer, category: billing}
      issued_on: {party: customer, category: billing, format: date}
      billing_name: {party: customer, category: billing}
"""


def seed(engine: Engine) -> None:
    md.create_all(engine)
    create_ledger(engine)
    with engine.begin() as c:
        c.execute(
            insert(account),
            [
                # left in 2020: its year ran out in 2021
                {
                    "id": 1,
                    "email": "gone@krause.example",
                    "name": "A",
                    "active": False,
                    "left_on": date(2020, 3, 31),
                },
                # still employed
                {
                    "id": 2,
                    "email": "here@krause.example",
                    "name": "B",
                    "active": True,
                    "left_on": None,
                },
                # left a month ago: kept for a year
                {
                    "id": 3,
                    "email": "recent@krause.example",
                    "name": "C",
                    "active": False,
                    "left_on": date(2026, 5, 1),
                },
                # a leaving date, but re-hired (active): the rule does not apply
                {
                    "id": 4,
                    "email": "back@krause.example",
                    "name": "D",
                    "active": True,
                    "left_on": date(2019, 1, 31),
                },
            ],
        )
        c.execute(
            insert(access_log),
            [
                {
                    "id": i,
                    "account_id": (i % 4) + 1,
                    "at": datetime(2026, 1, 1, 8, i),
                    "path": f"/admin/{i}",
                }
                for i in range(1, 13)
            ],
        )
        c.execute(
            insert(ticket),
            [
                {
                    "id": 1,
                    "customer_email": "kunde1@example.org",
                    "handler_id": 1,
                    "opened_at": datetime(2025, 2, 1),
                    "subject": "Bremsen",
                },
                {
                    "id": 2,
                    "customer_email": "kunde2@example.org",
                    "handler_id": 1,
                    "opened_at": datetime(2025, 3, 1),
                    "subject": "Reifen",
                },
                {
                    "id": 3,
                    "customer_email": "kunde3@example.org",
                    "handler_id": 2,
                    "opened_at": datetime(2025, 4, 1),
                    "subject": "Licht",
                },
            ],
        )
        c.execute(
            insert(customer),
            [
                {"id": 1, "email": "alt@example.org", "name": "Old Customer", "closed": True},
                {"id": 2, "email": "neu@example.org", "name": "New Customer", "closed": True},
                {"id": 3, "email": "open@example.org", "name": "Open Customer", "closed": False},
            ],
        )
        c.execute(
            insert(invoice),
            [
                {
                    "id": 1,
                    "customer_id": 1,
                    "number": "R-1",
                    "issued_on": date(2014, 5, 1),
                    "billing_name": "Old Customer",
                },
                {
                    "id": 2,
                    "customer_id": 2,
                    "number": "R-2",
                    "issued_on": date(2020, 5, 1),
                    "billing_name": "New Customer",
                },
                {
                    "id": 3,
                    "customer_id": 3,
                    "number": "R-3",
                    "issued_on": date(2014, 6, 1),
                    "billing_name": "Open Customer",
                },
            ],
        )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = connect(db_url)
    seed(e)
    yield e
    e.dispose()


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    path = tmp_path / "krause.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    return path


@pytest.fixture
def catalog(catalog_path: Path) -> Catalog:
    return load_catalog(catalog_path)


def rows(engine: Engine, table: Table, *cols: str) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        picked = [table.c[n] for n in cols]
        return [tuple(r) for r in c.execute(select(*picked).order_by(table.c.id))]


def by_rule(report: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["rule"], r["table"]): r for r in report.to_json()["rules"]}


def test_catalog_checks_clean(engine: Engine, catalog: Catalog) -> None:
    report = check_catalog(catalog, engine)
    assert report.errors == []


def test_purge_deletes_the_expired_account_and_detaches_what_refers_to_it(
    engine: Engine, catalog: Catalog
) -> None:
    as_of = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    dry = purge(engine, catalog, KEYS, as_of=as_of, dry_run=True)
    step = by_rule(dry)[("staff_accounts", "account")]
    # only the inactive account whose year ran out; re-hired and recent ones stay
    assert step["rows"] == 1 and step["withheld"] == 0
    assert sorted((d["table"], d["action"], d["rows"]) for d in step["references_detached"]) == [
        ("access_log", "tombstoned", 3),
        ("ticket", "unlinked", 2),
    ]
    assert rows(engine, account, "id") == [(1,), (2,), (3,), (4,)]  # a dry run changes nothing

    real = purge(engine, catalog, KEYS, as_of=as_of)
    assert by_rule(real)[("staff_accounts", "account")] == {**step, "batches": 1}
    assert rows(engine, account, "id") == [(2,), (3,), (4,)]
    assert rows(engine, ticket, "id", "handler_id") == [(1, None), (2, None), (3, 2)]
    log = dict(rows(engine, access_log, "id", "account_id"))
    tombstones = [log[i] for i in (4, 8, 12)]  # the rows that pointed at account 1
    assert all(v < 0 for v in tombstones), tombstones
    assert len(set(tombstones)) == 3  # each its own: log lines of one account are not regrouped
    assert all(log[i] == (i % 4) + 1 for i in log if i % 4 != 0)
    # the security log kept its lines; a rerun finds nothing to do
    again = purge(engine, catalog, KEYS, as_of=as_of, dry_run=True)
    assert by_rule(again)[("staff_accounts", "account")]["rows"] == 0


def test_erasure_detaches_other_peoples_references_and_keeps_their_rows(
    engine: Engine, catalog: Catalog
) -> None:
    clock = FixedClock(NOW)
    plan = erase(engine, catalog, KEYS, ["here@krause.example"], clock=clock)
    out = plan.to_json()
    assert {e["table"]: e["action"] for e in out["erased"]} == {"account": "deleted"}
    assert sorted((d["table"], d["action"], d["rows"]) for d in out["references_detached"]) == [
        ("access_log", "tombstoned", 3),
        ("ticket", "unlinked", 1),
    ]
    # the security log lines stay (the catalog keeps them) but point at no one any more, so
    # they are no longer the person's: not listed as kept, not remembered for access
    assert [k["table"] for k in out["kept"]] == []
    assert plan.withheld is False
    assert rows(engine, account, "id") == [(1,), (3,), (4,)]
    assert rows(engine, ticket, "id", "handler_id") == [(1, 1), (2, 1), (3, None)]
    log = dict(rows(engine, access_log, "id", "account_id"))
    assert all(log[i] < 0 for i in (1, 5, 9)) and log[2] == 3
    # the audit summary holds counts and table names only
    with engine.connect() as c:
        from dsr.ledger.tables import audit

        details = json.loads(c.execute(select(audit.c.details)).scalars().all()[-1])
    assert sorted(details["detached"], key=lambda d: d["table"]) == [
        {
            "table": "access_log",
            "column": "account_id",
            "references": "account",
            "action": "tombstoned",
            "rows": 3,
        },
        {
            "table": "ticket",
            "column": "handler_id",
            "references": "account",
            "action": "unlinked",
            "rows": 1,
        },
    ]
    assert "here@krause.example" not in json.dumps(details)


def test_master_data_is_kept_while_retained_invoices_refer_to_it(
    engine: Engine, catalog: Catalog
) -> None:
    clock = FixedClock(NOW)
    plan = erase(engine, catalog, KEYS, ["neu@example.org"], clock=clock)
    kept = {k["table"]: k for k in plan.to_json()["kept"]}
    assert kept["invoice"]["until"] == "2030-12-31"
    assert kept["customer"]["action"] == "restricted"
    assert "as long as records of invoice refer to it" in kept["customer"]["reason"]
    assert kept["customer"]["until"] is None
    # and the person still learns about both from an access request
    graph = SubjectGraph(catalog, engine)
    with engine.connect() as c:
        report = access_report(c, catalog, graph, ["neu@example.org"], clock=clock, keys=KEYS)
    found = {s.name for s in report.sections}
    assert {"customer", "invoice"} <= found

    # 2026: the 2014 invoice of the closed customer 1 has run out, and with it customer 1;
    # customer 3's 2014 invoice too, but customer 3 is not closed: only the invoice goes
    as_of = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    dry = purge(engine, catalog, KEYS, as_of=as_of, dry_run=True)
    assert by_rule(dry)[("invoices", "invoice")]["rows"] == 2
    assert by_rule(dry)[("customer_master_data", "customer")]["rows"] == 1
    real = purge(engine, catalog, KEYS, as_of=as_of)
    assert by_rule(real)[("customer_master_data", "customer")]["rows"] == 1
    assert rows(engine, customer, "id") == [(2,), (3,)]
    assert rows(engine, invoice, "id") == [(2,)]

    # 2031: the erased customer's invoice has run out, the customer goes with it in one run
    later = datetime(2031, 1, 2, 12, 0, tzinfo=timezone.utc)
    dry = purge(engine, catalog, KEYS, as_of=later, dry_run=True)
    assert by_rule(dry)[("customer_master_data", "customer")]["rows"] == 1
    purge(engine, catalog, KEYS, as_of=later)
    assert rows(engine, customer, "id") == [(3,)]
    assert rows(engine, invoice, "id") == []


def test_cli_erase_dry_run_reports_detached_references(
    engine: Engine, catalog_path: Path, db_url: str, tmp_path: Path, capsys: Any
) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"r" * 32)
    key_file.chmod(0o600)
    code = main(
        [
            "--database-url",
            db_url,
            "--catalog",
            str(catalog_path),
            "--key-file",
            str(key_file),
            "erase",
            "gone@krause.example",
            "--dry-run",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 3)
    assert {(d["table"], d["rows"]) for d in out["references_detached"]} == {
        ("access_log", 3),
        ("ticket", 2),
    }
    assert rows(engine, account, "id") == [(1,), (2,), (3,), (4,)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "handler: {column: handler_id, table: account, on_remove: tombstone}",
            "would refuse a value that points nowhere",
        ),
        (
            "customer: {column: customer_id, table: customer, on_remove: unlink}",
            "is NOT NULL",
        ),
    ],
)
def test_catalog_check_refuses_detaching_the_database_would_refuse(
    engine: Engine, tmp_path: Path, change: str, message: str
) -> None:
    name = change.split(":")[0]
    lines = [
        f"      {change}" if line.strip().startswith(f"{name}: {{column:") else line
        for line in CATALOG.splitlines()
    ]
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = check_catalog(load_catalog(path), engine)
    assert any(message in f.message and "bad.yaml" in f.where for f in report.errors), report.errors


def test_after_erasure_the_detached_log_lines_are_not_the_persons(
    engine: Engine, catalog: Catalog
) -> None:
    clock = FixedClock(NOW)
    erase(engine, catalog, KEYS, ["here@krause.example"], clock=clock)
    graph = SubjectGraph(catalog, engine)
    with engine.connect() as c:
        report = access_report(c, catalog, graph, ["here@krause.example"], clock=clock, keys=KEYS)
    assert report.sections == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "anchor: {while_referenced_by: {table: invoice, link: customer}}\n    period: 1 year",
            "has no period",
        ),
        ("anchor: {column: left_on}", "needs a 'period'"),
        (
            "anchor: {while_referenced_by: {table: invoice, link: nowhere}}",
            "has no link 'nowhere'",
        ),
    ],
)
def test_malformed_rules_name_the_file_and_key(tmp_path: Path, rule: str, message: str) -> None:
    from dsr.errors import CatalogError

    text = CATALOG.replace(
        "anchor: {while_referenced_by: {table: invoice, link: customer}}", rule, 1
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert message in str(info.value) and "rules.yaml:" in str(info.value)


def test_an_anchor_on_the_detached_rows_still_lets_the_target_go(
    db_url: str, tmp_path: Path
) -> None:
    """The batch's rows are read before their references are detached: an account expiring a
    month after its newest log line is deleted, though detaching empties that very anchor."""
    text = CATALOG.replace(
        "    period: 1 year\n    anchor: {column: left_on}\n"
        "    when: {column: active, equals: false}",
        "    period: 1 month\n"
        "    anchor: {column: at, newest_of: {table: access_log, link: account}}",
    )
    path = tmp_path / "newest.yaml"
    path.write_text(text, encoding="utf-8")
    cat = load_catalog(path)
    e = connect(db_url)
    seed(e)
    try:
        dry = by_rule(purge(e, cat, KEYS, as_of=NOW, dry_run=True))[("staff_accounts", "account")]
        real = by_rule(purge(e, cat, KEYS, as_of=NOW))[("staff_accounts", "account")]
        assert dry["rows"] == real["rows"] == 4
        assert dry["references_detached"] == real["references_detached"]
        assert rows(e, account, "id") == []
    finally:
        e.dispose()


def test_held_referring_rows_are_never_detached(engine: Engine, catalog: Catalog) -> None:
    """A hold on the security log keeps its lines as they are: the account they point at is
    withheld by the purge and anonymised (not deleted) by an erasure."""
    from dsr.ledger.holds import add_hold

    with engine.begin() as c:
        add_hold(c, KEYS, catalog, table="access_log", reason="litigation", clock=FixedClock(NOW))
    before = rows(engine, access_log, "id", "account_id")
    report = purge(engine, catalog, KEYS, as_of=NOW)
    step = by_rule(report)[("staff_accounts", "account")]
    assert step["rows"] == 0 and step["withheld"] == 1
    assert all(d["rows"] == 0 for d in step["references_detached"])
    plan = erase(engine, catalog, KEYS, ["here@krause.example"], clock=FixedClock(NOW))
    kept = {k["table"]: k["action"] for k in plan.to_json()["kept"]}
    assert kept["account"] == "anonymised"
    assert rows(engine, access_log, "id", "account_id") == before
    assert rows(engine, account, "id") == [(1,), (2,), (3,), (4,)]


def restriction_marks(engine: Engine, table: str) -> list[tuple[str, str, bool]]:
    from dsr.ledger.tables import restrictions

    r = restrictions
    with engine.connect() as c:
        found = c.execute(
            select(r.c.row_key, r.c.reason, r.c.lifted_at.is_(None))
            .where(r.c.table_name == table)
            .order_by(r.c.id)
        )
        return [(k, reason, bool(active)) for k, reason, active in found]


def test_a_restriction_the_person_asks_for_outlives_the_erasures(
    engine: Engine, catalog: Catalog
) -> None:
    """Rows an erasure kept are restricted until their period ends; when the person then asks
    for a restriction of their own (Art. 18(1)(c): needed for legal claims), it is recorded
    beside the erasure's and the purge keeps the rows past their period, until it is lifted."""
    from dsr.rights.restrict import lift, restrict

    clock = FixedClock(NOW)
    erase(engine, catalog, KEYS, ["neu@example.org"], clock=clock)
    result = restrict(engine, catalog, KEYS, ["neu@example.org"], "legal claims", clock=clock)
    assert result.counts == {"customer": 1, "invoice": 1}
    assert [(k, active) for k, _, active in restriction_marks(engine, "invoice")] == [
        ("2", True),
        ("2", True),
    ]

    later = datetime(2031, 1, 2, 12, 0, tzinfo=timezone.utc)
    report = purge(engine, catalog, KEYS, as_of=later)
    assert by_rule(report)[("invoices", "invoice")]["withheld"] == 1
    assert rows(engine, invoice, "id") == [(2,)]
    assert (2,) in rows(engine, customer, "id")

    lift(engine, catalog, KEYS, ["neu@example.org"], informed_at=later, clock=FixedClock(later))
    # the erasure's own mark is left to its period, which has run out: the rows go now
    purge(engine, catalog, KEYS, as_of=later)
    assert rows(engine, invoice, "id") == []
    assert (2,) not in rows(engine, customer, "id")
    # and no mark names a row that no longer exists, dated or not
    assert [m for m in restriction_marks(engine, "customer") if m[2]] == []
    assert [m for m in restriction_marks(engine, "invoice") if m[2]] == []


def test_a_reason_may_not_pass_for_an_erasures(engine: Engine, catalog: Catalog) -> None:
    from dsr.errors import ValidationError
    from dsr.rights.restrict import restrict

    with pytest.raises(ValidationError, match="may not begin"):
        restrict(engine, catalog, KEYS, ["alt@example.org"], "Erasure withheld: x")
    assert restriction_marks(engine, "customer") == []


def test_the_erasures_undated_marks_end_when_the_purge_removes_the_row(
    engine: Engine, catalog: Catalog
) -> None:
    clock = FixedClock(NOW)
    erase(engine, catalog, KEYS, ["neu@example.org"], clock=clock)
    marks = restriction_marks(engine, "customer")
    assert [(k, active) for k, _, active in marks] == [("2", True)]
    purge(engine, catalog, KEYS, as_of=datetime(2031, 1, 2, 12, 0, tzinfo=timezone.utc))
    assert (2,) not in rows(engine, customer, "id")
    assert restriction_marks(engine, "customer") == []


def test_erasure_keeps_master_data_a_rules_condition_keeps(
    engine: Engine, catalog: Catalog
) -> None:
    """Customer 3 is not closed: its master-data rule has not started, so the purge keeps it
    although its only invoice has run out; the erasure keeps it the same way."""
    clock = FixedClock(NOW)
    dry = purge(engine, catalog, KEYS, as_of=NOW, dry_run=True)
    assert by_rule(dry)[("customer_master_data", "customer")]["rows"] == 1  # customer 1 only
    plan = erase(engine, catalog, KEYS, ["open@example.org"], clock=clock)
    out = plan.to_json()
    kept = {k["table"]: k for k in out["kept"]}
    assert {e["table"] for e in out["erased"]} == {"invoice"}
    assert kept["customer"]["action"] == "restricted"
    assert "has not started yet" in kept["customer"]["reason"]
    assert (3,) in rows(engine, customer, "id")


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('{column: active, equals: "false"}', "write true or false"),
        ("{column: active, in: [0]}", "write true or false"),
        ("{column: left_on, equals: 2020}", "write a date"),
        ('{column: left_on, equals: "31.03.2020"}', "write a date"),
        ("{column: name, equals: 7}", "write text"),
    ],
)
def test_catalog_check_refuses_conditions_engines_would_read_differently(
    engine: Engine, tmp_path: Path, condition: str, message: str
) -> None:
    text = CATALOG.replace("when: {column: active, equals: false}", f"when: {condition}", 1)
    path = tmp_path / "when.yaml"
    path.write_text(text, encoding="utf-8")
    report = check_catalog(load_catalog(path), engine)
    assert [
        (f.where, "staff_accounts" in f.message, message in f.message) for f in report.errors
    ] == [(f"{path}:17: retention.staff_accounts.when", True, True)], report.errors


def test_a_misspelt_condition_is_named_as_such(tmp_path: Path) -> None:
    from dsr.errors import CatalogError

    text = CATALOG.replace("{column: active, equals: false}", "{column: active, equal: false}")
    path = tmp_path / "when.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert "unknown key 'equal'" in str(info.value), str(info.value)
    assert "when.yaml:17" in str(info.value)


def test_tombstones_fit_a_small_integer_column(db_url: str, tmp_path: Path) -> None:
    """A log whose account column is a SMALLINT: each tombstone stays within its range."""
    from sqlalchemy import SmallInteger

    small = MetaData()
    Table(
        "access_log",
        small,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("account_id", SmallInteger),
        Column("at", DateTime, nullable=False),
        Column("path", String(200), nullable=False),
    )
    e = connect(db_url)
    try:
        small.create_all(e)
        seed(e)
        path = tmp_path / "catalog.yaml"
        path.write_text(CATALOG, encoding="utf-8")
        cat = load_catalog(path)
        assert check_catalog(cat, e).errors == []
        purge(e, cat, KEYS, as_of=NOW)
        log = dict(rows(e, access_log, "id", "account_id"))
        assert all(-32767 <= log[i] < 0 for i in (4, 8, 12)), log
    finally:
        e.dispose()


def test_which_columns_take_a_tombstone() -> None:
    from sqlalchemy import Uuid
    from sqlalchemy.dialects import mysql

    from dsr.catalog.bind import tombstone_unfit

    assert tombstone_unfit(Integer()) is None
    assert tombstone_unfit(mysql.SMALLINT()) is None
    assert tombstone_unfit(Uuid()) is None
    assert tombstone_unfit(String(16)) is None and tombstone_unfit(String()) is None
    assert "unsigned" in (tombstone_unfit(mysql.INTEGER(unsigned=True)) or "")
    assert "too small" in (tombstone_unfit(mysql.TINYINT()) or "")
    assert "at most 8 characters" in (tombstone_unfit(String(8)) or "")
    assert "neither" in (tombstone_unfit(Date()) or "")


def test_a_shorter_rule_never_deletes_what_the_law_still_keeps(db_url: str, tmp_path: Path) -> None:
    """Invoices under a CRM's 3-year rule and § 147 AO's 10 years: the 2020 invoice has run
    out under the first only, so the purge withholds it, naming the statutory rule."""
    text = CATALOG.replace(
        "retention:\n  staff_accounts:",
        "retention:\n  crm_invoices:\n    period: 3 years\n    anchor: {column: issued_on}\n"
        '    action: delete\n    legal_reference: "Art. 6(1)(f) GDPR"\n  staff_accounts:',
    ).replace("    retention: invoices\n", "    retention: [crm_invoices, invoices]\n")
    path = tmp_path / "two.yaml"
    path.write_text(text, encoding="utf-8")
    cat = load_catalog(path)
    e = connect(db_url)
    seed(e)
    try:
        dry = by_rule(purge(e, cat, KEYS, as_of=NOW, dry_run=True))
        crm = dry[("crm_invoices", "invoice")]
        assert (crm["rows"], crm["withheld"]) == (2, 1)
        assert [(r["reason"], r["rows"]) for r in crm["withheld_reasons"]] == [
            ("statutory retention (invoices)", 1)
        ]
        real = by_rule(purge(e, cat, KEYS, as_of=NOW))
        assert real[("crm_invoices", "invoice")]["rows"] == 2
        assert rows(e, invoice, "id") == [(2,)]
        # once the law's period has run out too, the shorter rule's step takes it
        later = datetime(2031, 1, 2, 12, 0, tzinfo=timezone.utc)
        assert by_rule(purge(e, cat, KEYS, as_of=later))[("crm_invoices", "invoice")]["rows"] == 1
        assert rows(e, invoice, "id") == []
    finally:
        e.dispose()
