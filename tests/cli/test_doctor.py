"""``dsr doctor``: a readiness probe that says what is wrong, exit 0 or 1, on every engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _shop as shop
import pytest

from dsr.cli import main
from dsr.crypto.keys import create_key_file
from dsr.db import connect


def _doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main([*args, "doctor", "--json"])
    data = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in data["checks"]} | {"ok": data["ok"]}


def test_doctor_names_what_is_missing_then_passes(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DSR_SECRET", raising=False)
    engine = connect(db_url)
    shop.seed(engine)
    engine.dispose()
    catalog = tmp_path / "shop.yaml"
    catalog.write_text(shop.CATALOG, encoding="utf-8")
    key = tmp_path / "secret.key"
    create_key_file(key)
    (tmp_path / "exports").mkdir(mode=0o700)
    (tmp_path / "dsr.toml").write_text(
        f'database_url = "{db_url}"\ncatalog = "shop.yaml"\nkey_file = "secret.key"\n'
        'export_dir = "exports"\n[mail]\noutbox = "outbox"\n',
        encoding="utf-8",
    )
    code, checks = _doctor(capsys)
    assert code == 1 and not checks["ok"]
    assert checks["ledger"]["status"] == "fail" and "dsr init" in checks["ledger"]["detail"]
    assert checks["database"]["status"] == "ok" and checks["mail"]["status"] == "ok"
    assert main(["init"]) == 0
    code, checks = _doctor(capsys)
    assert code == 0 and checks["ok"], checks
    assert checks["key"]["status"] == "ok" and checks["catalog"]["status"] in ("ok", "warn")
    other = tmp_path / "other.key"
    create_key_file(other)
    code, checks = _doctor(capsys, "--key-file", str(other))
    assert code == 1 and checks["key"]["status"] == "fail"


def test_unreachable_database_and_mail_fail_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dsr.toml").write_text(
        'database_url = "postgresql+psycopg://dsr@127.0.0.1:1/none"\n'
        '[mail]\nhost = "127.0.0.1"\nport = 1\ntimeout = 2\n',
        encoding="utf-8",
    )
    code, checks = _doctor(capsys)
    assert code == 1
    assert checks["database"]["status"] == "fail" and checks["ledger"]["status"] == "skip"
    assert checks["mail"]["status"] == "fail" and "127.0.0.1:1" in checks["mail"]["detail"]
