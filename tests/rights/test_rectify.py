"""Rectification (Art. 16) with Art. 19 notices, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _rights_seed import (
    CARLA,
    CARLA_EMAIL,
    CLOCK,
    DUAL,
    DUAL_EMAIL,
    DUAL_LAST,
    EMPLOYEE,
    snapshot,
)
from sqlalchemy import Engine, func, select

from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.crypto.keys import StaticKeys
from dsr.errors import ValidationError
from dsr.ledger import audit
from dsr.ledger.migrate import create_ledger
from dsr.ledger.tables import supplements
from dsr.rights.rectify import rectify, supplements_for


def _changed_cells(before: dict, after: dict) -> set[tuple[str, int, int]]:  # type: ignore[type-arg]
    out = set()
    for table, rows in before.items():
        assert len(rows) == len(after[table]), table
        for r0, r1 in zip(rows, after[table], strict=True):
            pairs = enumerate(zip(r0, r1, strict=True))
            out |= {(table, r0[0], i) for i, (a, b) in pairs if a != b}
    return out


@pytest.mark.parametrize(
    ("assignment", "where", "rule"),
    [
        ("partner_contacts.email=not-an-address", "partner_contacts.email", "format=email"),
        ("partner_contacts.phone=call me maybe", "partner_contacts.phone", "format=phone"),
        (
            "partner_contacts.first_name=" + "D" * 101,
            "partner_contacts.first_name",
            "max-length=100",
        ),
        ("partner_contacts.last_name=", "partner_contacts.last_name", "not-null"),
        ("partner_contacts.shoe_size=44", "partner_contacts.shoe_size", "known-field"),
        ("payroll.salary=1", "payroll.salary", "known-table"),
        ("customers.created_by=2", "customers.created_by", "no-keys"),
    ],
)
def test_invalid_value_changes_nothing_and_names_table_field_and_rule(
    engine: Engine, catalog: Catalog, keys: StaticKeys, assignment: str, where: str, rule: str
) -> None:
    before = snapshot(engine)
    # a valid assignment first: the invalid one must stop the whole run
    with pytest.raises(ValidationError) as exc:
        rectify(
            engine,
            catalog,
            keys,
            DUAL,
            ["customers.contact_first_name=Dorothea", assignment],
            clock=CLOCK,
        )
    assert exc.value.where == where
    assert rule in exc.value.message
    value = assignment.partition("=")[2]
    if value:
        assert value not in str(exc.value)
    assert snapshot(engine) == before


def test_field_of_another_party_is_refused(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    before = snapshot(engine)
    # the employee created the customer records; the contact's name is not theirs to change
    with pytest.raises(ValidationError) as exc:
        rectify(engine, catalog, keys, EMPLOYEE, ["customers.contact_last_name=X"], clock=CLOCK)
    assert exc.value.where == "customers.contact_last_name"
    assert "own-party" in exc.value.message
    assert snapshot(engine) == before


def test_valid_rectification_changes_exactly_the_field_and_lists_recipients(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    before = snapshot(engine)
    plan = rectify(
        engine,
        catalog,
        keys,
        DUAL,
        ["partner_contacts.phone=+49 (341) 98-76543", "customers.contact_last_name=Quendel"],
        clock=CLOCK,
    )
    after = snapshot(engine)
    cols = {t: [c.name for c in tbl.columns] for t, tbl in _tables().items()}
    changed = {(t, k, cols[t][i]) for t, k, i in _changed_cells(before, after)}
    assert changed == {("partner_contacts", 1, "phone"), ("customers", 1, "contact_last_name")}
    row = dict(zip(cols["partner_contacts"], after["partner_contacts"][0], strict=True))
    assert row["phone"] == "+49341987654" + "3"  # normalised E.164
    data = plan.to_json()
    assert [(c["table"], c["field"], c["rows"], c["evidence"]) for c in data["changes"]] == [
        ("partner_contacts", "phone", 1, False),
        ("customers", "contact_last_name", 1, False),
    ]
    by_recipient = {n["recipient"]: n["items"] for n in data["notices"]}
    assert set(by_recipient) == {"hosting", "microsoft", "microsoft_corporation"}
    assert {(i["table"], i["field"], i["old"], i["new"]) for i in by_recipient["microsoft"]} == {
        ("customers", "contact_last_name", DUAL_LAST, "Quendel")
    }
    assert len(by_recipient["hosting"]) == 2
    # the audit entry has names and counts, never the values
    with engine.connect() as c:
        details = c.execute(
            select(audit.audit.c.details).where(audit.audit.c.action == "rectify")
        ).scalar_one()
        assert audit.verify(c, keys).ok
    assert "Quendel" not in details and "98" not in details and "contact_last_name" in details


def test_evidence_table_gets_a_supplement_not_a_rewrite(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    before = snapshot(engine)
    plan = rectify(engine, catalog, keys, CARLA, ["mca_acceptances.position=CFO"], clock=CLOCK)
    assert snapshot(engine) == before
    assert [c.to_json() for c in plan.changes] == [
        {
            "table": "mca_acceptances",
            "field": "position",
            "rows": 1,
            "action": "supplemented",
            "evidence": True,
        }
    ]
    with engine.connect() as c:
        stored = c.execute(select(supplements)).mappings().one()
        assert b"CFO" not in stored["statement"]  # sealed
        found = supplements_for(c, keys, "mca_acceptances", [1])
    assert found[0]["corrected_value"] == "CFO"
    assert found[0]["recorded_value"] == "Geschäftsführerin"
    assert {n.recipient for n in plan.notices} == {"hosting", "microsoft", "microsoft_corporation"}


def test_dry_run_changes_nothing_and_equals_the_real_plan(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    sets = ["partner_contacts.position=Leitung Einkauf", "mca_acceptances.position=CFO"]
    before = snapshot(engine)
    dry = rectify(engine, catalog, keys, DUAL + CARLA, sets, dry_run=True, clock=CLOCK)
    assert snapshot(engine) == before
    with engine.connect() as c:
        from sqlalchemy import inspect

        if inspect(c).has_table("dsr_audit"):
            assert audit.count(c) == 0
    real = rectify(engine, catalog, keys, DUAL + CARLA, sets, clock=CLOCK)
    d, r = dry.to_json(), real.to_json()
    assert d.pop("dry_run") is True and r.pop("dry_run") is False
    assert d == r


def test_request_outcome_is_recorded(engine: Engine, catalog: Catalog, keys: StaticKeys) -> None:
    from datetime import date

    from dsr.ledger.requests import get_request, open_request

    create_ledger(engine)
    with engine.begin() as c:
        req = open_request(
            c,
            keys,
            catalog,
            type="rectification",
            identities=DUAL,
            received=date(2026, 11, 20),
            clock=CLOCK,
        )
    rectify(
        engine,
        catalog,
        keys,
        DUAL,
        ["partner_contacts.department=IT"],
        request_id=req.id,
        clock=CLOCK,
    )
    with engine.connect() as c:
        done = get_request(c, keys, req.id)
    assert done.status == "in_progress"
    assert done.outcome_log[-1]["action"] == "rectify"
    assert done.outcome_log[-1]["summary"]["changes"][0]["table"] == "partner_contacts"


def test_cli_json_and_printable_letters(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DSR_SECRET", "6b" * 32)
    letters = tmp_path / "letters"
    code = main(
        [
            "--database-url",
            db_url,
            "rectify",
            f"email={DUAL_EMAIL}",
            "--set",
            "partner_contacts.position=<b>Chefin</b>",
            "--notices-dir",
            str(letters),
            "--lang",
            "de",
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["changes"][0]["table"] == "partner_contacts"
    assert data["notices"][0]["items"][0]["new"] == "<b>Chefin</b>"
    files = sorted(letters.iterdir())
    assert [f.name.split("-")[2] for f in files] == ["hosting"]
    for f in files:
        assert "@" not in f.name and "dora" not in f.name.lower()
    html = files[0].read_text("utf-8")
    assert "Mitteilung nach Art. 19 DSGVO" in html
    assert "&lt;b&gt;Chefin&lt;/b&gt;" in html and "<b>Chefin" not in html
    assert f"email={DUAL_EMAIL.lower()}" in html  # the recipient learns whom it concerns
    # an invalid value: exit 1, the message names table.field, never the value
    code = main(
        [
            "--database-url",
            db_url,
            "rectify",
            f"email={CARLA_EMAIL}",
            "--set",
            "customers.contact_email=carla-at-home",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "customers.contact_email" in err and "carla-at-home" not in err


def _tables() -> dict:  # type: ignore[type-arg]
    from dsr.demo import schema

    return dict(schema.metadata.tables)


def test_supplement_count_stays_zero_after_refused_run(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:

    create_ledger(engine)
    with pytest.raises(ValidationError):
        sets = ["mca_acceptances.position=CFO", "mca_acceptances.email=nope"]
        rectify(engine, catalog, keys, CARLA, sets, clock=CLOCK)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(supplements)).scalar_one() == 0
