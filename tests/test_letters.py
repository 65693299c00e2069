"""Letters to the data subject, on every engine: the legally required content, in English and
German, read back from the PDF; recorded on the request; refusals gate closing as refused;
a negative answer only where the recorded search found nothing."""

from __future__ import annotations

import io
import json
import re
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest
from _rights_seed import CLOCK, DUAL, DUAL_EMAIL, EMPLOYEE, NOW, seed
from sqlalchemy import select

import dsr
from dsr.cli import main
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.errors import RequestError
from dsr.ledger.migrate import create_ledger
from dsr.ledger.tables import audit as audit_table
from dsr.letters import letters_of

KEYS = StaticKeys(b"l" * 32)
RECEIVED = NOW.date()
UNKNOWN = ["email=niemand.hier@nirgends.example"]


@pytest.fixture
def tk(db_url: str) -> Iterator[dsr.Toolkit]:
    engine = connect(db_url)
    seed(engine)
    create_ledger(engine)
    yield dsr.Toolkit(engine, dsr.load_catalog(), KEYS, clock=CLOCK)
    engine.dispose()


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The options a CLI call of these tests starts with (the toolkit's key, as hex)."""
    monkeypatch.setenv("DSR_SECRET", "6c" * 32)
    return ["--database-url", db_url]


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def letter_text(tk: dsr.Toolkit, request_id: int, kind: str, lang: str, **kw: Any) -> str:
    _, document = tk.ledger.letter(request_id, kind, lang=lang, fmt="pdf", **kw)
    assert document.startswith(b"%PDF")
    return pdf_text(document)


#: words of English running text that a German letter must not contain
ENGLISH = re.compile(r"\b(the|and|your|request|we|our|of|records?|kept|until)\b", re.IGNORECASE)


def german_only(text: str) -> list[str]:
    return ENGLISH.findall(text)


def test_acknowledgement_gives_receipt_and_due_date(tk: dsr.Toolkit) -> None:
    req = tk.ledger.open_request(type="access", identities=DUAL, received=RECEIVED)
    en = letter_text(tk, req.id, "acknowledgement", "en")
    assert "25 November 2026" in en and "28 December 2026" in en  # received, due (Art. 12(3))
    assert "two further months" in en and f"DSR-{req.id}" in en
    de = letter_text(tk, req.id, "acknowledgement", "de")
    assert "25.11.2026" in de and "28.12.2026" in de and "Art. 12 Abs. 3 Satz 1 DSGVO" in de
    assert german_only(de) == []
    # recorded twice, without the letter's text; the request stays open
    again = tk.ledger.request(req.id)
    assert again.status == "open"
    recorded = letters_of(again)
    assert [(r["kind"], r["lang"], r["format"]) for r in recorded] == [
        ("acknowledgement", "en", "pdf"),
        ("acknowledgement", "de", "pdf"),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["sha256"]) for r in recorded)
    assert DUAL_EMAIL.lower() not in json.dumps(again.to_json()).lower()


def test_refusal_states_grounds_and_remedies_and_gates_closing(tk: dsr.Toolkit) -> None:
    req = tk.ledger.open_request(type="portability", identities=DUAL, received=RECEIVED)
    with pytest.raises(RequestError, match="refusal letter"):
        tk.ledger.close(req.id, refused=True)
    with pytest.raises(RequestError, match="states its reasons"):
        tk.ledger.letter(req.id, "refusal")
    with pytest.raises(RequestError, match="is for erasure requests"):
        tk.ledger.letter(req.id, "refusal", grounds=["legal_claims"])
    with pytest.raises(RequestError, match="needs the facts"):
        tk.ledger.letter(req.id, "refusal", grounds=["excessive"])
    en = letter_text(tk, req.id, "refusal", "en", grounds=["portability_not_applicable"])
    assert "Art. 20(1)(a) and (b)" in en and "Art. 15(3)" in en  # not met; a copy offered
    assert "Art. 77" in en and "Art. 79(2)" in en  # complaint, judicial remedy
    assert "Saxon Data Protection and Transparency Commissioner" in en
    assert "Postfach 11 01 32, 01330 Dresden" in en
    de = letter_text(
        tk,
        req.id,
        "refusal",
        "de",
        grounds=["portability_not_applicable"],
        reasons=["Die Daten betreffen Ihr Arbeitsverhältnis beim Partner."],
        partial=True,
    )
    assert "nur teilweise" in de and "Art. 20 Abs. 1 lit. a" in de
    assert "Sächsische Datenschutz- und Transparenzbeauftragte" in de
    assert "Art. 77 DSGVO" in de and "Art. 79 Abs. 2 DSGVO" in de
    assert "Arbeitsverhältnis beim Partner" in de
    assert german_only(de) == []
    closed = tk.ledger.close(req.id, refused=True)
    assert closed.status == "closed" and closed.outcome == "refused"


