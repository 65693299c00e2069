"""Erasure on request (Art. 17): what goes, what is kept and why, FK safety, atomicity."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from _rights_seed import (
    CARLA,
    CLOCK,
    DUAL,
    DUAL_EMAIL,
    DUAL_LAST,
    EMPLOYEE,
    EMPLOYEE_EMAIL,
    EMPLOYEE_LAST,
    VISITOR,
    VISITOR_EMAIL,
    VISITOR_LAST,
    seed,
    snapshot,
)
from sqlalchemy import Engine, inspect, select, text

from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Anchor, Catalog, Period, RetentionRule
from dsr.cli import main
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.demo import schema as s
from dsr.errors import LedgerError
from dsr.ledger import audit
from dsr.ledger.holds import add_hold, release_hold
from dsr.ledger.migrate import create_ledger
from dsr.ledger.tables import restrictions
from dsr.rights.erase import Step, erase, expires_at, last_day_kept
from dsr.subject.graph import SubjectGraph


def _resolve(engine: Engine, catalog: Catalog, ids: list[str]) -> dict[str, list[int]]:
    with engine.connect() as c:
        rec = SubjectGraph(catalog, engine).resolve(c, ids)
    return {t.table.name: [r.key for r in t.rows] for t in rec.tables}


def _ids(engine: Engine, table: str) -> list[int]:
    t = s.metadata.tables[table]
    with engine.connect() as c:
        return list(c.execute(select(t.c.id).order_by(t.c.id)).scalars())


def test_dual_role_invoice_is_kept_with_reason_and_until_the_rest_is_erased(
    engine: Engine,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    catalog: Catalog,
) -> None:
    monkeypatch.setenv("DSR_SECRET", "6b" * 32)
    code = main(["--database-url", db_url, "erase", f"email={DUAL_EMAIL}", "--json"])
    out = capsys.readouterr()
    assert code == 3, out.err
    data = json.loads(out.out)
    erased = {(e["table"], e["action"]): e["rows"] for e in data["erased"]}
    assert erased == {
        ("partner_contacts", "deleted"): 1,
        ("contact_requests", "deleted"): 1,
        ("newsletter_subscriptions", "deleted"): 1,
        ("invoices", "deleted"): 1,  # the 2015 invoice: its 8 years ended on 1 January 2024
        ("customers", "anonymised"): 1,
    }
    [kept] = data["kept"]
    assert kept["table"] == "invoices" and kept["rows"] == 1
    assert kept["action"] == "restricted"
    assert kept["until"] == "2032-12-31"
    assert "statutory retention" in kept["reason"]
    assert "147" in kept["legal_reference"] and "17(3)(b)" in kept["legal_reference"]
    assert {n["recipient"] for n in data["notices"]} >= {"hosting", "tax_advisor", "microsoft"}
    tax = next(n for n in data["notices"] if n["recipient"] == "tax_advisor")
    assert tax["items"] == [{"table": "invoices", "rows": 1, "action": "deleted"}]
    assert tax["about"] == [f"email={DUAL_EMAIL.lower()}"]
    # the invoice stays, the newsletter row and the partner contact are gone
    assert _ids(engine, "invoices") == [1, 3]
    assert _ids(engine, "newsletter_subscriptions") == [2]
    assert _ids(engine, "partner_contacts") == [2]
    # resolving the person again finds only what was kept
    assert _resolve(engine, catalog, DUAL) == {"invoices": [1]}
    with engine.connect() as c:
        cust = c.execute(select(s.customers).where(s.customers.c.id == 1)).mappings().one()
        marks = c.execute(select(restrictions)).mappings().all()
        entry = (
            c.execute(select(audit.audit).where(audit.audit.c.action == "erase")).mappings().one()
        )
    assert cust["contact_email"] == "erased-1@invalid" and cust["customer_number"] is None
    assert cust["contact_last_name"] == "erased" and cust["company_name"] == "Kunde 1 AG"
    assert [(m["table_name"], m["row_key"], m["until"]) for m in marks] == [
        ("invoices", "1", date(2032, 12, 31))
    ]
    assert entry["subject"].startswith("ps_")
    assert DUAL_LAST not in entry["details"] and "quendel" not in entry["details"].lower()


def test_legal_holds_keep_only_what_they_cover(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    create_ledger(engine)
    with engine.begin() as c:
        table_hold = add_hold(
            c,
            keys,
            catalog,
            table="newsletter_subscriptions",
            reason="litigation",
            until=date(2027, 6, 30),
            clock=CLOCK,
        )
        person_hold = add_hold(
            c,
            keys,
            catalog,
            table="contact_requests",
            identities=DUAL,
            reason="authority order",
            clock=CLOCK,
        )
    plan = erase(engine, catalog, keys, DUAL, clock=CLOCK)
    kept = {k.table: k for k in plan.kept}
    assert set(kept) == {"invoices", "newsletter_subscriptions", "contact_requests"}
    assert kept["newsletter_subscriptions"].holds == (table_hold,)
    assert kept["newsletter_subscriptions"].until == date(2027, 6, 30)
    assert kept["contact_requests"].holds == (person_hold,)
    assert kept["contact_requests"].until is None
    assert kept["contact_requests"].to_json()["legal_reference"].startswith("Art. 17(3)(e)")
    assert _ids(engine, "newsletter_subscriptions") == [1, 2]
    assert _ids(engine, "contact_requests") == [1, 2]
    assert _ids(engine, "partner_contacts") == [2]  # everything else went
    # a released hold no longer keeps anything
    with engine.begin() as c:
        release_hold(c, keys, table_hold, CLOCK)
    again = erase(engine, catalog, keys, DUAL, clock=CLOCK)
    assert {k.table for k in again.kept} == {"invoices", "contact_requests"}
    assert _ids(engine, "newsletter_subscriptions") == [2]


def test_finished_holds_and_requests_forget_the_persons_sealed_identities(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    from dsr.ledger.requests import close_request, get_request, open_request
    from dsr.ledger.tables import holds

    create_ledger(engine)
    with engine.begin() as c:
        released = add_hold(
            c,
            keys,
            catalog,
            table="contact_requests",
            identities=DUAL,
            reason="closed case",
            clock=CLOCK,
        )
        release_hold(c, keys, released, CLOCK)
        active = add_hold(
            c,
            keys,
            catalog,
            table="newsletter_subscriptions",
            identities=DUAL,
            reason="open case",
            clock=CLOCK,
        )
        earlier = open_request(
            c,
            keys,
            catalog,
            type="access",
            identities=DUAL,
            received=date(2026, 11, 2),
            clock=CLOCK,
        )
        close_request(c, keys, earlier.id, "answered", CLOCK, catalog=catalog)
        current = open_request(
            c,
            keys,
            catalog,
            type="erasure",
            identities=DUAL,
            received=date(2026, 11, 20),
            clock=CLOCK,
        )
    dry = erase(engine, catalog, keys, DUAL, dry_run=True, clock=CLOCK)
    assert dry.to_json()["ledger_identities_erased"] == {"holds": 1, "requests": 1}
    plan = erase(engine, catalog, keys, DUAL, request_id=current.id, clock=CLOCK)
    assert plan.ledger_identities() == {"holds": 1, "requests": 1}
    with engine.connect() as c:
        sealed = dict(c.execute(select(holds.c.id, holds.c.identities_enc)).all())
        assert sealed[released] is None and sealed[active] is not None  # the active one protects
        assert get_request(c, keys, earlier.id, with_identities=True).identities == (
            "(erased with the person's data)",
        )
        assert get_request(c, keys, current.id, with_identities=True).identities == (
            DUAL[0].lower(),  # normalised, still there: this erasure's request is open
        )
        assert audit.verify(c, keys).ok
    again = erase(engine, catalog, keys, DUAL, request_id=current.id, clock=CLOCK)
    assert again.ledger_identities() == {"holds": 0, "requests": 0}


def test_referenced_account_is_anonymised_not_deleted(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    # customers.created_by references the employee's account (NOT NULL): deleting it would fail
    plan = erase(engine, catalog, keys, EMPLOYEE, clock=CLOCK)
    kept = {k.table: k.to_json() for k in plan.kept}
    assert kept["user_accounts"]["action"] == "anonymised"
    assert kept["user_accounts"]["reason"].startswith("referenced by customers.created_by")
    assert kept["customers"]["rows"] == 2 and kept["customers"]["action"] == "kept"
    assert _ids(engine, "user_accounts") == [1, 2, 3]
    assert _ids(engine, "usage_log") == [4, 5, 6, 7, 8, 9]
    with engine.connect() as c:
        acc = c.execute(select(s.user_accounts).where(s.user_accounts.c.id == 1)).mappings().one()
    assert acc["email"] == "erased-1@invalid" and acc["last_name"] == "erased"
    assert acc["phone"] is None and acc["password_hash"] == "erased"
    assert _resolve(engine, catalog, EMPLOYEE) == {}


def test_on_delete_restrict_turns_delete_into_anonymisation_without_partial_erasure(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    # a catalog that deletes customer rows: Carla's is referenced by her agreement acceptance
    # (mca_acceptances.customer_id, ON DELETE RESTRICT), which statutory retention keeps
    customers = catalog.tables["customers"]
    contact = dataclasses.replace(customers.parties["contact"], erase="delete_row")
    deleting = dataclasses.replace(customers, parties={**customers.parties, "contact": contact})
    strict = dataclasses.replace(catalog, tables={**catalog.tables, "customers": deleting})
    plan = erase(engine, strict, keys, CARLA, clock=CLOCK)
    kept = {k.table: k.to_json() for k in plan.kept}
    assert kept["mca_acceptances"]["action"] == "restricted"
    assert kept["mca_acceptances"]["until"] == "2031-12-31"
    assert kept["customers"]["action"] == "anonymised"
    assert kept["customers"]["reason"].startswith("referenced by mca_acceptances.customer_id")
    assert _ids(engine, "customers") == [1, 2, 3]
    assert _ids(engine, "mca_acceptances") == [1, 2]
    # the same catalog deletes Dora's customer row, which nothing references
    erase(engine, strict, keys, DUAL, clock=CLOCK)
    assert _ids(engine, "customers") == [2, 3]


def test_dry_run_equals_the_real_run_and_changes_nothing(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    people = DUAL + EMPLOYEE
    before = snapshot(engine)
    with engine.connect() as conn:
        audit_before = conn.execute(text("SELECT COUNT(*) FROM dsr_audit")).scalar()
    dry = erase(engine, catalog, keys, people, dry_run=True, clock=CLOCK)
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM dsr_audit")).scalar() == audit_before
    real = erase(engine, catalog, keys, people, clock=CLOCK)
    d, r = dry.to_json(), real.to_json()
    assert d.pop("dry_run") is True and r.pop("dry_run") is False
    # what only a real run does: verify itself before commit, suppress the person
    assert (d.pop("verified"), d.pop("suppressed"), d.pop("receipt")) == (False, 0, None)
    assert r.pop("verified") is True and r.pop("suppressed") >= 1 and r.pop("receipt")
    assert d == r
    assert snapshot(engine) != before


def test_without_a_ledger_a_dry_run_works_and_an_erasure_refuses_changing_nothing(
    db_url: str, catalog: Catalog, keys: StaticKeys
) -> None:
    bare = connect(db_url)
    try:
        seed(bare)
        before = snapshot(bare)
        plan = erase(bare, catalog, keys, DUAL, dry_run=True, clock=CLOCK)
        assert plan.erased  # the plan is made without the ledger
        with pytest.raises(LedgerError, match="run 'dsr init' first"):
            erase(bare, catalog, keys, DUAL, clock=CLOCK)
        assert snapshot(bare) == before
        assert not [t for t in inspect(bare).get_table_names() if t.startswith("dsr_")]
    finally:
        bare.dispose()


def test_failure_mid_way_rolls_everything_back(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    before = snapshot(engine)
    done: list[str] = []

    def crash_on_second(step: Step) -> None:
        done.append(f"{step.kind} {step.table}")
        if len(done) == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        erase(engine, catalog, keys, DUAL, clock=CLOCK, after_step=crash_on_second)
    assert len(done) == 2  # a first statement ran ...
    assert snapshot(engine) == before  # ... and was rolled back with the rest
    with engine.connect() as c:
        assert audit.count(c) == 0
        assert c.execute(select(restrictions)).first() is None
    # the next run does the whole erasure
    erase(engine, catalog, keys, DUAL, clock=CLOCK)
    assert _resolve(engine, catalog, DUAL) == {"invoices": [1]}


def test_the_erasure_verifies_itself_before_commit_and_rolls_back_what_remains(
    engine: Engine, catalog: Catalog, keys: StaticKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row the plan did not know (a sign-up written in the erasure's own transaction while
    it ran) is found by the lookup the erasure runs again before commit: nothing is changed,
    and nothing recorded."""
    from sqlalchemy import Connection, insert

    from dsr.errors import ErasureError
    from dsr.rights import erase as erase_module

    before = snapshot(engine)
    real_apply = erase_module.apply_erasure

    def apply_with_interloper(conn: Connection, *args: object, **kwargs: object) -> object:
        def sign_up_again(step: Step) -> None:
            if step.table == "newsletter_subscriptions" and step.reference is None:
                conn.execute(
                    insert(s.newsletter_subscriptions).values(
                        id=99,
                        email=DUAL_EMAIL,
                        first_name="Dora",
                        topics="Azure",
                        consented_at=datetime(2026, 11, 25),
                        consent_text_version="NL-2023",
                    )
                )

        return real_apply(conn, *args, **{**kwargs, "after_step": sign_up_again})  # type: ignore[arg-type]

    monkeypatch.setattr(erase_module, "apply_erasure", apply_with_interloper)
    with pytest.raises(ErasureError, match=r"newsletter_subscriptions \(1\)"):
        erase(engine, catalog, keys, DUAL, clock=CLOCK)
    assert snapshot(engine) == before
    with engine.connect() as c:
        assert audit.count(c) == 0
    monkeypatch.setattr(erase_module, "apply_erasure", real_apply)
    # without the interloper the same erasure passes its own verification
    erase(engine, catalog, keys, DUAL, clock=CLOCK)
    assert _resolve(engine, catalog, DUAL) == {"invoices": [1]}


