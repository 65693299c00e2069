"""The subject graph on a schema of real-world shapes (tests/_shop.py), on every engine.

Keys the database guarantees (composite, unique constraints, none), rows the person's rows
point at (shared addresses), several e-mail columns, custom identities, phone numbers as
people type them, a self-referencing staff table, and identities that cannot name a crowd.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import _shop as shop
import pytest
from _graph import nested_rows
from sqlalchemy import Engine, func, select, text

from dsr.catalog.check import check_catalog
from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.clock import FixedClock
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.errors import LedgerError, SchemaMismatch, SubjectError
from dsr.ledger.migrate import create_ledger
from dsr.retention.purge import purge
from dsr.rights.access import access_report
from dsr.rights.erase import erase
from dsr.rights.rectify import rectify
from dsr.subject.graph import SubjectGraph, SubjectRecord

KEYS = StaticKeys(b"s" * 32)
CLOCK = FixedClock(datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc))
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = connect(db_url)
    shop.seed(e)
    create_ledger(e)
    yield e
    e.dispose()


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(shop.CATALOG, encoding="utf-8")
    return path


@pytest.fixture
def catalog(catalog_path: Path) -> Catalog:
    return load_catalog(catalog_path)


@pytest.fixture
def erasable(tmp_path: Path) -> Catalog:
    path = tmp_path / "erasable.yaml"
    path.write_text(shop.CATALOG_ERASABLE, encoding="utf-8")
    return load_catalog(path)


def _resolve(engine: Engine, catalog: Catalog, ids: list[str]) -> SubjectRecord:
    with engine.connect() as conn:
        return SubjectGraph(catalog, engine).resolve(conn, ids)


def _rows(record: SubjectRecord) -> dict[str, list[Any]]:
    return {t.table.name: [r.key for r in t.rows] for t in record.tables}


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())


# -- keys --------------------------------------------------------------------------------------


def test_a_catalog_key_the_database_does_not_guarantee_is_refused_with_file_and_line(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = shop.CATALOG.replace(
        "    title: Customers\n    primary_key: id",
        "    title: Customers\n    primary_key: last_name",
    )
    path = tmp_path / "wrong.yaml"
    path.write_text(wrong, encoding="utf-8")
    line = wrong.splitlines().index("    primary_key: last_name") + 1
    with pytest.raises(SchemaMismatch) as err:
        SubjectGraph(load_catalog(path), engine)
    assert f"{path}:{line}: tables.customer.primary_key" in str(err.value)
    assert "is not unique in the database" in str(err.value)

    monkeypatch.setenv("DSR_SECRET", "5a" * 32)
    before = _snapshot(engine)
    for argv in (
        ["rectify", f"email={shop.ANNA}", "--set", "customer.last_name=Bergmann"],
        ["erase", f"email={shop.ANNA}"],
    ):
        code = main(["--catalog", str(path), "--database-url", db_url, *argv])
        err_text = capsys.readouterr().err
        assert code == 1, err_text
        assert f"{path}:{line}" in err_text and "Traceback" not in err_text
        assert shop.ANNA not in err_text
    assert _snapshot(engine) == before


def _snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as conn:
        for t in shop.md.sorted_tables:
            out[t.name] = sorted(tuple(str(v) for v in r) for r in conn.execute(select(t)).all())
    return out


def test_keys_are_taken_from_the_database_when_the_catalog_names_none(
    engine: Engine, catalog: Catalog
) -> None:
    bound = SubjectGraph(catalog, engine).catalog
    assert bound.tables["address"].key == ("id",)
    assert bound.tables["order_item"].key == ("order_id", "item_no")
    assert bound.tables["visit"].key == ("email", "last_visit")  # a unique constraint
    assert bound.tables["newsletter_log"].key == ()


def test_composite_key_rows_are_all_reported_and_all_erased(
    engine: Engine, catalog: Catalog, erasable: Catalog
) -> None:
    rows = _rows(_resolve(engine, catalog, [f"email={shop.ANNA}"]))
    # four items in two orders; merging by order id would report two
    assert sorted(rows["order_item"]) == [(100, 1), (100, 2), (101, 1), (101, 2)]
    assert len(rows["visit"]) == 2

    plan = erase(engine, erasable, KEYS, [f"email={shop.ANNA}"], clock=CLOCK)
    assert plan.applied
    assert _count(engine, shop.order_item, shop.order_item.c.order_id.in_([100, 101])) == 0
    assert _count(engine, shop.order_item) == 1  # Ben's item stays
    assert _count(engine, shop.visit, shop.visit.c.email == shop.ANNA) == 0
    assert _count(engine, shop.visit) == 1


def test_a_table_without_any_key_is_read_but_never_changed(
    engine: Engine,
    catalog: Catalog,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    catalog_path: Path,
) -> None:
    record = _resolve(engine, catalog, [f"email={shop.ANNA}"])
    log = next(t for t in record.tables if t.table.name == "newsletter_log")
    assert len(log.rows) == 2  # two identical dispatch rows, both reported

    monkeypatch.setenv("DSR_SECRET", "5a" * 32)
    before = _snapshot(engine)
    code = main(
        ["--catalog", str(catalog_path), "--database-url", db_url, "erase", f"email={shop.ANNA}"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "newsletter_log" in err and "no primary key or unique constraint" in err
    assert shop.ANNA not in err
    assert _snapshot(engine) == before


# -- links both ways ---------------------------------------------------------------------------


def test_addresses_the_persons_rows_point_at_are_theirs_and_a_shared_one_is_each_ones(
    engine: Engine, catalog: Catalog
) -> None:
    anna = _rows(_resolve(engine, catalog, [f"email={shop.ANNA}"]))
    # home (customer), shipping (orders 100 and 101) and billing (payment card) addresses
    assert anna["address"] == [shop.SHARED_ADDRESS, 11, 12]
    carl = _rows(_resolve(engine, catalog, [f"email={shop.CARL}"]))
    assert carl["address"] == [shop.SHARED_ADDRESS]  # the home address he shares with Anna
    ben = _rows(_resolve(engine, catalog, [f"email={shop.BEN}"]))
    assert ben["address"] == [13]


def test_access_report_shows_the_shared_address_to_each_and_nobody_elses(
    engine: Engine, catalog: Catalog
) -> None:
    graph = SubjectGraph(catalog, engine)
    with engine.connect() as conn:
        carl = access_report(conn, catalog, graph, [f"email={shop.CARL}"], clock=CLOCK)
        ben = access_report(conn, catalog, graph, [f"email={shop.BEN}"], clock=CLOCK)
    streets = {
        name: [r.values.get("street") for s in rep.sections if s.name == "address" for r in s.rows]
        for name, rep in (("carl", carl), ("ben", ben))
    }
    assert streets == {"carl": ["Lindenweg 4"], "ben": ["Hauptstr. 9"]}
    assert "Packstation 101" not in json.dumps(carl.to_json(), default=str)


def test_erasing_one_resident_leaves_the_shared_address_of_the_other_intact(
    engine: Engine, catalog: Catalog, erasable: Catalog
) -> None:
    plan = erase(engine, erasable, KEYS, [f"email={shop.ANNA}"], clock=CLOCK)
    with engine.connect() as conn:
        shared = conn.execute(
            select(shop.address).where(shop.address.c.id == shop.SHARED_ADDRESS)
        ).one()
        remaining = set(conn.execute(select(shop.address.c.id)).scalars())
    assert shared.street == "Lindenweg 4" and shared.city == "Dresden"
    assert remaining == {shop.SHARED_ADDRESS, 13}  # Anna's own shipping and billing gone
    kept = {k.table: k for k in plan.kept}
    assert kept["address"].action == "kept" and "another" in kept["address"].reason
    carl = _rows(_resolve(engine, catalog, [f"email={shop.CARL}"]))
    assert carl["address"] == [shop.SHARED_ADDRESS]


def test_staff_hierarchy_a_manager_sees_whom_they_manage_only_by_the_reference(
    engine: Engine, catalog: Catalog
) -> None:
    record = _resolve(engine, catalog, [f"email={shop.MIA}"])
    staff = next(t for t in record.tables if t.table.name == "employee")
    by_key = {r.key: r for r in staff.rows}
    assert set(by_key) == {1, 2}
    assert by_key[1].parties == {"employee"}
    assert by_key[2].parties == {"manager"}
    assert set(by_key[2].values) == {"manager_id"}  # not Tom's name or e-mail (Art. 15(4))

    tom = _rows(_resolve(engine, catalog, [f"email={shop.TOM}"]))
    assert tom["service_request"] == [1]
    tom_rec = _resolve(engine, catalog, [f"email={shop.TOM}"])
    req = next(t for t in tom_rec.tables if t.table.name == "service_request").rows[0]
    assert set(req.values) == {"handled_by"}  # not the customer's complaint


# -- identities ------------------------------------------------------------------------------


def test_second_email_column_and_custom_identity_find_the_person(
    engine: Engine, catalog: Catalog
) -> None:
    by_main = _rows(_resolve(engine, catalog, [f"email={shop.ANNA}"]))
    by_alt = _rows(_resolve(engine, catalog, [f"email={shop.ANNA_ALT.upper()}"]))
    by_loyalty = _rows(_resolve(engine, catalog, ["loyalty_id=loy-7781"]))
    assert by_alt["customer"] == by_main["customer"] == by_loyalty["customer"] == [1]
    assert by_loyalty["order_item"] == by_main["order_item"]
    with pytest.raises(SubjectError, match="pattern"):
        _resolve(engine, catalog, ["loyalty_id=7781"])
    with pytest.raises(SubjectError, match="unknown identity type 'membership'"):
        _resolve(engine, catalog, ["membership=1"])


@pytest.mark.parametrize(
    "given",
    [
        "+493511234567",
        "+49 351 1234567",
        "0351 1234567",
        "0049 (351) 123 45 67",
        "+49 (0)351 123-4567",
        "(0351) 123-4567",
    ],
)
def test_a_formatted_phone_number_matches_the_same_number_in_any_common_format(
    engine: Engine, catalog: Catalog, given: str
) -> None:
    assert _rows(_resolve(engine, catalog, [f"phone={given}"]))["customer"] == [1]


def test_a_foreign_number_stored_formatted_matches_in_e164_and_national_forms(
    engine: Engine, catalog: Catalog
) -> None:
    for given in ("+16506443358", "001 650 644 3358", "+1 650-644-3358"):
        assert _rows(_resolve(engine, catalog, [f"phone={given}"]))["customer"] == [3]
    assert _rows(_resolve(engine, catalog, ["phone=+49 351 9876543"]))["customer"] == [2]
    assert _resolve(engine, catalog, ["phone=+49 351 7654321"]).empty


def test_an_address_anonymisation_leaves_behind_is_no_identity(
    engine: Engine, catalog_path: Path
) -> None:
    truncating = shop.CATALOG.replace(
        "      ip: {party: customer, category: usage, format: ip}",
        "      ip: {party: customer, category: usage, format: ip}\n    retention: ip_week",
    ) + (
        "retention:\n  ip_week:\n    period: 7 days\n    anchor: {column: ts}\n"
        "    action: anonymise\n    anonymise: {ip: truncate_ip}\n"
        "    legal_reference: Art. 5(1)(e) GDPR\n"
    )
    catalog_path.write_text(truncating, encoding="utf-8")
    catalog = load_catalog(catalog_path)
    catalog = _with_ip_identity(catalog)
    assert _rows(_resolve(engine, catalog, ["ip=198.51.100.7"]))["login"] == [1]
    for crowd in ("ip=198.51.100.0", "ip=2001:db8:1::"):
        with pytest.raises(SubjectError, match="identifies no one"):
            _resolve(engine, catalog, [crowd])
    with pytest.raises(SubjectError, match="placeholder"):
        _resolve(engine, catalog, ["loyalty_id=erased-17"])


def _with_ip_identity(catalog: Catalog) -> Catalog:
    import dataclasses

    t = catalog.tables["login"]
    visitor = dataclasses.replace(
        t.parties["customer"], name="visitor", identities={"ip": ("ip",)}, via=()
    )
    fields = {
        n: dataclasses.replace(f, parties=(*f.parties, "visitor")) for n, f in t.fields.items()
    }
    tables = dict(catalog.tables)
    tables["login"] = dataclasses.replace(
        t, parties={**t.parties, "visitor": visitor}, fields=fields
    )
    return dataclasses.replace(catalog, tables=tables)


def test_an_identity_matching_several_people_where_one_is_expected_is_reported(
    engine: Engine, catalog: Catalog
) -> None:
    with engine.begin() as conn:
        conn.execute(
            shop.customer.update().where(shop.customer.c.id == 2).values(alt_email=shop.ANNA)
        )
    record = _resolve(engine, catalog, [f"email={shop.ANNA}"])
    assert [(a.table, a.party, a.rows) for a in record.ambiguous] == [("customer", "customer", 2)]
    graph = SubjectGraph(catalog, engine)
    with engine.connect() as conn:
        report = access_report(conn, catalog, graph, [f"email={shop.ANNA}"], clock=CLOCK)
    assert report.to_json()["ambiguous"] == [{"table": "customer", "party": "customer", "rows": 2}]


def test_rectify_changes_exactly_the_persons_row(engine: Engine, catalog: Catalog) -> None:
    plan = rectify(
        engine,
        catalog,
        KEYS,
        [f"email={shop.CARL}"],
        ["customer.last_name=Vogt-Meyer"],
        clock=CLOCK,
    )
    assert plan.applied
    with engine.connect() as conn:
        names = dict(conn.execute(select(shop.customer.c.id, shop.customer.c.last_name)).all())
    assert names == {1: "Berger", 2: "Krause", 3: "Vogt-Meyer"}


# -- indexes -----------------------------------------------------------------------------------


def test_catalog_check_names_every_lookup_without_an_index_and_its_statement_works(
    engine: Engine, catalog: Catalog
) -> None:
    report = check_catalog(catalog, engine)
    assert report.errors == []
    missing = [f for f in report.warnings if "has no index" in f.message]
    columns = {f.message.split(" has no index")[0] for f in missing}
    expected = {
        "customer.email",
        "customer.alt_email",
        "customer.phone",
        "employee.email",
        "newsletter_log.email",
    }
    if engine.dialect.name != "mysql":
        # compared lower-cased: a plain (or unique) index on the column does not serve
        expected |= {"visit.email", "customer.loyalty_id"}
        # InnoDB indexes foreign key columns itself; SQLite and PostgreSQL do not
        expected |= {
            "orders.customer_id",
            "payment_card.customer_id",
            "login.customer_id",
            "employee.manager_id",
            "service_request.customer_id",
            "service_request.handled_by",
            # asked before an address is deleted: does anyone else still point at it?
            "customer.address_id",
            "orders.shipping_address_id",
            "payment_card.billing_address_id",
        }
    assert columns == expected
    statements = [f.message.split("Create one: ")[1] for f in missing if "Create one" in f.message]
    with engine.begin() as conn:
        for stmt in statements:
            conn.execute(text(stmt))
    again = check_catalog(catalog, engine)
    left = [f for f in again.warnings if "has no index" in f.message]
    assert all("cannot index" in f.message for f in left), left
    assert {f.message.split(" has no index")[0] for f in left} == (
        {"customer.phone"} if engine.dialect.name == "mysql" else set()
    )


# -- the lookup passes values on; the nested statements other services use agree -------------


@pytest.mark.parametrize("who", [shop.ANNA, shop.BEN, shop.CARL, shop.MIA, shop.TOM])
def test_resolve_finds_exactly_what_the_nested_statements_find(
    engine: Engine, catalog: Catalog, who: str
) -> None:
    graph = SubjectGraph(catalog, engine)
    with engine.connect() as conn:
        record = graph.resolve(conn, [f"email={who}"])
    found = {k: v for k, v in _rows(record).items() if not graph.catalog.tables[k].keyless}
    assert found == nested_rows(engine, graph, [f"email={who}"])


def test_a_person_with_more_rows_than_one_in_list_takes_is_found_in_full(
    engine: Engine, catalog: Catalog
) -> None:
    # Ben places 600 orders to 600 addresses: more values than one IN list carries, so the
    # address lookup nests the orders' condition instead
    with engine.begin() as conn:
        conn.execute(
            shop.address.insert(),
            [
                {
                    "id": 1000 + i,
                    "street": f"Weg {i}",
                    "city": "Pirna",
                    "postcode": "01796",
                    "country": "DE",
                }
                for i in range(600)
            ],
        )
        conn.execute(
            shop.orders.insert(),
            [
                {
                    "id": 1000 + i,
                    "customer_id": 2,
                    "shipping_address_id": 1000 + i,
                    "placed_at": shop.T0,
                    "total": 1,
                }
                for i in range(600)
            ],
        )
    graph = SubjectGraph(catalog, engine)
    with engine.connect() as conn:
        record = graph.resolve(conn, [f"email={shop.BEN}"])
    rows = _rows(record)
    assert len(rows["orders"]) == 601
    assert rows["address"] == [13, *range(1000, 1600)]
    assert rows == {
        **nested_rows(engine, graph, [f"email={shop.BEN}"]),
        "newsletter_log": rows["newsletter_log"],
    }


# -- errors: one line, no traceback, no personal data, nothing changed -------------------------

TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER frozen BEFORE DELETE ON login BEGIN SELECT RAISE(ABORT, 'frozen'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION frozen() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'frozen: %% %%', OLD.ip, OLD.customer_id; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER frozen BEFORE DELETE ON login FOR EACH ROW EXECUTE FUNCTION frozen()",
    ],
    "mysql": [
        "CREATE TRIGGER frozen BEFORE DELETE ON login FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'frozen'"
    ],
}


def test_a_trigger_that_raises_mid_erasure_changes_nothing_and_prints_one_clean_line(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "erasable.yaml"
    path.write_text(shop.CATALOG_ERASABLE, encoding="utf-8")
    monkeypatch.setenv("DSR_SECRET", "5a" * 32)
    assert main(["--catalog", str(path), "--database-url", db_url, "init"]) == 0
    with engine.begin() as conn:
        for stmt in TRIGGERS[engine.dialect.name]:
            conn.exec_driver_sql(stmt)
    capsys.readouterr()
    before = _snapshot(engine)
    with engine.connect() as conn:
        audit_before = conn.exec_driver_sql("SELECT count(*) FROM dsr_audit").scalar()
    code = main(["--catalog", str(path), "--database-url", db_url, "erase", f"email={shop.ANNA}"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("dsr: error: the database refused a DELETE")
    assert "login" in err and "Traceback" not in err
    for secret in (shop.ANNA, "198.51.100.7", "parameters", "'keys'"):
        assert secret not in err
    assert _snapshot(engine) == before
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM dsr_audit").scalar() == audit_before


def test_an_unreachable_database_is_one_line_naming_no_one(
    capsys: pytest.CaptureFixture[str], catalog_path: Path
) -> None:
    code = main(
        [
            "--catalog",
            str(catalog_path),
            "--database-url",
            "postgresql+psycopg://postgres@127.0.0.1:1/none",
            "access",
            f"email={shop.ANNA}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("dsr: error: cannot reach the database") and err.count("\n") == 1
    assert shop.ANNA not in err


# -- erasure: every row in exactly one of erased or kept --------------------------------------

EXTRA = """\
  agreement:
    title: Agreement acceptances
    purpose: shop
    evidence: true
    retention: evidence
    links:
      customer: {column: customer_id, table: customer}
      attester: {column: attested_by, table: employee}
    parties:
      signer: {title: Person who accepted, via: {link: customer, party: customer}}
      attester:
        title: Staff member who attested the acceptance
        erase: keep
        via: {link: attester, party: employee}
    fields:
      accepted_at: {party: signer, category: orders, format: datetime}
      attested_by: {party: [signer, attester], category: staff, erase: keep}
  points:
    title: Loyalty points
    purpose: shop
    links:
      customer: {column: customer_id, table: customer}
    parties:
      holder: {title: Points holder, erase: clear_fields, via: {link: customer, party: customer}}
    fields:
      balance: {party: holder, category: orders}
