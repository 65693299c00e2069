"""An erased person is not re-created: every erasure records the identities that name one
person as keyed pseudonyms; importers ask before adding someone; the person coming back lifts
it. On SQLite, PostgreSQL and MariaDB, from the library and the command line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from _rights_seed import CLOCK, VISITOR, VISITOR_EMAIL, VISITOR_IP
from sqlalchemy import Engine, select

import dsr
from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.crypto.keys import StaticKeys
from dsr.ledger.tables import audit, suppressions

SECRET = "5a" * 32


@pytest.fixture
def tk(engine: Engine, catalog: Catalog) -> dsr.Toolkit:
    return dsr.Toolkit(engine, catalog, StaticKeys(bytes.fromhex(SECRET)), clock=CLOCK)


def test_an_erased_person_is_suppressed_by_what_names_them_and_nothing_else(
    tk: dsr.Toolkit,
) -> None:
    assert not tk.is_suppressed(*VISITOR)
    dry = tk.erase(VISITOR, dry_run=True)
    assert dry.suppressed == 0 and not tk.is_suppressed(*VISITOR)  # a dry run records nothing
    plan = tk.erase(VISITOR)
    assert plan.verified and plan.suppressed == 1
    # normalised as the catalog normalises: case does not get someone back in
    assert dsr.is_suppressed(tk, f"email={VISITOR_EMAIL.upper()}")
    assert [i.spec for i in tk.suppressed(VISITOR)] == [f"email={VISITOR_EMAIL.lower()}"]
    # the office's IP address is many people's: never suppressed
    assert not tk.is_suppressed(f"ip={VISITOR_IP}")
    assert not tk.is_suppressed("email=someone.else@example.org")
    with tk.engine.connect() as conn:
        rows = conn.execute(select(suppressions)).all()
        trail = " ".join(str(r.details) for r in conn.execute(select(audit)))
    assert len(rows) == 1 and rows[0].reason == "erasure" and rows[0].identity_type == "email"
    assert VISITOR_EMAIL.lower() not in (rows[0].identity + trail).lower()  # a pseudonym only
    assert tk.erase(VISITOR).suppressed == 0  # erased again: still one record


def test_importers_ask_the_command_line_and_the_person_coming_back_lifts_it(
    tk: dsr.Toolkit,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DSR_SECRET", SECRET)
    base = ["--database-url", db_url, "suppression"]
    email = f"email={VISITOR_EMAIL}"
    assert main([*base, "check", email, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"suppressed": [], "checked": 1}
    tk.erase(VISITOR)
    assert main([*base, "check", email, "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["suppressed"] == [email.lower()]
    assert main([*base, "check", email]) == 3
    assert "do not re-create" in capsys.readouterr().out
    assert main([*base, "lift", email, "--reason", ""]) == 1
    assert "say why" in capsys.readouterr().err
    assert main([*base, "lift", email, "--reason", "signed up again, ticket 4711", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"lifted": 1}
    assert main([*base, "check", email]) == 0 and not tk.is_suppressed(email)
    with tk.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit.c.action))]
    assert "suppression.lift" in actions


def test_every_erasure_leaves_a_receipt_the_audit_trail_seals(
    tk: dsr.Toolkit,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from _rights_seed import DUAL, DUAL_EMAIL
    from sqlalchemy import update

    from dsr.ledger.tables import receipts

    monkeypatch.setenv("DSR_SECRET", SECRET)
    out = tmp_path / "receipt.json"
    code = main(["--database-url", db_url, "erase", *DUAL, "--receipt", str(out), "--json"])
    assert code == 3  # the invoice is kept: statutory retention
    plan = json.loads(capsys.readouterr().out)
    receipt = json.loads(out.read_text())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert receipt["receipt"] == "dsr-erasure-receipt" and receipt["verified"] is True
    assert receipt["subject"] == plan["subject"]
    erased = {e["table"]: e for e in receipt["erased"]}
    assert erased["partner_contacts"]["rows"] == 1
    (kept,) = receipt["kept"]
    assert kept["table"] == "invoices" and kept["until"] == "2032-12-31"
    assert "§ 147" in kept["legal_reference"] and len(kept["keys"]) == 1
    text = out.read_text().lower()
    assert DUAL_EMAIL.lower() not in text and "quendelbrueck" not in text
    assert main(["--database-url", db_url, "audit", "verify", "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["ok"] and verdict["receipts"] == 1

    pytest.importorskip("weasyprint")
    page = tmp_path / "receipt.pdf"
    assert main(["--database-url", db_url, "erase", *DUAL, "--receipt", str(page)]) == 3
    assert page.read_bytes().startswith(b"%PDF")
    capsys.readouterr()
    # a receipt altered afterwards no longer matches the hash its audit entry sealed
    with tk.engine.begin() as conn:
        first = conn.execute(select(receipts.c.id, receipts.c.body)).first()
        assert first is not None
        forged = first.body.replace('"verified":true', '"verified":false')
        conn.execute(update(receipts).where(receipts.c.id == first.id).values(body=forged))
    assert main(["--database-url", db_url, "audit", "verify", "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert not verdict["ok"] and f"receipt {first.id} does not match" in verdict["reason"]
    assert main(["--database-url", db_url, "erase", *DUAL, "--dry-run", "--receipt", "x.json"]) == 2


def test_a_receipt_dropped_or_moved_to_another_request_fails_the_audit(tk: dsr.Toolkit) -> None:
    from _rights_seed import DUAL
    from sqlalchemy import text, update

    from dsr.ledger.tables import receipts

    tk.erase(DUAL)
    assert tk.ledger.verify().ok
    with tk.engine.begin() as conn:
        conn.execute(update(receipts).values(request_id=42))
    verdict = tk.ledger.verify()
    assert not verdict.ok and "request or person columns were altered" in str(verdict.reason)
    with tk.engine.begin() as conn:
        conn.execute(text("DROP TABLE dsr_receipts"))
    verdict = tk.ledger.verify()
    assert not verdict.ok and "receipts table is gone" in str(verdict.reason)


def test_an_erasure_that_found_nobody_suppresses_nobody(tk: dsr.Toolkit) -> None:
    plan = tk.erase(["email=typo@nowhere.example"])
    assert not plan.erased() and plan.suppressed == 0
    assert not tk.is_suppressed("email=typo@nowhere.example")
