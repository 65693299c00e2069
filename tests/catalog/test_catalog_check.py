"""`dsr catalog check` finds every mismatch with the live database and every Art. 13 gap."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    column,
    insert,
)
from sqlalchemy import table as sql_table

from dsr.catalog.check import Finding, check_catalog, personal_by_name, personal_by_values
from dsr.catalog.loader import example_catalog_path, load_catalog
from dsr.cli import main
from dsr.db import connect
from dsr.demo import schema as demo
from dsr.demo.data import populate

EXAMPLE = str(example_catalog_path())
EXAMPLE_TEXT = Path(EXAMPLE).read_text(encoding="utf-8")


def example_line(starts_with: str, after: str | None = None) -> int:
    """The line of the example catalog that starts with ``starts_with`` (exactly one, or the
    first after the line that starts with ``after``)."""
    lines = EXAMPLE_TEXT.splitlines()
    first = example_line(after) if after else 0
    numbers = [i for i, ln in enumerate(lines, 1) if ln.startswith(starts_with) and i > first]
    assert len(numbers) == 1 or (after and numbers)
    return numbers[0]


@pytest.fixture(scope="module")
def demo_url(module_db_url: str) -> str:
    """The demo database of the seed system, filled (read-only for the tests using it)."""
    e = connect(module_db_url)
    populate(e, scale=1, now=datetime(2026, 3, 2, 12, 0))
    e.dispose()
    return module_db_url


#: Telephone columns of the demo: compared with their formatting stripped, an expression
#: MariaDB cannot index, which `catalog check` says there (and only there).
DEMO_PHONES = {
    "partner_contacts.phone",
    "user_accounts.phone",
    "customers.contact_phone",
    "contact_requests.phone",
}


def _unindexable(url: str, warnings: list[Finding], every: bool = True) -> list[Finding]:
    """The findings MariaDB gives for the demo's phone lookups (all of them unless
    ``every`` is false); none elsewhere."""
    found = [f for f in warnings if "cannot index the expression" in f.message]
    if not url.startswith("mysql"):
        assert found == []
        return []
    columns = {f.message.split(" has no index")[0] for f in found}
    assert columns == DEMO_PHONES if every else columns <= DEMO_PHONES
    return found


def test_example_catalog_fits_the_demo_database_without_noise(demo_url: str) -> None:
    e = connect(demo_url)
    report = check_catalog(load_catalog(), e)
    e.dispose()
    # business columns (partners.inquiry_email, customers.company_name, customers.street)
    # and role mailboxes must not drown real findings; every lookup has its index
    unindexable = _unindexable(demo_url, report.warnings)
    assert report.errors == []
    assert [f for f in report.warnings if f not in unindexable] == []


def test_cli_exit_code_is_0_and_summary_line_when_all_fits(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--catalog", EXAMPLE, "--database-url", demo_url, "catalog", "check"])
    assert code == 0
    expected = len(DEMO_PHONES) if demo_url.startswith("mysql") else 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"0 errors, {expected} warnings"


def test_missing_column_and_table_are_all_reported_with_catalog_lines(
    engine: Engine, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE contact_requests DROP COLUMN company")
        conn.exec_driver_sql("ALTER TABLE usage_log DROP COLUMN referrer")
        conn.exec_driver_sql("DROP TABLE newsletter_subscriptions")
        conn.exec_driver_sql("ALTER TABLE partners DROP COLUMN contract_end")

    report = check_catalog(load_catalog(), engine)

    company = example_line("      company: {party: sender")
    referrer = example_line("      referrer: {party: [visitor")
    newsletter = example_line("  newsletter_subscriptions:")
    assert [(f.where, f.message) for f in report.errors] == [
        (
            f"{EXAMPLE}:{referrer}: tables.usage_log.fields.referrer",
            "column 'referrer' of table 'usage_log' (a catalogued field) does not exist "
            "in the database",
        ),
        (
            f"{EXAMPLE}:{company}: tables.contact_requests.fields.company",
            "column 'company' of table 'contact_requests' (a catalogued field) does not exist "
            "in the database",
        ),
        (
            f"{EXAMPLE}:{newsletter}: tables.newsletter_subscriptions",
            "table 'newsletter_subscriptions' does not exist in the database",
        ),
        (
            f"{EXAMPLE}:{example_line('    anchor:', after='  partner_relationship:')}: "
            "retention.partner_relationship.anchor.column",
            "column 'contract_end' of table 'partners' (the anchor of retention rule "
            "'partner_relationship') does not exist in the database",
        ),
        (
            f"{EXAMPLE}:{example_line('    anchor:', after='  customer_relationship:')}: "
            "retention.customer_relationship.anchor.column",
            "column 'contract_end' of table 'partners' (the anchor of retention rule "
            "'customer_relationship') does not exist in the database",
        ),
    ]
    unindexable = _unindexable(db_url, report.warnings, every=False)
    assert [f for f in report.warnings if f not in unindexable] == []

    code = main(["--catalog", EXAMPLE, "--database-url", db_url, "catalog", "check", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert set(out) == {"errors", "warnings"}
    assert [e["where"] for e in out["errors"]] == [f.where for f in report.errors]
    assert set(out["errors"][0]) == {"where", "message"}

    code = main(["--catalog", EXAMPLE, "--database-url", db_url, "catalog", "check"])
    human = capsys.readouterr().out
    assert code == 1
    assert human.startswith("Errors:\n")
    assert human.strip().splitlines()[-1] == f"5 errors, {len(unindexable)} warnings"


def test_uncatalogued_personal_columns_are_warned_without_their_values(engine: Engine) -> None:
    demo.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE contact_requests ADD COLUMN private_email VARCHAR(254)")
        conn.exec_driver_sql("ALTER TABLE contact_requests ADD COLUMN ref VARCHAR(60)")
        conn.exec_driver_sql("ALTER TABLE contact_requests ADD COLUMN source_host VARCHAR(60)")
        names = "received_at name email topic message private_email ref source_host".split()
        table = sql_table("contact_requests", *(column(n) for n in names))
        conn.execute(
            insert(table),
            [
                {
                    "received_at": datetime(2026, 1, 5, 9, 0),
                    "name": f"Sender {i}",
                    "email": f"sender{i}@firma.example",
                    "topic": "Support",
                    "message": "Bitte um Rückruf",
                    "private_email": f"jana.{i}@privat.example",
                    "ref": f"+49 341 55501{i}",
                    "source_host": f"198.51.100.{i + 10}",
                }
                for i in range(3)
            ],
        )
        conn.exec_driver_sql(
            "CREATE TABLE crm_notes (id INTEGER PRIMARY KEY, contact_email VARCHAR(254), "
            "note VARCHAR(200))"
        )
        conn.exec_driver_sql("CREATE TABLE dsr_scratch (id INTEGER PRIMARY KEY, email VARCHAR(9))")

    report = check_catalog(load_catalog(), engine)

    assert report.errors == []
    unindexable = _unindexable(str(engine.url), report.warnings, every=False)
    warnings = {f.where: f.message for f in report.warnings if f not in unindexable}
    assert warnings == {
        "contact_requests.private_email": "uncatalogued column looks personal: name suggests "
        "an e-mail address; values look like e-mail addresses (3 of 3 sampled)",
        "contact_requests.ref": "uncatalogued column looks personal: "
        "values look like telephone numbers (3 of 3 sampled)",
        "contact_requests.source_host": "uncatalogued column looks personal: "
        "values look like IP addresses (3 of 3 sampled)",
        "crm_notes": "uncatalogued table has personal-looking columns; "
        "contact_email: name suggests an e-mail address",
    }
    text = json.dumps(report.to_json())
    for leaked in ("jana.", "privat.example", "55501", "198.51.100", "firma.example"):
        assert leaked not in text


CUSTOM = """\
dsr_catalog: 1
controller: {name: Shop GmbH, address: "Weg 1, 04109 Leipzig"}
dpo: {name: Data protection officer}
supervisory_authority: {name: Saxon Data Protection Commissioner}
categories:
  contact: Contact data
  usage: Usage data
