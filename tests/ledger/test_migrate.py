"""Upgrades of dsr's own tables: versioned (Alembic), explicit, never losing a row."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text

from dsr.cli import main
from dsr.crypto.keys import StaticKeys
from dsr.demo.run import run_demo
from dsr.errors import LedgerError
from dsr.ledger.migrate import (
    LEDGER_VERSION,
    REVISIONS,
    VERSION_TABLE,
    create_ledger,
    ledger_state,
    require_ledger,
    schema_version,
)
from dsr.ledger.requests import open_request
from dsr.ledger.tables import ledger_metadata

KEYS = StaticKeys(b"m" * 32)


def _config(conn: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", "dsr.ledger:migrations")
    config.attributes["connection"] = conn
    return config


def _alembic(engine: Engine, verb: str, revision: str) -> None:
    with engine.begin() as conn:
        getattr(command, verb)(_config(conn), revision)


def _make_unversioned(engine: Engine) -> None:
    """Turn a ledger into what ``dsr init`` made before versioning: revision 0001, no stamp."""
    _alembic(engine, "downgrade", "0001")
    schema_version.drop(engine)


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, _p: (
                    kind != "table" or (name.startswith("dsr_") and name != VERSION_TABLE)
                )
            },
        )
        return list(compare_metadata(context, ledger_metadata))


#: What revisions after 0001 added (the baseline's rows are compared without them).
_LATER_TABLES = {
    "dsr_verifications",
    "dsr_staff",
    "dsr_staff_sessions",
    "dsr_answers",
    "dsr_suppressions",
    "dsr_receipts",
}
_LATER_COLUMNS = {
    "verified_at",
    "media_type",
    "message_enc",
    "lang",
    "claimed_by",
    "claimed_at",
    "calendar",
}


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table of revision 0001 (the columns it had), in key order."""
    out = {}
    with engine.connect() as conn:
        for table in ledger_metadata.sorted_tables:
            if table.name in _LATER_TABLES:
                continue
            columns = [c for c in table.columns if c.name not in _LATER_COLUMNS]
            order = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(*columns).order_by(*order))]
    return out


