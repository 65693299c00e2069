"""``dsr init``: the ledger tables and a key file of mode 0600, never overwritten."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import inspect

from dsr.cli import main
from dsr.db import connect
from dsr.ledger.tables import ledger_metadata


def _init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*args, "init", "--json"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_ambient_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DSR_SECRET", raising=False)
    monkeypatch.delenv("DSR_KEY_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def test_init_creates_tables_and_a_private_key_file(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "conf" / "secret.key"
    code, out, _ = _init(capsys, "--database-url", db_url, "--key-file", str(key))
    assert code == 0
    data = json.loads(out)
    assert data["key_file"] == str(key) and data["key_file_created"] is True
    assert data["tables"] == sorted(ledger_metadata.tables)
    assert "dsr_requests" in data["tables"] and "dsr_audit" in data["tables"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    engine = connect(db_url)
    assert set(data["tables"]) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_init_twice_keeps_the_existing_key(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "secret.key"
    assert _init(capsys, "--database-url", db_url, "--key-file", str(key))[0] == 0
    secret = key.read_text()
    code, out, _ = _init(capsys, "--database-url", db_url, "--key-file", str(key))
    assert code == 0 and json.loads(out)["key_file_created"] is False
    assert key.read_text() == secret
    capsys.readouterr()
    assert main(["--database-url", db_url, "--key-file", str(key), "init"]) == 0
    assert "exists" in capsys.readouterr().out


def test_init_uses_the_default_path_and_env(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _init(capsys, "--database-url", db_url)
    default = tmp_path / "xdg" / "dsr" / "secret.key"
    assert code == 0 and json.loads(out)["key_file"] == str(default) and default.exists()
    env_key = tmp_path / "env.key"
    monkeypatch.setenv("DSR_KEY_FILE", str(env_key))
    # a ledger of its own: this database's ledger belongs to the first key
    code, out, _ = _init(capsys, "--database-url", f"sqlite:///{tmp_path}/second.db")
    assert code == 0 and json.loads(out)["key_file"] == str(env_key) and env_key.exists()


def test_init_with_secret_in_the_environment_writes_no_file(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSR_SECRET", "ab" * 32)
    code, out, _ = _init(capsys, "--database-url", db_url)
    data = json.loads(out)
    assert code == 0 and data["key_file"] is None and "dsr_requests" in data["tables"]
    assert not (tmp_path / "xdg").exists()


def test_init_refuses_a_key_file_others_can_read(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "secret.key"
    key.write_text("ab" * 32 + "\n")
    os.chmod(key, 0o644)
    code, out, err = _init(capsys, "--database-url", db_url, "--key-file", str(key))
    assert code == 1 and out == ""
    assert "chmod 600" in err and str(key) in err
    engine = connect(db_url)
    assert "dsr_requests" not in inspect(engine).get_table_names()
    engine.dispose()


def test_init_without_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DSR_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, _, err = _init(capsys, "--key-file", str(tmp_path / "k"))
    assert code == 1 and "--database-url" in err
    assert not (tmp_path / "k").exists()


def _ledger_with_an_entry(capsys: pytest.CaptureFixture[str], db_url: str, key: Path) -> None:
    """A ledger made with ``key`` holding one register entry (and so one audit entry)."""
    assert _init(capsys, "--database-url", db_url, "--key-file", str(key))[0] == 0
    argv = [
        "--database-url",
        db_url,
        "--key-file",
        str(key),
        "request",
        "open",
        "--type",
        "access",
        "--received",
        "2026-11-02",
        "email=x@example.com",
    ]
    assert main(argv) == 0


def test_init_with_another_key_on_an_existing_ledger_is_refused(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "one.key", tmp_path / "two.key"
    _ledger_with_an_entry(capsys, db_url, first)
    code, _, err = _init(capsys, "--database-url", db_url, "--key-file", str(second))
    assert code == 1
    assert "created with another secret key" in err and "Traceback" not in err
    assert not second.exists()  # the useless new key is not left behind
    capsys.readouterr()
    second.write_text("ab" * 32)
    os.chmod(second, 0o600)
    code = main(["--database-url", db_url, "--key-file", str(second), "audit", "verify"])
    err = capsys.readouterr().err
    assert code == 1 and "not the secret key the ledger was created with" in err
    assert main(["--database-url", db_url, "--key-file", str(first), "audit", "verify"]) == 0


def test_a_ledger_from_before_the_key_check_is_bound_when_its_trail_verifies(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import delete

    from dsr.ledger.tables import settings

    key = tmp_path / "one.key"
    _ledger_with_an_entry(capsys, db_url, key)
    engine = connect(db_url)
    with engine.begin() as conn:
        conn.execute(delete(settings))  # as a ledger made by an earlier dsr
    other = tmp_path / "other.key"
    other.write_text("cd" * 32)
    os.chmod(other, 0o600)
    code, _, err = _init(capsys, "--database-url", db_url, "--key-file", str(other))
    assert code == 1 and "does not verify with this secret key" in err
    assert _init(capsys, "--database-url", db_url, "--key-file", str(key))[0] == 0
    with engine.connect() as conn:
        assert conn.execute(settings.select()).all()  # bound now
    engine.dispose()


def test_a_missing_key_file_does_not_send_an_existing_ledger_to_init(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "one.key"
    assert _init(capsys, "--database-url", db_url, "--key-file", str(key))[0] == 0
    key.unlink()
    code = main(["--database-url", db_url, "--key-file", str(key), "audit", "verify"])
    err = capsys.readouterr().err
    assert code == 1 and "restore the key file" in err and "BROKEN" not in err
