"""dsr on a database nobody here designed: Chinook, with a catalog written from its docs alone.

Every test runs on SQLite, PostgreSQL and MariaDB, each loaded from the corpus files
(``../shared/corpus/chinook``; skipped with a reason where absent, a failure in CI).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from _chinook import CATALOG_PG, load_chinook, postgres_catalog, require_corpus
from _graph import nested_rows
from sqlalchemy import Engine, MetaData, Table, func, select

from dsr.catalog.check import check_catalog
from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.clock import FixedClock
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.ledger.migrate import create_ledger
from dsr.portability.export import export_package
from dsr.rights.access import AccessReport, access_report
from dsr.rights.erase import erase
from dsr.subject.graph import SubjectGraph

KEYS = StaticKeys(b"c" * 32)
CLOCK = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc))
LEONIE = "leonekohler@surfeu.de"  # customer 2, Stuttgart, support rep 5 (Steve Johnson)
JANE = "jane@chinookcorp.com"  # employee 3, Sales Support Agent, reports to Nancy (2)
NANCY = "nancy@chinookcorp.com"  # employee 2, Sales Manager, manages 3, 4 and 5


@pytest.fixture(scope="module")
def chinook(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Catalog]]:
    """A Chinook database of the module's own (read-only tests) and the catalog for it."""
    e = connect(module_db_url)
    path = load_chinook(e, str(tmp_path_factory.mktemp("chinook")))
    e.dispose()
    yield module_db_url, load_catalog(path)


@pytest.fixture
def writable(db_url: str, tmp_path: Path) -> Iterator[tuple[Engine, Catalog, str]]:
    """A Chinook database of the test's own, for services that change it."""
    e = connect(db_url)
    path = load_chinook(e, str(tmp_path))
    e = connect(db_url)
    create_ledger(e)
    yield e, load_catalog(path), path
    e.dispose()


def _names(engine: Engine) -> dict[str, str]:
    """Table and column names as this engine's edition of Chinook spells them."""
    pg = engine.dialect.name == "postgresql"
    words = [
        "Customer",
        "Employee",
        "Invoice",
        "InvoiceLine",
        "Track",
        "CustomerId",
        "City",
        "Email",
        "FirstName",
        "LastName",
        "SupportRepId",
        "TrackId",
        "Name",
        "Title",
        "InvoiceId",
        "ReportsTo",
        "EmployeeId",
    ]
    from _chinook import snake

    return {w: snake(w) if pg else w for w in words}


def _report(url: str, catalog: Catalog, identity: str, lang: str = "en") -> AccessReport:
    e = connect(url)
    try:
        graph = SubjectGraph(catalog, e)
        with e.connect() as conn:
            return access_report(conn, catalog, graph, [identity], clock=CLOCK, lang=lang)
    finally:
        e.dispose()


def _table(engine: Engine, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=engine)


def test_the_postgresql_edition_of_the_catalog_is_the_generated_one() -> None:
    require_corpus()
    assert CATALOG_PG.read_text(encoding="utf-8") == postgres_catalog(), (
        "regenerate: python tests/_chinook.py > policies/examples/chinook-postgresql.yaml"
    )


def test_catalog_fits_chinook_and_check_says_what_is_missing(chinook: tuple[str, Catalog]) -> None:
    url, catalog = chinook
    e = connect(url)
    try:
        report = check_catalog(catalog, e)
        n = _names(e)
    finally:
        e.dispose()
    assert report.errors == []
    messages = [f.message for f in report.warnings]
    # the customer record's period runs from the newest invoice (newest_of): it has one
    assert not any(f"personal table {n['Customer']!r} has no retention" in m for m in messages)
    email = [m for m in messages if m.startswith(f"{n['Customer']}.{n['Email']} has no index")]
    assert email, messages
    if url.startswith("mysql"):
        assert any("cannot index" in m and "Phone" in m for m in messages)
    else:
        assert "CREATE INDEX" in email[0] and "lower(" in email[0]


def test_a_phone_number_stored_as_typed_finds_the_customer(chinook: tuple[str, Catalog]) -> None:
    url, catalog = chinook
    customer = "customer" if url.startswith("postgresql") else "Customer"
    # the catalog's region is CA, whose international prefix is 011
    for given in ("+49 711 2842222", "+497112842222", "011 49 711 2842222"):
        report = _report(url, catalog, f"phone={given}")
        found = next(s for s in report.sections if s.name == customer)
        assert [r.key for r in found.rows] == [2], given
    upper = _report(url, catalog, f"email={LEONIE.upper()}")
    assert upper.found and upper.sections[0].rows[0].key == 2


