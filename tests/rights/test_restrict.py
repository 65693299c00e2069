"""Restriction of processing (Art. 18) and its lifting after informing the person (18(3))."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from _rights_seed import CLOCK, DUAL, DUAL_EMAIL, EMPLOYEE, snapshot
from sqlalchemy import Engine, select

from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.crypto.keys import StaticKeys
from dsr.errors import ValidationError
from dsr.ledger import audit
from dsr.ledger.tables import restrictions
from dsr.rights.erase import erase
from dsr.rights.restrict import active_restrictions, lift, restrict


def _marks(engine: Engine) -> list[dict]:  # type: ignore[type-arg]
    with engine.connect() as c:
        return [
            dict(r) for r in c.execute(select(restrictions).order_by(restrictions.c.id)).mappings()
        ]


def test_restrict_marks_every_row_about_the_person_once(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    before = snapshot(engine)
    result = restrict(engine, catalog, keys, DUAL, "accuracy contested", clock=CLOCK)
    assert snapshot(engine) == before  # the data itself is untouched
    assert {e["table"]: e["rows"] for e in result.entries()} == {
        "partner_contacts": 1,
        "customers": 1,
        "contact_requests": 1,
        "newsletter_subscriptions": 1,
        "invoices": 2,
    }
    marks = _marks(engine)
    assert len(marks) == 6
    assert {(m["table_name"], m["row_key"]) for m in marks} >= {
        ("invoices", "1"),
        ("invoices", "2"),
    }
    assert all(m["subject"].startswith("ps_") and m["lifted_at"] is None for m in marks)
    assert all(m["reason"] == "accuracy contested" for m in marks)
    # again: nothing new, everything already restricted
    again = restrict(engine, catalog, keys, DUAL, "accuracy contested", clock=CLOCK)
    assert sum(again.counts.values()) == 0 and sum(again.already.values()) == 6
    assert len(_marks(engine)) == 6
    with engine.connect() as c:
        assert active_restrictions(c, "invoices", [1, 2, 3]) == {"1", "2"}
        entry = c.execute(select(audit.audit).where(audit.audit.c.action == "restrict")).first()
    assert entry is not None and "accuracy" not in entry.details


def test_lift_needs_the_person_informed_first(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    restrict(engine, catalog, keys, DUAL, "objection pending (Art. 21(1))", clock=CLOCK)
    with pytest.raises(ValidationError) as exc:
        lift(engine, catalog, keys, DUAL, date(2026, 11, 26), clock=CLOCK)  # tomorrow
    assert exc.value.where == "--informed-at"
    assert all(m["lifted_at"] is None for m in _marks(engine))
    result = lift(engine, catalog, keys, DUAL, date(2026, 11, 24), clock=CLOCK)
    assert sum(result.counts.values()) == 6
    marks = _marks(engine)
    assert all(m["lifted_at"] is not None and m["informed_at"] is not None for m in marks)
    assert all(m["informed_at"] <= m["lifted_at"] for m in marks)
    with engine.connect() as c:
        assert active_restrictions(c, "invoices", [1, 2]) == set()


def test_lift_leaves_restrictions_made_instead_of_erasure(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    erase(engine, catalog, keys, DUAL, clock=CLOCK)  # keeps invoice 1, restricted
    asked = restrict(engine, catalog, keys, DUAL, "accuracy contested", clock=CLOCK)
    # the person's own restriction stands beside the erasure's, and is what lifting ends
    assert asked.counts["invoices"] == 1 and asked.already["invoices"] == 0
    result = lift(engine, catalog, keys, DUAL, date(2026, 11, 25), clock=CLOCK)
    assert result.counts == {t: n for t, n in asked.counts.items() if n}
    with engine.connect() as c:
        assert active_restrictions(c, "invoices", [1]) == {"1"}


def test_cli_restrict_and_lift(
    engine: Engine,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DSR_SECRET", "6b" * 32)
    base = ["--database-url", db_url]
    code = main([*base, "restrict", *EMPLOYEE, "--reason", "unlawful, erasure opposed", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    restricted = {e["table"]: e["rows"] for e in json.loads(out.out)["restricted"]}
    assert restricted == {"user_accounts": 1, "customers": 2, "usage_log": 3}
    code = main([*base, "restrict", "lift", *EMPLOYEE, "--json"])
    assert code == 2  # --informed-at is required
    capsys.readouterr()
    code = main([*base, "restrict", "lift", *EMPLOYEE, "--informed-at", "2999-01-01"])
    assert code == 1 and "Art. 18(3)" in capsys.readouterr().err
    code = main([*base, "restrict", "lift", *EMPLOYEE, "--informed-at", "2020-01-02", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    lifted = {e["table"]: e["rows"] for e in json.loads(out.out)["lifted"]}
    assert lifted == restricted
    # an unknown person: nothing restricted, no error
    code = main([*base, "restrict", "email=niemand@nirgendwo.example", "--reason", "x", "--json"])
    out = capsys.readouterr()
    assert code == 0 and json.loads(out.out)["restricted"] == []
    assert DUAL_EMAIL not in out.err


def test_access_report_marks_restricted_rows_where_they_appear(
    engine: Engine, catalog: Catalog, keys: StaticKeys
) -> None:
    """A row the person had restricted, and a row an erasure kept restricted, each carry
    their mark in the JSON and a note in the page, in both languages."""
    import dsr
    from dsr.render.html import render_html

    tk = dsr.Toolkit(engine, catalog, keys, clock=CLOCK)
    restrict(engine, catalog, keys, EMPLOYEE, "accuracy contested", clock=CLOCK)
    erase(engine, catalog, keys, DUAL, clock=CLOCK)  # keeps the 2024 invoice, restricted

    def marks(ids: list[str]) -> dict[str, set[Any]]:
        report = tk.access(ids, record=False)
        rows = [
            (s["table"], r.get("restricted"), r.get("kept_after_erasure", False))
            for s in report.to_json()["records"]
            for r in s["rows"]
        ]
        return {t: {(m, k) for tt, m, k in rows if tt == t} for t, _, _ in rows}

    employee = marks(EMPLOYEE)
    assert employee["user_accounts"] == {("request", False)}
    assert employee["usage_log"] == {("request", False)}
    assert marks(DUAL)["invoices"] == {("erasure", True)}
    page = render_html(tk.access(EMPLOYEE, lang="de", record=False))
    assert "auf Ihren Antrag in der Verarbeitung eingeschränkt (Art. 18 DSGVO)" in page
    assert "restricted at your request" in render_html(tk.access(EMPLOYEE, record=False))
