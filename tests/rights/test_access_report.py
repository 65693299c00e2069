"""The Art. 15 view model and its JSON form: the right rows, the right texts, nothing more."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import yaml
from sqlalchemy import Engine, select

from dsr._resources import resource_path
from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog
from dsr.clock import FixedClock
from dsr.db import connect
from dsr.demo import schema as s
from dsr.demo.data import DemoPeople, populate
from dsr.i18n import texts, value_text
from dsr.ledger.migrate import create_ledger
from dsr.render import render_html, render_json
from dsr.rights.access import AccessReport, access_report
from dsr.subject.graph import SubjectGraph

NOW = datetime(2026, 11, 25, 9, 0)
CLOCK = FixedClock(datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc))
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "access-report.schema.json").read_text()
)


@dataclass
class Demo:
    engine: Engine
    people: DemoPeople
    catalog: Catalog
    graph: SubjectGraph

    def report(self, identities: list[str], lang: str = "en") -> AccessReport:
        with self.engine.connect() as conn:
            return access_report(conn, self.catalog, self.graph, identities, lang=lang, clock=CLOCK)


@pytest.fixture(scope="module")
def demo(module_db_url: str) -> Iterator[Demo]:
    engine = connect(module_db_url)
    people = populate(engine, scale=1, now=NOW)
    catalog = load_catalog()
    yield Demo(engine, people, catalog, SubjectGraph(catalog, engine))
    engine.dispose()


def _json(report: AccessReport) -> dict:  # type: ignore[type-arg]
    return json.loads(render_json(report))


def test_dual_role_person_sees_both_roles_each_with_purpose_and_basis(demo: Demo) -> None:
    doc = _json(demo.report(demo.people.dual_role.identities))
    by_table = {r["table"]: r for r in doc["records"]}
    assert [p["party"] for p in by_table["partner_contacts"]["parties"]] == ["contact"]
    assert [p["party"] for p in by_table["customers"]["parties"]] == ["contact"]
    assert [r["id"] for r in by_table["customers"]["recipients"]] == [
        "hosting",
        "microsoft",
        "microsoft_corporation",
    ]
    assert by_table["partner_contacts"]["purposes"][0]["id"] == "partner_program"
    assert by_table["customers"]["purposes"][0]["id"] == "reseller_customers"
    for table in ("partner_contacts", "customers"):
        purpose = by_table[table]["purposes"][0]
        assert purpose["legal_basis"] == "6(1)(f)"
        assert purpose["legal_basis_text"] == "Legitimate interests, Art. 6(1)(f) GDPR"
        assert purpose["legitimate_interest"]
    assert by_table["newsletter_subscriptions"]["purposes"][0]["legal_basis"] == "6(1)(a)"
    assert (
        by_table["invoices"]["purposes"][0]["legal_obligation"]
        == "§§ 14, 14b UStG, § 147 AO, § 257 HGB"
    )
    # the person's own data is there, in both roles
    contact_row = by_table["customers"]["rows"][0]["values"]
    assert contact_row["contact_email"].lower() == demo.people.dual_role.email
    # rights follow the legal bases: objection for (f), withdrawal and portability for consent
    articles = {r["article"] for r in doc["art15"]["rights"]}
    assert {"Art. 16", "Art. 17", "Art. 18", "Art. 21", "Art. 20", "Art. 7(3)"} <= articles
    assert doc["summary"] == {
        "found": True,
        "tables": len(doc["records"]),
        "rows": sum(r["row_count"] for r in doc["records"]),
        "by_table": {r["table"]: r["row_count"] for r in doc["records"]},
    }


def test_employee_sees_records_they_created_but_never_the_customer_contact(demo: Demo) -> None:
    report = demo.report(demo.people.employee.identities)
    doc = _json(report)
    customers = next(r for r in doc["records"] if r["table"] == "customers")
    assert [p["party"] for p in customers["parties"]] == ["creator"]
    assert {f["name"] for f in customers["fields"]} == {"company_name", "created_by", "created_at"}
    assert len(customers["rows"]) >= 5
    for row in customers["rows"]:
        assert set(row["values"]) == {"company_name", "created_by", "created_at"}
        assert row["values"]["created_at"]  # "created customer record N on DATE"
    # Art. 15(1)(c): the creator's data goes to the hosting provider only, not to Microsoft
    assert [r["id"] for r in customers["recipients"]] == ["hosting"]
    assert {r["id"] for r in doc["art15"]["recipients"]} == {"hosting"}
    assert doc["art15"]["third_country_transfers"] == []
    contact = demo.people.customer_contact
    first, last = contact.name.split(" ", 1)
    whole_json = render_json(report).decode()
    html = render_html(report)
    for needle in (contact.email, first, last):
        assert needle.lower() not in whole_json.lower()
        assert needle.lower() not in html.lower()


def test_password_hash_is_listed_as_held_but_its_value_never_appears(demo: Demo) -> None:
    with demo.engine.connect() as conn:
        hashes = conn.execute(
            select(s.user_accounts.c.password_hash).where(
                s.user_accounts.c.email == demo.people.employee.email
            )
        ).scalars()
        secret = next(iter(hashes))
    for lang in ("en", "de"):
        report = demo.report(demo.people.employee.identities, lang)
        accounts = next(sec for sec in report.sections if sec.name == "user_accounts")
        assert [f.name for f in accounts.held_not_shown] == ["password_hash"]
        assert all("password_hash" not in r.values for r in accounts.rows)
        doc = _json(report)
        table = next(r for r in doc["records"] if r["table"] == "user_accounts")
        assert table["held_not_shown"][0]["name"] == "password_hash"
        assert "password_hash" not in {f["name"] for f in table["fields"]}
        html = render_html(report)
        assert secret not in render_json(report).decode() and secret not in html
        assert secret[-20:] not in html
        assert str(texts(lang)["held_not_shown"]) in html
        # the reason is security of processing, not the rights of others (Art. 15(4))
        held_text = " ".join(str(texts(lang)["held_not_shown_text"]).split())
        assert "Art. 32" in held_text and "15(4)" not in held_text
        assert "15 Abs. 4" not in held_text and held_text in " ".join(html.split())


def test_unknown_person_gets_a_no_data_report_with_general_information(demo: Demo) -> None:
    report = demo.report(demo.people.nobody.identities)
    doc = _json(report)
    assert doc["subject"]["found"] is False and doc["records"] == []
    assert doc["summary"]["rows"] == 0
    # still everything Art. 15(1) asks for, about what we process in general
    assert {p["id"] for p in doc["art15"]["purposes"]} == set(demo.catalog.purposes)
    assert doc["art15"]["recipients"] and doc["art15"]["retention"]
    assert doc["art15"]["automated_decision_making"]["used"] is False
    html = " ".join(render_html(report).split())
    assert "No personal data found" in html
    assert "We hold no personal data about you under the identifiers you gave." in html
    assert "This report answers that request: it contains a copy" not in html
    german = " ".join(render_html(demo.report(demo.people.nobody.identities, "de")).split())
    assert "Keine personenbezogenen Daten gefunden" in german
    assert "Wir bewahren lediglich einen Nachweis dieses Antrags auf." in german
    # the request record itself is personal data too (Art. 5(2), Art. 6(1)(c))
    assert "We keep a record of your request and our answer to prove that we complied" in html
    assert "Art. 5 Abs. 2, Art. 6 Abs. 1 lit. c DSGVO" in german


def test_retention_shows_catalog_texts_labels_and_the_persons_own_dates(demo: Demo) -> None:
    for lang in ("en", "de"):
        report = demo.report(demo.people.dual_role.identities, lang)
        html = render_html(report)
        for raw in ("contract_end", "issued_at", "accepted_at", "received_at"):
            assert raw not in html, raw
        contacts = next(sec for sec in report.sections if sec.name == "partner_contacts")
        rule = contacts.retention[0]
        assert rule.description and rule.description in html
        assert demo.catalog.tables["partners"].title.get(lang) in rule.anchor
        invoices = next(sec for sec in report.sections if sec.name == "invoices")
        rule = invoices.retention[0]
        years = {r.values["issued_at"].year + 8 for r in invoices.rows}
        assert {d.year for d in rule.until_dates} == years
        assert all((d.month, d.day) == (12, 31) for d in rule.until_dates)
        assert rule.until and rule.until in html
    assert "31.12." in (rule.until or "")
    doc = _json(report)
    table = next(r for r in doc["records"] if r["table"] == "invoices")
    assert table["retention"][0]["kept_until"] == sorted(d.isoformat() for d in rule.until_dates)


def test_long_tables_are_summarised_for_the_pages_but_complete_in_json(demo: Demo) -> None:
    report = demo.report(demo.people.heavy.identities)
    log = next(sec for sec in report.sections if sec.name == "usage_log")
    assert log.summary is not None
    assert log.summary.count == log.row_count >= 3000
    assert len(log.displayed) == log.summary.displayed == 50
    assert log.summary.first_raw <= log.summary.last_raw
    doc = _json(report)
    table = next(r for r in doc["records"] if r["table"] == "usage_log")
    assert len(table["rows"]) == table["row_count"] == log.row_count
    html = render_html(report)
    assert html.count("<tr><td>") < 200  # 50 log rows, not thousands
    assert f"{log.summary.count:,d} records from" in html  # thousands separator
    # the most recent rows are the ones shown, and the text says so
    ts = log.fields.index(next(f for f in log.fields if f.name == "ts"))
    times = [r.values["ts"] for r in log.displayed]
    assert times == sorted(times, reverse=True) and times[0] == log.summary.last_raw
    assert log.displayed[0].cells[ts] == log.summary.last
    flat = " ".join(html.split())
    assert "the 50 most recent are shown here. The complete list is in the JSON" in flat
    assert "included in the JSON format" not in flat


def test_json_report_validates_against_the_published_schema(demo: Demo) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for person in (demo.people.dual_role, demo.people.visitor, demo.people.nobody):
        for lang in ("en", "de"):
            doc = _json(demo.report(person.identities, lang))
            errors = sorted(validator.iter_errors(doc), key=str)
            assert not errors, errors[0].message
            assert {"subject", "records", "summary"} <= set(doc)


def test_visitor_rows_found_by_ip_and_by_account_name_both_roles(demo: Demo) -> None:
    report = demo.report(demo.people.visitor.identities)
    log = next(sec for sec in report.sections if sec.name == "usage_log")
    assert set(log.parties) == {"visitor", "account_holder"} and log.show_party_column
    assert any(r.parties == ["visitor"] for r in log.rows)  # logs without an account
    # an IP is shared: rows found only through it are flagged for the DPO to check
    assert all(r.ip_only == (r.parties == ["visitor"]) for r in log.rows)
    assert log.ip_only_count == sum(r.parties == ["visitor"] for r in log.rows) > 0
    html = render_html(report)
    assert f"{log.ip_only_count} of these records were matched by IP address only" in html
    shown = sum(r.ip_only for r in log.displayed)
    assert html.count("matched by IP address only — check before sending") == shown
    rows = next(r for r in _json(report)["records"] if r["table"] == "usage_log")["rows"]
    assert sum(bool(r.get("matched_by_ip_only")) for r in rows) == log.ip_only_count
    accounts = next(sec for sec in report.sections if sec.name == "user_accounts")
    assert accounts.ip_only_count == 0


def test_german_report_uses_german_texts_dates_and_catalog_texts(demo: Demo) -> None:
    report = demo.report(demo.people.dual_role.identities, "de")
    html = render_html(report)
    assert 'lang="de"' in html
    assert "Rechtsgrundlage" in html and "Berechtigte Interessen, Art. 6 Abs. 1 lit. f" in html
    assert "Sächsische Datenschutz- und Transparenzbeauftragte" in html
    assert report.generated_at_text == "25.11.2026, 09:00 Uhr"  # Berlin time of 08:00 UTC
    invoices = next(sec for sec in report.sections if sec.name == "invoices")
    issued = invoices.fields.index(next(f for f in invoices.fields if f.name == "issued_at"))
    assert all(r.cells[issued].count(".") == 2 for r in invoices.displayed)
    flat = " ".join(html.split())
    for term in (
        "<h1>Auskunft nach Art. 15 DSGVO</h1>",
        "Informationen über Ihre personenbezogenen Daten",
        "Fristbeginn:",
        '<th class="c-wide">Rechtsvorschrift</th>',
        "Grundlage der Übermittlung",
        "nicht erforderlich (EU/EWR)",
        "Microsoft Corporation (Vereinigte Staaten): Angemessenheitsbeschluss",  # the CLDR name
        "<td>Deutschland</td>",
        "<td>Irland</td>",
        "Recht auf Widerruf der Einwilligung (Art. 7 Abs. 3)",
        "E-Mail-Adresse: " + demo.people.dual_role.email,
    ):
        assert term in flat, term
    assert "(Art. 7(3))" not in flat and "Garantie" not in flat
    assert texts("de")["recipient_roles"]["joint_controller"].startswith(
        "Gemeinsam Verantwortliche "
    )


def test_english_texts_name_countries_bases_and_rights_in_full(demo: Demo) -> None:
    report = demo.report(demo.people.dual_role.identities)
    flat = " ".join(render_html(report).split())
    for term in (
        "Legal basis for the transfer",
        "not needed (EU/EEA)",
        "Microsoft Corporation (United States): EU-U.S. Data Privacy Framework",
        "<td>Ireland</td>",
        "on the following basis:",
        "E-mail address: " + demo.people.dual_role.email,
    ):
        assert term in flat, term
    assert "email=" not in flat and "<td>IE</td>" not in flat and "Safeguard" not in flat
    rights = {r.article: r.text for r in report.art15.rights}
    assert f"by e-mail to {demo.catalog.controller.email}" in rights["Art. 7(3)"]
    assert "does not affect the lawfulness of processing before it" in rights["Art. 7(3)"]
    assert "compelling legitimate grounds" in rights["Art. 21"]
    assert "legal claims" in rights["Art. 21"]
    assert "have them sent to another controller" in rights["Art. 20"]
    # the data protection officer is not shown as "Data protection officer / ... officer"
    assert 'Data protection officer</th><td><span class="contact-name">Data protection' not in (
        render_html(report)
    )


def test_linked_ids_show_the_partner_company_and_the_persons_own_account(demo: Demo) -> None:
    report = demo.report(demo.people.dual_role.identities)
    contacts = next(sec for sec in report.sections if sec.name == "partner_contacts")
    col = [f.name for f in contacts.fields].index("partner_id")
    with demo.engine.connect() as conn:
        names = dict(conn.execute(select(s.partners.c.id, s.partners.c.company_name)).all())
    for row in contacts.displayed:
        assert row.cells[col] == names[row.values["partner_id"]]
    assert _json(report)["records"][0]["rows"][0]["values"]["partner_id"] in names  # JSON: id
    employee = demo.report(demo.people.employee.identities)
    customers = next(sec for sec in employee.sections if sec.name == "customers")
    col = [f.name for f in customers.fields].index("created_by")
    assert {r.cells[col] for r in customers.displayed} == {
        f"yours: Cloud Center user accounts of partner employees, no. {r.values['created_by']}"
        for r in customers.displayed
    }
    accounts = next(sec for sec in employee.sections if sec.name == "user_accounts")
    col = [f.name for f in accounts.fields].index("partner_id")
    assert accounts.displayed[0].cells[col] == names[accounts.rows[0].values["partner_id"]]


def test_both_languages_define_the_same_texts() -> None:
    def keys(d: dict, prefix: str = "") -> set[str]:  # type: ignore[type-arg]
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out

    en = yaml.safe_load(resource_path("reports", "i18n", "en.yaml").read_text("utf-8"))
    de = yaml.safe_load(resource_path("reports", "i18n", "de.yaml").read_text("utf-8"))
    assert keys(en) == keys(de)


def test_values_are_formatted_per_language() -> None:
    assert value_text(Decimal("1234.5"), "de") == "1.234,50"
    assert value_text(Decimal("1234.5"), "en") == "1,234.50"
    assert value_text(date(2025, 3, 2), "de") == "02.03.2025"
    assert value_text(date(2025, 3, 2), "en") == "2 March 2025"
    assert value_text(datetime(2025, 3, 2, 7, 5), "de") == "02.03.2025, 07:05"
    assert value_text(None, "en") == "" and value_text(True, "de") == "ja"


def test_evidence_rows_show_their_supplementary_statements_when_keys_are_given(
    demo: Demo,
) -> None:
    from dsr.crypto.keys import StaticKeys
    from dsr.rights.rectify import rectify

    keys = StaticKeys(b"k" * 32)
    person = demo.people.customer_contact
    create_ledger(demo.engine)
    rectify(
        demo.engine,
        demo.catalog,
        keys,
        person.identities,
        ["mca_acceptances.position=CFO"],
        clock=CLOCK,
        graph=demo.graph,
    )

    def mca(lang: str, keys: StaticKeys | None) -> tuple[AccessReport, list[str]]:
        with demo.engine.connect() as conn:
            report = access_report(
                conn, demo.catalog, demo.graph, person.identities, lang=lang, clock=CLOCK, keys=keys
            )
        sec = next(sec for sec in report.sections if sec.name == "mca_acceptances")
        return report, [t for r in sec.rows for t in r.supplement_texts]

    report, shown = mca("en", keys)
    assert shown == [
        "Supplementary statement (Art. 16 GDPR): Position corrected to “CFO” on 25 November 2026."
    ]
    assert shown[0] in render_html(report)
    doc = _json(report)
    row = next(r for r in doc["records"] if r["table"] == "mca_acceptances")["rows"][0]
    assert row["supplements"][0]["field"] == "position"
    assert row["supplements"][0]["corrected_value"] == "CFO"
    assert not list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc))
    _, german = mca("de", keys)
    assert german == [
        "Ergänzende Erklärung (Art. 16 DSGVO): Position berichtigt zu „CFO“ am 25.11.2026."
    ]
    # without keys, or with a key that does not open them, the report still comes out
    assert mca("en", None)[1] == []
    assert mca("en", StaticKeys(b"x" * 32))[1] == []


def test_amounts_counts_times_and_empty_values_are_written_per_language(demo: Demo) -> None:
    from dsr.i18n import amount_text, count_text

    assert amount_text(Decimal("23222.44"), "en") == "€23,222.44"
    assert amount_text(Decimal("23222.44"), "de") == "23.222,44\xa0€"
    assert count_text(3141, "en") == "3,141" and count_text(3141, "de") == "3.141"
    report = demo.report(demo.people.dual_role.identities, "de")
    invoices = next(sec for sec in report.sections if sec.name == "invoices")
    col = [f.name for f in invoices.fields].index("amount_eur")
    for row in invoices.displayed:
        assert row.cells[col] == amount_text(row.values["amount_eur"], "de")
        assert row.cells[col].endswith("\xa0€")
    assert all(c != "" for sec in report.sections for r in sec.displayed for c in r.cells)
    english = demo.report(demo.people.heavy.identities)
    assert english.generated_at_text == "25 November 2026, 09:00 (German time)"
    log = next(sec for sec in english.sections if sec.name == "usage_log")
    assert "—" in {c for r in log.displayed for c in r.cells}  # e.g. no referrer
    html = render_html(english)
    assert f"({english.row_count:,d} records in total)" in html
