"""Access reports as PDF and through ``dsr access``: Art. 15 sections, no leaks, no fetching."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog, Text
from dsr.cli import cli, main
from dsr.clock import FixedClock
from dsr.crypto.keys import StaticKeys, pseudonym
from dsr.db import connect
from dsr.demo import schema as s
from dsr.demo.data import DemoPeople, populate
from dsr.ledger.audit import verify
from dsr.ledger.migrate import create_ledger
from dsr.ledger.tables import audit
from dsr.render import RefusingFetcher, ResourceRefused, render_html, render_json, render_pdf
from dsr.render.pdf import ATTACHMENT_NAME, html_to_pdf
from dsr.rights.access import AccessReport, access_report
from dsr.subject.graph import SubjectGraph
from dsr.subject.identity import parse_identities

NOW = datetime(2026, 11, 25, 9, 0)
CLOCK = FixedClock(datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc))
SECRET = "ab" * 32


@dataclass
class Demo:
    url: str
    engine: Engine
    people: DemoPeople
    catalog: Catalog
    graph: SubjectGraph

    def report(
        self, identities: list[str], lang: str = "en", catalog: Catalog | None = None
    ) -> AccessReport:
        catalog = catalog or self.catalog
        with self.engine.connect() as conn:
            return access_report(
                conn,
                catalog,
                SubjectGraph(catalog, self.engine) if catalog is not self.catalog else self.graph,
                identities,
                lang=lang,
                clock=CLOCK,
            )


@pytest.fixture(scope="module")
def demo(module_db_url: str) -> Iterator[Demo]:
    engine = connect(module_db_url)
    people = populate(engine, scale=1, now=NOW)
    catalog = load_catalog()
    yield Demo(module_db_url, engine, people, catalog, SubjectGraph(catalog, engine))
    engine.dispose()


_RENDERED: dict[str, tuple[pypdf.PdfReader, str]] = {}


def _render(report: AccessReport) -> tuple[pypdf.PdfReader, str]:
    """The report's PDF and its text; identical input renders once across the three engines.

    The engines must produce byte-identical HTML and JSON for the same demo data, so a cache
    hit is itself a check that the report does not depend on the engine.
    """
    key = hashlib.sha256(render_html(report, mode="pdf").encode() + render_json(report)).hexdigest()
    if key not in _RENDERED:
        _RENDERED[key] = _pdf_text(render_pdf(report))
    return _RENDERED[key]


def _pdf_text(data: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def _squash(text: str) -> str:
    """Text without whitespace, so a value broken across lines is still found."""
    return re.sub(r"\s+", "", text).lower()


def test_employee_pdf_has_art15_sections_and_no_third_party_or_password(demo: Demo) -> None:
    report = demo.report(demo.people.employee.identities)
    reader, text = _render(report)
    for heading in (
        "Contents",
        "(a) Purposes of the processing",
        "(b) Categories of personal data",
        "(c) Recipients",
        "(d) Storage period",
        "(e) Your rights",
        "Right to rectification",
        "Right to erasure",
        "Right to restriction of processing",
        "Right to object",
        "(f) Right to lodge a complaint",
        "Saxon Data Protection and Transparency Commissioner",
        "(g) Source of the data",
        "(h) Automated decision-making including profiling",
        "We do not use automated decision-making",
        "Transfers to third countries",
        # Art. 15(1)(c), 15(2): Microsoft receives the customer's data, not its creator's
        "We do not transfer your personal data to countries outside the EU/EEA",
        "Held but not shown",
        "Password (stored as a hash)",
    ):
        assert heading in text, heading
    assert "Microsoft Corporation" not in text and "Microsoft Ireland" not in text
    assert "(Art. 5(1)(f), Art. 32 GDPR)" in " ".join(text.split())
    for raw in ("contract_end", "created_by", "password_hash", "email="):
        assert raw not in text, raw  # labels, never raw column names
    flat = " ".join(text.split())
    assert (
        "E-mail address:" in flat
        and "yours: Cloud Center user accounts of partner employees, no." in flat
    )
    assert "Recor\nd" not in text and "Record" in text  # headers do not break mid-word
    n = len(reader.pages)
    assert f"Page 1 of {n}" in text and f"Page {n} of {n}" in text
    assert "COMPAREX AG" in reader.pages[1].extract_text()  # running header
    # Art. 15(4): the customer contact's data never reaches the employee's report
    contact = demo.people.customer_contact
    first, last = contact.name.split(" ", 1)
    squashed = _squash(text)
    for needle in (contact.email, first, last):
        assert _squash(needle) not in squashed
    with demo.engine.connect() as conn:
        secret = conn.execute(
            select(s.user_accounts.c.password_hash).where(
                s.user_accounts.c.email == demo.people.employee.email
            )
        ).scalar_one()
    assert _squash(secret)[-16:] not in squashed
    attached = reader.attachments.get(ATTACHMENT_NAME)  # 60 log rows > 50: summarised
    assert attached and secret not in attached[0].decode()
    assert contact.email not in attached[0].decode()


def test_german_pdf_states_every_art15_item(demo: Demo) -> None:
    _, text = _render(demo.report(demo.people.dual_role.identities, "de"))
    for heading in (
        "Auskunft nach Art. 15 DSGVO",
        "Informationen über Ihre personenbezogenen Daten",
        "Deutschland",
        "Inhalt",
        "(a) Verarbeitungszwecke",
        "Rechtsgrundlage",
        "Einwilligung, Art. 6 Abs. 1 lit. a DSGVO",
        "(b) Kategorien personenbezogener Daten",
        "(c) Empfänger",
        "(d) Speicherdauer",
        "(e) Ihre Rechte",
        "Recht auf Berichtigung",
        "Recht auf Löschung",
        "Recht auf Einschränkung der Verarbeitung",
        "Widerspruchsrecht",
        "Recht auf Datenübertragbarkeit",
        "(f) Beschwerderecht bei einer Aufsichtsbehörde",
        "Sächsische Datenschutz- und Transparenzbeauftragte",
        "(g) Herkunft der Daten",
        "(h) Automatisierte Entscheidungsfindung",
        "Übermittlung in Drittländer",
        "Microsoft Corporation",
        "Data Privacy Framework",
        "Ansprechpartner eines Cloud-Partners",
        "Ansprechpartner eines Reseller-Kunden",
    ):
        assert heading in text, heading
    assert re.search(r"Seite 1 von \d+", text)


def test_heavy_subject_pdf_stays_small_and_attaches_the_full_json(demo: Demo) -> None:
    report = demo.report(demo.people.heavy.identities)
    reader, text = _render(report)
    assert len(reader.pages) < 15
    flat = " ".join(text.split())
    assert (
        "most recent are shown here. The complete list is attached to this PDF as a JSON file"
        in flat
    )
    doc = json.loads(reader.attachments[ATTACHMENT_NAME][0])
    log = next(r for r in doc["records"] if r["table"] == "usage_log")
    assert len(log["rows"]) == log["row_count"] >= 3000


def test_fetcher_refuses_local_files_and_network_urls() -> None:
    fetcher = RefusingFetcher()
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.png", "https://example.com/a.css"):
        with pytest.raises(ResourceRefused):
            fetcher.fetch(url)
    assert fetcher.refused == 3


def test_pdf_renderer_fetches_nothing_and_does_not_crash_on_urls() -> None:
    fetcher = RefusingFetcher()
    html = (
        "<html><head><link rel='stylesheet' href='http://127.0.0.1:9/evil.css'></head><body>"
        "<p>before</p><img src='file:///etc/passwd'><img src='http://127.0.0.1:9/t.png'>"
        "<p>after</p></body></html>"
    )
    _, text = _pdf_text(html_to_pdf(html, fetcher=fetcher))
    assert "before" in text and "after" in text
    assert "root:" not in text
    assert fetcher.refused >= 2


def test_markup_in_catalog_texts_is_escaped_not_loaded(demo: Demo) -> None:
    evil = '<img src="file:///etc/passwd"><script>alert(1)</script>'
    purposes = dict(demo.catalog.purposes)
    purposes["enquiries"] = replace(purposes["enquiries"], title=Text({"en": evil}))
    catalog = replace(demo.catalog, purposes=purposes)
    report = demo.report(demo.people.nobody.identities, catalog=catalog)
    html = render_html(report)
    assert "<img" not in html and "<script>" not in html
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    _, text = _render(report)
    assert '<img src="file:///etc/passwd">' in text  # shown as text
    assert "root:" not in text


# -- the command line --------------------------------------------------------------------------


def _run(demo: Demo, *args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(
        cli, ["--database-url", demo.url, "access", *args], env={"DSR_SECRET": SECRET}
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


def test_cli_prints_json_with_the_contract_keys(demo: Demo) -> None:
    code, out, _ = _run(demo, *demo.people.dual_role.identities)
    assert code == 0
    doc = json.loads(out)
    assert {"subject", "records", "summary"} <= set(doc)
    assert doc["summary"]["found"] is True
    code, out, _ = _run(demo, *demo.people.nobody.identities, "--lang", "de")
    assert code == 0 and json.loads(out)["summary"]["rows"] == 0


def test_cli_html_to_stdout_and_file_pdf_needs_output(demo: Demo, tmp_path: Path) -> None:
    code, out, _ = _run(demo, *demo.people.visitor.identities, "--format", "html")
    assert code == 0 and out.startswith(b"<!DOCTYPE html>")
    target = tmp_path / "report.html"
    code, out, err = _run(
        demo, *demo.people.visitor.identities, "--format", "html", "-o", str(target)
    )
    assert code == 0 and out == b"" and target.read_text().startswith("<!DOCTYPE html>")
    assert demo.people.visitor.email not in err  # the message names no person
    code, _, _ = _run(demo, *demo.people.visitor.identities, "--format", "pdf")
    assert code == 2
    assert main(["--database-url", demo.url, "access", "fax=123"]) == 1


def test_cli_request_without_ledger_is_a_clear_error(demo: Demo) -> None:
    from dsr.ledger.tables import audit as audit_table

    with demo.engine.connect() as conn:
        has_ledger = demo.engine.dialect.has_table(conn, audit_table.name)
    assert not has_ledger  # runs before the audit test below creates the ledger
    args = ["--database-url", demo.url, "access", *demo.people.nobody.identities]
    assert main([*args, "--request", "1"]) == 1
    assert main(args) == 0  # no ledger, no request: nothing to record


def test_cli_audits_access_and_records_the_request_outcome(demo: Demo) -> None:
    from dsr.ledger.requests import get_request, open_request

    keys = StaticKeys(bytes.fromhex(SECRET))
    create_ledger(demo.engine)
    ids = demo.people.employee.identities
    with demo.engine.begin() as conn:
        request = open_request(
            conn, keys, type="access", identities=ids, received=NOW.date(), clock=CLOCK
        )
    code, out, _ = _run(demo, *ids, "--request", str(request.id))
    assert code == 0
    doc = json.loads(out)
    assert doc["request_id"] == request.id
    with demo.engine.connect() as conn:
        entries = conn.execute(select(audit).order_by(audit.c.seq)).mappings().all()
        outcome = get_request(conn, keys, request.id).outcome_log
        verdict = verify(conn, keys)
    access = [e for e in entries if e["action"] == "access"]
    assert len(access) == 1 and access[0]["request_id"] == request.id
    assert access[0]["subject"] == pseudonym(keys, parse_identities(ids))
    details = json.loads(access[0]["details"])
    assert details["rows"] == doc["summary"]["rows"] and details["format"] == "json"
    assert demo.people.employee.email not in json.dumps([dict(e) for e in entries], default=str)
    assert outcome[-1]["action"] == "access"
    assert outcome[-1]["summary"] == {
        "tables": doc["summary"]["tables"],
        "rows": doc["summary"]["rows"],
        # for the DPO's record: per table, possible other people, what could not be searched
        "by_table": doc["summary"]["by_table"],
        "ambiguous": doc["ambiguous"],
        "not_searched": doc["not_searched"],
    }
    assert verdict.ok
    # with the ledger present, an access without a request is audited too
    code, _, _ = _run(demo, *demo.people.nobody.identities)
    with demo.engine.connect() as conn:
        n = conn.execute(select(audit.c.seq).where(audit.c.action == "access")).all()
    assert code == 0 and len(n) == 2
