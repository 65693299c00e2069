"""``dsr demo --dir DIR --json`` builds the demo and prints the keys CLI.md promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsr.cli import main


def test_demo_writes_reports_for_the_promised_people(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "demo"
    assert main(["-v", "--log-format", "json", "demo", "--dir", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    logged = [json.loads(line) for line in captured.err.splitlines()]  # every line a JSON record
    steps = {(r["logger"], r["step"]) for r in logged}
    assert {
        ("dsr.demo", "demo"),
        ("dsr.purge", "plan"),
        ("dsr.purge", "batch"),
        ("dsr.purge", "done"),
        ("dsr.erase", "done"),
        ("dsr.access", "recorded"),
        ("dsr.export", "recorded"),
        ("dsr.migrate", "done"),
    } <= steps
    assert all(r["time"].endswith("Z") and r["level"] in ("debug", "info") for r in logged)
    values = {i.split("=", 1)[1] for p in result["people"] for i in p["identities"]}
    values |= {v.split("@")[0] for v in values if "@" in v}
    assert values and not [v for v in values if v.lower() in captured.err.lower()]
    assert {"database_url", "catalog", "files", "people"} <= set(result)
    assert result["database_url"].startswith("sqlite:///")
    roles = " | ".join(p["role"] for p in result["people"])
    for role in (
        "partner contact, customer contact",
        "created customer records",
        "contact person of a customer",
        "visitor whose web logs",
    ):
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

    # the services run on the demo people, as an organisation would run them
    purged = json.loads((out / "purge" / "report.json").read_text())
    assert sum(r["rows"] for r in purged["rules"]) > 0
    plan = json.loads((out / "purge" / "plan.json").read_text())
    assert [r["rows"] for r in plan["rules"]] == [r["rows"] for r in purged["rules"]]
    assert (out / "export" / "dual-role.zip").stat().st_size > 0
    assert (out / "export" / "dual-role-downloaded.zip").stat().st_size > 0
    refused = json.loads((out / "export" / "employee-not-portable.json").read_text())
    assert refused["nothing_portable"] is True and refused["not_portable"]
    erased = json.loads((out / "erasure" / "dual-role.json").read_text())
    assert {e["table"] for e in erased["erased"]} >= {
        "partner_contacts",
        "newsletter_subscriptions",
    }
    assert {k["table"] for k in erased["kept"]} == {"invoices"}
    assert all(k["until"] and k["legal_reference"] for k in erased["kept"])
    after = json.loads((out / "access" / "dual-role-after-erasure.json").read_text())
    assert set(after["summary"]["by_table"]) == {"invoices"}
    rectified = json.loads((out / "rectification" / "customer-contact.json").read_text())
    assert rectified["changes"] and rectified["notices"]

    # the demo leaves a dsr.toml: in its directory the commands need no options at all
    assert (out / "dsr.toml").exists() and str(out / "dsr.toml") in result["files"]
    monkeypatch.chdir(out)
    for var in ("DSR_DATABASE_URL", "DATABASE_URL", "DSR_KEY_FILE", "DSR_SECRET", "DSR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    visitor = next(p for p in result["people"] if "visitor" in p["role"])
    capsys.readouterr()
    assert main(["access", *visitor["identities"], "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "access report (json)" in captured.err  # a timestamped line: stderr is no terminal
    assert not [v for v in values if v.lower() in captured.err.lower()]
    assert report["summary"]["rows"] > 0
    assert main(["audit", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == audit["entries"] + 1
