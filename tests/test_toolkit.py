"""The one way in: a Toolkit on a database nobody here designed (Chinook), on three engines.

What an embedder (a web portal, a scheduler) relies on: one object, every right a method,
every service recorded in the audit trail and on the request, no process-wide side effects,
every statement visible to SQLAlchemy's events, and nothing done before it is needed.
"""

from __future__ import annotations

import gc
import json
import signal
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from _chinook import load_chinook
from sqlalchemy import event, func, select

import dsr
from dsr.db import connect
from dsr.errors import CatalogError, LedgerError
from dsr.ledger.tables import audit as audit_table

KEYS = dsr.StaticKeys(b"t" * 32)
CLOCK = dsr.FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc))
LEONIE = "email=leonekohler@surfeu.de"  # Chinook customer 2, with seven invoices


@pytest.fixture
def chinook_toolkit(db_url: str, tmp_path: Path) -> Iterator[dsr.Toolkit]:
    """A fresh Chinook database of the test's own, without a ledger yet."""
    engine = connect(db_url)
    catalog_path = load_chinook(engine, str(tmp_path))
    engine = connect(db_url)
    yield dsr.Toolkit(engine, catalog_path, KEYS, clock=CLOCK, storage=tmp_path / "packages")
    engine.dispose()


def _audit(tk: dsr.Toolkit) -> list[dict[str, Any]]:
    with tk.engine.connect() as conn:
        rows = conn.execute(select(audit_table).order_by(audit_table.c.seq)).mappings()
        return [dict(r) for r in rows]


def test_every_right_is_a_method_and_every_service_is_recorded(
    chinook_toolkit: dsr.Toolkit, tmp_path: Path
) -> None:
    tk = chinook_toolkit
    init = tk.ledger.init()
    assert init.key_file is None  # the embedder's key provider: no key file written
    assert tk.ledger.state().status == "current"

    request = tk.ledger.open_request(
        type="access", identities=[LEONIE], received=date(2026, 11, 30), verified_by="ID card"
    )
    report = tk.access([LEONIE], request_id=request.id)
    assert report.row_count > 0 and report.found
    assert b"leonekohler@surfeu.de" in dsr.render_json(report)

    result = tk.export([LEONIE], tmp_path / "leonie.zip")
    assert result.rows > 0 and (tmp_path / "leonie.zip").stat().st_size > 0
    delivery = tk.deliver([LEONIE], request_id=request.id)
    assert delivery.token
    tk.download(delivery.token, tmp_path / "downloaded.zip")
    assert (tmp_path / "downloaded.zip").read_bytes()[:2] == b"PK"

    restricted = tk.restrict([LEONIE], "accuracy contested (Art. 18(1)(a))")
    assert sum(restricted.counts.values()) > 0
    lifted = tk.lift([LEONIE], date(2026, 12, 1))
    assert sum(lifted.counts.values()) == sum(restricted.counts.values())

    hold = tk.ledger.hold(reason="case 2026-17", table=None, identities=[LEONIE])
    assert [h["id"] for h in tk.ledger.holds()] == [hold]
    tk.ledger.release(hold)
    assert tk.ledger.holds() == []

    erasure = tk.erase([LEONIE], request_id=request.id)
    assert erasure.applied and erasure.withheld  # invoices kept under statutory retention
    after = tk.access([LEONIE])
    assert after.found  # the kept invoices are still reported to her

    actions = [e["action"] for e in _audit(tk)]
    for expected in (
        "access",
        "export",
        "export.deliver",
        "export.download",
        "restrict",
        "restrict.lift",
        "hold.add",
        "hold.release",
        "erase",
    ):
        assert expected in actions, expected
    assert actions.count("access") == 2
    text = json.dumps([e["details"] for e in _audit(tk)], default=str)
    assert "leonekohler" not in text and "Köhler" not in text  # pseudonymous trail
    shown = tk.ledger.request(request.id, with_identities=True)
    assert [o["action"] for o in shown.outcome_log] == ["access", "export.deliver", "erase"]
    assert shown.identities == (LEONIE,)
    assert tk.ledger.verify().ok


def test_without_a_ledger_reading_works_and_writing_names_the_command(
    chinook_toolkit: dsr.Toolkit,
) -> None:
    tk = chinook_toolkit
    report = tk.access([LEONIE])
    assert report.found  # not recorded: there is nowhere to record it
    assert tk.erase([LEONIE], dry_run=True).kept  # a dry run needs no ledger
    with pytest.raises(LedgerError, match="dsr init"):
        tk.erase([LEONIE])
    with pytest.raises(LedgerError, match="dsr init"):
        tk.ledger.open_request(type="access", identities=[LEONIE], received=date(2026, 12, 1))
    assert tk.ledger.state().status == "missing"  # nothing was created behind the caller's back
    assert tk.find([LEONIE]).row_count == report.row_count


def test_the_library_installs_no_signal_handler_and_stops_on_its_flag(
    chinook_toolkit: dsr.Toolkit,
) -> None:
    tk = chinook_toolkit
    tk.ledger.init()
    before = signal.getsignal(signal.SIGTERM)
    stop = dsr.StopFlag()
    seen: list[Any] = []

    def progress(step: Any, n: int) -> None:
        seen.append(signal.getsignal(signal.SIGTERM))
        stop()  # as a scheduler would, from wherever it learns to stop

    # as of 2060 every Chinook invoice (2021-2025) is past its ten years
    report = tk.purge(
        as_of=datetime(2060, 1, 1, tzinfo=timezone.utc), batch_size=1, progress=progress, stop=stop
    )
    assert seen and all(handler is before for handler in seen)
    assert report.stopped
    assert signal.getsignal(signal.SIGTERM) is before


