"""The subject graph finds exactly the rows about a person, and only their party's fields."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import insert

from dsr.catalog.loader import load_catalog
from dsr.db import connect
from dsr.demo import schema as s
from dsr.errors import SchemaMismatch, SubjectError
from dsr.subject.graph import SubjectGraph
from dsr.subject.identity import parse_identity

NOW = datetime(2025, 3, 2, 10, 0)


def _seed(engine) -> None:  # type: ignore[no-untyped-def]
    s.metadata.create_all(engine)
    with engine.begin() as c:
        c.execute(
            insert(s.partners).values(
                id=1,
                company_name="Partner GmbH",
                street="Weg 1",
                postal_code="04109",
                city="Leipzig",
                country="DE",
                region="SN",
                employee_count=5,
                pc_count=5,
                currency="EUR",
                inquiry_email="info@partner.example",
                registered_at=NOW,
            )
        )
        c.execute(
            insert(s.user_accounts).values(
                id=1,
                partner_id=1,
                first_name="Erik",
                last_name="Employee",
                email="Erik.Employee@Partner.example",
                password_hash="$argon2id$secret",
                created_at=NOW,
            )
        )
        c.execute(
            insert(s.customers).values(
                id=17,
                partner_id=1,
                company_name="Kunde AG",
                street="Str 2",
                postal_code="01067",
                city="Dresden",
                country="DE",
                region="SN",
                markup_percent=5,
                credit_limit_eur=1000,
                contact_first_name="Clara",
                contact_last_name="Contactperson",
                contact_email="clara@kunde.example",
                contact_phone="+4935112345",
                created_by=1,
                created_at=NOW,
            )
        )
        c.execute(
            insert(s.usage_log).values(
                ts=NOW,
                ip="198.51.100.23",
                file_name="/login",
                bytes_sent=10,
                status=200,
                user_account_id=1,
            )
        )
        c.execute(
            insert(s.usage_log).values(
                ts=NOW, ip="203.0.113.9", file_name="/", bytes_sent=10, status=200
            )
        )


@pytest.fixture
def graph_and_engine(db_url):  # type: ignore[no-untyped-def]
    engine = connect(db_url)
    _seed(engine)
    yield SubjectGraph(load_catalog(), engine), engine
    engine.dispose()


def test_employee_sees_that_they_created_a_customer_but_not_the_contact(graph_and_engine) -> None:  # type: ignore[no-untyped-def]
    graph, engine = graph_and_engine
    with engine.connect() as conn:
        record = graph.resolve(conn, ["erik.employee@partner.example"])  # other case than stored
    by_table = {t.table.name: t for t in record.tables}
    assert set(by_table) == {"user_accounts", "customers", "usage_log"}
    customer = by_table["customers"].rows[0]
    assert customer.key == 17
    assert customer.parties == {"creator"}
    assert customer.values["created_at"] == NOW
    values = " ".join(str(v) for v in customer.values.values())
    assert "Clara" not in values and "clara@kunde.example" not in values
    log = by_table["usage_log"].rows
    assert [r.values["file_name"] for r in log] == ["/login"]  # not the anonymous visitor's row


def test_contact_person_found_by_phone_sees_own_fields(graph_and_engine) -> None:  # type: ignore[no-untyped-def]
    graph, engine = graph_and_engine
    with engine.connect() as conn:
        record = graph.resolve(conn, ["phone=+49 351 12345"])
    assert [t.table.name for t in record.tables] == ["customers"]
    row = record.tables[0].rows[0]
    assert row.values["contact_last_name"] == "Contactperson"
    assert "created_by" not in row.values  # the creating employee belongs to another party


def test_unknown_person_is_an_empty_record_not_an_error(graph_and_engine) -> None:  # type: ignore[no-untyped-def]
    graph, engine = graph_and_engine
    with engine.connect() as conn:
        record = graph.resolve(conn, ["nobody@nowhere.example"])
    assert record.empty and record.row_count == 0


def test_ip_identity_finds_visitor_rows(graph_and_engine) -> None:  # type: ignore[no-untyped-def]
    graph, engine = graph_and_engine
    with engine.connect() as conn:
        record = graph.resolve(conn, ["ip=203.0.113.9"])
    assert [(t.table.name, len(t.rows)) for t in record.tables] == [("usage_log", 1)]


def test_missing_column_is_a_schema_mismatch_naming_table_and_column(db_url) -> None:  # type: ignore[no-untyped-def]
    engine = connect(db_url)
    _seed(engine)
    with engine.begin() as c:
        c.exec_driver_sql("ALTER TABLE newsletter_subscriptions DROP COLUMN topics")
    with pytest.raises(SchemaMismatch) as err:
        SubjectGraph(load_catalog(), engine)
    assert "topics" in str(err.value) and "newsletter_subscriptions" in str(err.value)
    assert "comparex.yaml:" in str(err.value)
    engine.dispose()


@pytest.mark.parametrize("bad", ["fax=123", "justtext", "email=not-an-email", "ip=999.1.1.1"])
def test_bad_identity_is_a_clear_error_without_the_value(bad: str) -> None:
    with pytest.raises(SubjectError) as err:
        parse_identity(bad)
    assert bad.split("=")[-1] not in str(err.value) or bad == "justtext"


def test_shared_ip_does_not_disclose_rows_attributed_to_another_account(graph_and_engine) -> None:  # type: ignore[no-untyped-def]
    """Art. 15(4): a log row with the visitor's IP but another user's account is not theirs."""
    graph, engine = graph_and_engine
    with engine.connect() as conn:
        record = graph.resolve(conn, ["ip=198.51.100.23"])  # only used by account 1's session
    assert record.empty
    with engine.connect() as conn:
        both = graph.resolve(conn, ["ip=198.51.100.23", "erik.employee@partner.example"])
    log = {t.table.name: t for t in both.tables}["usage_log"].rows
    assert [r.parties for r in log] == [{"account_holder"}]