def test_customer_report_lists_purchases_by_track_name_and_no_staff_data(
    chinook: tuple[str, Catalog],
) -> None:
    url, catalog = chinook
    report = _report(url, catalog, f"email={LEONIE}")
    e = connect(url)
    n = _names(e)
    try:
        inv, line, track = (_table(e, n[x]) for x in ("Invoice", "InvoiceLine", "Track"))
        with e.connect() as conn:
            invoices = conn.execute(
                select(func.count()).select_from(inv).where(inv.c[n["CustomerId"]] == 2)
            ).scalar()
            lines = conn.execute(
                select(line.c[n["TrackId"]], track.c[n["Name"]])
                .join(inv, inv.c[n["InvoiceId"]] == line.c[n["InvoiceId"]])
                .join(track, track.c[n["TrackId"]] == line.c[n["TrackId"]])
                .where(inv.c[n["CustomerId"]] == 2)
            ).all()
    finally:
        e.dispose()
    by_table = {s.name: s for s in report.sections}
    assert set(by_table) == {n["Customer"], n["Invoice"], n["InvoiceLine"]}
    assert by_table[n["Invoice"]].row_count == invoices
    purchased = by_table[n["InvoiceLine"]]
    assert purchased.row_count == len(lines) > 0
    col = [f.name for f in purchased.fields].index(n["TrackId"])
    shown = sorted(r.cells[col] for r in purchased.displayed)
    assert shown == sorted(name for _, name in lines)[: len(shown)] or set(shown) <= {
        name for _, name in lines
    }
    customer = by_table[n["Customer"]]
    rep_col = [f.name for f in customer.fields].index(n["SupportRepId"])
    assert customer.displayed[0].cells[rep_col] == "Sales Support Agent"
    text = json.dumps(report.to_json(), default=str)
    for staff in ("Steve", "Johnson", "steve@chinookcorp.com", "+1 (780) 836-9987"):
        assert staff not in text  # their representative's role only (Art. 15(4))


def test_employee_report_shows_own_record_and_supported_customers_only_by_reference(
    chinook: tuple[str, Catalog],
) -> None:
    url, catalog = chinook
    e = connect(url)
    n = _names(e)
    e.dispose()
    report = _report(url, catalog, f"email={JANE}")
    by_table = {s.name: s for s in report.sections}
    assert [r.key for r in by_table[n["Employee"]].rows] == [3]
    supported = by_table[n["Customer"]]
    assert supported.rows and all(set(r.values) == {n["SupportRepId"]} for r in supported.rows)
    assert all(r.parties == ["support_rep"] for r in supported.rows)
    text = json.dumps(report.to_json(), default=str)
    assert "luisg@embraer.com.br" not in text and "Gonçalves" not in text  # customer 1 is hers

    manager = _report(url, catalog, f"email={NANCY}")
    staff = next(s for s in manager.sections if s.name == n["Employee"])
    roles = {r.key: r.parties for r in staff.rows}
    assert roles == {2: ["employee"], 3: ["manager"], 4: ["manager"], 5: ["manager"]}
    assert all(set(r.values) == {n["ReportsTo"]} for r in staff.rows if r.key != 2)


def test_a_phone_number_two_employees_share_is_reported_as_ambiguous(
    chinook: tuple[str, Catalog],
) -> None:
    url, catalog = chinook
    report = _report(url, catalog, "phone=+1 (403) 262-3443")  # Nancy's and Jane's
    e = connect(url)
    n = _names(e)
    e.dispose()
    assert [(a.table, a.rows) for a in report.ambiguous] == [(n["Employee"], 2)]


def test_export_package_holds_the_customers_portable_data(
    chinook: tuple[str, Catalog], tmp_path: Path
) -> None:
    url, catalog = chinook
    e = connect(url)
    n = _names(e)
    try:
        graph = SubjectGraph(catalog, e)
        out = tmp_path / "package.zip"
        with e.connect() as conn:
            result = export_package(conn, catalog, graph, [f"email={LEONIE}"], out, clock=CLOCK)
    finally:
        e.dispose()
    with zipfile.ZipFile(out) as z:
        data = json.loads(z.read("data.json"))
        assert z.testzip() is None
    tables = {t.table: t.rows for t in result.tables}
    assert tables == {n["Customer"]: 1}
    text = json.dumps(data)
    assert "Stuttgart" in text and LEONIE in text
    assert "Sales Support Agent" not in text  # a 6(1)(f) field is not portable
    not_portable = {w.table for w in result.not_portable}
    assert n["Invoice"] in not_portable


