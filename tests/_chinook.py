"""The Chinook sample database (../shared/corpus/chinook) loaded into a fresh test database.

Chinook ships for SQLite and MariaDB/MySQL with PascalCase names and for PostgreSQL with
snake_case names, so its catalog comes in two editions: ``policies/examples/chinook.yaml``
and ``chinook-postgresql.yaml``, the second derived from the first by :func:`snake_catalog`
(``python tests/_chinook.py > policies/examples/chinook-postgresql.yaml`` writes it anew).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DSR_CORPUS", ROOT.parent / "shared" / "corpus")) / "chinook"
CATALOG = ROOT / "policies" / "examples" / "chinook.yaml"
CATALOG_PG = ROOT / "policies" / "examples" / "chinook-postgresql.yaml"


def require_corpus() -> Path:
    """The corpus folder, or a skip (a failure under DSR_REQUIRE_ALL_DATABASES=1)."""
    if not (CORPUS / "Chinook_Sqlite.sqlite").exists():
        message = f"Chinook corpus not found at {CORPUS} (set DSR_CORPUS)"
        if os.environ.get("DSR_REQUIRE_ALL_DATABASES") == "1":
            pytest.fail(message + " (DSR_REQUIRE_ALL_DATABASES=1 forbids skipping)", pytrace=False)
        pytest.skip(message)
    return CORPUS


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _identifiers() -> set[str]:
    db = sqlite3.connect(CORPUS / "Chinook_Sqlite.sqlite")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = set(tables)
        for t in tables:
            out |= {r[1] for r in db.execute(f'PRAGMA table_info("{t}")')}
    finally:
        db.close()
    return out


def snake_catalog(text: str) -> str:
    """The catalog with every table and column name in PostgreSQL Chinook's snake_case.

    Only names in structural places change (mapping keys, ``column``/``table``/
    ``primary_key``/``display`` values, identity columns), never labels; comments go.
    """
    names = _identifiers()

    def rename(m: re.Match[str]) -> str:
        return snake(m.group(0)) if m.group(0) in names else m.group(0)

    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        line = re.sub(r"^(\s+)([A-Z]\w*)(?=:)", lambda m: m.group(1) + snake(m.group(2)), line)
        line = re.sub(
            r"((?:column|table|primary_key|display): )([A-Z]\w*)",
            lambda m: m.group(1) + snake(m.group(2)),
            line,
        )
        if re.match(r"^\s+(email|phone): ", line):
            line = re.sub(r"\b[A-Z]\w*\b", rename, line)
        out.append(line)
    return "\n".join(out) + "\n"


HEADER_PG = """\
# dsr catalog for the Chinook sample database (a digital music shop), version 1.4.5, as
# shipped for PostgreSQL (snake_case names). Generated from chinook.yaml by
# tests/_chinook.py; edit chinook.yaml and regenerate, never this file.
"""


def postgres_catalog() -> str:
    return HEADER_PG + snake_catalog(CATALOG.read_text(encoding="utf-8"))


def _script(path: Path, skip: tuple[str, ...]) -> str:
    text = path.read_text(encoding="utf-8")
    return "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith(skip))


def load_chinook(engine: Engine, tmp_dir: str) -> str:
    """Fill the empty test database behind ``engine``; returns the catalog path to use.

    SQLite: the shipped file is copied over the (empty) test database file.
    """
    corpus = require_corpus()
    dialect = engine.dialect.name
    if dialect == "sqlite":
        target = engine.url.database
        assert target
        engine.dispose()
        shutil.copyfile(corpus / "Chinook_Sqlite.sqlite", target)
        return str(CATALOG)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if dialect == "postgresql":
            cur.execute(
                _script(
                    corpus / "Chinook_PostgreSql.sql", ("DROP DATABASE", "CREATE DATABASE", "\\c")
                )
            )
        else:
            script = _script(
                corpus / "Chinook_MySql.sql", ("DROP DATABASE", "CREATE DATABASE", "USE ")
            )
            for stmt in _split_mysql(script):
                cur.execute(stmt)
        raw.commit()
    finally:
        raw.close()
    return str(CATALOG_PG if dialect == "postgresql" else CATALOG)


def _split_mysql(script: str) -> list[str]:
    """Statements of the MySQL script (it has no semicolons inside its string literals
    at line ends, so a statement ends with a line ending in ';')."""
    script = re.sub(r"/\*.*?\*/", "", script, flags=re.S)
    out, current = [], []
    for line in script.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(current).strip().rstrip(";")
            if stmt:
                out.append(stmt)
            current = []
    return out


if __name__ == "__main__":
    sys.stdout.write(postgres_catalog())