def test_nothing_kept_exits_0_and_request_outcome_recorded(
    engine: Engine,
    db_url: str,
    catalog: Catalog,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dsr.crypto.keys import key_provider
    from dsr.ledger.requests import get_request, open_request

    monkeypatch.setenv("DSR_SECRET", "6b" * 32)
    keys = key_provider()
    create_ledger(engine)
    with engine.begin() as c:
        req = open_request(
            c,
            keys,
            catalog,
            type="erasure",
            identities=VISITOR,
            received=date(2026, 11, 20),
            clock=CLOCK,
        )
    args = ["--database-url", db_url, "erase", *VISITOR, "--request", str(req.id), "--json"]
    code = main(args)
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["kept"] == []
    assert {(e["table"], e["rows"]) for e in data["erased"]} == {
        ("usage_log", 4),
        ("user_accounts", 1),
    }
    assert [st["table"] for st in data["steps"]] == ["usage_log", "user_accounts"]
    assert _resolve(engine, catalog, VISITOR) == {}
    with engine.connect() as c:
        done = get_request(c, keys, req.id)
        assert audit.verify(c, keys).ok
    assert done.outcome_log[-1]["action"] == "erase"


def test_expiry_arithmetic() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    invoices = load_catalog().retention["invoices"]  # 8 years from the end of the year
    assert expires_at(invoices, date(2025, 3, 15), "Europe/Berlin") == datetime(
        2034, 1, 1, tzinfo=berlin
    )
    assert last_day_kept(expires_at(invoices, date(2025, 12, 31), "Europe/Berlin")) == date(
        2033, 12, 31
    )
    monthly = RetentionRule(
        id="m",
        period=Period.parse("1 month"),
        anchor=Anchor(column="ts"),
        action="delete",
        legal_reference="x",
    )
    end = expires_at(monthly, datetime(2025, 1, 31, 8, 0), "Europe/Berlin")
    # no day of February reaches back to 31 January: the purge deletes on 1 March
    assert (end.month, end.day, end.hour) == (3, 1, 0)
    assert last_day_kept(end) == date(2025, 2, 28)
    mid = expires_at(monthly, datetime(2025, 1, 15, 8, 0), "Europe/Berlin")
    assert (mid.month, mid.day, mid.hour) == (2, 15, 8)
    aware = expires_at(monthly, datetime(2025, 1, 31, 23, 30, tzinfo=timezone.utc), "Europe/Berlin")
    assert (aware.month, aware.day) == (3, 1)  # 00:30 on 1 February in Berlin, plus a month


def test_sqlite_residue_scan(tmp_path: Path, catalog: Catalog, keys: StaticKeys) -> None:
    """After erasure neither the database file nor its journal holds the person's data."""
    path = tmp_path / "residue.db"
    engine = connect(f"sqlite:///{path}")
    seed(engine)
    create_ledger(engine)
    needles = [
        n.encode()
        for n in (
            VISITOR_EMAIL,
            VISITOR_EMAIL.lower(),
            VISITOR_LAST,
            EMPLOYEE_EMAIL,
            EMPLOYEE_EMAIL.lower(),
            EMPLOYEE_LAST,
        )
    ]

    def scan() -> bytes:
        return b"".join(
            p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("residue.db")
        )

    before = scan()
    assert all(n in before for n in needles)  # the scan can see them
    erase(engine, catalog, keys, VISITOR, clock=CLOCK)
    erase(engine, catalog, keys, EMPLOYEE, clock=CLOCK)  # account kept, anonymised
    engine.dispose()
    after = scan()
    assert [n for n in needles if n in after] == []
    wal = tmp_path / "residue.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated


def test_lock_held_by_another_run_changes_nothing(
    engine: Engine,
    db_url: str,
    catalog: Catalog,
    keys: StaticKeys,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dsr.errors import LockBusy
    from dsr.ledger.lock import exclusive

    before = snapshot(engine)
    monkeypatch.setenv("DSR_SECRET", "6b" * 32)
    with exclusive(engine):
        with pytest.raises(LockBusy):
            erase(engine, catalog, keys, DUAL, clock=CLOCK)
        code = main(["--database-url", db_url, "erase", f"email={DUAL_EMAIL}"])
    assert code == 75 and "lock" in capsys.readouterr().err
    assert snapshot(engine) == before


def test_erased_rows_take_their_supplements_and_restriction_marks_along(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    from dsr.ledger.tables import supplements
    from dsr.rights.rectify import rectify
    from dsr.rights.restrict import restrict

    xaver = ["email=xaver@kunde-drei.example"]
    rectify(engine, catalog, keys, xaver, ["mca_acceptances.position=Vorstand"], clock=CLOCK)
    rectify(engine, catalog, keys, CARLA, ["mca_acceptances.position=CFO"], clock=CLOCK)
    restrict(engine, catalog, keys, xaver, "accuracy contested", clock=CLOCK)
    plan = erase(engine, catalog, keys, xaver, clock=CLOCK)
    # the 2015 acceptance is past its six years: deleted, with the corrected value sealed for it
    assert {(e["table"], e["action"]) for e in plan.erased()} == {
        ("mca_acceptances", "deleted"),
        ("customers", "anonymised"),
    }
    with engine.connect() as c:
        notes = [(r.table_name, r.row_key) for r in c.execute(select(supplements))]
        marks = [(r.table_name, r.row_key) for r in c.execute(select(restrictions))]
    assert notes == [("mca_acceptances", "1")]  # Carla's, on a row that stays
    assert marks == [("customers", "3")]  # the anonymised row keeps its mark


def test_rows_the_erasure_anonymised_may_still_be_reached_and_it_commits(
    engine: Engine, keys: StaticKeys, tmp_path: Path
) -> None:
    """A note on a kept invoice is anonymised yet still reached through the invoice; a card
    whose member number cannot be cleared (an integer NOT NULL) is anonymised yet still found
    by it. Both are what the plan said: the verification lets them pass."""
    import shutil

    folder = tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(Path(__file__).parents[2] / "policies" / "comparex.yaml", folder)
    shutil.copy(Path(__file__).parent / "data" / "anonymised_but_reachable.yaml", folder)
    with engine.begin() as c:
        c.execute(
            text(
                "CREATE TABLE invoice_notes (id INTEGER PRIMARY KEY, "
                "invoice_id INTEGER NOT NULL, note VARCHAR(200))"
            )
        )
        c.execute(
            text(
                "CREATE TABLE loyalty_cards (id INTEGER PRIMARY KEY, "
                "member_no INTEGER NOT NULL, email VARCHAR(200), name VARCHAR(200))"
            )
        )
        c.execute(text("INSERT INTO invoice_notes VALUES (1, 1, 'paid late')"))
        c.execute(
            text("INSERT INTO loyalty_cards VALUES (1, 1001, 'card@example.org', 'Card Holder')")
        )
    catalog = load_catalog(folder)
    try:
        plan = erase(engine, catalog, keys, DUAL, clock=CLOCK)
        assert plan.verified and ("invoice_notes", "anonymised") in {
            (e["table"], e["action"]) for e in plan.erased()
        }
        card = erase(engine, catalog, keys, ["customer_number=1001"], clock=CLOCK)
        assert card.verified
        with engine.connect() as c:
            assert c.execute(text("SELECT note FROM invoice_notes")).scalar_one() is None
            assert c.execute(text("SELECT email FROM loyalty_cards")).scalar_one() is None
    finally:
        with engine.begin() as c:
            c.execute(text("DROP TABLE invoice_notes"))
            c.execute(text("DROP TABLE loyalty_cards"))