def test_rectify_changes_exactly_one_customer(
    writable: tuple[Engine, Catalog, str],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine, catalog, path = writable
    n = _names(engine)
    monkeypatch.setenv("DSR_SECRET", "3c" * 32)
    assert main(["--database-url", db_url, "init"]) == 0
    code = main(
        [
            "--catalog",
            path,
            "--database-url",
            db_url,
            "rectify",
            f"email={LEONIE}",
            "--set",
            f"{n['Customer']}.{n['City']}=Esslingen",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    cust = _table(engine, n["Customer"])
    with engine.connect() as conn:
        cities = dict(conn.execute(select(cust.c[n["CustomerId"]], cust.c[n["City"]])).all())
    assert cities[2] == "Esslingen"
    assert sum(1 for c in cities.values() if c == "Esslingen") == 1
    assert len(cities) == 59


def test_erase_keeps_statutory_invoices_and_touches_nobody_else(
    writable: tuple[Engine, Catalog, str],
) -> None:
    engine, catalog, _ = writable
    n = _names(engine)
    cust, inv = _table(engine, n["Customer"]), _table(engine, n["Invoice"])
    with engine.connect() as conn:
        before = conn.execute(select(cust).where(cust.c[n["CustomerId"]] != 2)).all()
        invoices = conn.execute(
            select(func.count()).select_from(inv).where(inv.c[n["CustomerId"]] == 2)
        ).scalar()
    plan = erase(engine, catalog, KEYS, [f"email={LEONIE}"], clock=CLOCK)
    assert plan.applied and plan.withheld
    kept_invoices = [k for k in plan.kept if k.table == n["Invoice"]]
    assert sum(len(k.keys) for k in kept_invoices) == invoices
    # each invoice until the end of the tenth year after the year it was issued in
    assert all(k.action == "restricted" and k.until and k.until.month == 12 for k in kept_invoices)
    (customer,) = [k for k in plan.kept if k.table == n["Customer"]]
    assert customer.action == "anonymised"  # still referenced by kept invoices
    with engine.connect() as conn:
        after = conn.execute(select(cust).where(cust.c[n["CustomerId"]] != 2)).all()
        leonie: Any = conn.execute(select(cust).where(cust.c[n["CustomerId"]] == 2)).one()
    assert after == before
    assert leonie._mapping[n["Email"]] != LEONIE
    assert leonie._mapping[n["LastName"]] != "Köhler"


def test_an_erasure_by_a_phone_number_two_employees_share_is_refused_and_changes_nothing(
    writable: tuple[Engine, Catalog, str],
) -> None:
    """Jane's e-mail address with the office number she shares with Nancy: erasing would
    anonymise Nancy's record too. Refused before anything changes, nobody suppressed."""
    from dsr.errors import ErasureError
    from dsr.ledger.suppression import suppressed
    from dsr.subject.identity import parse_identities

    engine, catalog, _ = writable
    n = _names(engine)
    emp = _table(engine, n["Employee"])
    with engine.connect() as conn:
        before = conn.execute(select(emp).order_by(emp.c[n["EmployeeId"]])).all()
    ids = [f"email={JANE}", "phone=+1 (403) 262-3443"]
    with pytest.raises(ErasureError, match="may name several people"):
        erase(engine, catalog, KEYS, ids, clock=CLOCK)
    with engine.connect() as conn:
        assert conn.execute(select(emp).order_by(emp.c[n["EmployeeId"]])).all() == before
        assert suppressed(conn, KEYS, parse_identities(ids, catalog)) == []


@pytest.mark.parametrize("who", [LEONIE, JANE, NANCY, "phone=+1 (403) 262-3443"])
def test_resolve_finds_exactly_what_the_nested_statements_find(
    chinook: tuple[str, Catalog], who: str
) -> None:
    url, catalog = chinook
    ident = who if "=" in who else f"email={who}"
    e = connect(url)
    try:
        graph = SubjectGraph(catalog, e)
        with e.connect() as conn:
            record = graph.resolve(conn, [ident])
        found = {t.table.name: [r.key for r in t.rows] for t in record.tables}
        assert found == nested_rows(e, graph, [ident])
    finally:
        e.dispose()


def test_after_erasure_the_kept_invoices_are_still_reported_to_the_person(
    writable: tuple[Engine, Catalog, str],
) -> None:
    engine, catalog, _ = writable
    n = _names(engine)
    plan = erase(engine, catalog, KEYS, [f"email={LEONIE}"], clock=CLOCK)
    kept_invoices = sum(len(k.keys) for k in plan.kept if k.table == n["Invoice"])
    graph = SubjectGraph(catalog, engine)
    with engine.connect() as conn:
        # the customer row that linked the invoices to her e-mail address is anonymised
        assert graph.resolve(conn, [f"email={LEONIE}"]).empty
        report = access_report(conn, catalog, graph, [f"email={LEONIE}"], clock=CLOCK, keys=KEYS)
        other_key = access_report(
            conn, catalog, graph, [f"email={LEONIE}"], clock=CLOCK, keys=StaticKeys(b"x" * 32)
        )
    sections = {s.name: s for s in report.sections}
    invoices = sections[n["Invoice"]]
    assert invoices.row_count == kept_invoices > 0
    assert all(r.kept for r in invoices.rows)
    assert sections[n["InvoiceLine"]].row_count > 0
    doc = report.to_json()
    rows = next(r for r in doc["records"] if r["table"] == n["Invoice"])["rows"]
    assert all(r["kept_after_erasure"] for r in rows)
    assert not other_key.found  # found only under the toolkit's own key (a keyed pseudonym)


def test_a_period_that_already_ran_out_is_never_reported_as_kept_until_a_past_day(
    chinook: tuple[str, Catalog],
) -> None:
    url, catalog = chinook
    later = FixedClock(datetime(2033, 6, 1, 12, 0, tzinfo=timezone.utc))
    e = connect(url)
    try:
        graph = SubjectGraph(catalog, e)
        with e.connect() as conn:
            report = access_report(conn, catalog, graph, [f"email={LEONIE}"], clock=later)
    finally:
        e.dispose()
    invoices = next(s for s in report.sections if s.name.lower() == "invoice")
    (rule,) = invoices.retention
    # her invoices are of 2021, 2023 and 2024: kept through the end of the tenth year after
    assert rule.until_dates[0].year == 2031 and rule.until_dates[-1].year == 2034
    assert "kept until between 31 December 2033 and 31 December 2034" in rule.until
    assert "(last on 31 December 2031) are deleted at the next scheduled purge" in rule.until


def test_customers_are_kept_while_invoices_are_and_go_after_the_last_one(
    writable: tuple[Engine, Catalog, str],
) -> None:
    from dsr.retention.purge import purge

    engine, catalog, _ = writable
    n = _names(engine)
    # 2030: three years after every customer's last purchase (2021-2025), but the invoices
    # are kept ten years and still point at them
    early = purge(
        engine, catalog, KEYS, dry_run=True, as_of=datetime(2030, 6, 1, tzinfo=timezone.utc)
    )
    step = next(s for s in early.plan.steps if s.table == n["Customer"])
    assert (step.rows, step.withheld) == (0, 59)
    assert [w.reason for w in step.reasons] == [f"referenced by {n['Invoice']}"]
    # 2026: nobody's period has run out yet
    now = purge(engine, catalog, KEYS, dry_run=True, as_of=CLOCK.now())
    step = next(s for s in now.plan.steps if s.table == n["Customer"])
    assert (step.rows, step.withheld) == (0, 0)
    # 2036: the last invoices (2025) have gone, and with them what kept the customers
    late = purge(engine, catalog, KEYS, as_of=datetime(2036, 1, 2, 12, tzinfo=timezone.utc))
    done = {s.table: s.done for s in late.plan.steps}
    assert done[n["Invoice"]] == 412 and done[n["Customer"]] == 59
    cust = _table(engine, n["Customer"])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cust)).scalar() == 0


def test_the_customers_storage_period_is_told_from_their_last_purchase(
    chinook: tuple[str, Catalog],
) -> None:
    url, catalog = chinook
    report = _report(url, catalog, f"email={LEONIE}")
    customer = next(s for s in report.sections if s.name.lower() == "customer")
    (rule,) = customer.retention
    assert rule.period == "3 years"
    assert "latest Invoice date in “Invoices”" in rule.anchor


def test_a_table_without_a_storage_period_says_so_instead_of_an_empty_table(
    chinook: tuple[str, Catalog],
) -> None:
    from dsr.render.html import render_html

    url, catalog = chinook
    report = _report(url, catalog, f"email={JANE}")  # staff records carry no retention rule
    staff = next(s for s in report.sections if s.name.lower() == "employee")
    assert staff.retention == []
    html = render_html(report)
    assert "No storage period is stated for these data yet" in html