retention:
  evidence:
    period: 10 years
    anchor: {column: accepted_at, end_of_year: true}
    action: delete
    statutory: true
    legal_reference: § 257 HGB
"""


@pytest.fixture
def with_extra(engine: Engine, tmp_path: Path) -> Catalog:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE agreement (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL "
            "REFERENCES customer (id), attested_by INTEGER REFERENCES employee (id), "
            "accepted_at TIMESTAMP NOT NULL)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE points (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL "
            "REFERENCES customer (id), balance INTEGER NOT NULL)"
        )
        conn.exec_driver_sql("INSERT INTO agreement VALUES (1, 1, 2, '2026-03-01 10:00:00')")
        conn.exec_driver_sql("INSERT INTO points VALUES (1, 1, 120)")
    path = tmp_path / "extra.yaml"
    path.write_text(shop.CATALOG_ERASABLE + EXTRA, encoding="utf-8")
    return load_catalog(path)


def _marks(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT row_key FROM dsr_restrictions WHERE table_name = %s"
                % ("?" if engine.dialect.paramstyle == "qmark" else "%s"),
                (table,),
            )
        ]


def test_erasing_someone_only_referenced_on_an_evidence_row_restricts_nothing_of_it(
    engine: Engine, with_extra: Catalog
) -> None:
    plan = erase(engine, with_extra, KEYS, [f"email={shop.TOM}"], clock=CLOCK)
    kept = [k for k in plan.kept if k.table == "agreement"]
    assert [(k.action, k.keys) for k in kept] == [("kept", [1])]
    assert _marks(engine, "agreement") == []  # Anna's acceptance is not Tom's to restrict
    plan = erase(engine, with_extra, KEYS, [f"email={shop.ANNA}"], clock=CLOCK)
    (signed,) = [k for k in plan.kept if k.table == "agreement"]
    assert signed.action == "restricted" and signed.until is not None
    assert _marks(engine, "agreement") == ["1"]


def test_a_row_with_nothing_clearable_is_reported_kept_not_silently_dropped(
    engine: Engine, with_extra: Catalog
) -> None:
    plan = erase(engine, with_extra, KEYS, [f"email={shop.ANNA}"], clock=CLOCK, dry_run=True)
    (points,) = [k for k in plan.kept if k.table == "points"]
    assert points.action == "kept" and "can be cleared" in points.reason
    assert not [e for e in plan.erased() if e["table"] == "points"]


# -- the purge after an erasure ----------------------------------------------------------------


def test_an_erasure_kept_record_is_purged_when_its_retention_ends_and_its_mark_goes(
    engine: Engine, with_extra: Catalog
) -> None:
    erase(engine, with_extra, KEYS, [f"email={shop.ANNA}"], clock=CLOCK)
    assert _marks(engine, "agreement") == ["1"]  # kept (statutory) until 2036-12-31
    on_last_day = purge(engine, with_extra, KEYS, as_of=datetime(2036, 12, 31, 12, tzinfo=BERLIN))
    assert _count(engine, text("agreement")) == 1 and on_last_day.restrictions_ended == 0
    after = purge(engine, with_extra, KEYS, as_of=datetime(2037, 1, 1, 0, 30, tzinfo=BERLIN))
    step = next(s for s in after.plan.steps if s.table == "agreement")
    assert (step.done, step.withheld) == (1, 0)
    assert _count(engine, text("agreement")) == 0
    assert _marks(engine, "agreement") == [] and after.restrictions_ended == 1
    with engine.connect() as conn:
        left = conn.exec_driver_sql(
            "SELECT count(*) FROM dsr_kept WHERE table_name = 'agreement'"
        ).scalar()
    assert left == 0  # the ledger forgets the row with the row


def test_a_purge_dry_run_needs_no_ledger_and_changes_nothing_not_even_the_schema(
    db_url: str, with_extra: Catalog
) -> None:
    from sqlalchemy import inspect

    bare = connect(db_url)
    try:
        _drop_ledger(bare)
        before = sorted(inspect(bare).get_table_names())
        assert not any(t.startswith("dsr_") for t in before)
        report = purge(
            bare, with_extra, KEYS, dry_run=True, as_of=datetime(2040, 1, 1, tzinfo=BERLIN)
        )
        assert next(s for s in report.plan.steps if s.table == "agreement").rows == 1
        with pytest.raises(LedgerError, match="run 'dsr init' first"):
            purge(bare, with_extra, KEYS, as_of=datetime(2040, 1, 1, tzinfo=BERLIN))
        bare.dispose()
        assert sorted(inspect(bare).get_table_names()) == before
    finally:
        bare.dispose()


def _drop_ledger(engine: Engine) -> None:
    from dsr.ledger.migrate import schema_version
    from dsr.ledger.tables import ledger_metadata

    ledger_metadata.drop_all(engine)
    schema_version.drop(engine)


def test_purged_rows_leave_no_trace_in_the_sqlite_wal_while_another_connection_is_open(
    tmp_path: Path, catalog_path: Path
) -> None:
    # SQLite only: the write-ahead log file is SQLite's
    engine = connect(f"sqlite:///{tmp_path}/wal.db")
    shop.seed(engine)
    create_ledger(engine)
    text_ = shop.CATALOG_ERASABLE.replace(
        "      ip: {party: customer, category: usage, format: ip}",
        "      ip: {party: customer, category: usage, format: ip}\n    retention: logins",
    ) + (
        "retention:\n  logins:\n    period: 30 days\n    anchor: {column: ts}\n"
        "    action: delete\n    legal_reference: Art. 5(1)(e) GDPR\n"
    )
    catalog_path.write_text(text_, encoding="utf-8")
    catalog = load_catalog(catalog_path)
    other = engine.connect()  # an application's idle connection
    try:
        purge(engine, catalog, KEYS, as_of=datetime(2026, 12, 1, tzinfo=BERLIN))
        db = Path(str(engine.url.database))
        wal = db.with_name(db.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert b"198.51.100.7" not in db.read_bytes()
    finally:
        other.close()
        engine.dispose()


STORES = """\
controller: {name: Verleih GmbH, address: "Weg 1, Dresden", email: p@example.com}
dpo: {name: DPO, email: dpo@example.com}
supervisory_authority: {name: SDTB}
categories: {staff: Staff data}
purposes: {staff: {title: Employment, legal_basis: "6(1)(b)"}}
retention:
  staff_records:
    period: 1 year
    anchor: {column: left_at}
    action: delete
    legal_reference: Art. 5(1)(e) GDPR