def test_negative_answer_describes_the_record_and_nothing_else(tk: dsr.Toolkit) -> None:
    req = tk.ledger.open_request(type="access", identities=UNKNOWN, received=RECEIVED)
    en = letter_text(tk, req.id, "negative", "en")
    assert "We hold no personal data about you under the identifiers you gave" in en
    assert "niemand.hier@nirgends.example" in en  # the identifiers searched: the person's own
    assert "3 years after the request was closed" in en and "Art. 5(2)" in en
    assert DUAL_EMAIL.lower() not in en.lower()
    de = letter_text(tk, req.id, "negative", "de")
    assert "3 Jahre nach Abschluss des Antrags" in de and german_only(de) == []
    # the letter searches exactly the request's identities: one unknown address beside a
    # known one gets no negative answer
    mixed = tk.ledger.open_request(type="access", identities=UNKNOWN + DUAL, received=RECEIVED)
    with pytest.raises(RequestError, match="would be untrue"):
        tk.ledger.letter(mixed.id, "negative")


def test_completion_of_an_erasure_says_what_was_kept_until_when_and_why(
    tk: dsr.Toolkit,
) -> None:
    req = tk.ledger.open_request(type="erasure", identities=DUAL, received=RECEIVED)
    with pytest.raises(RequestError, match="nothing was recorded"):
        tk.ledger.letter(req.id, "completion")
    plan = tk.erase(DUAL, request_id=req.id)
    kept = {k["table"]: k for k in plan.to_json()["kept"]}
    assert kept["invoices"]["until"] == "2032-12-31"
    en = letter_text(tk, req.id, "completion", "en")
    assert "Erased: 1 record in “Partner contact persons”" in en
    assert "until 31 December 2032" in en and "§ 147(1) no. 4" in en
    assert "Under Art. 19 GDPR we inform" in en and "Hosting service provider" in en
    assert "Art. 77" in en  # keeping records refuses in part: the remedies are told
    de = letter_text(tk, req.id, "completion", "de")
    assert "Gelöscht: 1 Datensatz in „Ansprechpartner der Partner“" in de
    assert "bis zum 31.12.2032 gesetzlich zur Aufbewahrung verpflichtet" in de
    assert german_only(de) == []
    assert tk.ledger.request(req.id).status == "in_progress"  # the letter does not advance it
    access = tk.ledger.open_request(type="access", identities=DUAL, received=RECEIVED)
    tk.access(DUAL, request_id=access.id)
    with pytest.raises(RequestError, match="answered with its report"):
        tk.ledger.letter(access.id, "completion")


def test_an_objection_is_completed_by_its_restriction_while_it_is_assessed(
    tk: dsr.Toolkit,
) -> None:
    req = tk.ledger.open_request(type="objection", identities=DUAL, received=RECEIVED)
    with pytest.raises(RequestError, match="nothing was recorded"):
        tk.ledger.letter(req.id, "completion")
    tk.restrict(DUAL, "objection under assessment (Art. 21(1), Art. 18(1)(d))", request_id=req.id)
    en = letter_text(tk, req.id, "completion", "en")
    assert "Restricted (stored only" in en and "“Newsletter subscriptions”" in en
    de = letter_text(tk, req.id, "completion", "de")
    assert german_only(de) == []


def test_completion_counts_a_record_anonymised_because_others_refer_to_it(
    tk: dsr.Toolkit,
) -> None:
    """The employee's account stays because customer records refer to it, with her fields
    removed: that is work done, not "nothing changed" (seen on the Chinook corpus)."""
    req = tk.ledger.open_request(type="erasure", identities=EMPLOYEE, received=RECEIVED)
    plan = tk.erase(EMPLOYEE, request_id=req.id)
    kept = {k["table"]: k["action"] for k in plan.to_json()["kept"]}
    assert kept["user_accounts"] == "anonymised"
    en = letter_text(tk, req.id, "completion", "en")
    assert "No records needed to be changed" not in en
    assert "Anonymised (your personal fields removed, the record kept): 1 record in" in en
    assert "other records we must keep refer to them" in en


