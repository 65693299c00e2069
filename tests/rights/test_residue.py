"""Residue: an erasure can end with storage rewritten and a scan that finds nothing of the
person; the scan itself finds what a delete leaves behind, says where, and never the value.
On SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from _rights_seed import CLOCK, DUAL, DUAL_EMAIL, DUAL_LAST
from sqlalchemy import Engine, select

import dsr
from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.crypto.keys import StaticKeys
from dsr.ledger.tables import audit
from dsr.rights.residue import scan_file

SECRET = "6b" * 32


def test_an_erasure_compacts_storage_and_its_scan_is_clean_and_audited(
    engine: Engine,
    catalog: Catalog,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DSR_SECRET", SECRET)
    base = ["--database-url", db_url]
    code = main([*base, "erase", *DUAL, "--compact", "--json"])
    assert code == 3  # the invoice is kept (statutory)
    data = json.loads(capsys.readouterr().out)
    name = engine.dialect.name
    expected = {"sqlite": "VACUUM rewrote", "postgresql": "VACUUM of", "mariadb": "OPTIMIZE"}
    assert data["compacted"].startswith(expected.get(name, "OPTIMIZE"))
    residue = data["residue"]
    with engine.connect() as conn:
        entries = conn.execute(select(audit.c.action, audit.c.details)).all()
    (scanned,) = [json.loads(d) for a, d in entries if a == "residue.scan"]
    assert data["receipt"] is not None and scanned["receipt"] == data["receipt"]
    assert scanned["clean"] is residue["clean"]
    if name == "sqlite":
        assert residue["scanned"] and residue["clean"], residue
        # the kept invoice still names her (restricted, statutory): listed apart, not residue
        assert {f["table"] for f in residue["in_kept_rows"]} == {"invoices"}
        tk = dsr.Toolkit(engine, catalog, StaticKeys(bytes.fromhex(SECRET)), clock=CLOCK)
        # her last name was in the rows erased and anonymised only: nowhere any more
        assert tk.residue_scan(DUAL, values=[DUAL_LAST]).to_json()["findings"] == []
    else:
        note = residue["notes"][0]
        assert "VACUUM" in note or "OPTIMIZE" in note
    assert DUAL_EMAIL.lower() not in json.dumps(residue).lower()  # places, never values


def test_the_scan_finds_what_a_delete_left_says_where_and_never_the_value(
    tmp_path: Path,
    engine: Engine,
    catalog: Catalog,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
) -> None:
    loose = tmp_path / "loose.db"
    c = sqlite3.connect(loose)
    c.execute("PRAGMA secure_delete=OFF")  # what a database without dsr's settings does
    c.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT)")
    c.execute("CREATE INDEX ix_people_email ON people (email)")
    c.executemany(
        "INSERT INTO people (email) VALUES (?)", [(f"u{i}@example.org",) for i in range(400)]
    )
    c.execute("DELETE FROM people WHERE email = 'u200@example.org'")
    c.commit()
    c.close()
    found = scan_file(loose, [("identity 1 (email)", "U200@Example.org")])
    kinds = {f.page_kind for f in found}
    assert "index leaf page" in kinds and "table leaf page" in kinds
    notes = tmp_path / "export.txt"
    notes.write_bytes("Kontakt: u200@EXAMPLE.org\n".encode("utf-16-le"))
    (hit,) = scan_file(notes, [("value 1", "u200@example.org")])
    assert hit.encoding == "utf-16le" and hit.page is None

    monkeypatch.setenv("DSR_SECRET", SECRET)
    code = main(
        [
            "--database-url",
            db_url,
            "residue-scan",
            "email=u200@example.org",
            "--path",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 3 and "index leaf page" in out and "utf-16le" in out
    assert "u200@example.org" not in out.lower()