purposes:
  service:
    title: Running the shop
    legal_basis: "6(1)(b)"
  security:
    title: Keeping the shop secure
    legal_basis: "6(1)(f)"
  tax:
    title: Bookkeeping
    legal_basis: "6(1)(c)"
recipients:
  cloud:
    name: Cloud Inc.
    role: processor
    country: US
  mailer:
    name: Mailer
    role: processor
retention:
  login_records:
    period: 7 days
    anchor: {column: ts}
    action: delete
    legal_reference: Art. 5(1)(e) GDPR
tables:
  accounts:
    title: Customer accounts
    primary_key: id
    purpose: service
    recipients: [cloud, mailer]
    parties:
      holder:
        title: Account holder
        identities: {email: email}
    fields:
      email: {party: holder, category: contact, format: email}
      nickname: {party: holder, category: contact}
  logins:
    title: Sign-ins
    primary_key: id
    purpose: security
    retention: login_records
    links:
      account: {column: account_id, table: accounts}
    parties:
      holder:
        title: Account holder
        via: {link: account, party: holder}
    fields:
      ts: {party: holder, category: usage}
      ip: {party: holder, category: usage, format: ip}
  devices:
    title: Devices
    primary_key: id
    purpose: security
    retention: login_records
    links:
      owner: {column: owner_ref, table: accounts}
    parties:
      holder:
        title: Device owner
        via: {link: owner, party: holder}
    fields:
      ts: {party: holder, category: usage}
      label: {party: holder, category: usage}
  tokens:
    title: API tokens
    primary_key: id
    purpose: security
    retention: login_records
    links:
      account: {column: account_id, table: accounts}
    parties:
      holder:
        title: Token owner
        via: {link: account, party: holder}
    fields:
      ts: {party: holder, category: usage, format: datetime}