def test_extension_letter_from_the_cli_names_reasons_and_new_date(
    tk: dsr.Toolkit, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tk.ledger.open_request(type="access", identities=DUAL, received=RECEIVED)
    out = tmp_path / "extension.pdf"
    base = cli
    code = main(
        [
            *base,
            "request",
            "extend",
            str(req.id),
            "--months",
            "2",
            "--reason",
            "Ihre Daten liegen in drei Systemen, die wir von Hand durchsuchen.",
            "--letter",
            str(out),
            "--lang",
            "de",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    shown = json.loads(captured.out)
    assert [e["action"] for e in shown["outcome_log"]] == ["letter.extension"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = pdf_text(out.read_bytes())
    assert "um 2 Monate" in text and shown["due"] == "2027-02-25"
    # a request closed as refused in words needs the letter as much as with --refused
    with pytest.raises(RequestError, match="refusal letter"):
        tk.ledger.close(req.id, "Refused")
    assert "25.02.2027" in text and "28.12.2026" in text  # new and original due dates
    assert "drei Systemen" in text and german_only(text) == []
    # without an extension there is nothing to announce
    other = tk.ledger.open_request(type="access", identities=DUAL, received=RECEIVED)
    code = main([*base, "letter", "extension", "--request", str(other.id)])
    assert code == 1 and "no extension" in capsys.readouterr().err
    # a letter that cannot be written stops the extension before anything is recorded
    nowhere = tmp_path / "missing" / "extension.pdf"
    extend = ["request", "extend", str(other.id), "--months", "1", "--reason", "busy"]
    code = main([*base, *extend, "--letter", str(nowhere)])
    assert code == 2 and "cannot write into" in capsys.readouterr().err
    assert tk.ledger.request(other.id).extension is None


def test_cli_letter_to_stdout_and_misuse(
    tk: dsr.Toolkit, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tk.ledger.open_request(type="access", identities=DUAL, received=RECEIVED)
    base = cli
    assert main([*base, "letter", "acknowledgement", "--request", str(req.id)]) == 0
    html = capsys.readouterr().out
    assert html.startswith("<!DOCTYPE html>") and 'name="viewport"' in html
    assert main([*base, "letter", "acknowledgement", "--request", str(req.id), "--partial"]) == 2
    assert "for a refusal letter" in capsys.readouterr().err
    assert main([*base, "letter", "completion", "--request", "999"]) == 1
    err = capsys.readouterr().err
    assert "999" in err and "Traceback" not in err
    # the audit trail records that letters were made, never their text or the address
    with tk.engine.connect() as c:
        details = [d for (d,) in c.execute(select(audit_table.c.details))]
    assert DUAL_EMAIL.lower() not in json.dumps(details).lower()


def test_refused_close_from_the_cli(
    tk: dsr.Toolkit, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tk.ledger.open_request(type="erasure", identities=DUAL, received=RECEIVED)
    base = cli
    assert main([*base, "request", "close", str(req.id), "--refused"]) == 1
    assert "refusal letter" in capsys.readouterr().err
    out = tmp_path / "refusal.html"
    args = ["letter", "refusal", "--request", str(req.id), "--ground", "legal_claims"]
    assert main([*base, *args, "-o", str(out)]) == 0
    assert "Art. 17(3)(e)" in out.read_text(encoding="utf-8")
    assert main([*base, "request", "close", str(req.id), "--refused", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "refused"


def test_letters_that_would_come_too_late_or_untrue_are_refused(tk: dsr.Toolkit) -> None:
    from dsr.clock import FixedClock

    req = tk.ledger.open_request(
        type="access", identities=DUAL, received=RECEIVED, verified_by="reply from the address"
    )
    later = dsr.Toolkit(tk.engine, tk.catalog, KEYS, clock=FixedClock(CLOCK.now() + timedelta(40)))
    # the first month is over: neither receipt nor an extension can be told any more
    for kind in ("acknowledgement", "extension"):
        with pytest.raises(RequestError, match="first month ended"):
            later.ledger.letter(req.id, kind)
    with pytest.raises(RequestError, match="identity was verified"):
        tk.ledger.letter(req.id, "refusal", grounds=["identity_not_verified"])
    tk.ledger.close(req.id, "answered")
    with pytest.raises(RequestError, match="before it is closed"):
        tk.ledger.letter(req.id, "acknowledgement")
    assert letters_of(tk.ledger.request(req.id)) == []
