"""The audit chain detects edited, deleted, inserted and reordered entries on every engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select, update

from dsr.cli import main
from dsr.clock import FixedClock
from dsr.crypto.keys import FileKeys, create_key_file
from dsr.db import connect
from dsr.ledger import audit
from dsr.ledger.migrate import create_ledger
from dsr.ledger.requests import extend_request, open_request, record_outcome
from dsr.ledger.tables import audit as audit_table

CLOCK = FixedClock(datetime(2025, 3, 4, 9, 0, tzinfo=timezone.utc))


def _build_chain(engine: Engine, keys: FileKeys) -> None:
    """Five entries from ordinary register work: open, open, outcome, extend, outcome."""
    create_ledger(engine)
    with engine.begin() as conn:
        first = open_request(
            conn,
            keys,
            None,
            type="access",
            identities=["email=jane@example.org"],
            received=date(2025, 3, 3),
            clock=CLOCK,
        )
        second = open_request(
            conn,
            keys,
            None,
            type="erasure",
            identities=["email=john@example.org"],
            received=date(2025, 3, 3),
            clock=CLOCK,
        )
    with engine.begin() as conn:
        record_outcome(conn, keys, first.id, "access", {"rows": 3}, CLOCK)
    with engine.begin() as conn:
        extend_request(conn, keys, second.id, 1, "backups", CLOCK)
    with engine.begin() as conn:
        record_outcome(conn, keys, second.id, "erase", {"rows": 7}, CLOCK)


def _row(conn: Connection, seq: int) -> dict[str, object]:
    return dict(conn.execute(select(audit_table).where(audit_table.c.seq == seq)).mappings().one())


def _edit(conn: Connection) -> None:
    conn.execute(
        update(audit_table)
        .where(audit_table.c.seq == 3)
        .values(details=json.dumps({"action": "access", "rows": 0}))
    )


def _delete_middle(conn: Connection) -> None:
    conn.execute(delete(audit_table).where(audit_table.c.seq == 3))


def _insert(conn: Connection) -> None:
    # Make room at seq 3 (highest first, so no primary key collides), then forge an entry
    # that links correctly to entry 2 but cannot carry a valid mac without the key.
    for seq in (5, 4, 3):
        conn.execute(update(audit_table).where(audit_table.c.seq == seq).values(seq=seq + 1))
    forged = _row(conn, 4) | {"seq": 3, "action": "request.close", "details": "{}"}
    forged["prev_mac"] = _row(conn, 2)["mac"]
    conn.execute(insert(audit_table).values(**forged))


def _swap(conn: Connection) -> None:
    conn.execute(update(audit_table).where(audit_table.c.seq == 2).values(seq=100))
    conn.execute(update(audit_table).where(audit_table.c.seq == 3).values(seq=2))
    conn.execute(update(audit_table).where(audit_table.c.seq == 100).values(seq=3))


def _renumbered_delete(conn: Connection) -> None:
    # A careful attacker closes the sequence gap after deleting entry 2.
    conn.execute(delete(audit_table).where(audit_table.c.seq == 2))
    for seq in (3, 4, 5):
        conn.execute(update(audit_table).where(audit_table.c.seq == seq).values(seq=seq - 1))


TAMPERS: dict[str, tuple[Callable[[Connection], None], int]] = {
    "edited": (_edit, 3),
    "deleted-middle": (_delete_middle, 4),
    "inserted": (_insert, 3),
    "swapped": (_swap, 2),
    "deleted-and-renumbered": (_renumbered_delete, 2),
}


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_tampering_is_detected_and_named(
    kind: str, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "secret.key"
    create_key_file(key_file)
    keys = FileKeys(key_file)
    engine = connect(db_url)
    _build_chain(engine, keys)
    with engine.connect() as conn:
        intact = audit.verify(conn, keys)
    assert intact.ok and intact.entries == 5 and intact.first_broken is None

    tamper, first_broken = TAMPERS[kind]
    with engine.begin() as conn:
        tamper(conn)
    with engine.connect() as conn:
        verdict = audit.verify(conn, keys)
    engine.dispose()
    assert not verdict.ok
    assert verdict.first_broken == first_broken
    assert verdict.reason

    capsys.readouterr()
    code = main(
        ["--database-url", db_url, "--key-file", str(key_file), "audit", "verify", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False and data["first_broken"] == first_broken
    assert data["reason"] == verdict.reason
    assert f"entry {first_broken}" in err


def test_intact_chain_verifies_with_its_head(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "secret.key"
    create_key_file(key_file)
    engine = connect(db_url)
    _build_chain(engine, FileKeys(key_file))
    with engine.connect() as conn:
        last_mac = conn.execute(select(audit_table.c.mac).where(audit_table.c.seq == 5)).scalar()
    engine.dispose()
    capsys.readouterr()
    code = main(
        ["--database-url", db_url, "--key-file", str(key_file), "audit", "verify", "--json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data == {
        "ok": True,
        "entries": 5,
        "first_broken": None,
        "reason": None,
        "head": last_mac,
        "receipts": 0,
    }
    code = main(["--database-url", db_url, "--key-file", str(key_file), "audit", "verify"])
    assert code == 0 and "intact: 5 entries" in capsys.readouterr().out


def test_a_different_secret_breaks_the_first_entry(db_url: str, tmp_path: Path) -> None:
    key_file, other = tmp_path / "secret.key", tmp_path / "other.key"
    create_key_file(key_file)
    create_key_file(other)
    engine = connect(db_url)
    _build_chain(engine, FileKeys(key_file))
    with engine.connect() as conn:
        verdict = audit.verify(conn, FileKeys(other))
    engine.dispose()
    assert not verdict.ok and verdict.first_broken == 1


def test_empty_chain_is_intact(db_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    create_key_file(key_file)
    engine = connect(db_url)
    create_ledger(engine)
    with engine.connect() as conn:
        verdict = audit.verify(conn, FileKeys(key_file))
    engine.dispose()
    assert (verdict.ok, verdict.entries, verdict.head) == (True, 0, None)


def test_removal_from_the_end_is_detected_against_a_shipped_head(db_url: str) -> None:
    from sqlalchemy import delete

    from dsr.crypto.keys import StaticKeys
    from dsr.db import connect
    from dsr.ledger import audit as audit_mod
    from dsr.ledger.migrate import create_ledger
    from dsr.ledger.tables import audit as audit_table

    keys = StaticKeys(b"h" * 32)
    engine = connect(db_url)
    create_ledger(engine)
    with engine.begin() as conn:
        for i in range(4):
            audit_mod.append(conn, keys, "test", details={"n": i})
    with engine.connect() as conn:
        shipped = audit_mod.verify(conn, keys).head
        assert audit_mod.verify(conn, keys, expect_head=shipped).ok
    with engine.begin() as conn:
        conn.execute(delete(audit_table).where(audit_table.c.seq == 4))
    with engine.connect() as conn:
        assert audit_mod.verify(conn, keys).ok  # the chain alone cannot tell
        verdict = audit_mod.verify(conn, keys, expect_head=shipped)
    assert (
        not verdict.ok
        and verdict.first_broken == 4
        and "removed from the end" in (verdict.reason or "")
    )
    engine.dispose()


def test_concurrent_appends_take_turns_and_keep_one_chain(db_url: str, tmp_path: Path) -> None:
    """Appends from parallel transactions (an access during an erasure) never collide."""
    import threading
    import time

    key_file = tmp_path / "k"
    create_key_file(key_file)
    keys = FileKeys(key_file)
    engine = connect(db_url, pool_size=8) if not db_url.startswith("sqlite") else connect(db_url)
    create_ledger(engine)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(6):
                with engine.begin() as conn:
                    audit.append(
                        conn, keys, "test.parallel", details={"worker": n, "i": i}, at=CLOCK.now()
                    )
                    time.sleep(0.005)  # hold the transaction open a little, as a service does
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with engine.connect() as conn:
            verdict = audit.verify(conn, keys)
            seqs = list(
                conn.execute(select(audit_table.c.seq).order_by(audit_table.c.seq)).scalars()
            )
        assert verdict.ok and seqs == list(range(1, 25))
    finally:
        engine.dispose()


def test_an_append_after_reading_data_sees_entries_committed_meanwhile(
    db_url: str, tmp_path: Path
) -> None:
    """An access report reads its data, then appends: an entry another transaction committed
    in between must be the one it chains to (MariaDB's snapshot would hide it)."""
    key_file = tmp_path / "k"
    create_key_file(key_file)
    keys = FileKeys(key_file)
    engine = connect(db_url)
    create_ledger(engine)
    try:
        with engine.begin() as first:
            audit.append(first, keys, "test.one", at=CLOCK.now())
        # on SQLite one writer at a time: the interleaving cannot happen there
        if engine.dialect.name != "sqlite":
            with engine.connect() as reader:
                reader.begin()
                reader.execute(select(audit_table.c.seq)).all()  # the report's reads
                with engine.begin() as other:
                    audit.append(other, keys, "test.meanwhile", at=CLOCK.now())
                seq = audit.append(reader, keys, "test.after", at=CLOCK.now())
                reader.commit()
            assert seq == 3
        with engine.connect() as conn:
            assert audit.verify(conn, keys).ok
    finally:
        engine.dispose()
