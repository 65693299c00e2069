"""The request register: deadlines, extensions, outcomes, encrypted identities, audit entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select, text, update

from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.clock import FixedClock, SystemClock
from dsr.crypto.keys import StaticKeys, create_key_file
from dsr.db import connect
from dsr.errors import KeyError_, RequestError, SubjectError
from dsr.ledger import audit, init_ledger
from dsr.ledger.migrate import create_ledger
from dsr.ledger.requests import (
    close_request,
    extend_request,
    get_request,
    list_requests,
    open_request,
    record_outcome,
    today_in,
)
from dsr.ledger.tables import audit as audit_table
from dsr.ledger.tables import requests as requests_table

EMAIL = "Jane.Roe@Example.org"


def at(day: date, hour: int = 10) -> FixedClock:
    """A clock at ``hour`` o'clock UTC on ``day``."""
    return FixedClock(datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = connect(db_url)
    create_ledger(eng)
    yield eng
    eng.dispose()


def _open(
    engine: Engine,
    keys: StaticKeys,
    catalog: Catalog,
    received: date,
    *,
    type: str = "access",
    identities: tuple[str, ...] = (f"email={EMAIL}",),
    clock: FixedClock | None = None,
) -> Any:
    with engine.begin() as conn:
        return open_request(
            conn,
            keys,
            catalog,
            type=type,
            identities=identities,
            received=received,
            verified_by="ID card seen at the front desk",
            clock=clock or at(received),
        )


def _audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return audit.count(conn)


def _raw_row(engine: Engine, request_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(requests_table).where(requests_table.c.id == request_id)).one()
    return dict(row._mapping)


def test_register_roundtrip(engine: Engine, keys: StaticKeys, catalog: Catalog) -> None:
    a = _open(engine, keys, catalog, date(2025, 1, 31))
    b = _open(engine, keys, catalog, date(2025, 3, 3), type="erasure")
    c = _open(engine, keys, catalog, date(2025, 3, 21), type="portability")
    assert (a.due, b.due, c.due) == (date(2025, 2, 28), date(2025, 4, 3), date(2025, 4, 22))
    assert a.status == b.status == "open"
    assert a.subject == b.subject and a.subject.startswith("ps_")

    with engine.connect() as conn:
        listed = list_requests(conn, today=date(2025, 3, 25))
        assert [r.id for r in listed] == [a.id, b.id, c.id]
        assert all(r.identities is None for r in listed)
        overdue = list_requests(conn, overdue=True, today=date(2025, 3, 25))
        assert [r.id for r in overdue] == [a.id]
        soon = list_requests(conn, due_within=timedelta(days=14), today=date(2025, 3, 25))
        assert [r.id for r in soon] == [a.id, b.id]

    clock = at(date(2025, 3, 25))
    with engine.begin() as conn:
        extended = extend_request(
            conn, keys, b.id, 1, "many linked systems", clock, catalog=catalog
        )
    assert extended.due == date(2025, 5, 5)  # 3 May 2025 is a Saturday
    assert extended.original_due == date(2025, 4, 3)
    assert extended.extension is not None and extended.extension.months == 1

    with engine.begin() as conn:
        record_outcome(conn, keys, c.id, "export", {"rows": 12, "tables": 3}, clock)
        closed = close_request(conn, keys, a.id, "answered late by post", clock, catalog=catalog)
    assert closed.status == "closed" and closed.outcome == "answered late by post"

    today = today_in(clock, catalog)
    with engine.connect() as conn:
        assert list_requests(conn, overdue=True, today=today) == []
        assert [r.id for r in list_requests(conn, status="closed", today=today)] == [a.id]
        assert [r.id for r in list_requests(conn, status="in_progress", today=today)] == [c.id]
        # later, the extended request is not yet overdue but the unextended one is
        later = list_requests(conn, overdue=True, today=date(2025, 4, 30))
        assert [r.id for r in later] == [c.id]
        shown = get_request(conn, keys, b.id, with_identities=True)
    assert shown.identities == ("email=jane.roe@example.org",)

    data = shown.to_json(date(2025, 4, 1))
    for key in ("id", "type", "received", "due", "original_due", "status", "verified_by"):
        assert key in data
    assert data["due"] == "2025-05-05" and data["original_due"] == "2025-04-03"
    assert data["extension"]["reason"] == "many linked systems"
    assert data["extension"]["months"] == 1
    assert data["days_left"] == 34 and data["overdue"] is False
    assert "identities" not in listed[0].to_json()

    # open x3, extend, outcome, close: every change left one audit entry
    assert _audit_count(engine) == 6
    with engine.connect() as conn:
        assert audit.verify(conn, keys).ok


def test_identities_never_stored_or_audited_in_plain_text(
    engine: Engine, keys: StaticKeys, catalog: Catalog
) -> None:
    req = _open(
        engine, keys, catalog, date(2025, 3, 3), identities=(EMAIL, "phone=+49 341 1234567")
    )
    with engine.begin() as conn:
        record_outcome(conn, keys, req.id, "erase", {"rows": 4}, at(date(2025, 3, 4)))
        extend_request(conn, keys, req.id, 2, "backups", at(date(2025, 3, 4)), catalog=catalog)
        close_request(conn, keys, req.id, None, at(date(2025, 3, 5)))
    needles = [EMAIL, EMAIL.lower(), "jane.roe", "+493411234567", "1234567"]
    row = _raw_row(engine, req.id)
    for value in row.values():
        blob = value if isinstance(value, bytes) else str(value).encode()
        for needle in needles:
            assert needle.encode() not in blob.lower()
    with engine.connect() as conn:
        entries = conn.execute(select(audit_table)).mappings().all()
    assert len(entries) == 4
    for entry in entries:
        assert entry["subject"] == req.subject
        flat = json.dumps({k: str(v) for k, v in entry.items()}).lower()
        for needle in needles:
            assert needle.lower() not in flat
    with engine.connect() as conn:
        assert sorted(get_request(conn, keys, req.id, with_identities=True).identities or ()) == [
            "email=jane.roe@example.org",
            "phone=+493411234567",
        ]


def test_sealed_identities_are_bound_to_their_row(
    engine: Engine, keys: StaticKeys, catalog: Catalog
) -> None:
    a = _open(engine, keys, catalog, date(2025, 3, 3))
    b = _open(engine, keys, catalog, date(2025, 3, 3), identities=("email=other@example.org",))
    blob = _raw_row(engine, b.id)["identities_enc"]
    with engine.begin() as conn:
        conn.execute(
            update(requests_table).where(requests_table.c.id == a.id).values(identities_enc=blob)
        )
    with engine.connect() as conn, pytest.raises(KeyError_):
        get_request(conn, keys, a.id, with_identities=True)
    with engine.connect() as conn, pytest.raises(KeyError_):
        get_request(conn, StaticKeys(b"w" * 32), b.id, with_identities=True)


def test_extension_within_the_first_month(
    engine: Engine, keys: StaticKeys, catalog: Catalog
) -> None:
    req = _open(engine, keys, catalog, date(2025, 3, 3))
    with engine.begin() as conn:
        ext = extend_request(
            conn, keys, req.id, 2, "complex request", at(date(2025, 3, 20)), catalog=catalog
        )
    assert (ext.original_due, ext.due) == (date(2025, 4, 3), date(2025, 6, 3))
    with engine.connect() as conn:
        assert get_request(conn, keys, req.id).due == date(2025, 6, 3)


def test_extension_on_the_due_date_itself_is_in_time(
    engine: Engine, keys: StaticKeys, catalog: Catalog
) -> None:
    req = _open(engine, keys, catalog, date(2025, 3, 3))
    with engine.begin() as conn:
        ext = extend_request(
            conn, keys, req.id, 1, "volume", at(date(2025, 4, 3), hour=21), catalog=catalog
        )
    assert ext.due == date(2025, 5, 5)


def _assert_refused_unchanged(
    engine: Engine, keys: StaticKeys, request_id: int, call: Any, match: str
) -> None:
    before_row, before_audit = _raw_row(engine, request_id), _audit_count(engine)
    with pytest.raises(RequestError, match=match) as info:
        with engine.begin() as conn:
            call(conn)
    assert f"request {request_id}" in str(info.value)
    assert _raw_row(engine, request_id) == before_row
    assert _audit_count(engine) == before_audit


def test_extension_after_the_due_date_is_refused(
    engine: Engine, keys: StaticKeys, catalog: Catalog
) -> None:
    req = _open(engine, keys, catalog, date(2025, 3, 3))
    # 22:30 UTC on 3 April is already 4 April in Berlin: the month has run out.
    late = FixedClock(datetime(2025, 4, 3, 22, 30, tzinfo=timezone.utc))
    _assert_refused_unchanged(
        engine,
        keys,
        req.id,
        lambda conn: extend_request(conn, keys, req.id, 1, "too late", late, catalog=catalog),
        "too late",
    )


def test_extension_beyond_two_months_is_refused(
    engine: Engine, keys: StaticKeys, catalog: Catalog
) -> None:
    req = _open(engine, keys, catalog, date(2025, 3, 3))
    clock = at(date(2025, 3, 10))
    with engine.begin() as conn:
        extend_request(conn, keys, req.id, 1, "first", clock, catalog=catalog)
    _assert_refused_unchanged(
        engine,
        keys,
        req.id,
        lambda conn: extend_request(conn, keys, req.id, 2, "more", clock, catalog=catalog),
        "at most 2 months",
    )
    with engine.begin() as conn:
        second = extend_request(conn, keys, req.id, 1, "second", clock, catalog=catalog)
    assert second.due == date(2025, 6, 3)
    assert second.extension is not None and second.extension.months == 2
    _assert_refused_unchanged(
        engine,
        keys,
        req.id,
        lambda conn: extend_request(conn, keys, req.id, 1, "third", clock, catalog=catalog),
        "at most 2 months",
    )


def test_record_outcome_moves_to_in_progress_and_logs_counts(
    engine: Engine, keys: StaticKeys, catalog: Catalog
) -> None:
    req = _open(engine, keys, catalog, date(2025, 3, 3))
    clock = at(date(2025, 3, 5))
    with engine.begin() as conn:
        first = record_outcome(conn, keys, req.id, "access", {"tables": 5, "rows": 17}, clock)
        second = record_outcome(conn, keys, req.id, "erase", {"rows": 17}, clock)
    assert first.status == "in_progress" and second.status == "in_progress"
    assert [e["action"] for e in second.outcome_log] == ["access", "erase"]
    assert second.outcome_log[0]["summary"] == {"tables": 5, "rows": 17}
    assert second.outcome_log[0]["at"].startswith("2025-03-05T10:00:00")
    with engine.connect() as conn:
        entries = conn.execute(select(audit_table).order_by(audit_table.c.seq)).mappings().all()
    assert [e["action"] for e in entries] == ["request.open", "request.outcome", "request.outcome"]
    assert all(e["request_id"] == req.id for e in entries)


def test_unknown_request_is_named(engine: Engine, keys: StaticKeys) -> None:
    clock = at(date(2025, 3, 5))
    with engine.begin() as conn, pytest.raises(RequestError, match="request 4711"):
        record_outcome(conn, keys, 4711, "access", {"rows": 0}, clock)
    with engine.connect() as conn, pytest.raises(RequestError, match="request 4711"):
        get_request(conn, keys, 4711)
    assert _audit_count(engine) == 0


def test_closed_request_refuses_changes(engine: Engine, keys: StaticKeys, catalog: Catalog) -> None:
    req = _open(engine, keys, catalog, date(2025, 3, 3))
    clock = at(date(2025, 3, 5))
    with engine.begin() as conn:
        close_request(conn, keys, req.id, "done", clock)
    for call in (
        lambda conn: close_request(conn, keys, req.id, "again", clock),
        lambda conn: record_outcome(conn, keys, req.id, "erase", {"rows": 1}, clock),
        lambda conn: extend_request(conn, keys, req.id, 1, "why", clock, catalog=catalog),
    ):
        _assert_refused_unchanged(engine, keys, req.id, call, "closed")


def test_bad_input_is_refused_before_anything_is_written(
    engine: Engine, keys: StaticKeys, catalog: Catalog
) -> None:
    clock = at(date(2025, 3, 5))
    with pytest.raises(RequestError, match="unknown request type"):
        _open(engine, keys, catalog, date(2025, 3, 3), type="deletion", clock=clock)
    with pytest.raises(RequestError, match="future"):
        _open(engine, keys, catalog, date(2025, 3, 6), clock=clock)
    with pytest.raises(SubjectError) as info:
        _open(engine, keys, catalog, date(2025, 3, 3), identities=("email=not-an-email",))
    assert "not-an-email" not in str(info.value)
    with pytest.raises(RequestError, match="at least one identity"):
        _open(engine, keys, catalog, date(2025, 3, 3), identities=())
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests_table)).scalar() == 0
    assert _audit_count(engine) == 0