tables:
  staff:
    title: Staff
    purpose: staff
    retention: staff_records
    parties:
      member: {title: Staff member, identities: {email: email}}
    fields:
      email: {party: member, category: staff, format: email}
      left_at: {party: member, category: staff, format: datetime}
  store:
    title: Stores
    personal: false
    links:
      manager: {column: manager_id, table: staff}
"""


def _stores(engine: Engine, tmp_path: Path, staff_rows: str) -> Catalog:
    """Staff and a store whose manager link has no foreign key; store 10 is managed by 1."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE staff (id INTEGER PRIMARY KEY, "
            "email VARCHAR(80) NOT NULL, left_at TIMESTAMP)"
        )
        conn.exec_driver_sql("CREATE TABLE store (id INTEGER PRIMARY KEY, manager_id INTEGER)")
        conn.exec_driver_sql(f"INSERT INTO staff VALUES {staff_rows}")
        conn.exec_driver_sql("INSERT INTO store VALUES (10, 1)")
    path = tmp_path / "stores.yaml"
    path.write_text(STORES, encoding="utf-8")
    create_ledger(engine)
    return load_catalog(path)


def test_a_purge_protects_rows_a_catalog_link_points_at_without_a_foreign_key(
    db_url: str, tmp_path: Path
) -> None:
    engine = connect(db_url)
    try:
        catalog = _stores(
            engine,
            tmp_path,
            "(1, 'a@example.com', '2020-01-01 00:00:00'), "
            "(2, 'b@example.com', '2020-01-01 00:00:00')",
        )
        report = purge(engine, catalog, KEYS, as_of=datetime(2026, 1, 1, tzinfo=BERLIN))
        (step,) = report.plan.steps
        assert (step.done, step.withheld) == (1, 1)
        assert [w.reason for w in step.reasons] == ["referenced by store"]
        with engine.connect() as conn:
            assert [r[0] for r in conn.exec_driver_sql("SELECT id FROM staff")] == [1]
    finally:
        engine.dispose()


def test_erasure_keeps_a_row_a_catalog_link_points_at_without_a_foreign_key(
    db_url: str, tmp_path: Path
) -> None:
    engine = connect(db_url)
    try:
        catalog = _stores(engine, tmp_path, "(1, 'a@example.com', NULL)")
        plan = erase(engine, catalog, KEYS, ["email=a@example.com"], clock=CLOCK)
        (kept,) = plan.kept
        assert kept.action == "anonymised" and "store.manager_id" in kept.reason
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT email FROM staff").scalar() != "a@example.com"
            assert conn.exec_driver_sql("SELECT manager_id FROM store").scalar() == 1
    finally:
        engine.dispose()