"""


def _custom_line(starts_with: str, after: str | None = None) -> int:
    first = _custom_line(after) if after else 0
    lines = CUSTOM.splitlines()
    numbers = [i for i, ln in enumerate(lines, 1) if ln.startswith(starts_with) and i > first]
    assert len(numbers) == 1 or (after and numbers)
    return numbers[0]


def test_types_links_and_art13_gaps_are_all_reported(engine: Engine, tmp_path: Path) -> None:
    md = MetaData()
    Table(
        "accounts",
        md,
        Column("id", Integer, primary_key=True),
        Column("email", Integer),
        Column("nickname", String(50)),
    )
    Table(
        "logins",
        md,
        Column("id", Integer, primary_key=True),
        Column("account_id", Integer),
        Column("ts", String(30)),
        Column("ip", String(45)),
    )
    Table(
        "devices",
        md,
        Column("id", Integer, primary_key=True),
        Column("owner_ref", String(40)),
        Column("ts", Integer),
        Column("label", String(40)),
        Column("other", Integer, ForeignKey("accounts.id")),
    )
    Table(
        "tokens",
        md,
        Column("id", Integer),
        Column("serial", Integer, primary_key=True),
        Column("account_id", Integer, ForeignKey("logins.id")),
        Column("ts", DateTime),
    )
    md.create_all(engine)
    path = tmp_path / "shop.yaml"
    path.write_text(CUSTOM, encoding="utf-8")

    report = check_catalog(load_catalog(path), engine)

    def at(line: str, key: str, after: str | None = None) -> str:
        return f"{path}:{_custom_line(line, after)}: {key}"

    assert [(f.where, f.message) for f in report.errors] == [
        (
            at("      email: {party: holder", "tables.accounts.fields.email"),
            "format 'email' needs a string column, but accounts.email is INTEGER",
        ),
        (
            # a key the database does not guarantee unique is an error: rows would be
            # addressed by a guess (it once rewrote 21 customers)
            at("    primary_key: id", "tables.tokens.primary_key", after="  tokens:"),
            "primary_key (id) of table 'tokens' is not unique in the database: it is neither "
            "its primary key nor a unique constraint on NOT NULL columns; the database "
            "guarantees (serial). Rows would be addressed by a guess, so no service runs on "
            "this catalog",
        ),
        (
            at("    anchor: {column: ts}", "retention.login_records.anchor.column"),
            "retention rule 'login_records' anchors on logins.ts, which is VARCHAR(30), "
            "not a date or timestamp",
        ),
        (
            at("      owner: {column: owner_ref", "tables.devices.links.owner"),
            "link 'owner': devices.owner_ref is VARCHAR(40), which cannot hold accounts.id "
            "(INTEGER)",
        ),
        (
            at("    anchor: {column: ts}", "retention.login_records.anchor.column"),
            "retention rule 'login_records' anchors on devices.ts, which is INTEGER, "
            "not a date or timestamp",
        ),
        (
            at(
                "      account: {column: account_id",
                "tables.tokens.links.account",
                after="  tokens:",
            ),
            "link 'account' points tokens.account_id at accounts.id, but the database's "
            "foreign key points at logins.id",
        ),
    ]
    assert [(f.where, f.message.split(";")[0].split(" (")[0]) for f in report.warnings] == [
        (
            at("controller:", "controller"),
            "the controller has no e-mail address to give as contact",
        ),
        (at("dpo:", "dpo"), "the data protection officer has no e-mail address"),
        (
            at('    legal_basis: "6(1)(f)"', "purposes.security.legal_basis"),
            "purpose 'security' rests on Art. 6(1)(f) but names no legitimate_interest",
        ),
        (
            at('    legal_basis: "6(1)(c)"', "purposes.tax.legal_basis"),
            "purpose 'tax' rests on Art. 6(1)(c) but names no legal_obligation",
        ),
        (
            at("  cloud:", "recipients.cloud"),
            "recipient 'cloud' is in a third country",
        ),
        (
            at("  mailer:", "recipients.mailer"),
            "recipient 'mailer' has no country",
        ),
        (
            at("  accounts:", "tables.accounts"),
            "personal table 'accounts' has no retention rule",
        ),
        (
            at("      account: {column: account_id", "tables.logins.links.account", "  logins:"),
            "declared link without a database foreign key: logins.account_id -> accounts.id",
        ),
        (
            at(
                "        identities: {email: email}",
                "tables.accounts.parties.holder.identities.email",
            ),
            "accounts.email has no index for the email lookup",
        ),
        (
            at("        via: {link: account", "tables.logins.parties.holder.via", "  logins:"),
            "logins.account_id has no index for link 'account'",
        ),
        (
            at("        via: {link: owner", "tables.devices.parties.holder.via"),
            "devices.owner_ref has no index for link 'owner'",
        ),
    ] + (
        []  # InnoDB indexes every foreign key column itself
        if engine.dialect.name == "mysql"
        else [
            (
                at("        via: {link: account", "tables.tokens.parties.holder.via", "  tokens:"),
                "tokens.account_id has no index for link 'account'",
            )
        ]
    )


@pytest.mark.parametrize(
    ("column", "company", "suggests"),
    [
        ("email", False, "an e-mail address"),
        ("privateEmail", False, "an e-mail address"),
        ("mobile_no", False, "a telephone number"),
        ("last_name", False, "a person's name"),
        ("name", False, "a person's name"),
        ("date_of_birth", False, "a date of birth"),
        ("client_ip", False, "an IP address"),
        ("user_agent", False, "a browser identifier"),
        ("iban", False, "a bank account"),
        ("tax_id", False, "a tax identification number"),
        ("street", False, "a postal address"),
        ("street", True, None),
        ("company_name", False, None),
        ("file_name", False, None),
        ("last_login_at", False, None),
        ("tax_rate", False, None),
        ("markup_percent", False, None),
    ],
)
def test_column_names_that_look_personal(column: str, company: bool, suggests: str | None) -> None:
    assert personal_by_name(column, company) == suggests


def test_sampled_values_are_classified_and_counted_not_quoted() -> None:
    assert personal_by_values(["a.b@c.example", "d.e@f.example", None, ""]) == (
        "values look like e-mail addresses (2 of 2 sampled)"
    )
    # role mailboxes address an organisation
    assert personal_by_values(["info@c.example", "anfragen@f.example"]) is None
    assert personal_by_values(["2001:db8::1", "192.0.2.7", "x"]) == (
        "values look like IP addresses (2 of 3 sampled)"
    )
    assert personal_by_values(["+49 341 1234567", "(0341) 1234567"]) == (
        "values look like telephone numbers (2 of 2 sampled)"
    )
    # account numbers, postal codes and versions are not telephone numbers or IPs
    assert personal_by_values(["1234567", "04109", "1.2.3", "DE123456789"]) is None
    # a minority of matches is not enough
    assert personal_by_values(["a.b@c.example", "x", "y"]) is None
