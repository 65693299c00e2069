"""Legal holds and restriction markers protect exactly what they cover, on three engines."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from test_purge import AS_OF, KEYS, SECRET, by_rule, ids, seed

from dsr.catalog.loader import load_catalog
from dsr.cli import main
from dsr.clock import FixedClock
from dsr.db import connect
from dsr.demo import schema as s
from dsr.errors import LedgerError
from dsr.ledger.holds import add_hold, list_holds, load_holds, release_hold
from dsr.ledger.tables import audit, holds, restrictions
from dsr.retention.purge import purge
from dsr.subject.graph import SubjectGraph

CLOCK = FixedClock(AS_OF)
OLD_LOGS = datetime(2025, 1, 1, 12, 0)  # all 20 rows older than 6 months at AS_OF


def test_held_rows_survive_while_their_neighbours_go(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=20, log_start=OLD_LOGS)
    catalog = load_catalog()
    with engine.begin() as c:
        by_key = add_hold(
            c, KEYS, catalog, table="usage_log", row_keys=[5, "7"], reason="case 1", clock=CLOCK
        )
        whole = add_hold(
            c,
            KEYS,
            catalog,
            table="invoices",
            reason="tax audit",
            clock=CLOCK,
            until=date(2027, 6, 30),
        )
    report = purge(engine, catalog, KEYS, as_of=AS_OF)
    assert ids(engine, s.usage_log) == [5, 7]
    assert ids(engine, s.invoices) == [1, 2, 3]  # all expired, all held
    log = by_rule(report)[("usage_log_delete", "usage_log")]
    assert log["rows"] == 18 and log["withheld"] == 2
    assert log["withheld_reasons"] == [
        {"reason": f"hold {by_key}", "rows": 2, "hold_id": by_key, "until": None}
    ]
    inv = by_rule(report)[("invoices", "invoices")]
    assert inv["withheld_reasons"][0]["hold_id"] == whole
    assert inv["withheld_reasons"][0]["until"] == "2027-06-30"
    engine.dispose()


def test_person_hold_covers_rows_added_later_and_release_ends_it(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=20, log_start=OLD_LOGS)  # odd ids belong to account 3
    catalog = load_catalog()
    with engine.begin() as c:
        hold = add_hold(
            c,
            KEYS,
            catalog,
            identities=["email=Visitor@Running.example"],
            reason="litigation",
            clock=CLOCK,
        )
        c.execute(
            insert(s.usage_log).values(
                id=100,
                ts=OLD_LOGS,
                ip="203.0.113.9",
                file_name="/x",
                bytes_sent=1,
                status=200,
                user_account_id=3,
            )
        )
    report = purge(engine, catalog, KEYS, as_of=AS_OF)
    assert ids(engine, s.usage_log) == [*range(2, 21, 2), 100]
    assert by_rule(report)[("usage_log_delete", "usage_log")]["withheld"] == 11
    with engine.connect() as c:
        stored = c.execute(select(holds)).mappings().one()
        entries = c.execute(select(audit.c.details, audit.c.subject)).all()
    assert b"visitor" not in stored["identities_enc"].lower()
    assert stored["subject"].startswith("ps_")
    assert not any("@" in d for d, _ in entries)
    with engine.begin() as c:
        release_hold(c, KEYS, hold, CLOCK)
        with pytest.raises(LedgerError):
            release_hold(c, KEYS, hold, CLOCK)
    purge(engine, catalog, KEYS, as_of=AS_OF)
    assert ids(engine, s.usage_log) == []
    engine.dispose()


def test_lapsed_hold_no_longer_protects(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=4, log_start=OLD_LOGS)
    catalog = load_catalog()
    with engine.begin() as c:
        add_hold(
            c,
            KEYS,
            catalog,
            table="usage_log",
            reason="review passed",
            clock=FixedClock(AS_OF - timedelta(days=30)),  # placed a month before, now lapsed
            until=AS_OF.date() - timedelta(days=1),
        )
        graph = SubjectGraph(catalog, c)
        assert load_holds(c, catalog, graph, KEYS, AS_OF).holds == []
        assert list_holds(c, active_only=True, at=AS_OF, tz=catalog.timezone) == []
    purge(engine, catalog, KEYS, as_of=AS_OF)
    assert ids(engine, s.usage_log) == []
    engine.dispose()


def test_restricted_rows_are_withheld(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=6, log_start=OLD_LOGS)
    with engine.begin() as c:
        c.execute(
            insert(restrictions),
            [
                {
                    "table_name": "usage_log",
                    "row_key": "3",
                    "subject": "ps_x",
                    "reason": "Art. 18",
                    "since": datetime(2026, 1, 1),
                    "lifted_at": None,
                },
                {
                    "table_name": "usage_log",
                    "row_key": "4",
                    "subject": "ps_x",
                    "reason": "Art. 18",
                    "since": datetime(2026, 1, 1),
                    "lifted_at": datetime(2026, 2, 1),
                },
            ],
        )
    dry = purge(engine, load_catalog(), KEYS, as_of=AS_OF, dry_run=True)
    report = purge(engine, load_catalog(), KEYS, as_of=AS_OF)
    assert ids(engine, s.usage_log) == [3]
    for r in (dry, report):
        log = by_rule(r)[("usage_log_delete", "usage_log")]
        assert (log["rows"], log["withheld"]) == (5, 1)
        assert log["withheld_reasons"] == [{"reason": "restricted (Art. 18)", "rows": 1}]
    engine.dispose()


def test_bad_holds_are_refused(db_url: str) -> None:
    engine = connect(db_url)
    seed(engine, logs=0)
    catalog = load_catalog()
    with engine.begin() as c:
        with pytest.raises(LedgerError, match="not in the catalog"):
            add_hold(c, KEYS, catalog, table="nope", reason="x", clock=CLOCK)
        with pytest.raises(LedgerError, match="--table"):
            add_hold(c, KEYS, catalog, row_keys=[1], reason="x", clock=CLOCK)
        with pytest.raises(LedgerError, match="reason"):
            add_hold(c, KEYS, catalog, table="invoices", reason=" ", clock=CLOCK)
        with pytest.raises(LedgerError, match="review date lies in the past"):
            add_hold(
                c, KEYS, catalog, table="invoices", reason="x", until=date(2020, 1, 1), clock=CLOCK
            )
    engine.dispose()


def test_hold_cli(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DSR_SECRET", SECRET)
    engine = connect(db_url)
    seed(engine, logs=3, log_start=OLD_LOGS)
    base = ["--database-url", db_url, "hold"]
    assert (
        main(
            [
                *base,
                "add",
                "--table",
                "usage_log",
                "--key",
                "2",
                "--reason",
                "c",
                "--until",
                "2030-01-01",
                "--json",
            ]
        )
        == 0
    )
    hold_id = json.loads(capsys.readouterr().out)["id"]
    assert main([*base, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["holds"]
    assert [(h["id"], h["row_keys"], h["until"]) for h in listed] == [
        (hold_id, ["2"], "2030-01-01")
    ]
    assert main(["--database-url", db_url, "purge", "--as-of", AS_OF.isoformat()]) == 3
    assert ids(engine, s.usage_log) == [2]
    assert main([*base, "release", str(hold_id)]) == 0
    # still 3: an account stays referenced by a customer record; the log row is gone now
    assert main(["--database-url", db_url, "purge", "--as-of", AS_OF.isoformat()]) == 3
    assert ids(engine, s.usage_log) == []
    engine.dispose()