def _cli(capsys: pytest.CaptureFixture[str], url: str, key: Path, *args: str) -> Any:
    capsys.readouterr()
    code = main(["--database-url", url, "--key-file", str(key), *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args and out.strip() else out), err


def test_the_revision_list_in_the_code_is_the_chain_of_migration_scripts() -> None:
    script = ScriptDirectory.from_config(_config(None))
    chain = [rev.revision for rev in script.walk_revisions()]
    assert tuple(reversed(chain)) == REVISIONS
    assert script.get_current_head() == LEDGER_VERSION


def test_a_new_ledger_and_a_migrated_one_both_match_the_tables_the_code_uses(
    engine: Engine, db_url: str
) -> None:
    create_ledger(engine)
    assert ledger_state(engine).status == "current"
    assert _differences(engine) == []
    require_ledger(engine)
    _alembic(engine, "downgrade", "base")  # every downgrade runs too
    assert [t for t in inspect(engine).get_table_names() if t.startswith("dsr_")] == [
        VERSION_TABLE
    ]  # Alembic keeps its (empty) version table
    _alembic(engine, "upgrade", "head")  # the scripts from nothing: the same tables
    assert _differences(engine) == []
    assert ledger_state(engine).status == "current"


def test_a_ledger_made_before_versioning_and_filled_by_the_demo_upgrades_keeping_everything(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dsr.ledger import receipts

    # the release before versioning wrote no receipts (its audit entries seal none)
    monkeypatch.setattr(receipts, "store_receipt", lambda *args, **kwargs: (None, None))
    demo = run_demo(tmp_path / "demo", engine=engine)
    key = Path(demo.key_file)
    _make_unversioned(engine)
    before = _rows(engine)
    assert before["dsr_requests"] and before["dsr_audit"] and before["dsr_restrictions"]
    assert "verified_at" not in {c["name"] for c in inspect(engine).get_columns("dsr_requests")}

    # every command that needs the ledger refuses, says what to run, and changes nothing
    for args in (["request", "list", "--json"], ["init"], ["erase", "email=x@example.com"]):
        code, _, err = _cli(capsys, db_url, key, *args)
        assert code == 1 and "run 'dsr migrate'" in err, (args, err)
    code, state, _ = _cli(capsys, db_url, key, "migrate", "--dry-run", "--json")
    assert code == 0 and state["status"] == "unversioned" and state["pending"] == list(REVISIONS)
    assert _rows(engine) == before

    code, done, _ = _cli(capsys, db_url, key, "migrate", "--json")
    assert code == 0 and done["applied"] == list(REVISIONS) and done["to"] == LEDGER_VERSION
    assert _rows(engine) == before
    assert _differences(engine) == []
    code, verdict, _ = _cli(capsys, db_url, key, "audit", "verify", "--json")
    assert code == 0 and verdict["ok"] and verdict["entries"] == len(before["dsr_audit"])
    code, listed, _ = _cli(capsys, db_url, key, "request", "list", "--json")
    assert code == 0
    assert sorted(r["id"] for r in listed["requests"]) == [r[0] for r in before["dsr_requests"]]
    code, shown, _ = _cli(capsys, db_url, key, "request", "show", "1", "--json")
    assert code == 0 and shown["identities"]  # the sealed identities still open with the key
    code, again, _ = _cli(capsys, db_url, key, "migrate", "--json")
    assert code == 0 and again["applied"] == []


def test_an_older_versioned_ledger_upgrades_with_init_upgrade(
    engine: Engine, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "secret.key"
    assert _cli(capsys, db_url, key, "init")[0] == 0
    _alembic(engine, "downgrade", "0001")
    assert ledger_state(engine).to_json() == {
        "version": "0001",
        "expected": LEDGER_VERSION,
        "status": "behind",
        "pending": list(REVISIONS[1:]),
    }
    with pytest.raises(LedgerError, match="needs " + LEDGER_VERSION):
        require_ledger(engine)
    code, result, _ = _cli(capsys, db_url, key, "init", "--upgrade", "--json")
    assert code == 0 and result["migration"]["applied"] == list(REVISIONS[1:])
    assert result["migration"]["from"] == "0001" and result["ledger_version"] == LEDGER_VERSION
    require_ledger(engine)


def test_a_ledger_newer_than_this_dsr_is_refused_and_left_alone(
    engine: Engine, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "secret.key"
    assert _cli(capsys, db_url, key, "init")[0] == 0
    with engine.begin() as conn:
        conn.execute(schema_version.update().values(version_num="9999"))
    with pytest.raises(LedgerError, match="newer than this dsr"):
        require_ledger(engine)
    for args in (["migrate"], ["init", "--upgrade"], ["request", "list"]):
        code, _, err = _cli(capsys, db_url, key, *args)
        assert code == 1 and "upgrade dsr" in err, (args, err)
    with engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version_num)).scalar() == "9999"


def test_an_unversioned_ledger_missing_later_tables_and_columns_is_completed(
    engine: Engine,
) -> None:
    create_ledger(engine)
    with engine.begin() as conn:
        opened = open_request(
            conn,
            KEYS,
            type="access",
            identities=["email=a@example.com"],
            received=date(2026, 11, 2),
        )
    _make_unversioned(engine)
    with engine.begin() as conn:  # as an early dsr left it: no dsr_kept, no restriction end
        ops = Operations(MigrationContext.configure(conn))
        ops.drop_table("dsr_kept")
        with ops.batch_alter_table("dsr_restrictions") as batch:
            batch.drop_column("until")
    create_ledger(engine)
    assert _differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM dsr_requests")).scalars().all() == [opened.id]


def test_the_applications_own_alembic_version_is_not_touched(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('app_rev_42')"))
    create_ledger(engine)
    _make_unversioned(engine)
    create_ledger(engine)  # through the Alembic scripts this time
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert rows == ["app_rev_42"]
    assert ledger_state(engine).status == "current"
