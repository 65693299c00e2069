"""The configuration file: found, checked with file and line, option > env > file, no secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dsr.cli import main
from dsr.crypto.keys import create_key_file

ENV_VARS = (
    "DSR_DATABASE_URL",
    "DATABASE_URL",
    "DSR_KEY_FILE",
    "DSR_SECRET",
    "DSR_CONFIG",
    "DSR_CATALOG",
    "DSR_EXPORT_DIR",
    "DSR_LOG_LEVEL",
    "DSR_LOG_FORMAT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def _show(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main([*args, "config", "show", "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def _fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main([*args, "config", "show"]) == 1
    return capsys.readouterr().err


def test_dsr_toml_in_the_working_directory_is_read_with_paths_relative_to_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dsr.toml").write_text(
        'database_url = "sqlite:///crm.db"\nkey_file = "keys/secret.key"\n'
        'export_dir = "out"\ncatalog = "policies"\n',
        encoding="utf-8",
    )
    shown = _show(capsys)
    assert shown["file"] == "dsr.toml"
    assert shown["database_url"]["value"] == f"sqlite:///{tmp_path}/crm.db"
    assert shown["key"]["value"] == str(tmp_path / "keys" / "secret.key")
    assert shown["export_dir"]["value"] == str(tmp_path / "out")
    assert shown["catalog"]["value"] == str(tmp_path / "policies")
    assert all(shown[k]["source"] == "file dsr.toml" for k in ("database_url", "key", "catalog"))


def test_options_beat_environment_beat_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dsr.toml").write_text(
        'database_url = "sqlite:///file.db"\nkey_file = "file.key"\nexport_dir = "file-out"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DSR_DATABASE_URL", "sqlite:///env.db")
    monkeypatch.setenv("DSR_KEY_FILE", "/srv/env.key")
    monkeypatch.setenv("DSR_EXPORT_DIR", "/srv/env-out")
    shown = _show(capsys)
    assert shown["database_url"] == {"value": "sqlite:///env.db", "source": "env DSR_DATABASE_URL"}
    assert shown["key"] == {"value": "/srv/env.key", "source": "env DSR_KEY_FILE"}
    assert shown["export_dir"] == {"value": "/srv/env-out", "source": "env DSR_EXPORT_DIR"}
    shown = _show(capsys, "--database-url", "sqlite:///opt.db", "--key-file", "/srv/opt.key")
    assert shown["database_url"] == {"value": "sqlite:///opt.db", "source": "option --database-url"}
    assert shown["key"] == {"value": "/srv/opt.key", "source": "option --key-file"}
    monkeypatch.delenv("DSR_KEY_FILE")
    monkeypatch.setenv("DSR_SECRET", "00" * 32)  # the secret in the environment beats the file
    assert _show(capsys)["key"]["source"] == "env DSR_SECRET"


def test_a_file_named_elsewhere_and_pyproject_tool_dsr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "etc" / "dsr.toml"
    conf.parent.mkdir()
    conf.write_text('database_url = "sqlite:///ledger.db"\n', encoding="utf-8")
    shown = _show(capsys, "--config", str(conf))
    assert shown["database_url"]["value"] == f"sqlite:///{conf.parent}/ledger.db"
    monkeypatch.setenv("DSR_CONFIG", str(conf))
    assert _show(capsys)["file"] == str(conf)
    monkeypatch.delenv("DSR_CONFIG")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "crm"\n\n[tool.dsr]\ndatabase_url = "sqlite:///app.db"\n\n'
        '[tool.dsr.mail]\nhost = "smtp.example.com"\npassword_env = "SMTP_PW"\n',
        encoding="utf-8",
    )
    shown = _show(capsys)
    assert shown["file"] == "pyproject.toml"
    assert shown["database_url"]["value"] == f"sqlite:///{tmp_path}/app.db"
    assert shown["mail"]["host"] == "smtp.example.com"
    assert shown["mail"]["password"] == "${SMTP_PW} (not set)"


def test_the_database_password_comes_from_the_environment_and_is_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dsr.toml").write_text(
        'database_url = "postgresql://dsr:${DSR_DB_PASSWORD}@db.internal/crm"\n', encoding="utf-8"
    )
    err = _fails(capsys)
    assert "DSR_DB_PASSWORD" in err and "not set" in err
    monkeypatch.setenv("DSR_DB_PASSWORD", "s3cr/t@pw")
    capsys.readouterr()
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "s3cr" not in out and "postgresql://dsr:***@db.internal/crm" in out


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ('database_url = "sqlite:///x.db"\ndatabse = 1\n', "dsr.toml:2", "databse: unknown"),
        ('database_url = "postgresql://dsr:hunter2@db/crm"\n', "dsr.toml:1", "holds a password"),
        ('[mail]\nhost = "smtp"\npassword = "hunter2"\n', "dsr.toml:3", "secrets are not kept"),
        ('[mail]\nport = "587"\n', "dsr.toml:2", "[mail] port: must be a whole number"),
        ('log_level = "loud"\n', "dsr.toml:1", "must be one of debug"),
        ('database_url = "sqlite:///x.db\n', "dsr.toml", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_with_file_line_and_setting_and_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str, words: str
) -> None:
    (tmp_path / "dsr.toml").write_text(text, encoding="utf-8")
    err = _fails(capsys)
    assert err.startswith(f"dsr: error: {where}") and words in err, err
    assert "hunter2" not in err and "Traceback" not in err


def test_a_named_file_that_does_not_exist_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(capsys, "--config", "missing.toml")
    assert "--config" in err and "missing.toml does not exist" in err


def test_commands_use_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create_key_file(tmp_path / "secret.key")
    (tmp_path / "dsr.toml").write_text(
        'database_url = "sqlite:///crm.db"\nkey_file = "secret.key"\n', encoding="utf-8"
    )
    assert main(["init", "--json"]) == 0
    init = json.loads(capsys.readouterr().out)
    assert init["key_file"] == str(tmp_path / "secret.key") and not init["key_file_created"]
    assert (tmp_path / "crm.db").exists()
    assert main(["audit", "verify", "--json"]) == 0
