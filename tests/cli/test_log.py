"""Logs on stderr: levels from -v/-q, DSR_LOG_LEVEL or the file; text or JSON; never SQL."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dsr import log
from dsr.cli import main

STAMPED = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO    migrate done: ledger created"
)


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DSR_LOG_LEVEL", "DSR_LOG_FORMAT", "DSR_CONFIG", "DSR_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DSR_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    monkeypatch.setenv("DSR_KEY_FILE", str(tmp_path / "secret.key"))


def _err(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    capsys.readouterr()
    assert main(list(args)) == code
    return capsys.readouterr().err


def test_timestamped_lines_with_the_step_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = _err(capsys, "init").splitlines()
    assert any(STAMPED.match(line) for line in lines), lines


def test_quiet_and_levels_from_environment_and_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _err(capsys, "-q", "init") == ""
    monkeypatch.setenv("DSR_LOG_LEVEL", "warning")
    assert _err(capsys, "migrate") == ""
    monkeypatch.setenv("DSR_LOG_LEVEL", "chatty")
    assert "DSR_LOG_LEVEL must be one of" in _err(capsys, "migrate", code=2)
    monkeypatch.delenv("DSR_LOG_LEVEL")
    assert "contradict" in _err(capsys, "-v", "-q", "migrate", code=2)
    (tmp_path / "dsr.toml").write_text('log_level = "error"\n', encoding="utf-8")
    (tmp_path / "ledger.db").unlink()
    assert _err(capsys, "init") == ""
    other = f"sqlite:///{tmp_path}/other.db"
    assert "ledger created" in _err(capsys, "-v", "--database-url", other, "init")


def test_json_lines_for_log_shippers_errors_included(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = [json.loads(x) for x in _err(capsys, "--log-format", "json", "init").splitlines()]
    assert {"time", "level", "logger", "step", "message"} <= set(records[-1])
    assert records[-1]["logger"] == "dsr.migrate" and records[-1]["version"]
    (tmp_path / "dsr.toml").write_text('log_format = "json"\n', encoding="utf-8")
    err = _err(capsys, "request", "show", "42", code=1)
    (record,) = [json.loads(x) for x in err.splitlines()]
    assert record["level"] == "error" and "request 42" in record["message"]


def test_verbose_never_turns_on_sqlalchemys_statement_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _err(capsys, "-v", "init")
    assert "ledger created" in err
    assert not re.search(r"\b(SELECT|INSERT|CREATE TABLE)\b", err)
    assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)


def test_a_terminal_gets_short_lines_and_no_batch_records(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log.configure("info", "text", terminal=True)
    log.log_step(log.get("purge"), "plan", "3 rules")
    log.log_step(log.get("purge"), "batch", "batch 1/9")
    log.get("purge").warning("slow")
    assert capsys.readouterr().err.splitlines() == ["dsr: 3 rules", "dsr: warning: slow"]


def test_importing_the_library_installs_no_handler() -> None:
    code = (
        "import logging, dsr, dsr.retention.purge, dsr.rights.erase; "
        "print(len(logging.getLogger('dsr').handlers), len(logging.getLogger().handlers))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]