def test_every_statement_of_a_lookup_passes_sqlalchemy_events_with_the_gc_on(
    chinook_toolkit: dsr.Toolkit,
) -> None:
    tk = chinook_toolkit
    tk.graph  # bind first: reflection statements are not the lookup's  # noqa: B018
    seen: list[tuple[str, bool]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append((statement, gc.isenabled()))

    event.listen(tk.engine, "before_cursor_execute", before)
    try:
        record = tk.find([LEONIE])
    finally:
        event.remove(tk.engine, "before_cursor_execute", before)
    assert len(record.tables) >= 3  # customer, invoices, invoice lines
    assert len(seen) >= len(record.tables)
    assert all(enabled for _, enabled in seen)
    assert all("leonekohler" not in statement for statement, _ in seen)  # bound, never inlined


def test_nothing_is_loaded_or_connected_before_a_service_needs_it(tmp_path: Path) -> None:
    tk = dsr.Toolkit(f"sqlite:///{tmp_path}/absent.db", tmp_path / "no-such-catalog.yaml", KEYS)
    assert not (tmp_path / "absent.db").exists()
    with pytest.raises(CatalogError, match="no-such-catalog"):
        tk.access([LEONIE])


def test_destructive_frame_rolls_back_and_releases_the_lock(chinook_toolkit: dsr.Toolkit) -> None:
    tk = chinook_toolkit
    tk.ledger.init()
    pg = tk.engine.dialect.name == "postgresql"
    table = tk.graph.sa_tables["customer" if pg else "Customer"]
    city = table.c["city" if pg else "City"]
    with pytest.raises(RuntimeError), tk.destructive() as conn:
        conn.execute(table.update().values({city: "Nowhere"}))
        raise RuntimeError("a failing step")
    with tk.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(city == "Nowhere")).scalar() == 0
    with tk.destructive():  # the lock was released
        pass


def test_the_check_and_the_graph_share_one_reflection(chinook_toolkit: dsr.Toolkit) -> None:
    from dsr.catalog.check import check_catalog

    tk = chinook_toolkit
    bound = dict(tk.graph.sa_tables)  # the catalogued tables, reflected for the lookups
    report = tk.check()
    for name, table in bound.items():
        assert tk.live.metadata.tables[name] is table  # reused, not reflected again
    assert len(tk.live.metadata.tables) > len(bound)  # the uncatalogued ones, once, for the check
    fresh = check_catalog(tk.catalog, tk.engine)
    assert report.to_json() == fresh.to_json()


def test_a_wrong_key_writes_nothing_and_the_trail_stays_intact(
    chinook_toolkit: dsr.Toolkit,
) -> None:
    from dsr.errors import KeyError_

    tk = chinook_toolkit
    tk.ledger.init()
    tk.access([LEONIE])
    entries = tk.ledger.verify().entries
    wrong = dsr.Toolkit(tk.engine, tk.catalog, dsr.StaticKeys(b"w" * 32), clock=CLOCK)
    with pytest.raises(KeyError_, match="another secret key"):
        wrong.access([LEONIE])
    with pytest.raises(KeyError_, match="another secret key"):
        wrong.ledger.open_request(type="access", identities=[LEONIE], received=date(2026, 12, 1))
    with pytest.raises(KeyError_, match="another secret key"):
        wrong.restrict([LEONIE], "accuracy contested")
    verdict = tk.ledger.verify()
    assert verdict.ok and verdict.entries == entries
    assert tk.ledger.requests() == []


def test_an_embedders_entries_are_its_own_and_hold_no_personal_data(
    chinook_toolkit: dsr.Toolkit,
) -> None:
    from dsr.errors import RequestError, ValidationError

    tk = chinook_toolkit
    tk.ledger.init()
    with tk.acting_as("crm:support-7"):
        tk.ledger.record("crm.login", {"method": "otp", "attempts": 2}, identities=[LEONIE])
    last = _audit(tk)[-1]
    assert (last["action"], last["actor"]) == ("crm.login", "crm:support-7")
    assert last["subject"].startswith("ps_") and "leonekohler" not in last["details"]
    for action in ("erase", "access.fake", "Portal.Login", "portal"):
        with pytest.raises(ValidationError, match="namespace"):
            tk.ledger.record(action, {})
    personal = [{"email": "someone@example.org"}, {"who": "leonekohler@surfeu.de"}]
    for details in [*personal, {"nested": {"a": 1}}]:
        with pytest.raises(ValidationError, match="details"):
            tk.ledger.record("crm.note", details, identities=[LEONIE])
    with pytest.raises(RequestError):
        tk.ledger.record("crm.note", {"n": 1}, request_id=999)
    assert [e["action"] for e in _audit(tk)].count("crm.login") == 1


def test_library_errors_are_dsr_errors_and_building_never_fails(tmp_path: Path) -> None:
    from dsr.errors import ConfigError, DatabaseError

    broken = dsr.Toolkit("not a database url", None, KEYS)  # nothing happens yet
    with pytest.raises(ConfigError):
        broken.access([LEONIE])
    unreachable = dsr.Toolkit(f"sqlite:///{tmp_path}/no/such/dir/x.db", None, KEYS)
    with pytest.raises(DatabaseError) as info:
        unreachable.access([LEONIE])
    assert "leonekohler" not in str(info.value)


def test_one_identity_as_a_plain_string_is_one_identity(chinook_toolkit: dsr.Toolkit) -> None:
    tk = chinook_toolkit
    assert tk.find("leonekohler@surfeu.de").row_count == tk.find([LEONIE]).row_count > 0
