"""What an answer tells the person beyond the data, on every engine: the cover letter of a
report that answers a request, the person's earlier requests and their deliveries, what the
identities given could not search (Art. 11(2), 12(2)) with the letter asking for the missing
identifier, the holiday calendar in the register and a repeated request flagged for review."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pypdf
import pytest
from _rights_seed import CLOCK, DUAL, DUAL_EMAIL, VISITOR_EMAIL, VISITOR_IP, seed

import dsr
from dsr.cli import main
from dsr.clock import FixedClock
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.errors import RequestError
from dsr.ledger.migrate import create_ledger

KEYS = StaticKeys(b"a" * 32)
VISITOR = [f"email={VISITOR_EMAIL}"]
#: words of English running text that a German page must not contain
ENGLISH = re.compile(r"\b(the|and|your|request|we|our|of|records?|kept|until)\b", re.IGNORECASE)


@pytest.fixture
def tk(db_url: str, tmp_path: Path) -> Iterator[dsr.Toolkit]:
    engine = connect(db_url)
    seed(engine)
    create_ledger(engine)
    yield dsr.Toolkit(engine, dsr.load_catalog(), KEYS, clock=CLOCK, storage=tmp_path / "out")
    engine.dispose()


def pages(data: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]


def report_pdf(tk: dsr.Toolkit, ids: list[str], request_id: int, lang: str) -> list[str]:
    from dsr.render.pdf import render_pdf

    report = tk.access(ids, lang=lang, request_id=request_id, output_format="pdf", record=False)
    return pages(render_pdf(report))


def test_a_report_answering_a_request_opens_with_its_letter_and_lists_earlier_requests(
    tk: dsr.Toolkit, tmp_path: Path
) -> None:
    pytest.importorskip("weasyprint")
    start = tk.clock
    tk.clock = FixedClock(start.now() - timedelta(days=100))
    first = tk.ledger.open_request(type="portability", identities=DUAL, received=tk.ledger.today())
    package = tk.deliver(DUAL, request_id=first.id)
    assert package.token is not None
    tk.download(package.token, tmp_path / "package.zip")
    tk.ledger.close(first.id, "done")
    tk.clock = start
    now = tk.ledger.open_request(type="access", identities=DUAL, received=tk.ledger.today())

    en = report_pdf(tk, DUAL, now.id, "en")
    cover = en[0]
    for wanted in (
        "Dear Sir or Madam",
        f"DSR-{now.id}",
        "we received your request for access to your personal data",
        DUAL_EMAIL.lower(),
        "Kind regards",
    ):
        assert wanted in cover
    assert "Access report" not in cover and "Access report" in en[1]  # the letter, then the report
    text = " ".join(en)
    assert "Your requests to us" in text and f"DSR-{first.id}" in text
    assert "data package, prepared" in text and "downloaded" in text
    assert "What we could not search" in text  # the web log's visitors, by IP address

    de = report_pdf(tk, DUAL, now.id, "de")
    assert "Sehr geehrte Damen und Herren" in de[0] and "Ihre Anträge an uns" in " ".join(de)
    assert ENGLISH.findall(de[0].replace(DUAL_EMAIL.lower(), "")) == []

    data = tk.access(DUAL, request_id=now.id, record=False).to_json()
    (earlier,) = data["requests"]
    assert earlier["request_id"] == first.id and earlier["type"] == "portability"
    (delivery,) = earlier["deliveries"]
    assert delivery["what"] == "package" and delivery["downloaded_at"] is not None
    import jsonschema

    schema = json.loads(Path("docs/access-report.schema.json").read_text())
    jsonschema.validate(data, schema)


def test_what_the_identities_cannot_search_is_said_and_the_missing_identifier_asked_for(
    tk: dsr.Toolkit,
) -> None:
    pytest.importorskip("weasyprint")
    req = tk.ledger.open_request(type="access", identities=VISITOR, received=tk.ledger.today())
    data = tk.access(VISITOR, request_id=req.id, record=False).to_json()
    web_log = {"table": "usage_log", "party": "visitor", "would_reach": ["ip"]}
    assert data["not_searched"] == [web_log]
    text = " ".join(report_pdf(tk, VISITOR, req.id, "en"))
    assert "What we could not search" in text and "record people only by IP address" in text
    assert "when you used it" in text  # an IP address is shared: the time is needed too
    assert "We do not disclose entries that may concern other people" in text

    for lang, wanted in (
        (
            "en",
            "“Web server usage log”: entries about visitor of the website that record people "
            "only by IP address",
        ),
        (
            "de",
            "„Webserver-Nutzungsprotokoll“: Einträge über Besucher der Website, die Personen "
            "nur mit folgender Kennung erfassen: IP-Adresse",
        ),
    ):
        _, document = tk.ledger.letter(req.id, "identification", lang=lang, fmt="pdf")
        letter = " ".join(pages(document))
        assert wanted in letter and "Art. 11" in letter and f"DSR-{req.id}" in letter
        assert ("28 December 2026" if lang == "en" else "28.12.2026") in letter  # the due date
        if lang == "de":
            assert "IP-Adresse" in letter
            assert ENGLISH.findall(letter.replace(VISITOR_EMAIL.lower(), "")) == []
    kinds = [e["action"] for e in tk.ledger.request(req.id).outcome_log]
    assert kinds.count("letter.identification") == 2

    full = tk.ledger.open_request(
        type="access", identities=[*VISITOR, f"ip={VISITOR_IP}"], received=tk.ledger.today()
    )
    assert tk.access([*VISITOR, f"ip={VISITOR_IP}"], record=False).not_searched == []
    with pytest.raises(RequestError, match="nothing to ask for"):
        tk.ledger.letter(full.id, "identification")


def test_a_negative_answer_says_what_it_could_not_search(tk: dsr.Toolkit) -> None:
    nobody = ["email=niemand.hier@nirgends.example"]
    req = tk.ledger.open_request(type="access", identities=nobody, received=tk.ledger.today())
    _, document = tk.ledger.letter(req.id, "negative", lang="en", fmt="html")
    html = document.decode()
    assert "What we could not search" in html and "IP address" in html
    # it never claims to have searched everything when it could not
    assert "every record that can be searched with the identifiers" in html
    assert "searched every system" not in html and "with a new request" in html


def test_the_register_records_its_calendar_and_flags_a_repeated_request(
    tk: dsr.Toolkit,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    today = tk.ledger.today()
    old = tk.ledger.open_request(
        type="access", identities=DUAL, received=today - timedelta(days=500)
    )
    recent = tk.ledger.open_request(
        type="access", identities=DUAL, received=today - timedelta(days=60)
    )
    other = tk.ledger.open_request(type="erasure", identities=VISITOR, received=today)
    portability = tk.ledger.open_request(type="portability", identities=DUAL, received=today)
    now = tk.ledger.open_request(
        type="access", identities=[*DUAL, "phone=+49 341 1234567"], received=today
    )
    assert tk.ledger.request(now.id).calendar == "DE-SN"
    # the same right only: the portability request of today is another matter
    assert [r.id for r in tk.ledger.earlier_requests(now.id)] == [recent.id]
    assert tk.ledger.earlier_requests(portability.id) == []
    assert tk.ledger.earlier_requests(other.id) == []
    assert old.id not in [r.id for r in tk.ledger.earlier_requests(recent.id)]

    monkeypatch.setenv("DSR_SECRET", (b"a" * 32).hex())
    assert main(["--database-url", db_url, "request", "show", str(now.id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in shown["earlier_requests"]] == [recent.id]
    assert shown["calendar"] == "DE-SN"
    assert main(["--database-url", db_url, "request", "show", str(now.id)]) == 0
    assert "REVIEW" in capsys.readouterr().out


def test_the_dpo_record_shows_every_table_what_was_delivered_and_its_hash(
    tk: dsr.Toolkit,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib
    import stat

    req = tk.ledger.open_request(type="portability", identities=DUAL, received=tk.ledger.today())
    package = tk.deliver(DUAL, request_id=req.id)
    assert package.token is not None
    got = tk.download(package.token, tmp_path / "package.zip")
    tk.ledger.letter(req.id, "acknowledgement", lang="de")
    monkeypatch.setenv("DSR_SECRET", (b"a" * 32).hex())
    base = ["--database-url", db_url, "request", "record"]
    assert main([*base, str(req.id)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (
        record["record"] == "dsr-dpo-record" and record["request"]["reference"] == f"DSR-{req.id}"
    )
    tables = {c["table"]: c for c in record["consulted"]}
    assert set(tables) == {t.name for t in tk.catalog.personal_tables()}
    assert tables["newsletter_subscriptions"]["rows_found"] == 1
    assert tables["usage_log"]["rows_found"] == 0
    assert tables["usage_log"]["parties_not_reached"] == ["visitor"]
    (delivery,) = record["deliveries"]
    assert delivery["sha256"] == hashlib.sha256(Path(got.file).read_bytes()).hexdigest()
    assert delivery["downloaded_at"] is not None and delivery["what"] == "package"
    (letter,) = record["letters"]
    assert letter["kind"] == "acknowledgement" and len(letter["sha256"]) == 64
    assert [i["identity"] for i in record["identities"]] == [f"email={DUAL_EMAIL.lower()}"]
    assert any(w["action"] == "export.deliver" for w in record["work"])

    pytest.importorskip("weasyprint")
    out = tmp_path / "record.pdf"
    assert main([*base, str(req.id), "--format", "pdf", "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = " ".join(pages(out.read_bytes()))
    assert "Internal record" in text and delivery["sha256"][:40] in text.replace(" ", "")
    assert main([*base, "999"]) == 1
    assert "no such request" in capsys.readouterr().err


def test_a_request_is_the_persons_own_only_by_what_names_them_and_was_proved(
    tk: dsr.Toolkit,
) -> None:
    from _rights_seed import EMPLOYEE

    from dsr import portal

    # a colleague's request names the office's IP address, which the visitor shares
    colleague = tk.ledger.open_request(
        type="access", identities=[*EMPLOYEE, f"ip={VISITOR_IP}"], received=tk.ledger.today()
    )
    # someone asks in the visitor's name on the portal and never proves the address
    impostor = portal.submit(tk, type="erasure", email=VISITOR_EMAIL)
    mine = tk.ledger.open_request(
        type="access", identities=[*VISITOR, f"ip={VISITOR_IP}"], received=tk.ledger.today()
    )
    report = tk.access([*VISITOR, f"ip={VISITOR_IP}"], request_id=mine.id, record=False)
    listed = [r["request_id"] for r in report.to_json()["requests"]]
    assert colleague.id not in listed and impostor.request.id not in listed
    assert tk.ledger.earlier_requests(mine.id) == []
    # once the address is proved on the portal, that request is theirs
    check = portal.verify(tk, impostor.challenge, impostor.code)
    assert check.ok
    report = tk.access([*VISITOR, f"ip={VISITOR_IP}"], request_id=mine.id, record=False)
    assert [r["request_id"] for r in report.to_json()["requests"]] == [impostor.request.id]


def test_a_german_report_holds_no_english_sentence_from_any_template(tk: dsr.Toolkit) -> None:
    """The texts of every part of the report (cover letter, summary, what could not be
    searched, the person's requests, the Art. 15 information, contact) in German, with the
    data rows left out (they are the records as stored)."""
    from html import unescape

    from dsr.render.html import render_html

    nobody = ["email=niemand.hier@nirgends.example"]
    earlier = tk.ledger.open_request(type="erasure", identities=nobody, received=tk.ledger.today())
    tk.ledger.close(earlier.id, "withdrawn")
    req = tk.ledger.open_request(type="access", identities=nobody, received=tk.ledger.today())
    report = tk.access(nobody, lang="de", request_id=req.id, record=False)
    assert report.cover is not None and report.requests and report.not_searched
    html = render_html(report)
    body = html.split("<body>", 1)[1]
    text = unescape(re.sub(r"<[^>]+>", " ", body)).replace("niemand.hier@nirgends.example", "")
    assert ENGLISH.findall(text) == []
    assert "von Ihnen zurückgenommen" in text and "Was wir nicht durchsuchen konnten" in text
