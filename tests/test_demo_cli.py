"""``dsr demo --dir DIR --json`` builds the demo and prints the keys CLI.md promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsr.cli import main


def test_demo_writes_reports_for_the_promised_people(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--dir", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"database_url", "catalog", "files", "people"} <= set(result)
    assert result["database_url"].startswith("sqlite:///")
    roles = " | ".join(p["role"] for p in result["people"])
    for role in ("partner contact, customer contact", "created customer records",
                 "contact person of a customer", "visitor whose web logs"):  # fmt: skip
        assert role in roles
    assert all(
        i.split("=")[0] in ("email", "ip") for p in result["people"] for i in p["identities"]
    )
    files = [Path(f) for f in result["files"]]
    assert files and all(f.exists() and f.stat().st_size > 0 for f in files)
    assert {f.suffix for f in files} >= {".json", ".html", ".pdf"}
    emails = [i.split("=", 1)[1] for p in result["people"] for i in p["identities"]]
    for f in files:  # file names carry roles, never personal data
        assert not any(e.split("@")[0] in f.name for e in emails)
    audit = json.loads((out / "audit-verify.json").read_text())
    assert audit["ok"] is True and audit["entries"] >= 12