# --- the command line -------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], url: str, key: Path, *args: str) -> Any:
    capsys.readouterr()
    code = main(["--database-url", url, "--key-file", str(key), *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args and out.strip() else out), err


def test_cli_request_register(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "secret.key"
    create_key_file(key)
    today = today_in(SystemClock(), load_catalog())
    recent = (today - timedelta(days=3)).isoformat()
    old = (today - timedelta(days=70)).isoformat()

    # no ledger yet: the register refuses and says what to run, creating nothing
    code, _, err = _cli(capsys, db_url, key, "request", "list", "--json")
    assert code == 1 and "run 'dsr init' first" in err
    assert not [t for t in inspect(connect(db_url)).get_table_names() if t.startswith("dsr_")]
    assert _cli(capsys, db_url, key, "init", "--json")[0] == 0

    code, opened, _ = _cli(
        capsys,
        db_url,
        key,
        "request",
        "open",
        "--type",
        "access",
        "--received",
        recent,
        "--verified-by",
        "ID card",
        f"email={EMAIL}",
        "--json",
    )
    assert code == 0
    assert set(opened) >= {"id", "due", "status"} and opened["status"] == "open"
    code, late, _ = _cli(
        capsys,
        db_url,
        key,
        "request",
        "open",
        "--type",
        "erasure",
        "--received",
        old,
        EMAIL,
        "--json",
    )
    assert code == 0

    code, listed, _ = _cli(capsys, db_url, key, "request", "list", "--json")
    assert code == 0
    assert [r["id"] for r in listed["requests"]] == [late["id"], opened["id"]]
    assert EMAIL.lower() not in json.dumps(listed).lower()
    code, overdue, _ = _cli(capsys, db_url, key, "request", "list", "--overdue", "--json")
    assert [r["id"] for r in overdue["requests"]] == [late["id"]]
    for window in ("14d", "2w"):
        code, soon, _ = _cli(
            capsys, db_url, key, "request", "list", "--due-within", window, "--json"
        )
        assert code == 0 and [r["id"] for r in soon["requests"]] == [late["id"]]
    code, soon, _ = _cli(capsys, db_url, key, "request", "list", "--due-within", "40d", "--json")
    assert [r["id"] for r in soon["requests"]] == [late["id"], opened["id"]]
    code, table, _ = _cli(capsys, db_url, key, "request", "list")
    assert code == 0 and "OVERDUE" in table and "erasure" in table

    code, shown, _ = _cli(capsys, db_url, key, "request", "show", str(opened["id"]), "--json")
    assert code == 0 and shown["identities"] == [f"email={EMAIL.lower()}"]
    assert shown["verified_by"] == "ID card"

    code, ext, _ = _cli(
        capsys,
        db_url,
        key,
        "request",
        "extend",
        str(opened["id"]),
        "--months",
        "2",
        "--reason",
        "many systems",
        "--json",
    )
    assert code == 0 and ext["extension"]["months"] == 2 and ext["due"] > opened["due"]
    assert ext["original_due"] == opened["due"]
    code, _, err = _cli(
        capsys,
        db_url,
        key,
        "request",
        "extend",
        str(late["id"]),
        "--months",
        "1",
        "--reason",
        "too late",
        "--json",
    )
    assert code == 1 and f"request {late['id']}" in err and "too late" in err
    code, _, _ = _cli(
        capsys,
        db_url,
        key,
        "request",
        "extend",
        str(late["id"]),
        "--months",
        "3",
        "--reason",
        "x",
    )
    assert code == 2

    code, closed, _ = _cli(
        capsys,
        db_url,
        key,
        "request",
        "close",
        str(late["id"]),
        "--outcome",
        "erased",
        "--json",
    )
    assert code == 0 and closed["status"] == "closed" and closed["outcome"] == "erased"
    code, _, err = _cli(capsys, db_url, key, "request", "show", "999", "--json")
    assert code == 1 and "request 999" in err

    code, verdict, _ = _cli(capsys, db_url, key, "audit", "verify", "--json")
    assert code == 0 and verdict["ok"] is True and verdict["entries"] == 4

    engine = connect(db_url)
    with engine.connect() as conn:
        dumped = conn.execute(text("SELECT * FROM dsr_audit")).all()
    engine.dispose()
    assert EMAIL.lower() not in repr(dumped).lower()


def test_cli_bad_duration_and_type_are_usage_errors(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "secret.key"
    create_key_file(key)
    code, _, err = _cli(capsys, db_url, key, "request", "list", "--due-within", "2x")
    assert code == 2 and "7d" in err
    code, _, _ = _cli(
        capsys,
        db_url,
        key,
        "request",
        "open",
        "--type",
        "deletion",
        "--received",
        "2025-01-01",
        EMAIL,
    )
    assert code == 2


def test_cli_without_key_file_says_to_run_init(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("DSR_SECRET", raising=False)
    missing = tmp_path / "nowhere" / "secret.key"
    code, _, err = _cli(
        capsys,
        db_url,
        missing,
        "request",
        "open",
        "--type",
        "access",
        "--received",
        "2025-01-01",
        EMAIL,
        "--json",
    )
    assert code == 1 and "dsr init" in err and EMAIL.lower() not in err.lower()
    assert not missing.exists()
    engine = connect(db_url)
    init_ledger(engine, tmp_path / "other.key")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests_table)).scalar() == 0
    engine.dispose()
